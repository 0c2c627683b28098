"""Selecting elements by order: sort, argsort, topk, kthvalue, median, mode,
unique; and the ``(values, indices)`` machinery that max(dim) shares.

Each of these picks, along one dim, elements of ``x`` at integer indices.
The indices are computed on the arrays (no gradient); the values are
``TakeAlong(indices)(x)``, whose gradient goes back to exactly the picked
elements, as PyTorch's does. Ties: sorts are stable (equal elements keep
their order, NaN sorts as the largest value), so the indices PyTorch picks
among equal elements may differ for ``median`` and ``kthvalue``, where
PyTorch leaves that order unspecified.
"""
import numpy as np

from tinynet import return_types
from tinynet.autograd import Function
from tinynet.backend import get_array_module, to_device
from tinynet.ops.shape import normalize_axis, reshape
from tinynet.tensor import Tensor, as_tensor, describe


__all__ = [
    "argsort", "kthvalue", "median", "mode", "sort", "topk", "unique"
]


# ---------------------------------------------------------------- take / put along a dim
def index_along(indices, axis):
    """A fancy index that addresses ``a[..., indices[...], ...]`` along ``axis``
    for an array shaped like ``indices`` elsewhere (put_along_axis by hand:
    CuPy has take_along_axis but not every version has put_along_axis)."""
    xp = get_array_module(indices)
    n = indices.ndim
    return tuple(indices if d == axis else
                 xp.arange(s).reshape((1,) * d + (s,) + (1,) * (n - d - 1))
                 for d, s in enumerate(indices.shape))


class TakeAlong(Function):
    """``x``'s elements at ``indices`` along ``axis`` (``indices`` has x's
    ndim), reshaped to ``shape``. The gradient is written back to those
    positions; the indices along the axis are distinct (one per row for
    max(dim), a permutation or part of one for sort and topk)."""

    def __init__(self, indices, axis, shape):
        self.indices, self.axis, self.shape = indices, axis, shape

    def forward(self, x):
        y = get_array_module(x).take_along_axis(x, self.indices, axis=self.axis)
        return y.reshape(self.shape) if y.shape != self.shape else y

    def backward(self, gy):
        return PutAlong(self.indices, self.axis, self.inputs[0].shape)(gy)


class PutAlong(Function):
    """Zeros of ``shape`` with ``gy`` written at ``indices`` along ``axis``:
    TakeAlong's backward (whose own backward is TakeAlong again)."""

    def __init__(self, indices, axis, shape):
        self.indices, self.axis, self.shape = indices, axis, shape

    def forward(self, gy):
        gx = get_array_module(gy).zeros(self.shape, dtype=gy.dtype)
        gx[index_along(self.indices, self.axis)] = gy.reshape(self.indices.shape)
        return gx

    def backward(self, ggx):
        return TakeAlong(self.indices, self.axis, self.inputs[0].shape)(ggx)


def select_along(kind, x, indices, axis, keepdim):
    """``return_types.<kind>(values, indices)`` for int ``indices`` of x's
    ndim along ``axis`` (size 1 there when ``keepdim`` is False: it is removed)."""
    shape = indices.shape if keepdim else indices.shape[:axis] + indices.shape[axis + 1:]
    values = TakeAlong(indices, axis, shape)(x)
    idx = indices if keepdim else indices.reshape(shape)
    return getattr(return_types, kind)(values, Tensor._make(idx.astype(np.int64, copy=False)))


def _as_1d(x, dim, op):
    """(x with at least one dim, the normalized axis, whether x was 0-d):
    a 0-d tensor takes dim 0 or -1 and is handled as one element."""
    x = as_tensor(x)
    axis = normalize_axis(dim, x.ndim, op)
    if x.ndim == 0:
        return reshape(x, (1,)), 0, True
    return x, axis, False


def _scalar_result(result, was_0d):
    if not was_0d:
        return result
    return type(result)(*(reshape(t, ()) for t in result))


