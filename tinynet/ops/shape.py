"""Shape ops: reshape, transpose/permute, broadcasting, cat/stack/split,
repeat, pad, indexing (basic, advanced, boolean), index_select and gather.

Most backward passes are another shape op: reshape's is a reshape, getitem's
is a scatter-add (``GetItemGrad``) whose own backward is a getitem again.
"""
import numpy as np

from tinynet.autograd import Function
from tinynet.backend import get_array_module
from tinynet.tensor import Tensor, as_tensor, describe


__all__ = [
    "astype", "broadcast_to", "cat", "chunk", "clone", "concatenate", "contiguous", "diag",
    "expand", "flatten", "flip", "gather", "getitem", "index_put", "index_select",
    "movedim", "narrow", "pad", "permute", "repeat", "repeat_interleave", "reshape",
    "roll", "split", "squeeze", "stack", "sum_to", "t", "to_device", "transpose", "tril",
    "triu", "unbind", "unsqueeze", "view"
]


# ---------------------------------------------------------------- helpers
def normalize_axis(axis, ndim, op):
    """A non-negative axis, or a clear error naming the op and the range."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{op}: axis must be an int, got {type(axis).__name__}")
    lo = -max(ndim, 1)
    if not lo <= axis < max(ndim, 1):
        raise ValueError(f"{op}: axis {axis} is out of range for a tensor with "
                         f"{ndim} dims (expected {lo}..{max(ndim, 1) - 1})")
    return int(axis) % max(ndim, 1)


def normalize_axes(axis, ndim, op):
    """None -> all axes; int or tuple -> a sorted tuple of distinct axes."""
    if axis is None:
        return tuple(range(ndim))
    if ndim == 0 and isinstance(axis, (list, tuple)):
        # a 0-d tensor accepts dim 0 / -1 (PyTorch) and has nothing to reduce
        for a in axis:
            normalize_axis(a, ndim, op)
        return ()
    if isinstance(axis, (list, tuple)):
        axes = tuple(normalize_axis(a, ndim, op) for a in axis)
        if len(set(axes)) != len(axes):
            raise ValueError(f"{op}: repeated axis in {axis}")
        return tuple(sorted(axes))
    if ndim == 0 and axis in (0, -1):
        return ()
    return (normalize_axis(axis, ndim, op),)


def _shape_of(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


# ---------------------------------------------------------------- reshape
class Reshape(Function):
    may_view = True

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        return x.reshape(self.shape)

    def backward(self, gy):
        return reshape(gy, self.inputs[0].shape)


def _check_shape(x, shape, op):
    if shape.count(-1) > 1 or any(s < -1 for s in shape):
        raise ValueError(f"{op}: invalid shape {shape}")
    known = int(np.prod([s for s in shape if s != -1]))
    n = x.numel()
    if (-1 not in shape and known != n) or (-1 in shape and (known == 0 or n % known)):
        raise ValueError(f"{op}: cannot reshape a tensor of shape {x.shape} "
                         f"({n} elements) into shape {shape}")


def reshape(x, *shape):
    """``x`` with a new shape (one dim may be -1); a view when possible, else a copy."""
    shape = _shape_of(shape)
    if x.shape == shape:
        return x
    _check_shape(x, shape, "reshape")
    return Reshape(shape)(x)


_NUMPY_RESHAPE_COPY = tuple(int(v) for v in np.__version__.split(".")[:2]) >= (2, 1)


def _view_array(a, shape):
    """``a`` reshaped without copying, or None when its strides forbid it."""
    if a.flags.c_contiguous:
        return a.reshape(shape)
    if _NUMPY_RESHAPE_COPY and isinstance(a, np.ndarray):
        try:
            return np.reshape(a, shape, copy=False)
        except ValueError:
            return None
    v = a.view()
    try:
        v.shape = shape            # NumPy < 2.1 and CuPy: refuses when a copy is needed
    except AttributeError:
        return None
    return v


class View(Reshape):
    """PyTorch's view: a reshape that shares memory, or an error."""

    def forward(self, x):
        y = _view_array(x, self.shape)
        if y is None:
            raise RuntimeError(
                f"view: view size is not compatible with input tensor's size and stride: "
                f"shape {x.shape} with strides {tuple(s // x.itemsize for s in x.strides)} "
                f"cannot be seen as {self.shape} without a copy. Use .reshape(...) instead.")
        return y


