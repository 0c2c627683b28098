"""Writing at indices: scatter, scatter_add, index_add, index_fill; and
nonzero / argwhere.

Each write is an existing differentiable op on a full NumPy index built from
``index`` (``full[d]`` is ``index`` along ``dim`` and an ``arange`` grid
elsewhere): scatter is ``IndexPut`` (x's gradient is zeroed where it was
overwritten, src gets ``gy[full]``), scatter_add and index_add add a
``GetItemGrad`` scatter-add (repeated indices accumulate), index_fill and
scatter with a value are ``masked_fill``. The in-place forms (``x.scatter_``
...) are these ops run through ``Tensor._inplace``.
"""
import numpy as np

from tinynet.backend import check_values, get_array_module
from tinynet.ops.elementwise import masked_fill
from tinynet.ops.shape import GetItem, GetItemGrad, IndexPut, normalize_axis
from tinynet.ops.sorting import index_along
from tinynet.tensor import Tensor, as_tensor, describe


__all__ = [
    "argwhere", "index_add", "index_fill", "nonzero", "scatter", "scatter_add"
]


def _int_index(op, index):
    index = as_tensor(index)
    if index.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must be an integer tensor, got {describe(index)}")
    return index


def _check_bounds(op, idx, size, dim):
    def error(bad):
        value = int(idx.min()) if int(idx.min()) < 0 else int(idx.max())
        return IndexError(f"{op}: index {value} is out of bounds for dim {dim} with size {size}")
    # on a GPU the check waits for the next host read (see check_values)
    check_values((idx < 0) | (idx >= size), error)


def _scatter_index(op, x, dim, index, src=None):
    """Check scatter's arguments; return (axis, the full fancy index, the
    part of ``src`` that index addresses)."""
    index = _int_index(op, index)
    ax = normalize_axis(dim, x.ndim, op)
    if index.ndim != x.ndim:
        raise ValueError(f"{op}: index must have as many dims as the input ({x.ndim}), got "
                         f"index {describe(index)} for input {describe(x)}")
    if src is not None:
        if src.ndim != x.ndim:
            raise ValueError(f"{op}: src must have as many dims as the input ({x.ndim}), got "
                             f"{describe(src)}")
        if src.dtype != x.dtype:
            raise TypeError(f"{op}: src dtype {src.dtype} differs from the input's {x.dtype} "
                            f"(input {describe(x)}); convert one first")
    for d in range(x.ndim):
        if d != ax and index.shape[d] > x.shape[d]:
            raise ValueError(f"{op}: index {describe(index)} is larger than the input "
                             f"{describe(x)} in dim {d}")
        if src is not None and index.shape[d] > src.shape[d]:
            raise ValueError(f"{op}: index {describe(index)} is larger than src {describe(src)} "
                             f"in dim {d}")
    if x.ndim == 0:
        _check_bounds(op, index.array, 1, dim)
        return ax, (), src
    _check_bounds(op, index.array, x.shape[ax], dim)
    full = index_along(index.array, ax)
    if src is not None and src.shape != index.shape:
        src = GetItem(tuple(slice(0, n) for n in index.shape))(src)
    return ax, full, src


def scatter(x, dim, index, src=None, *, value=None, reduce=None):
    """``x`` with ``x[..., index[i, j], ...] = src[i, j]`` along ``dim`` (or
    ``value``), out of place; ``reduce='add'`` is ``scatter_add``. With a
    repeated index one of the writes wins. Gradient: x's is zero where it was
    overwritten, src's is the gradient gathered at ``index``.
    https://pytorch.org/docs/stable/generated/torch.Tensor.scatter_.html"""
    x = as_tensor(x)
    if src is not None and not isinstance(src, Tensor):
        src, value = None, src                  # scatter(x, dim, index, 2.5)
    if (src is None) == (value is None):
        raise TypeError("scatter: pass exactly one of src (a Tensor) and value (a number)")
    if reduce == "add" and src is not None:
        return scatter_add(x, dim, index, src)
    if reduce is not None:
        raise NotImplementedError(f"scatter: reduce={reduce!r} is not supported (use "
                                  "scatter_add for 'add')")
    if src is None:
        ax, full, _ = _scatter_index("scatter", x, dim, index)
        mask = get_array_module(x.array).zeros(x.shape, dtype=bool)
        mask[full] = True
        return masked_fill(x, Tensor._const(mask), value)
    ax, full, src = _scatter_index("scatter", x, dim, index, src)
    return IndexPut(full)(x, src)


