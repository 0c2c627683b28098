"""Tensor: one array (NumPy or CuPy) plus what autograd needs, the dtypes,
and the creation functions (``tn.tensor``, ``tn.zeros``, ...).

This module is the data structure only and imports no op: the methods that
are ops (``x.exp()`` is ``tn.exp(x)``, ``x.backward()``, ``x.add_(y)``) are
bound onto Tensor by ``tinynet/tensor_methods.py``, once, at import.
"""
import numpy as np

from tinynet.backend import (device_of, get_array_module, is_cupy_array, raise_pending_checks,
                             to_device)

# dtypes under PyTorch's names (they are NumPy's dtypes)
# (the aliases float, double, half, long are added in tinynet/__init__.py so
# that this module keeps Python's own float and int)
float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
int16 = np.dtype(np.int16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)
_default_float = float32


def _to_dtype(dtype):
    return None if dtype is None else np.dtype(dtype)


def describe(t):
    """'(2, 3) float32 cpu' for error messages."""
    if isinstance(t, Tensor):
        return f"{tuple(t.shape)} {t.dtype} {t.device}"
    return f"{type(t).__name__} {t!r}"


def as_array(data, dtype=None):
    """Python data / arrays to an array with tinynet's dtype rules.

    Python floats give float32 and Python ints int64 (PyTorch's defaults);
    NumPy and CuPy arrays keep their dtype unless ``dtype`` is given.
    """
    dtype = _to_dtype(dtype)
    if isinstance(data, Tensor):
        data = data.array
    if isinstance(data, np.ndarray) or is_cupy_array(data):
        return data if dtype is None or data.dtype == dtype else data.astype(dtype)
    if isinstance(data, np.generic):
        return np.asarray(data, dtype=dtype)
    if isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in _flat(data)):
        data = _nested_to_arrays(data)
    arr = np.asarray(data)
    if dtype is not None:
        return arr.astype(dtype, copy=False)
    if arr.dtype == np.float64:
        arr = arr.astype(_default_float)
    elif arr.dtype.kind in "iu":
        arr = arr.astype(np.int64)
    elif arr.dtype == np.complex128:
        arr = arr.astype(np.complex64)
    elif arr.dtype.kind not in "bfc":
        raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__} "
                        f"(NumPy dtype {arr.dtype}); expected numbers, lists or arrays")
    return arr


def _flat(data):
    for d in data:
        if isinstance(d, (list, tuple)):
            yield from _flat(d)
        else:
            yield d


def _nested_to_arrays(data):
    if isinstance(data, Tensor):
        return data.numpy()
    if isinstance(data, (list, tuple)):
        return [_nested_to_arrays(d) for d in data]
    return data


class Size(tuple):
    """A shape: a tuple of ints that prints as PyTorch's ``torch.Size``."""
    __slots__ = ()

    def __repr__(self):
        return f"tinynet.Size({list(self)})"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n