def view(x, *shape):
    """``x`` with a new shape, sharing its memory (PyTorch's ``view``); raises
    RuntimeError if the strides make that impossible (``reshape`` copies then)."""
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer, tuple, list)):
        return _view_dtype(x, shape[0])
    shape = _shape_of(shape)
    if x.shape == shape:
        return x
    _check_shape(x, shape, "view")
    return View(shape)(x)


def _view_dtype(x, dtype):
    """``x.view(dtype)``: the same bytes read as another dtype (no gradient)."""
    dtype = np.dtype(dtype)
    if x.ndim == 0 and dtype.itemsize != x.dtype.itemsize:
        raise RuntimeError(f"view: a 0-d tensor {describe(x)} cannot be viewed as {dtype} "
                           "of a different size")
    try:
        t = Tensor._make(x.array.view(dtype))
    except ValueError as e:
        raise RuntimeError(f"view: cannot view {describe(x)} as {dtype}: {e}") from None
    t._vc, t._base = x._vc, x
    return t


def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return reshape(x, 1)
    s = normalize_axis(start_dim, x.ndim, "flatten")
    e = normalize_axis(end_dim, x.ndim, "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = x.shape
    return reshape(x, shape[:s] + (-1 if 0 not in shape else int(np.prod(shape[s:e + 1])),)
                   + shape[e + 1:])


def unsqueeze(x, dim):
    dim = normalize_axis(dim, x.ndim + 1, "unsqueeze")
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


def squeeze(x, dim=None):
    if dim is None:
        return reshape(x, tuple(s for s in x.shape if s != 1))
    dims = normalize_axes(dim, x.ndim, "squeeze")
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if not (i in dims and s == 1)))


# ---------------------------------------------------------------- transpose
class Permute(Function):
    may_view = True

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        xp = get_array_module(x)
        return xp.transpose(x, self.axes)

    def backward(self, gy):
        return permute(gy, tuple(np.argsort(self.axes)))


def permute(x, *dims):
    dims = _shape_of(dims)
    if len(dims) != x.ndim:
        raise ValueError(f"permute: got {len(dims)} dims {dims} for a tensor with "
                         f"{x.ndim} dims (shape {x.shape})")
    dims = tuple(normalize_axis(d, x.ndim, "permute") for d in dims)
    if sorted(dims) != list(range(x.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the {x.ndim} dims")
    if dims == tuple(range(x.ndim)):
        return x
    return Permute(dims)(x)


def transpose(x, dim0=None, dim1=None):
    """Swap two dims (PyTorch); with no dims, reverse them all (NumPy's ``.T``)."""
    if dim0 is None and dim1 is None:
        return permute(x, tuple(reversed(range(x.ndim))))
    if x.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return x
    d0 = normalize_axis(dim0, x.ndim, "transpose")
    d1 = normalize_axis(dim1, x.ndim, "transpose")
    axes = list(range(x.ndim))
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return permute(x, tuple(axes))


def movedim(x, source, destination):
    src = normalize_axis(source, x.ndim, "movedim")
    dst = normalize_axis(destination, x.ndim, "movedim")
    axes = [a for a in range(x.ndim) if a != src]
    axes.insert(dst, src)
    return permute(x, tuple(axes))


# ---------------------------------------------------------------- broadcasting
class BroadcastTo(Function):
    may_view = True

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        xp = get_array_module(x)
        return xp.broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to(gy, self.inputs[0].shape)


def broadcast_to(x, *shape):
    shape = _shape_of(shape)
    x = as_tensor(x)
    if x.shape == shape:
        return x
    try:
        np.broadcast_shapes(x.shape, shape)
    except ValueError:
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}") from None
    if len(shape) < x.ndim or np.broadcast_shapes(x.shape, shape) != shape:
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}")
    return BroadcastTo(shape)(x)


