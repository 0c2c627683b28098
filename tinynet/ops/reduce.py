"""Reductions: sum, mean, var, std, max, min, argmax, argmin, logsumexp,
prod, and the softmax family.

``axis`` may be None (all), an int (negative counts from the end) or a tuple;
``dim`` is accepted as PyTorch's name for it and ``keepdim`` for ``keepdims``.
"""
import builtins

import numpy as np

from tinynet.autograd import Function
from tinynet.backend import get_array_module
from tinynet.ops.elementwise import exp, maximum, minimum, require_float, to_float, where
from tinynet.ops.shape import broadcast_to, normalize_axes, normalize_axis, reshape
from tinynet.ops.sorting import select_along
from tinynet.tensor import Tensor, as_tensor, describe


__all__ = [
    "all", "amax", "amin", "any", "argmax", "argmin", "cumprod", "cumsum", "log_softmax",
    "logsumexp", "max", "mean", "min", "prod", "softmax", "std", "sum", "var"
]


def axes_args(x, axis, dim, keepdims, keepdim, op):
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{op}: pass axis or dim, not both")
        axis = dim
    if keepdim is not None:
        keepdims = keepdim
    return normalize_axes(axis, x.ndim, op), bool(keepdims)


def _kept_shape(shape, axes):
    """``shape`` with the reduced ``axes`` set to 1 (the keepdims shape)."""
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def expand_back(gy, x_shape, axes):
    """Broadcast a reduced gradient back over the reduced axes."""
    return broadcast_to(reshape(gy, _kept_shape(x_shape, axes)), x_shape)


def _count(shape, axes):
    return int(np.prod([shape[a] for a in axes])) if axes else 1


# ---------------------------------------------------------------- sum, mean
class Sum(Function):
    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        return expand_back(gy, self.inputs[0].shape, self.axes)


def sum(x, axis=None, keepdims=False, *, dim=None, keepdim=None, dtype=None):
    axes, keepdims = axes_args(x, axis, dim, keepdims, keepdim, "sum")
    if dtype is not None:
        x = x.astype(dtype)
    elif x.dtype.kind in "biu" and x.dtype != np.int64:
        x = x.astype(np.int64)        # PyTorch sums bool/int/uint8 into int64
    return Sum(axes, keepdims)(x)


class Mean(Function):
    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        return x.mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        x = self.inputs[0]
        return expand_back(gy, x.shape, self.axes) / _count(x.shape, self.axes)