class Tensor:
    """A multi-dimensional array that can record the ops applied to it.

    ``array`` is the underlying ``numpy.ndarray`` (or ``cupy.ndarray``);
    ``data`` is a Tensor sharing it without grad history (PyTorch's
    ``.data``); ``grad`` a Tensor or None, ``grad_fn`` the Function that
    made it. ``_vc`` is the version counter, a one-element list shared by
    every Tensor that views the same memory through tinynet (``detach()``,
    view ops), so that an in-place change through one of them is seen by the
    backward of an op that saved another.

    ``Tensor(...)`` itself is PyTorch's legacy constructor: ``Tensor(2, 3)``
    is an uninitialised float32 tensor of that shape, ``Tensor([1, 2])`` a
    float32 copy; prefer ``tn.tensor(data)``, which keeps dtypes.
    """
    __slots__ = ("array", "grad", "requires_grad", "grad_fn", "_out_index",
                 "_vc", "_base", "_hooks", "_retains_grad", "__weakref__")
    # NumPy must not treat a Tensor as an array: `np.float64(2) * t` then
    # falls back to Tensor.__rmul__ instead of building an object array.
    __array_ufunc__ = None

    def __init__(self, *args, device=None):
        self._legacy_init(float32, args, device)

    def _legacy_init(self, dtype, args, device):
        if len(args) == 1 and isinstance(args[0], Size):
            arr = np.empty(args[0], dtype)
        elif args and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                          for a in args):
            arr = np.empty(shape_arg(args, type(self).__name__), dtype)
        elif len(args) > 1:
            raise TypeError(f"{type(self).__name__}(): expected sizes (ints) or one "
                            f"sequence/array, got {len(args)} arguments")
        elif not args:
            arr = np.empty((0,), dtype)
        else:
            arr = as_array(args[0], dtype)        # shares an array of that dtype, as PyTorch
        self._init(arr, False)
        if device is not None and str(device) != "cpu":
            self.array = to_device(self.array, device)

    def _init(self, array, requires_grad):
        self.array = array
        self.grad = None
        self.grad_fn = None
        self._out_index = 0
        self._vc = [0]
        self._base = None
        self._hooks = None
        self._retains_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, data, requires_grad=False, dtype=None):
        """A Tensor around ``data`` with tinynet's dtype rules (arrays keep
        their dtype, Python floats give float32); the library's constructor."""
        t = object.__new__(cls)
        t._init(as_array(data, dtype), requires_grad)
        return t

    @classmethod
    def _make(cls, data, requires_grad=False):
        # Fast constructor for op outputs: no conversion beyond 0-d results.
        if type(data) is not np.ndarray and not is_cupy_array(data):
            data = np.asarray(data)
        return cls._const(data, requires_grad)

    @classmethod
    def _const(cls, value, requires_grad=False):
        # A Tensor around ``value`` as it is: op outputs, and constant operands
        # (a scalar cast to an op's dtype, kept a NumPy scalar so CuPy accepts it).
        t = object.__new__(cls)
        t.array = value
        t.grad = None
        t.requires_grad = requires_grad
        t.grad_fn = None
        t._out_index = 0
        t._vc = [0]
        t._base = None
        t._hooks = None
        t._retains_grad = False
        return t

    @property
    def data(self):
        """A Tensor sharing this one's memory, cut from the graph (PyTorch's
        ``.data``: in-place changes through it are not tracked by autograd,
        and it has its own version counter)."""
        return Tensor._const(self.array)

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"data: expected a Tensor, got {type(value).__name__}; "
                            "to put a raw array in, assign `t.array = array`")
        self.array = value.array

    @property
    def _version(self):
        return self._vc[0]

    # ------------------------------------------------------------ basics
    @property
    def shape(self):
        return self.array.shape

    @property
    def ndim(self):
        return self.array.ndim

    def dim(self):
        return self.array.ndim

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def device(self):
        return device_of(self.array)

    @property
    def is_cuda(self):
        return is_cupy_array(self.array)

    @property
    def is_leaf(self):
        return self.grad_fn is None

    def size(self, dim=None):
        """The shape as a ``tn.Size`` (PyTorch's ``size()``), or its length along ``dim``."""
        return Size(self.array.shape) if dim is None else self.array.shape[dim]

    def numel(self):
        return int(self.array.size)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    def numpy(self):
        """The data as a NumPy array (copied to the host for CUDA tensors)."""
        if self.is_cuda:
            raise_pending_checks()
            return self.array.get()
        return self.array

    def item(self):
        raise_pending_checks()
        if self.array.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted to a "
                             f"Python scalar, got shape {self.shape}")
        return self.array.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.array.size != 1:
            raise RuntimeError(f"the truth value of a tensor with {self.array.size} "
                               "elements is ambiguous; use .any() or .all()")
        return bool(self.item())

    def __index__(self):
        if self.dtype.kind not in "iub" or self.array.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.item())

    __hash__ = object.__hash__

    def __format__(self, spec):
        # A 0-d tensor formats as its number (f"{loss:.3f}"), as in PyTorch.
        if self.array.ndim == 0:
            return format(self.item(), spec)
        return object.__format__(self, spec)

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extra = []
        if self.dtype not in (float32, int64, bool_):
            extra.append(f"dtype={self.dtype}")
        if self.is_cuda:
            extra.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extra.append(f"grad_fn=<{self.grad_fn.name}>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extra) + ")"

    # ------------------------------------------------------------ autograd
    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.array.dtype.kind not in "fc":
            raise RuntimeError(f"requires_grad: only floating point tensors can require "
                               f"gradients, got dtype {self.dtype}")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self):
        """The same data, cut from the graph (shares memory and the version
        counter, like PyTorch)."""
        t = Tensor._make(self.array)
        t._vc = self._vc
        return t

    def detach_(self):
        self.grad_fn = None
        self.requires_grad = False
        return self

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed.

        A hook may return a new gradient to use instead. Returns a handle
        with ``remove()``.
        """
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that "
                               "does not require grad")
        if self._hooks is None:
            self._hooks = {}
        key = object()
        self._hooks[key] = hook
        return _HookHandle(self._hooks, key)

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: the tensor does not require grad")
        if self.grad_fn is not None:
            self._retains_grad = True
        return self

    @property
    def retains_grad(self):
        return self._retains_grad

    # ------------------------------------------------------------ devices, dtypes
    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{device}")

    def float(self):
        return self.astype(float32)

    def double(self):
        return self.astype(float64)

    def half(self):
        return self.astype(float16)

    def long(self):
        return self.astype(int64)

    def int(self):
        return self.astype(int32)

    def bool(self):
        return self.astype(bool_)

    def type(self, dtype=None):
        """``t.type()`` names the legacy type ('tinynet.FloatTensor');
        ``t.type(tn.float64)``, ``t.type(tn.DoubleTensor)`` or
        ``t.type('torch.DoubleTensor')`` converts."""
        if dtype is None:
            return "tinynet." + _LEGACY_TYPES.get(self.dtype, "Tensor")
        if isinstance(dtype, str):
            name = dtype.rsplit(".", 1)[-1]
            dtype = next((d for d, n in _LEGACY_TYPES.items() if n == name), dtype)
        return self.astype(getattr(dtype, "_legacy_dtype", dtype))

    def type_as(self, other):
        """This tensor converted to ``other``'s dtype."""
        return self.astype(other.dtype)

    # ------------------------------------------------------------ new tensors like this one
    # PyTorch's new_* methods: the tensor's dtype and device unless given.
    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        return zeros(*size, dtype=dtype or self.dtype, device=device or self.device,
                     requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return ones(*size, dtype=dtype or self.dtype, device=device or self.device,
                    requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        return empty(*size, dtype=dtype or self.dtype, device=device or self.device,
                     requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                    requires_grad=requires_grad)

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        """A copy of ``data`` as a new leaf tensor (of this tensor's dtype by default)."""
        if isinstance(data, Tensor):
            data = data.detach()
        return tensor(data, dtype=dtype or self.dtype, device=device or self.device,
                      requires_grad=requires_grad)

    # ------------------------------------------------------------ memory layout
    def is_contiguous(self):
        """Is the data laid out in C order (row-major, no gaps)?"""
        return bool(self.array.flags.c_contiguous)

_LEGACY_TYPES = {float32: "FloatTensor", float64: "DoubleTensor", float16: "HalfTensor",
                 int64: "LongTensor", int32: "IntTensor", int16: "ShortTensor",
                 int8: "CharTensor", uint8: "ByteTensor", bool_: "BoolTensor"}


def _legacy_type(name, dtype):
    """``tn.FloatTensor`` and friends: PyTorch's legacy typed constructors.
    ``tn.LongTensor([1, 2])`` makes an int64 tensor, and
    ``isinstance(t, tn.LongTensor)`` checks the dtype, as in PyTorch."""

    class _Meta(type):
        def __instancecheck__(cls, obj):
            return isinstance(obj, Tensor) and obj.dtype == dtype

        def __call__(cls, *args, device=None):
            t = object.__new__(Tensor)
            t._legacy_init(dtype, args, device)
            return t

    return _Meta(name, (), {"_legacy_dtype": dtype, "__module__": "tinynet"})


FloatTensor, DoubleTensor, HalfTensor, LongTensor, IntTensor, ShortTensor, CharTensor, \
    ByteTensor, BoolTensor = (_legacy_type(n, d) for d, n in _LEGACY_TYPES.items())


def is_dtype_name(name):
    """Is ``name`` a string NumPy reads as a dtype ('float32', 'int64')?"""
    try:
        np.dtype(name)
        return True
    except TypeError:
        return False


class _HookHandle:
    """What ``register_hook`` returns: ``remove()`` it, or use it in a
    ``with`` block that removes the hook on exit."""

    def __init__(self, hooks, key):
        self._hooks, self._key = hooks, key

    def remove(self):
        self._hooks.pop(self._key, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


def as_tensor(x, dtype=None):
    """``x`` itself if it is a Tensor (of ``dtype``), else a new constant Tensor."""
    if isinstance(x, Tensor):
        return x if dtype is None or x.dtype == np.dtype(dtype) else x.astype(dtype)
    return Tensor._wrap(x, dtype=dtype)


# ---------------------------------------------------------------- creation
def _place(arr, device, requires_grad):
    if device is not None and str(device) != "cpu":
        arr = to_device(arr, device)
    return Tensor._wrap(arr, requires_grad=requires_grad)


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new Tensor holding a copy of ``data`` (lists, numbers, arrays, Tensors)."""
    arr = as_array(data, dtype)
    if arr is data or (isinstance(data, Tensor) and arr is data.array):
        arr = arr.copy()
    return _place(arr, device, requires_grad)


def from_numpy(array):
    """A Tensor sharing memory with a NumPy array (no copy)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor._wrap(array)


def from_dlpack(obj):
    """A Tensor from any DLPack-capable array (NumPy, CuPy, PyTorch, ...)."""
    if hasattr(obj, "__dlpack_device__") and obj.__dlpack_device__()[0] != 1:
        from tinynet.backend import import_cupy
        return Tensor._wrap(import_cupy().from_dlpack(obj))
    return Tensor._wrap(np.from_dlpack(obj))


def shape_arg(shape, op):
    """The sizes of ``zeros(2, 3)`` or ``zeros((2, 3))`` as a tuple, checked for ``op``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"{op}: shape must be non-negative integers, got {shape}")
    return tuple(int(s) for s in shape)


def zeros(*shape, dtype=None, device=None, requires_grad=False):
    arr = np.zeros(shape_arg(shape, "zeros"), _to_dtype(dtype) or _default_float)
    return _place(arr, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False):
    arr = np.ones(shape_arg(shape, "ones"), _to_dtype(dtype) or _default_float)
    return _place(arr, device, requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad=False):
    return zeros(*shape, dtype=dtype, device=device, requires_grad=requires_grad)


def full(shape, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None:
        dtype = (bool_ if isinstance(fill_value, bool) else
                 int64 if isinstance(fill_value, int) else _default_float)
    arr = np.full(shape_arg((shape,), "full"), fill_value, _to_dtype(dtype))
    return _place(arr, device, requires_grad)


def _like(t, fill, dtype, device, requires_grad):
    xp = get_array_module(t.array)
    arr = xp.full(t.shape, fill, _to_dtype(dtype) or t.dtype)
    if device is not None:
        arr = to_device(arr, device)
    return Tensor._wrap(arr, requires_grad=requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    return _like(as_tensor(t), 0, dtype, device, requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    return _like(as_tensor(t), 1, dtype, device, requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    return _like(as_tensor(t), fill_value, dtype, device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = int64 if is_int else _default_float
    arr = np.arange(start, end, step, dtype=_to_dtype(dtype))
    return _place(arr, device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    arr = np.linspace(start, end, steps, dtype=_to_dtype(dtype) or _default_float)
    return _place(arr, device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    arr = np.eye(n, m, dtype=_to_dtype(dtype) or _default_float)
    return _place(arr, device, requires_grad)