def scatter_add(x, dim, index, src):
    """``x`` plus ``src`` added at ``index`` along ``dim`` (repeated indices
    accumulate). Gradient: x's passes through, src's is gathered at index."""
    x = as_tensor(x)
    ax, full, src = _scatter_index("scatter_add", x, dim, index, as_tensor(src))
    return _plus(x, GetItemGrad(full, x.shape)(src))


def _plus(x, added):
    """x + added, keeping a bool x bool (a logical or, as PyTorch's adds of bools)."""
    if x.dtype.kind == "b":
        return Tensor._make((x.array | added.array))
    return x + added


def index_add(x, dim, index, source, *, alpha=1):
    """``x`` plus ``alpha * source`` added at the rows ``index`` (1-D) along
    ``dim``; repeated indices accumulate.

    Shape: source is x's shape with dim of size len(index)."""
    x, source = as_tensor(x), as_tensor(source)
    index = _int_index("index_add", index)
    ax = normalize_axis(dim, x.ndim, "index_add")
    want = x.shape[:ax] + (index.numel(),) + x.shape[ax + 1:]
    if index.ndim > 1 or x.ndim == 0 or source.shape != want:
        raise ValueError(f"index_add: expected a 1-D index and a source of shape {want}, got "
                         f"index {describe(index)} and source {describe(source)} for input "
                         f"{describe(x)}")
    if source.dtype != x.dtype:
        raise TypeError(f"index_add: source dtype {source.dtype} differs from the input's "
                        f"{x.dtype}; convert one first")
    _check_bounds("index_add", index.array, x.shape[ax], dim)
    full = (slice(None),) * ax + (index.array.reshape(-1),)
    if x.dtype.kind in "biu":             # integer tensors: alpha is cut to an int (PyTorch)
        alpha = int(alpha)
    if alpha != 1 and x.dtype.kind != "b":
        source = source * alpha
    return _plus(x, GetItemGrad(full, x.shape)(source))


def index_fill(x, dim, index, value):
    """``x`` with the rows ``index`` (1-D) along ``dim`` set to ``value`` (a
    number or a 0-d tensor, which then gets the gradient of those elements)."""
    x = as_tensor(x)
    index = _int_index("index_fill", index)
    ax = normalize_axis(dim, x.ndim, "index_fill")
    if index.ndim > 1:
        raise ValueError(f"index_fill: index must be 0-d or 1-D, got {describe(index)}")
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ValueError(f"index_fill: value must be a number or a 0-d tensor, got "
                         f"{describe(value)}")
    size = x.shape[ax] if x.ndim else 1
    idx = index.array.reshape(-1)
    if idx.size and (int(idx.min()) < -size or int(idx.max()) >= size):
        raise IndexError(f"index_fill: an index in {idx.tolist()} is out of bounds for dim "
                         f"{dim} with size {size}")
    xp = get_array_module(x.array)
    mask = xp.zeros(size, dtype=bool)
    mask[idx] = True
    mask = mask.reshape((size,) + (1,) * (x.ndim - ax - 1)) if x.ndim else mask.reshape(())
    return masked_fill(x, Tensor._const(mask), value)


# ---------------------------------------------------------------- nonzero
def nonzero(x, *, as_tuple=False):
    """The indices of the non-zero elements: an int64 (n, ndim) tensor, or
    with ``as_tuple=True`` one 1-D tensor per dim (NumPy's ``nonzero``)."""
    x = as_tensor(x)
    xp = get_array_module(x.array)
    a = x.array
    if as_tuple:
        return tuple(Tensor._make(i.astype(np.int64, copy=False))
                     for i in xp.nonzero(a.reshape(1) if a.ndim == 0 else a))
    return Tensor._make(xp.argwhere(a).astype(np.int64, copy=False))


def argwhere(x):
    """``nonzero(x)``: the (n, ndim) indices of the non-zero elements."""
    return nonzero(x)