def mean(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    axes, keepdims = axes_args(x, axis, dim, keepdims, keepdim, "mean")
    if x.dtype.kind not in "fc":
        raise TypeError(f"mean: needs a floating point tensor, got {x.dtype}; "
                        "convert first with x.float()")
    return Mean(axes, keepdims)(x)


def var(x, axis=None, keepdims=False, *, correction=None, unbiased=None, dim=None,
        keepdim=None):
    """Variance with Bessel's correction by default (``correction=1``, PyTorch)."""
    axes, keepdims = axes_args(x, axis, dim, keepdims, keepdim, "var")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    n = _count(x.shape, axes)
    centered = x - mean(x, axes, keepdims=True)
    return sum(centered * centered, axes, keepdims=keepdims) / builtins.max(n - correction, 0)


class StdFromVar(Function):
    """sqrt for std: its gradient is 0 where the std is 0 (a constant row),
    as in PyTorch, instead of 0 * inf = nan."""
    keep_outputs = True

    def forward(self, v):
        return get_array_module(v).sqrt(v)

    def backward(self, gy):
        y = self.output()
        zero = y.array == 0
        if not zero.any():
            return gy / (2 * y)
        return where(zero, 0.0, gy / (2 * where(zero, 1.0, y)))


def std(x, axis=None, keepdims=False, *, correction=None, unbiased=None, dim=None,
        keepdim=None):
    """Standard deviation, ``correction=1`` by default (PyTorch)."""
    return StdFromVar()(var(x, axis, keepdims, correction=correction, unbiased=unbiased,
                             dim=dim, keepdim=keepdim))


# ---------------------------------------------------------------- max, min
class _Extreme(Function):
    """max/min over axes (all of them, or a tuple): the gradient is shared
    evenly among ties, as PyTorch's max() and amax do. (``max(x, dim)`` with
    one int dim is ``TakeAlong`` at argmax instead: one element gets it.)"""
    reducer = None

    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        xp = get_array_module(x)
        y = getattr(xp, self.reducer)(x, axis=self.axes, keepdims=True)
        self.y_kept = y
        return y if self.keepdims else y.reshape([s for i, s in enumerate(y.shape)
                                                   if i not in self.axes])

    def backward(self, gy):
        x = self.inputs[0]
        mask = (x.array == self.y_kept).astype(x.dtype)
        mask /= mask.sum(axis=self.axes, keepdims=True)
        return expand_back(gy, x.shape, self.axes) * Tensor._const(mask)


class Max(_Extreme):
    reducer = "max"


class Min(_Extreme):
    reducer = "min"


def _refuse_empty_reduction(op, x, axes):
    """max/min have no identity: reducing over a dim of size 0 is refused (as
    PyTorch does); an empty tensor reduced over non-empty dims gives an empty
    result."""
    empty = [a for a in axes if x.shape[a] == 0]
    if empty:
        raise ValueError(f"{op}: cannot reduce an empty tensor of shape {x.shape} over dim "
                         f"{empty[0]} of size 0 (max and min have no identity)")


def _extreme(cls, op, x, axis, keepdims, dim, keepdim):
    x = as_tensor(x)
    axes, keepdims = axes_args(x, axis, dim, keepdims, keepdim, op)
    _refuse_empty_reduction(op, x, axes)
    return cls(axes, keepdims)(x)


def _extreme_dim(op, x, dim, keepdim):
    """``(values, indices)`` along one int dim: PyTorch's max(dim) / min(dim)."""
    x = as_tensor(x)
    ax = normalize_axis(dim, x.ndim, op)
    keepdim = bool(keepdim)
    if x.ndim == 0:                 # dim 0 or -1 of a 0-d tensor: itself, index 0
        result = _extreme_dim(op, reshape(x, (1,)), 0, True)
        return type(result)(*(reshape(t, ()) for t in result))
    if x.shape[ax] == 0:
        raise ValueError(f"{op}: cannot reduce dim {dim} of size 0; input {describe(x)}")
    xp = get_array_module(x.array)
    idx = xp.expand_dims(getattr(xp, "arg" + op)(x.array, axis=ax), ax)
    return select_along(op, x, idx, ax, keepdim)


def _max_min(op, cls, x, dim, keepdim, axis, keepdims):
    """max/min dispatch on the second argument, as PyTorch's overloads:
    a Tensor -> elementwise, one int dim -> (values, indices), else values."""
    if isinstance(dim, Tensor) or isinstance(axis, Tensor):
        other = dim if isinstance(dim, Tensor) else axis
        return (maximum if op == "max" else minimum)(x, other)
    d = dim if dim is not None else axis
    if isinstance(d, (int, np.integer)) and not isinstance(d, bool):
        return _extreme_dim(op, x, d, keepdim if keepdim is not None else keepdims)
    return _extreme(cls, op, x, axis, keepdims, dim, keepdim)


def max(x, dim=None, keepdim=None, *, axis=None, keepdims=False):
    """PyTorch's max: ``max(x)`` the largest value; ``max(x, dim)`` (one int)
    the named tuple ``(values, indices)``; ``max(x, other)`` with a Tensor
    the elementwise ``maximum``. A tuple of dims gives the values (``amax``).

    Gradient: with one int dim it goes to the element argmax picks (the first
    maximal one); over all elements or a tuple of dims it is shared evenly
    among ties (PyTorch's rules).
    https://pytorch.org/docs/stable/generated/torch.max.html
    """
    return _max_min("max", Max, x, dim, keepdim, axis, keepdims)


def min(x, dim=None, keepdim=None, *, axis=None, keepdims=False):
    """PyTorch's min; the same forms and gradient rules as ``max``."""
    return _max_min("min", Min, x, dim, keepdim, axis, keepdims)


def amax(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """The maximum over ``axis`` (an int or a tuple); the gradient is split
    evenly among ties."""
    return _extreme(Max, "amax", x, axis, keepdims, dim, keepdim)


def amin(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """The minimum over ``axis``; the gradient is split evenly among ties."""
    return _extreme(Min, "amin", x, axis, keepdims, dim, keepdim)


def _arg(name, x, axis, keepdims, dim, keepdim):
    if dim is not None:
        axis = dim
    if keepdim is not None:
        keepdims = keepdim
    xp = get_array_module(x.array)
    if axis is None:
        _refuse_empty_reduction(name, x, tuple(range(x.ndim)))
        idx = getattr(xp, name)(x.array.reshape(-1))
        out = idx.reshape((1,) * x.ndim) if keepdims else idx
    else:
        ax = normalize_axis(axis, x.ndim, name)
        _refuse_empty_reduction(name, x, (ax,) if x.ndim else ())
        out = getattr(xp, name)(x.array, axis=ax, keepdims=keepdims) if x.ndim else \
            xp.asarray(0)
    return Tensor._make(xp.asarray(out).astype(np.int64))


def argmax(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Index of the (first) maximum; flat index when axis is None. No gradient."""
    return _arg("argmax", x, axis, keepdims, dim, keepdim)


def argmin(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    return _arg("argmin", x, axis, keepdims, dim, keepdim)


def all(x, axis=None, keepdims=False, *, dim=None):
    axes, _ = axes_args(x, axis, dim, keepdims, None, "all")
    return Tensor._make(get_array_module(x.array).all(x.array, axis=axes, keepdims=keepdims))


def any(x, axis=None, keepdims=False, *, dim=None):
    axes, _ = axes_args(x, axis, dim, keepdims, None, "any")
    return Tensor._make(get_array_module(x.array).any(x.array, axis=axes, keepdims=keepdims))


# ---------------------------------------------------------------- logsumexp, prod
class LogSumExp(Function):
    keep_outputs = True

    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        xp = get_array_module(x)
        if x.size == 0:                             # an empty sum: log 0 = -inf (PyTorch)
            return xp.full_like(x.sum(axis=self.axes, keepdims=self.keepdims), -xp.inf)
        m = x.max(axis=self.axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)          # all -inf (or inf) rows
        y = xp.log(xp.exp(x - m).sum(axis=self.axes, keepdims=True)) + m
        return y if self.keepdims else y.reshape(
            [s for i, s in enumerate(y.shape) if i not in self.axes])

    def backward(self, gy):
        x = self.inputs[0]
        y = reshape(self.output(), _kept_shape(x.shape, self.axes))
        return expand_back(gy, x.shape, self.axes) * exp(x - y)


def logsumexp(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """log(sum(exp(x))) computed without overflow."""
    x = to_float(x)                 # integer input gives float32, as in PyTorch
    axes, keepdims = axes_args(x, axis, dim, keepdims, keepdim, "logsumexp")
    return LogSumExp(axes, keepdims)(x)


class Prod(Function):
    keep_outputs = True

    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        return x.prod(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        x = self.inputs[0]
        g = expand_back(gy, x.shape, self.axes)
        if not (x.array == 0).any():
            y = reshape(self.output(), _kept_shape(x.shape, self.axes))
            return g * y / x
        return g * _prod_of_others(x, self.axes)


def _prod_of_others(x, axes):
    """For each element, the product of the other elements in its reduction
    group, exact when some are zero. Moves the reduced axes last, flattens
    them to K, and multiplies over a (..., K, K) copy with the diagonal set
    to one: O(K^2), used only when x holds zeros."""
    from tinynet.ops.shape import permute
    keep = [a for a in range(x.ndim) if a not in axes]
    order = keep + list(axes)
    xt = permute(x, order) if order != list(range(x.ndim)) else x
    lead = xt.shape[:len(keep)]
    k = _count(x.shape, axes)
    flat = reshape(xt, lead + (1, k))
    xp = get_array_module(x.array)
    eye = xp.eye(k, dtype=bool)
    others = where(eye, 1.0, broadcast_to(flat, lead + (k, k))).prod(axis=-1)
    others = reshape(others, xt.shape)
    inverse = list(np.argsort(order))
    return permute(others, inverse) if order != list(range(x.ndim)) else others


def prod(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    axes, keepdims = axes_args(x, axis, dim, keepdims, keepdim, "prod")
    return Prod(axes, keepdims)(x)


# ---------------------------------------------------------------- softmax family
class SoftmaxFunction(Function):
    keep_outputs = True

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        if x.size == 0:                             # nothing to normalize (max has no identity)
            return x.copy()
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        return e / e.sum(axis=self.axis, keepdims=True)

    def backward(self, gy):
        y = self.output()
        return y * (gy - (gy * y).sum(axis=self.axis, keepdims=True))


class LogSoftmaxFunction(Function):
    keep_outputs = True

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        if x.size == 0:
            return x.copy()
        shifted = x - x.max(axis=self.axis, keepdims=True)
        return shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))

    def backward(self, gy):
        y = self.output()
        return gy - exp(y) * gy.sum(axis=self.axis, keepdims=True)


def softmax(x, axis=-1, *, dim=None):
    """exp(x) / sum(exp(x)) along one axis, shifted by the max for stability."""
    x = require_float(x, "softmax")
    ax = normalize_axis(axis if dim is None else dim, x.ndim, "softmax")
    return SoftmaxFunction(ax)(x)


def log_softmax(x, axis=-1, *, dim=None):
    """x - logsumexp(x) along one axis, computed without overflow."""
    x = require_float(x, "log_softmax")
    ax = normalize_axis(axis if dim is None else dim, x.ndim, "log_softmax")
    return LogSoftmaxFunction(ax)(x)


# ---------------------------------------------------------------- cumsum
class Cumsum(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        return get_array_module(x).cumsum(x, axis=self.axis)

    def backward(self, gy):
        # x[i] feeds y[j] for every j >= i: a reversed cumulative sum of gy,
        # written as total - cumsum + gy so that it stays differentiable
        total = sum(gy, self.axis, keepdims=True)
        return total - cumsum(gy, self.axis) + gy


def cumsum(x, dim, *, axis=None):
    """Cumulative sum along ``dim``; integer input sums into int64 (PyTorch)."""
    x = as_tensor(x)
    ax = normalize_axis(dim if axis is None else axis, x.ndim, "cumsum")
    if x.dtype.kind in "biu" and x.dtype != np.int64:
        x = x.astype(np.int64)
    if x.ndim == 0:
        return reshape(Cumsum(0)(reshape(x, (1,))), ())
    return Cumsum(ax)(x)



# ---------------------------------------------------------------- cumprod
class Cumprod(Function):
    keep_outputs = True

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        return get_array_module(x).cumprod(x, axis=self.axis)

    def backward(self, gy):
        # x[i] feeds y[j] for every j >= i, with dy[j]/dx[i] = y[j] / x[i]:
        # a reversed cumulative sum of gy * y, divided by x (exact when no x is 0)
        x = self.inputs[0]
        if not (x.array == 0).any():
            gyy = gy * self.output()
            return (sum(gyy, self.axis, keepdims=True) - cumsum(gyy, self.axis) + gyy) / x
        return _cumprod_grad_with_zeros(x, gy, self.axis)


def _cumprod_grad_with_zeros(x, gy, axis):
    """Cumprod's gradient when x holds zeros: for each i, the cumulative
    products of x with x[i] replaced by 1 give dy[j]/dx[i] for every j >= i.
    Moves ``axis`` last and builds an (..., n, n) copy: O(n^2), only used
    when x holds zeros."""
    from tinynet.ops.shape import movedim, unsqueeze
    xl, gl = movedim(x, axis, -1), movedim(gy, axis, -1)
    n = xl.shape[-1]
    xp = get_array_module(x.array)
    eye = xp.eye(n, dtype=bool)
    others = where(eye, 1.0, broadcast_to(unsqueeze(xl, -2), xl.shape[:-1] + (n, n)))
    upper = Tensor._const(xp.triu(xp.ones((n, n), dtype=x.dtype)))      # j >= i
    g = sum(cumprod(others, -1) * upper * unsqueeze(gl, -2), -1)
    return movedim(g, -1, axis)


def cumprod(x, dim, *, dtype=None):
    """Cumulative product along ``dim``; integer input multiplies in int64 (PyTorch).
    https://pytorch.org/docs/stable/generated/torch.cumprod.html"""
    x = as_tensor(x)
    ax = normalize_axis(dim, x.ndim, "cumprod")
    if dtype is not None:
        x = x.astype(dtype)
    elif x.dtype.kind in "biu" and x.dtype != np.int64:
        x = x.astype(np.int64)
    if x.ndim == 0:
        return reshape(Cumprod(0)(reshape(x, (1,))), ())
    return Cumprod(ax)(x)