def expand(x, *sizes):
    """PyTorch's expand: -1 keeps a dim's size."""
    sizes = _shape_of(sizes)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: {len(sizes)} sizes for a tensor with {x.ndim} dims")
    shape = tuple(x.shape[i - lead] if s == -1 and i >= lead else s
                  for i, s in enumerate(sizes))
    return broadcast_to(x, shape)


class SumTo(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        lead = x.ndim - len(self.shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, s in enumerate(self.shape) if s == 1 and x.shape[lead + i] != 1)
        y = x.sum(axis=axes, keepdims=True)
        return y.reshape(self.shape) if lead else y

    def backward(self, gy):
        return broadcast_to(gy, self.inputs[0].shape)


def sum_to(x, shape):
    """Sum ``x`` down to ``shape``: the backward of broadcasting."""
    if x.array.shape == shape:
        return x
    return SumTo(tuple(shape))(x)


# ---------------------------------------------------------------- joining
class Cat(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        xp = get_array_module(*xs)
        return xp.concatenate(xs, axis=self.axis)

    def backward(self, gy):
        sizes = [x.shape[self.axis] for x in self.inputs]
        return split(gy, sizes, self.axis)


def cat(tensors, dim=0, axis=None):
    """Join tensors along an existing dim (``axis`` is NumPy's name for ``dim``)."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    axis = dim if axis is None else axis
    ref = tensors[0]
    for k, t in enumerate(tensors):
        if t.ndim == 0:
            raise ValueError(f"cat: tensor {k} is 0-d and cannot be concatenated; "
                             "use tn.stack to join scalars")
    ax = normalize_axis(axis, ref.ndim, "cat")
    for k, t in enumerate(tensors):
        if t.ndim != ref.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, ref.shape))
                                     if i != ax):
            raise ValueError(f"cat: tensor {k} has shape {t.shape} but tensor 0 has shape "
                             f"{ref.shape}; all dims except dim {ax} must match")
    if len(tensors) == 1:
        return tensors[0]
    return Cat(ax)(*_common_dtype(tensors))


def _common_dtype(tensors):
    dtype = np.result_type(*[t.dtype for t in tensors])
    return [t if t.dtype == dtype else t.astype(dtype) for t in tensors]


concatenate = cat


class Stack(Function):
    """Equal-shape tensors -> one tensor with a new axis, as one node."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        return get_array_module(xs[0]).stack(xs, axis=self.axis)

    def backward(self, gy):
        return Unbind(self.axis)(gy)


def stack(tensors, dim=0, axis=None):
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    for k, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: tensor {k} has shape {t.shape} but tensor 0 has "
                             f"shape {tensors[0].shape}; all must be equal")
    axis = dim if axis is None else axis
    ax = normalize_axis(axis, tensors[0].ndim + 1, "stack")
    dtype = np.result_type(*(t.dtype for t in tensors))
    return Stack(ax)(*(t if t.dtype == dtype else astype(t, dtype) for t in tensors))


class Split(Function):
    may_view = True

    def __init__(self, sizes, axis):
        self.sizes, self.axis = sizes, axis

    def forward(self, x):
        bounds = np.cumsum(self.sizes)[:-1]
        xp = get_array_module(x)
        return tuple(xp.split(x, bounds, axis=self.axis))

    def backward(self, *gys):
        return cat(gys, self.axis)


def split(x, split_size_or_sections, dim=0):
    """PyTorch's split: an int gives chunks of that size, a list the sizes."""
    ax = normalize_axis(dim, x.ndim, "split")
    n = x.shape[ax]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split size must be positive, got {size}")
        sizes = [size] * (n // size) + ([n % size] if n % size else [])
        sizes = sizes or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} sum to {sum(sizes)} but dim {ax} "
                             f"of shape {x.shape} has size {n}")
    if len(sizes) == 1:
        return (x,)
    return Split(tuple(sizes), ax)(x)


