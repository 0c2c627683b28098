"""Pooling: max_pool2d, avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d
(and their 1-D forms).

Shapes: x (N, C, H, W) (or unbatched (C, H, W)) -> y (N, C, OH, OW).

Max pooling keeps the argmax indices of its forward; its backward scatters
the gradient through them and the scatter's backward gathers through them
again, so double backward works. Average pooling is linear: its backward is
its adjoint (``AvgPool2dGrad``), whose backward is average pooling again.
The array work lives in ``tinynet.kernels.pool2d`` behind one ``select()``.
"""
from tinynet.autograd import Function
from tinynet.backend import get_array_module
from tinynet.kernels import pool2d as K
from tinynet.ops.conv import pair, check_float
from tinynet.ops.shape import reshape, squeeze, stack, unsqueeze
from tinynet.tensor import Tensor, as_tensor, describe


__all__ = [
    "adaptive_avg_pool2d", "adaptive_max_pool2d", "avg_pool1d", "avg_pool2d", "max_pool1d",
    "max_pool2d"
]


class MaxPool2dFunction(Function):
    def __init__(self, k, s, p, d, out_hw):
        self.k, self.s, self.p, self.d, self.out_hw = k, s, p, d, out_hw

    def forward(self, x):
        y, self.idx = K.select(x).max_forward(x, *self.k, *self.s, *self.p, *self.d,
                                              *self.out_hw)
        return y

    def backward(self, gy):
        window = self.k + self.s + self.p + self.d
        return MaxPoolScatter(self.idx, self.inputs[0].shape, window)(gy)


class MaxPoolScatter(Function):
    """gx[idx] += gy: the max-pool backward."""

    def __init__(self, idx, x_shape, window):
        self.idx, self.x_shape, self.window = idx, x_shape, window

    def forward(self, gy):
        return K.select(gy).max_scatter(gy, self.idx, self.x_shape, self.window)

    def backward(self, ggx):
        return MaxPoolGather(self.idx, self.x_shape, self.window)(ggx)


class MaxPoolGather(Function):
    """ggy = ggx[idx]: the adjoint of the scatter."""

    def __init__(self, idx, x_shape, window):
        self.idx, self.x_shape, self.window = idx, x_shape, window

    def forward(self, ggx):
        return K.max_gather(ggx, self.idx)

    def backward(self, g):
        return MaxPoolScatter(self.idx, self.x_shape, self.window)(g)


class AvgPool2dFunction(Function):
    def __init__(self, k, s, p, out_hw, divisor):
        self.k, self.s, self.p, self.out_hw, self.divisor = k, s, p, out_hw, divisor

    def forward(self, x):
        return K.select(x).avg_forward(x, *self.k, *self.s, *self.p, *self.out_hw,
                                       self.divisor)

    def backward(self, gy):
        return AvgPool2dGrad(self)(gy)


class AvgPool2dGrad(Function):
    """Spread each output gradient evenly over its window (the adjoint)."""

    def __init__(self, fwd):
        self.fwd = fwd
        self.x_shape = fwd.inputs[0].shape

    def forward(self, gy):
        f = self.fwd
        return K.select(gy).avg_backward(gy, self.x_shape, *f.k, *f.s, *f.p, f.divisor)

    def backward(self, ggx):
        f = self.fwd
        return AvgPool2dFunction(f.k, f.s, f.p, f.out_hw, f.divisor)(ggx)


# ---------------------------------------------------------------- wrappers
def _batched(op, x):
    x = as_tensor(x)
    check_float(op, x)
    if x.ndim == 3:
        return unsqueeze(x, 0), True
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got "
                         f"{describe(x)}")
    return x, False


