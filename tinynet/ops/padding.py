"""Reflect, replicate and circular padding (F.pad's non-constant modes), and
the gather-along-one-axis op they are made of.

Each padded dim is one ``Take``: the output along that axis is the input at
a precomputed index array (for reflect, ``[2, 1, 0, 1, 2, 3, 2]`` pads
``[0, 1, 2, 3]`` by 2 on the left, 1 on the right). Its backward,
``TakeGrad``, adds each output gradient back into the input position it came
from; TakeGrad's own backward is a Take again, so double backward works.
``tinynet.ops.interpolate`` reuses the pair.
"""
import numpy as np

from tinynet.autograd import Function
from tinynet.backend import device_of, get_array_module, to_device
from tinynet.tensor import describe


__all__ = [
    "pad_nonconstant"
]


def _on_device(index, like):
    return index if get_array_module(like) is np else to_device(index, device_of(like))


class Take(Function):
    """y = x.take(index, axis): the output along ``axis`` picks input positions."""

    def __init__(self, axis, index):
        self.axis, self.index = axis, np.asarray(index, dtype=np.int64)

    def forward(self, x):
        return get_array_module(x).take(x, _on_device(self.index, x), axis=self.axis)

    def backward(self, gy):
        return TakeGrad(self.axis, self.index, self.inputs[0].shape[self.axis])(gy)


class TakeGrad(Function):
    """The transpose of ``Take``: out[..., i, ...] = sum of gy[..., j, ...] over
    the j with index[j] == i (zero where no j picks i)."""

    def __init__(self, axis, index, size):
        self.axis, self.index, self.size = axis, index, size

    def forward(self, gy):
        xp = get_array_module(gy)
        shape = list(gy.shape)
        shape[self.axis] = self.size
        out = xp.zeros(shape, gy.dtype)
        if self.index.size == 0:
            return out
        if xp is np:
            _add_runs(out, gy, self.index, self.axis)
        else:
            moved = xp.moveaxis(out, self.axis, 0)
            xp.add.at(moved, _on_device(self.index, gy), xp.moveaxis(gy, self.axis, 0))
        return out

    def backward(self, ggx):
        return Take(self.axis, self.index)(ggx)


def _add_runs(out, gy, index, axis):
    """NumPy's TakeGrad: sort the picks by source position, then add each run
    of equal positions with one reduceat (much faster than np.add.at)."""
    order = np.argsort(index, kind="stable")
    src = index[order]
    if not np.array_equal(order, np.arange(order.size)):
        gy = np.take(gy, order, axis=axis)
    starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
    where = [slice(None)] * gy.ndim
    where[axis] = src[starts]
    out[tuple(where)] = np.add.reduceat(gy, starts, axis=axis)


# ---------------------------------------------------------------- padding indices
def _reflect(n, lo, hi):
    j = np.arange(-lo, n + hi)
    j = np.abs(j)                                 # left edge: -1 -> 1, -2 -> 2
    return np.where(j > n - 1, 2 * (n - 1) - j, j)   # right edge: n -> n - 2


def _replicate(n, lo, hi):
    return np.clip(np.arange(-lo, n + hi), 0, n - 1)


def _circular(n, lo, hi):
    return np.arange(-lo, n + hi) % n


_INDEX = {"reflect": _reflect, "replicate": _replicate, "circular": _circular}


def _check(x, pad, mode, value):
    if mode not in _INDEX:
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or "
                         f"'circular', got {mode!r}")
    if value is not None and value != 0:
        raise ValueError(f"pad: mode {mode!r} does not take a value, got value={value}")
    if len(pad) % 2 or not 1 <= len(pad) // 2 <= 3:
        raise ValueError(f"pad: mode {mode!r} pads the last 1, 2 or 3 dims: expected 2, 4 "
                         f"or 6 pad values, got {tuple(pad)}")
    k = len(pad) // 2
    if x.ndim not in (k + 1, k + 2):
        raise ValueError(f"pad: mode {mode!r} with {len(pad)} pad values needs a {k + 1}-D "
                         f"or {k + 2}-D input ((N,) C and {k} padded dims), got "
                         f"{describe(x)}")
    if any(int(p) < 0 for p in pad):
        raise ValueError(f"pad: negative padding {tuple(pad)} is not supported for mode "
                         f"{mode!r}")


def pad_nonconstant(x, pad, mode, value=None):
    """F.pad with ``mode`` 'reflect', 'replicate' or 'circular'.

    ``pad`` lists (left, right) pairs from the last dim backwards, for the
    last 1, 2 or 3 dims of an input with one or two leading (N, C) dims.
    Reflect needs each pad smaller than its dim; circular at most its dim.
    """
    _check(x, pad, mode, value)
    for k in range(len(pad) // 2):
        axis = x.ndim - 1 - k
        lo, hi, n = int(pad[2 * k]), int(pad[2 * k + 1]), x.shape[axis]
        if lo == hi == 0:
            continue
        if n == 0:
            raise ValueError(f"pad: mode {mode!r} cannot pad dim {axis} of size 0; "
                             f"input {describe(x)}")
        if mode != "replicate" and max(lo, hi) > (n - 1 if mode == "reflect" else n):
            rule = "smaller than" if mode == "reflect" else "at most"
            raise ValueError(f"pad: mode {mode!r} needs each padding {rule} the size of "
                             f"its dim, got padding ({lo}, {hi}) for dim {axis} of size "
                             f"{n}; input {describe(x)}")
        x = Take(axis, _INDEX[mode](n, lo, hi))(x)
    return x