def chunk(x, chunks, dim=0):
    ax = normalize_axis(dim, x.ndim, "chunk")
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    if x.shape[ax] == 0:                     # PyTorch: `chunks` empty pieces, not one
        return split(x, [0] * chunks, ax)
    size = -(-x.shape[ax] // chunks)
    return split(x, size, ax)


# ---------------------------------------------------------------- repeat, pad
class Repeat(Function):
    def __init__(self, reps):
        self.reps = reps

    def forward(self, x):
        xp = get_array_module(x)
        return xp.tile(x, self.reps)

    def backward(self, gy):
        x = self.inputs[0]
        # view gy as (r0, s0, r1, s1, ...) and sum the repeat axes
        shape = sum(((r, s) for r, s in zip(self.reps, x.shape)), ())
        g = reshape(gy, shape).sum(axis=tuple(range(0, 2 * x.ndim, 2)))
        return g


def repeat(x, *sizes):
    """PyTorch's ``repeat`` (NumPy's ``tile``): copies the tensor along each dim."""
    sizes = _shape_of(sizes)
    if len(sizes) < x.ndim:
        raise ValueError(f"repeat: {len(sizes)} repeat sizes for a tensor with {x.ndim} dims")
    if len(sizes) > x.ndim:
        x = reshape(x, (1,) * (len(sizes) - x.ndim) + x.shape)
    return Repeat(sizes)(x)


class Pad(Function):
    def __init__(self, widths, value):
        self.widths, self.value = widths, value

    def forward(self, x):
        xp = get_array_module(x)
        return xp.pad(x, self.widths, constant_values=self.value)

    def backward(self, gy):
        index = tuple(slice(lo, gy.shape[i] - hi) for i, (lo, hi) in enumerate(self.widths))
        return gy[index]


def pad(x, pad, mode="constant", value=0.0):
    """PyTorch's F.pad: ``pad`` lists (left, right) pairs from the last dim backwards."""
    if mode != "constant":
        from tinynet.ops.padding import pad_nonconstant   # reflect, replicate, circular
        return pad_nonconstant(x, pad, mode, value)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected an even number of pad values for at most "
                         f"{x.ndim} dims, got {tuple(pad)}")
    if any(p < 0 for p in pad):
        raise ValueError(f"pad: negative padding {tuple(pad)} is not supported")
    widths = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        widths[x.ndim - 1 - k] = (int(pad[2 * k]), int(pad[2 * k + 1]))
    return Pad(tuple(widths), value)(x)


# ---------------------------------------------------------------- indexing
def _is_mask(i):
    return hasattr(i, "dtype") and getattr(i, "ndim", 0) > 0 and i.dtype == bool


def _convert_index(index, shape):
    """Tensors inside an index become arrays; boolean masks become the integer
    arrays of their True positions (NumPy's own meaning of a mask), so the
    backward scatter only ever sees integer indices. A mask must have the
    shape of the dims it indexes (else its True positions would silently
    pick the wrong elements)."""
    if not isinstance(index, tuple):
        index = (index,)
    index = tuple(i.array if isinstance(i, Tensor) else np.asarray(i) if isinstance(i, list)
                  else i for i in index)
    # dims the index consumes; the Ellipsis stands for the rest
    used = sum(i.ndim if _is_mask(i) else 1 for i in index if i is not None and i is not Ellipsis)
    out, dim = [], 0
    for i in index:
        if i is Ellipsis:
            dim += max(len(shape) - used, 0)
        elif _is_mask(i):
            want = tuple(shape[dim:dim + i.ndim])
            if i.shape != want:
                raise IndexError(f"getitem: boolean mask of shape {i.shape} does not match "
                                 f"the shape {want} of the dims {dim}.. it indexes in a tensor "
                                 f"of shape {tuple(shape)}")
            dim += i.ndim
        elif i is not None:
            dim += 1
        if _is_mask(i):
            out.extend(i.nonzero())
        else:
            out.append(i)
    return out[0] if len(out) == 1 else tuple(out)


def _is_basic(index):
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice))
               for i in items)


class GetItem(Function):
    may_view = True

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        return x[self.index]

    def backward(self, gy):
        x = self.inputs[0]
        return GetItemGrad(self.index, x.shape)(gy)