# ---------------------------------------------------------------- sort, argsort
def _argsort(a, axis, descending):
    """Stable argsort along ``axis``; NaN counts as the largest value.
    Descending keeps equal elements in their original order too: sort the
    reversed array ascending, then reverse the result."""
    xp = get_array_module(a)
    kw = {"kind": "stable"} if xp is np else {}
    if not descending:
        return xp.argsort(a, axis=axis, **kw)
    idx = xp.flip(xp.argsort(xp.flip(a, axis), axis=axis, **kw), axis)
    return a.shape[axis] - 1 - idx


def sort(x, dim=-1, descending=False, stable=False):
    """``(values, indices)`` of ``x`` sorted along ``dim`` (always stable;
    NaN sorts last). https://pytorch.org/docs/stable/generated/torch.sort.html

    Shape: values and indices have x's shape."""
    x, axis, was_0d = _as_1d(x, dim, "sort")
    idx = _argsort(x.array, axis, descending)
    return _scalar_result(select_along("sort", x, idx, axis, True), was_0d)


def argsort(x, dim=-1, descending=False, stable=False):
    """The int64 indices that sort ``x`` along ``dim`` (``sort(x).indices``)."""
    x = as_tensor(x)
    axis = normalize_axis(dim, x.ndim, "argsort")
    if x.ndim == 0:
        return Tensor._make(get_array_module(x.array).zeros((), np.int64))
    return Tensor._make(_argsort(x.array, axis, descending).astype(np.int64, copy=False))


def topk(x, k, dim=-1, largest=True, sorted=True):
    """``(values, indices)`` of the ``k`` largest (``largest=False``: smallest)
    elements along ``dim``, in sorted order.

    Shape: x's shape with ``dim`` of size k."""
    x, axis, was_0d = _as_1d(x, dim, "topk")
    n = x.shape[axis]
    if not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
        raise ValueError(f"topk: k={k} is out of range for dim {dim} of size {n}; input "
                         f"{describe(x)}")
    idx = _argsort(x.array, axis, descending=largest)
    idx = idx[(slice(None),) * axis + (slice(0, int(k)),)]
    return _scalar_result(select_along("topk", x, idx, axis, True), was_0d)


def _check_k(op, k, n, x, dim):
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise ValueError(f"{op}: k={k} is out of range for dim {dim} of size {n} "
                         f"(expected 1..{n}); input {describe(x)}")


def kthvalue(x, k, dim=-1, keepdim=False):
    """``(values, indices)`` of the k-th smallest element (k counts from 1)
    along ``dim``. https://pytorch.org/docs/stable/generated/torch.kthvalue.html"""
    x, axis, was_0d = _as_1d(x, dim, "kthvalue")
    _check_k("kthvalue", k, x.shape[axis], x, dim)
    idx = _argsort(x.array, axis, False)
    idx = idx[(slice(None),) * axis + (slice(int(k) - 1, int(k)),)]
    return _scalar_result(select_along("kthvalue", x, idx, axis, keepdim or was_0d), was_0d)