def _pool_args(op, x, kernel_size, stride, padding, dilation, ceil_mode):
    k = pair(kernel_size, "kernel_size", op)
    s = k if stride is None or stride == () else pair(stride, "stride", op)
    p = pair(padding, "padding", op)
    d = pair(dilation, "dilation", op)
    if min(k) < 1 or min(s) < 1 or min(d) < 1 or min(p) < 0:
        raise ValueError(f"{op}: kernel_size, stride and dilation must be >= 1 and padding "
                         f">= 0, got kernel_size={k} stride={s} padding={p} dilation={d}")
    for i in range(2):
        if 2 * p[i] > d[i] * (k[i] - 1) + 1:
            raise ValueError(f"{op}: padding {p} should be at most half of the effective "
                             f"kernel size {k} (dilation {d})")
    H, W = x.shape[2:]
    out = (K.out_size(H, k[0], s[0], p[0], d[0], ceil_mode),
           K.out_size(W, k[1], s[1], p[1], d[1], ceil_mode))
    if min(out) < 1:
        raise ValueError(f"{op}: output size would be {out[0]}x{out[1]} (below 1) for input "
                         f"size {H}x{W}, kernel {k}, stride {s}, padding {p}, dilation {d}")
    return k, s, p, d, out


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over each window; padding never wins. ``return_indices`` also gives the
    flat index (h * W + w) of each maximum in its input plane, as PyTorch does."""
    x, unbatched = _batched("max_pool2d", x)
    k, s, p, d, out = _pool_args("max_pool2d", x, kernel_size, stride, padding, dilation,
                                 ceil_mode)
    fn = MaxPool2dFunction(k, s, p, d, out)
    y = fn(x)
    idx = Tensor._wrap(fn.idx) if return_indices else None
    if unbatched:
        y = squeeze(y, 0)
        idx = Tensor._wrap(idx.array[0]) if idx is not None else None
    return (y, idx) if return_indices else y


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over each window; by default padding counts in the divisor."""
    x, unbatched = _batched("avg_pool2d", x)
    k, s, p, _, out = _pool_args("avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    xp = get_array_module(x.array)
    divisor = K.avg_divisor(xp, x.shape, *k, *s, *p, *out, count_include_pad, divisor_override)
    y = AvgPool2dFunction(k, s, p, out, divisor)(x)
    return squeeze(y, 0) if unbatched else y


def _rows(op, x):
    # (N, C, L) -> (N, C, 1, L) and unbatched (C, L) -> (C, 1, L): the length
    # must land on the last axis, the one the 2-D pooling's (1, k) window slides on
    x = as_tensor(x)
    if x.ndim not in (2, 3):
        raise ValueError(f"{op}: expected a 2-D (C, L) or 3-D (N, C, L) input, got "
                         f"{describe(x)}")
    return unsqueeze(x, -2)


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Shape: (N, C, L) -> (N, C, OL)."""
    one = lambda v: (1, v[0] if isinstance(v, (tuple, list)) else v)  # noqa: E731
    x = _rows("max_pool1d", x)
    y = max_pool2d(x, one(kernel_size), None if stride is None else one(stride),
                   (0, padding), one(dilation), ceil_mode)
    return squeeze(y, -2)


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    one = lambda v: (1, v[0] if isinstance(v, (tuple, list)) else v)  # noqa: E731
    x = _rows("avg_pool1d", x)
    y = avg_pool2d(x, one(kernel_size), None if stride is None else one(stride),
                   (0, padding), ceil_mode, count_include_pad)
    return squeeze(y, -2)


def _adaptive_bounds(size, out):
    # PyTorch's windows: start = floor(i*size/out), end = ceil((i+1)*size/out)
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def _adaptive(op, x, output_size, reduce):
    x, unbatched = _batched(op, x)
    H, W = x.shape[2:]
    if isinstance(output_size, (tuple, list)):
        OH, OW = (H if output_size[0] is None else output_size[0],
                  W if output_size[1] is None else output_size[1])
    else:
        OH = OW = output_size
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: output_size must be positive, got {output_size}")
    if H % OH == 0 and W % OW == 0:
        # even windows: an ordinary pooling with kernel = stride = size / out
        k = (H // OH, W // OW)
        y = avg_pool2d(x, k, k) if reduce == "avg" else max_pool2d(x, k, k)
    else:
        rows = []
        for h0, h1 in _adaptive_bounds(H, OH):
            cells = []
            for w0, w1 in _adaptive_bounds(W, OW):
                cell = reshape(x[:, :, h0:h1, w0:w1], x.shape[:2] + ((h1 - h0) * (w1 - w0),))
                cells.append(cell.mean(-1) if reduce == "avg" else cell.max(-1).values)
            rows.append(stack(cells, -1))
        y = stack(rows, -2)
    return squeeze(y, 0) if unbatched else y


def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a fixed output size (1 gives global average pooling)."""
    return _adaptive("adaptive_avg_pool2d", x, output_size, "avg")


def adaptive_max_pool2d(x, output_size):
    return _adaptive("adaptive_max_pool2d", x, output_size, "max")