class GetItemGrad(Function):
    """Scatter-add of the gradient into zeros; repeated indices accumulate."""

    def __init__(self, index, shape):
        self.index, self.shape = index, shape

    def forward(self, gy):
        xp = get_array_module(gy)
        gx = xp.zeros(self.shape, dtype=gy.dtype)
        if _is_basic(self.index):
            gx[self.index] = gy          # a basic index never repeats an element
        elif xp is np:
            np.add.at(gx, self.index, gy)
        else:
            xp.add.at(gx, self.index, gy)
        return gx

    def backward(self, ggx):
        return ggx[self.index]


def getitem(x, index):
    index = _convert_index(index, x.shape)
    try:
        return GetItem(index)(x)
    except IndexError as e:
        raise IndexError(f"getitem: index {_short(index)} is invalid for a tensor of shape "
                         f"{x.shape}: {e}") from None


class IndexPut(Function):
    """``x`` with ``x[index] = value``, out of place: what ``x[index] = value``
    records while autograd is on. Gradients: ``gy`` with the written positions
    zeroed for ``x``, ``gy[index]`` summed to value's shape for ``value``."""

    def __init__(self, index):
        self.index = index

    def forward(self, x, value):
        y = x.copy()
        y[self.index] = value
        return y

    def backward(self, gy):
        x, value = self.inputs
        gx = gv = None
        if self.needs_input_grad[0]:
            gx = IndexPut(self.index)(gy, Tensor._const(gy.array.dtype.type(0)))
        if self.needs_input_grad[1]:
            gv = sum_to(GetItem(self.index)(gy), value.shape)
        return gx, gv


def index_put(x, index, value):
    """``x`` with the elements at ``index`` replaced by ``value`` (out of place)."""
    index = _convert_index(index, x.shape)
    if isinstance(value, Tensor):
        value = value.astype(x.dtype) if value.dtype != x.dtype else value
    else:
        value = Tensor._const(get_array_module(x.array).asarray(value, dtype=x.dtype))
    try:
        return IndexPut(index)(x, value)
    except IndexError as e:
        raise IndexError(f"setitem: index {_short(index)} is invalid for a tensor of shape "
                         f"{x.shape}: {e}") from None


def _short(index):
    s = repr(index)
    return s if len(s) < 80 else s[:77] + "..."


def index_select(x, dim, index):
    """Rows of ``x`` along ``dim`` picked by the 1-D integer tensor ``index``."""
    index = as_tensor(index)
    if index.ndim != 1 or index.dtype.kind not in "iu":
        raise ValueError(f"index_select: index must be a 1-D integer tensor, got shape "
                         f"{index.shape} dtype {index.dtype}")
    ax = normalize_axis(dim, x.ndim, "index_select")
    return getitem(x, (slice(None),) * ax + (index.array,))


def gather(x, dim, index):
    """PyTorch's gather: ``out[i][j] = x[i][index[i][j]]`` for dim=1."""
    index = as_tensor(index)
    ax = normalize_axis(dim, x.ndim, "gather")
    if index.ndim != x.ndim or index.dtype.kind not in "iu":
        raise ValueError(f"gather: index must be an integer tensor with {x.ndim} dims, "
                         f"got shape {index.shape} dtype {index.dtype}")
    for d in range(x.ndim):
        if d != ax and index.shape[d] > x.shape[d]:
            raise ValueError(f"gather: index shape {index.shape} exceeds input shape "
                             f"{x.shape} in dim {d}")
    xp = get_array_module(index.array)
    grids = xp.ix_(*[xp.arange(s) for s in index.shape])
    full_index = tuple(index.array if d == ax else grids[d] for d in range(x.ndim))
    return getitem(x, full_index)


# ---------------------------------------------------------------- dtype, device
class Cast(Function):
    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, gy):
        return gy.astype(self.inputs[0].dtype)


def astype(x, dtype):
    dtype = np.dtype(dtype)
    if x.dtype == dtype:
        return x
    return Cast(dtype)(x)


class ToDevice(Function):
    def __init__(self, device):
        self.device = device

    def forward(self, x):
        from tinynet.backend import to_device
        return to_device(x, self.device)

    def backward(self, gy):
        return to_device(gy, self.inputs[0].device)