# ---------------------------------------------------------------- median, mode
class _MedianAll(Function):
    """The median of all elements; its gradient is shared evenly among the
    elements equal to it (PyTorch's rule for median() without a dim)."""

    def forward(self, x):
        xp = get_array_module(x)
        flat = x.reshape(-1)
        idx = _argsort(flat, 0, False)[(flat.size - 1) // 2]
        nan = xp.isnan(flat) if x.dtype.kind in "fc" else None
        if nan is not None and nan.any():
            idx = xp.argmax(nan)
        self.value = flat[idx]
        return self.value.reshape(())

    def backward(self, gy):
        xp = get_array_module(gy.array)
        x = self.inputs[0].array
        hit = (x == self.value) | (xp.isnan(x) & xp.isnan(self.value))
        return gy * Tensor._const((hit / hit.sum()).astype(gy.dtype))


def median(x, dim=None, keepdim=False):
    """The lower median (the ((n-1)//2)-th smallest element; NaN if any is NaN).

    With no ``dim``: one value over all elements. With an int ``dim``:
    ``(values, indices)`` along it, as PyTorch.
    https://pytorch.org/docs/stable/generated/torch.median.html"""
    x = as_tensor(x)
    if dim is None:
        if x.numel() == 0:
            raise ValueError(f"median: cannot take the median of an empty tensor {describe(x)}")
        return _MedianAll()(x)
    x, axis, was_0d = _as_1d(x, dim, "median")
    n = x.shape[axis]
    if n == 0:
        raise ValueError(f"median: cannot reduce dim {dim} of size 0; input {describe(x)}")
    a = x.array
    xp = get_array_module(a)
    k = (n - 1) // 2
    idx = _argsort(a, axis, False)[(slice(None),) * axis + (slice(k, k + 1),)]
    if a.dtype.kind in "fc":
        nan = xp.isnan(a)
        if nan.any():                   # NaN rows: the first NaN, as PyTorch
            first = xp.argmax(nan, axis=axis)
            has = nan.any(axis=axis)
            idx = xp.where(xp.expand_dims(has, axis), xp.expand_dims(first, axis), idx)
    return _scalar_result(select_along("median", x, idx, axis, keepdim or was_0d), was_0d)


def _mode_indices(a, axis):
    """Per row along ``axis``: the index of the last occurrence of the most
    frequent value, the smallest such value on a tie (PyTorch's choice).
    Runs on the host (NumPy): sort, then measure the runs of equal values."""
    a = np.moveaxis(a, axis, -1)
    lead, n = a.shape[:-1], a.shape[-1]
    rows = a.reshape(-1, n)
    order = np.argsort(rows, axis=-1, kind="stable")
    s = np.take_along_axis(rows, order, axis=-1)
    pos = np.broadcast_to(np.arange(n), s.shape)
    change = s[:, 1:] != s[:, :-1]
    first = np.concatenate([np.ones((len(s), 1), bool), change], axis=1)
    last = np.concatenate([change, np.ones((len(s), 1), bool)], axis=1)
    start = np.maximum.accumulate(np.where(first, pos, 0), axis=-1)
    end = np.minimum.accumulate(np.where(last, pos, n)[:, ::-1], axis=-1)[:, ::-1]
    best = np.argmax(end - start, axis=-1)          # the first longest run: smallest value
    e = end[np.arange(len(s)), best]
    idx = order[np.arange(len(s)), e]
    return np.moveaxis(idx.reshape(lead + (1,)), -1, axis)


def mode(x, dim=-1, keepdim=False):
    """``(values, indices)`` of the most frequent value along ``dim`` (the
    smallest on a tie; the index of its last occurrence, as PyTorch).
    https://pytorch.org/docs/stable/generated/torch.mode.html"""
    x, axis, was_0d = _as_1d(x, dim, "mode")
    if x.shape[axis] == 0:
        raise ValueError(f"mode: cannot reduce dim {dim} of size 0; input {describe(x)}")
    host = x.numpy()
    idx = _mode_indices(host, axis)
    if x.is_cuda:
        idx = to_device(idx, x.device)
    return _scalar_result(select_along("mode", x, idx, axis, keepdim or was_0d), was_0d)


# ---------------------------------------------------------------- unique
def unique(x, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct values of ``x`` (always sorted), optionally with the
    inverse indices (x's shape, or ``(x.shape[dim],)`` with ``dim``) and the
    counts; with ``dim``, the distinct slices along it. No gradient.
    https://pytorch.org/docs/stable/generated/torch.unique.html"""
    x = as_tensor(x)
    xp = get_array_module(x.array)
    axis = None if dim is None else normalize_axis(dim, x.ndim, "unique")
    out = xp.unique(x.array, return_inverse=True, return_counts=True, axis=axis)
    values, inverse, counts = out
    result = [Tensor._make(values)]
    if return_inverse:
        shape = x.shape if axis is None else (x.shape[axis],)
        result.append(Tensor._make(inverse.reshape(shape).astype(np.int64, copy=False)))
    if return_counts:
        result.append(Tensor._make(counts.astype(np.int64, copy=False)))
    return result[0] if len(result) == 1 else tuple(result)