def to_device(x, device):
    from tinynet.backend import normalize_device
    device = normalize_device(device)
    if x.device == device:
        return x
    return ToDevice(device)(x)


def clone(x):
    return Clone()(x)


class Clone(Function):
    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return gy


# ---------------------------------------------------------------- PyTorch's tensor surface
def contiguous(x):
    """``x`` itself if its memory is in C order, else a C-ordered copy."""
    return x if x.array.flags.c_contiguous else clone(x)


def t(x):
    """Transpose of a matrix; 0-d and 1-D tensors as they are (PyTorch's ``t``)."""
    if x.ndim > 2:
        raise ValueError(f"t: expects a tensor with at most 2 dims, got {describe(x)}; "
                         "use transpose(dim0, dim1) or mT")
    return transpose(x, 0, 1) if x.ndim == 2 else x


def narrow(x, dim, start, length):
    """The slice ``start:start + length`` along ``dim``, a view (negative
    ``start`` counts from the end). Shape: dim has size ``length``."""
    ax = normalize_axis(dim, x.ndim, "narrow")
    n = x.shape[ax]
    if isinstance(start, Tensor):
        start = int(start.item())
    if not -n <= start <= n:
        raise ValueError(f"narrow: start {start} is out of range for dim {dim} of size {n}")
    start %= n if n else 1
    if length < 0 or start + length > n:
        raise ValueError(f"narrow: start ({start}) + length ({length}) exceeds dim {dim} of "
                         f"size {n}; input {describe(x)}")
    return GetItem((slice(None),) * ax + (slice(start, start + length),))(x)


class Flip(Function):
    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        # a copy, as PyTorch's flip (NumPy's would be a view with negative strides)
        return get_array_module(x).ascontiguousarray(get_array_module(x).flip(x, self.axes))

    def backward(self, gy):
        return Flip(self.axes)(gy)


def _dims(dims, ndim, op):
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    axes = tuple(normalize_axis(d, ndim, op) for d in dims)
    if len(set(axes)) != len(axes):
        raise ValueError(f"{op}: dim appears more than once in {dims}")
    return axes


def flip(x, dims):
    """``x`` reversed along ``dims`` (an int or a tuple), as a copy."""
    axes = _dims(dims, x.ndim, "flip")
    return Flip(axes)(x) if axes and x.ndim else clone(x)


class Roll(Function):
    def __init__(self, shifts, axes):
        self.shifts, self.axes = shifts, axes

    def forward(self, x):
        return get_array_module(x).roll(x, self.shifts, self.axes)

    def backward(self, gy):
        return Roll(tuple(-s for s in self.shifts), self.axes)(gy)


def roll(x, shifts, dims=None):
    """Elements shifted by ``shifts`` along ``dims``, wrapping around; with
    no dims, over the flattened tensor (shape kept)."""
    shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    if dims is None:
        if len(shifts) != 1:
            raise ValueError(f"roll: {len(shifts)} shifts need as many dims, got none")
        return reshape(Roll(shifts, (0,))(reshape(x, -1)), x.shape)
    axes = _dims(dims, x.ndim, "roll")
    if len(axes) != len(shifts):
        raise ValueError(f"roll: got {len(shifts)} shifts {shifts} for {len(axes)} dims "
                         f"{dims}; they must match")
    return Roll(tuple(int(s) for s in shifts), axes)(x)


class _Triangle(Function):
    part = None

    def __init__(self, k):
        self.k = k

    def forward(self, x):
        return getattr(get_array_module(x), self.part)(x, self.k)

    def backward(self, gy):
        return type(self)(self.k)(gy)


class Tril(_Triangle):
    part = "tril"


class Triu(_Triangle):
    part = "triu"


def _triangle(cls, op, x, diagonal):
    if x.ndim < 2:
        raise ValueError(f"{op}: expects a tensor with at least 2 dims, got {describe(x)}")
    return cls(int(diagonal))(x)


def tril(x, diagonal=0):
    """The lower triangle of the last two dims (elements above ``diagonal`` zeroed)."""
    return _triangle(Tril, "tril", x, diagonal)


def triu(x, diagonal=0):
    """The upper triangle of the last two dims (elements below ``diagonal`` zeroed)."""
    return _triangle(Triu, "triu", x, diagonal)


class _Diagonal(Function):
    """The ``k``-th diagonal of a matrix, as a 1-D copy."""

    def __init__(self, k):
        self.k = k

    def forward(self, x):
        return get_array_module(x).diagonal(x, self.k).copy()

    def backward(self, gy):
        return _DiagEmbed(self.k, self.inputs[0].shape)(gy)


class _DiagEmbed(Function):
    """A matrix of ``shape`` with ``v`` on its ``k``-th diagonal, zeros elsewhere."""

    def __init__(self, k, shape):
        self.k, self.shape = k, shape

    def forward(self, v):
        xp = get_array_module(v)
        m = xp.zeros(self.shape, dtype=v.dtype)
        n = len(v)
        rows = xp.arange(n) + max(-self.k, 0)
        m[rows, rows + self.k] = v
        return m

    def backward(self, gm):
        return _Diagonal(self.k)(gm)


def diag(x, diagonal=0):
    """1-D ``x``: a square matrix with ``x`` on the ``diagonal``-th diagonal;
    2-D ``x``: that diagonal as a 1-D tensor.

    Shape: (n,) -> (n + |k|, n + |k|); (m, n) -> (length of the diagonal,)."""
    k = int(diagonal)
    if x.ndim == 1:
        size = x.shape[0] + abs(k)
        return _DiagEmbed(k, (size, size))(x)
    if x.ndim == 2:
        return _Diagonal(k)(x)
    raise ValueError(f"diag: expects a 1-D or 2-D tensor, got {describe(x)}")


def repeat_interleave(x, repeats=None, dim=None, *, output_size=None):
    """Each element (or slice along ``dim``) repeated ``repeats`` times in a
    row; over the flattened tensor when dim is None. ``repeat_interleave(r)``
    with one int tensor repeats the indices ``0..len(r)-1``."""
    x = as_tensor(x)
    if repeats is None:                      # repeat_interleave(repeats)
        return Tensor._make(get_array_module(x.array).repeat(
            get_array_module(x.array).arange(len(x), dtype=np.int64), x.array))
    if dim is None:
        x, ax = reshape(x, -1), 0
    else:
        ax = normalize_axis(dim, x.ndim, "repeat_interleave")
    n = x.shape[ax] if x.ndim else 1
    reps = repeats.array if isinstance(repeats, Tensor) else repeats
    xp = get_array_module(x.array)
    reps = xp.asarray(reps)
    if reps.dtype.kind not in "iu" or reps.ndim > 1 or (reps.ndim == 1 and len(reps) not in (1, n)):
        raise ValueError(f"repeat_interleave: repeats must be an int or a 1-D int tensor of "
                         f"length 1 or {n} (the size of dim {dim}), got {reps.dtype} of shape "
                         f"{reps.shape}")
    if (reps < 0).any():
        raise ValueError("repeat_interleave: repeats must be non-negative")
    index = xp.repeat(xp.arange(n), reps.reshape(-1) if reps.ndim else int(reps))
    if output_size is not None and len(index) != output_size:
        raise ValueError(f"repeat_interleave: output_size={output_size} but the repeats "
                         f"give {len(index)}")
    if x.ndim == 0:
        x = reshape(x, (1,))
    return GetItem((slice(None),) * ax + (index,))(x)


class Unbind(Function):
    """x -> its slices along ``axis`` (that axis removed), as one node; each
    slice is a view of x."""
    may_view = True

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        lead = (slice(None),) * self.axis
        return tuple(x[lead + (i,)] for i in range(x.shape[self.axis]))

    def backward(self, *gys):
        return Stack(self.axis)(*gys)


def unbind(x, dim=0):
    """The slices of ``x`` along ``dim``, that dim removed: a tuple of views."""
    x = as_tensor(x)
    if x.ndim == 0:
        raise ValueError(f"unbind: a 0-d tensor has no dim to unbind; input {describe(x)}")
    ax = normalize_axis(dim, x.ndim, "unbind")
    if x.shape[ax] == 0:
        return ()
    return Unbind(ax)(x)