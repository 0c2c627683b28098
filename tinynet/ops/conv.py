"""Convolution: conv2d, conv1d, conv_transpose2d, unfold/fold.

Shapes: x (N, C, H, W), w (O, C/groups, KH, KW), y (N, O, OH, OW).

Three Functions carry all of it, each linear in both of its inputs, so each
one's backward is made of the other two (Chainer's Convolution2DGradW
pattern), and double backward works through any of them:

    Conv2dFunction(x, w)          y  = conv(x, w)
    Conv2dGradInput(gy, w)        gx = conv^T(gy, w)    (= conv_transpose2d)
    Conv2dGradWeight(x, gy)       gw = corr(x, gy)

The array work (im2col/col2im + one GEMM per group) lives in
``tinynet.kernels.conv2d`` behind one ``select()``.

The readable version of the same thing is ``conv2d_simple``: ``unfold`` (the
im2col matrix as a differentiable op), one ``matmul``, a reshape.
"""
from tinynet.autograd import Function, is_grad_enabled
from tinynet.kernels import conv2d as K
from tinynet.ops.shape import pad as _pad, reshape, squeeze, unsqueeze
from tinynet.tensor import Tensor, as_tensor, describe


class _Params:
    """stride, padding, dilation (pairs) and groups of one convolution."""
    __slots__ = ("stride", "padding", "dilation", "groups")

    def __init__(self, stride, padding, dilation, groups):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def args(self):
        return self.stride, self.padding, self.dilation, self.groups


class Conv2dFunction(Function):
    """y = conv(x, w) (+ b, added in the same pass over y when given)."""

    def __init__(self, params):
        self.p = params

    def forward(self, x, w, *b):
        y, cols = K.conv2d_forward(x, w, *self.p.args(), bias=b[0] if b else None)
        self.cols = cols          # the im2col matrix (or None), reused by the weight gradient
        return y

    def backward(self, gy):
        x, w = self.inputs[:2]
        if not is_grad_enabled():
            # plain backward (no create_graph): all three gradients in one kernel call
            needs = self.needs_input_grad + (False,) * (3 - len(self.inputs))
            grads = K.conv2d_backward(gy.array, x.array, w.array, *self.p.args(),
                                      cols=self.__dict__.get("cols"), needs=needs)
            return tuple(None if g is None else Tensor._make(g)
                         for g in grads[:len(self.inputs)])
        gx = Conv2dGradInput(self.p, x.shape)(gy, w) if x.requires_grad else None
        gw = None
        if w.requires_grad:
            gw = Conv2dGradWeight(self.p, w.shape, self.__dict__.get("cols"))(x, gy)
        if len(self.inputs) == 2:
            return gx, gw
        gb = gy.sum(axis=(0, 2, 3)) if self.inputs[2].requires_grad else None
        return gx, gw, gb


class Conv2dGradInput(Function):
    """gx = conv^T(gy, w): the input gradient, also the transposed convolution."""

    def __init__(self, params, x_shape):
        self.p, self.x_shape = params, tuple(x_shape)

    def forward(self, gy, w):
        return K.conv2d_backward_input(gy, w, self.x_shape, *self.p.args())

    def backward(self, ggx):
        gy, w = self.inputs
        g_gy = Conv2dFunction(self.p)(ggx, w) if gy.requires_grad else None
        g_w = Conv2dGradWeight(self.p, w.shape)(ggx, gy) if w.requires_grad else None
        return g_gy, g_w


class Conv2dGradWeight(Function):
    """gw = corr(x, gy): the weight gradient."""

    def __init__(self, params, w_shape, cols=None):
        self.p, self.w_shape, self.cols = params, tuple(w_shape), cols

    def forward(self, x, gy):
        gw = K.conv2d_backward_weight(x, gy, self.w_shape, *self.p.args(), cols=self.cols)
        self.cols = None
        return gw

    def backward(self, ggw):
        x, gy = self.inputs
        g_x = Conv2dGradInput(self.p, x.shape)(gy, ggw) if x.requires_grad else None
        g_gy = Conv2dFunction(self.p)(x, ggw) if gy.requires_grad else None
        return g_x, g_gy


# ---------------------------------------------------------------- argument handling
def pair(v, name, op):
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{op}: {name} must be an int or a pair, got {v!r}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def check_float(op, *tensors):
    """The compiled kernels take float32 and float64 only: anything else
    (float16, integers, bool) gets a clear error instead of a kernel failure."""
    for t in tensors:
        if t.dtype.char not in "fd":                 # float32, float64
            raise TypeError(f"{op}: expected a float32 or float64 tensor, got {describe(t)}")


def _check_conv(op, x, w, groups, transposed=False):
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got {describe(x)}")
    if w.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D weight, got {describe(w)}")
    if groups < 1:
        raise ValueError(f"{op}: groups must be positive, got {groups}")
    check_float(op, x, w)
    # (PyTorch refuses a weight with 0 output channels too; it accepts some of the
    # others and returns a differently shaped empty result)
    if 0 in w.shape or 0 in x.shape[1:]:
        raise ValueError(f"{op}: kernel and input channels, height and width must be "
                         f"positive, and the weight's output channels too, got input "
                         f"{describe(x)}, weight {describe(w)}")
    if x.device != w.device:
        raise RuntimeError(f"{op}: input and weight are on different devices: "
                           f"input {describe(x)}, weight {describe(w)}")
    C = x.shape[1]
    if transposed:
        if C != w.shape[0]:
            raise ValueError(f"{op}: input has {C} channels but weight expects {w.shape[0]} "
                             f"(groups={groups}); input {describe(x)}, weight {describe(w)}")
        if C % groups:
            raise ValueError(f"{op}: input channels {C} are not divisible by groups={groups}")
        return
    if C != w.shape[1] * groups:
        raise ValueError(f"{op}: input has {C} channels but weight expects "
                         f"{w.shape[1] * groups} (groups={groups}); input {describe(x)}, "
                         f"weight {describe(w)}")
    if w.shape[0] % groups:
        raise ValueError(f"{op}: out channels {w.shape[0]} are not divisible by "
                         f"groups={groups}; weight {describe(w)}")


def _same_padding(k, d):
    total = d * (k - 1)
    return total // 2, total - total // 2


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, like PyTorch).

    Shape: x (N, C, H, W), w (O, C/groups, KH, KW), b (O,) -> (N, O, OH, OW)
    with OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1. ``padding`` may be an int,
    a pair, 'valid' or 'same' (stride 1 only).
    """
    x, w = as_tensor(x), as_tensor(w)
    _check_conv("conv2d", x, w, groups)
    stride = pair(stride, "stride", "conv2d")
    dilation = pair(dilation, "dilation", "conv2d")
    KH, KW = w.shape[2:]
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError("conv2d: padding='same' needs stride 1 (as in PyTorch)")
            (t, b_), (l, r) = _same_padding(KH, dilation[0]), _same_padding(KW, dilation[1])
            if t != b_ or l != r:               # uneven: pad the input explicitly
                x = _pad(x, (l, r, t, b_))
                padding = (0, 0)
            else:
                padding = (t, l)
        else:
            raise ValueError(f"conv2d: padding must be an int, a pair, 'same' or 'valid', "
                             f"got {padding!r}")
    else:
        padding = pair(padding, "padding", "conv2d")
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(f"conv2d: stride and dilation must be >= 1 and padding >= 0, got "
                         f"stride={stride} padding={padding} dilation={dilation}")
    H, W = x.shape[2:]
    OH = K.out_size(H, KH, stride[0], padding[0], dilation[0])
    OW = K.out_size(W, KW, stride[1], padding[1], dilation[1])
    if OH < 1 or OW < 1:
        raise ValueError(
            f"conv2d: output size would be {OH}x{OW} (below 1) for input size {H}x{W}, "
            f"kernel {KH}x{KW}, stride {stride}, padding {padding}, dilation {dilation}")
    if x.dtype != w.dtype:
        raise TypeError(f"conv2d: input and weight dtypes differ: input {describe(x)}, "
                        f"weight {describe(w)}")
    params = _Params(stride, padding, dilation, groups)
    if b is None:
        return Conv2dFunction(params)(x, w)
    b = as_tensor(b)
    if b.shape != (w.shape[0],):
        raise ValueError(f"conv2d: bias must have shape ({w.shape[0]},), got {describe(b)}")
    if b.dtype != x.dtype:
        raise TypeError(f"conv2d: bias dtype differs: input {describe(x)}, bias {describe(b)}")
    return Conv2dFunction(params)(x, w, b)


def conv1d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution as a conv2d with height 1.

    Shape: x (N, C, L), w (O, C/groups, K), b (O,) -> (N, O, OL).
    """
    x, w = as_tensor(x), as_tensor(w)
    if x.ndim != 3 or w.ndim != 3:
        raise ValueError(f"conv1d: expected a 3-D input (N, C, L) and a 3-D weight, got "
                         f"input {describe(x)}, weight {describe(w)}")
    check_float("conv1d", x, w)
    if 0 in w.shape or 0 in x.shape[1:]:         # (named here, not as conv2d's 4-D shapes)
        raise ValueError(f"conv1d: kernel and input channels and length must be positive, "
                         f"and the weight's output channels too, got input {describe(x)}, "
                         f"weight {describe(w)}")
    one = lambda v: (1, v[0] if isinstance(v, (tuple, list)) else v)  # noqa: E731
    pad = padding if isinstance(padding, str) else (0, padding[0] if isinstance(
        padding, (tuple, list)) else padding)
    y = conv2d(unsqueeze(x, 2), unsqueeze(w, 2), b, one(stride), pad, one(dilation), groups)
    return squeeze(y, 2)


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed convolution (the adjoint of conv2d w.r.t. its input).

    Shape: x (N, C, H, W), w (C, O/groups, KH, KW), b (O,) -> (N, O, OH, OW)
    with OH = (H-1)*SH - 2*PH + DH*(KH-1) + output_padding + 1.
    """
    x, w = as_tensor(x), as_tensor(w)
    _check_conv("conv_transpose2d", x, w, groups, transposed=True)
    stride = pair(stride, "stride", "conv_transpose2d")
    padding = pair(padding, "padding", "conv_transpose2d")
    dilation = pair(dilation, "dilation", "conv_transpose2d")
    out_pad = pair(output_padding, "output_padding", "conv_transpose2d")
    if out_pad[0] >= max(stride[0], dilation[0]) or out_pad[1] >= max(stride[1], dilation[1]):
        raise ValueError(f"conv_transpose2d: output_padding {out_pad} must be smaller than "
                         f"stride {stride} or dilation {dilation}")
    N, C, H, W = x.shape
    KH, KW = w.shape[2:]
    G = groups
    OH = (H - 1) * stride[0] - 2 * padding[0] + dilation[0] * (KH - 1) + out_pad[0] + 1
    OW = (W - 1) * stride[1] - 2 * padding[1] + dilation[1] * (KW - 1) + out_pad[1] + 1
    if OH < 1 or OW < 1:
        raise ValueError(f"conv_transpose2d: output size would be {OH}x{OW} (below 1) for "
                         f"input size {H}x{W}, kernel {KH}x{KW}, stride {stride}, padding "
                         f"{padding}, dilation {dilation}")
    O = w.shape[1] * G
    # A transposed conv is the input gradient of the conv whose weight is w
    # viewed as (C, O/G, KH, KW) = (conv's out channels, conv's in channels/G, ...).
    params = _Params(stride, padding, dilation, G)
    y = Conv2dGradInput(params, (N, O, OH, OW))(x, w)
    if b is not None:
        b = as_tensor(b)
        if b.shape != (O,):
            raise ValueError(f"conv_transpose2d: bias must have shape ({O},), got {describe(b)}")
        y = y + reshape(b, (1, -1, 1, 1))
    return y


# ---------------------------------------------------------------- unfold / fold
class Unfold(Function):
    def __init__(self, k, params):
        self.k, self.p = k, params

    def forward(self, x):
        (SH, SW), (PH, PW), (DH, DW), _ = self.p.args()
        impl = K.select(x)
        cols = impl.im2col(x, *self.k, SH, SW, PH, PW, DH, DW)   # (C, KH, KW, N, OH, OW)
        C, KH, KW, N, OH, OW = cols.shape
        return cols.reshape(C * KH * KW, N, OH * OW).transpose(1, 0, 2).copy()

    def backward(self, gy):
        return fold(gy, self.inputs[0].shape[2:], self.k, self.p.dilation, self.p.padding,
                    self.p.stride)


class Fold(Function):
    def __init__(self, out_hw, k, params):
        self.out_hw, self.k, self.p = out_hw, k, params

    def forward(self, cols):
        (SH, SW), (PH, PW), (DH, DW), _ = self.p.args()
        N, CKK, L = cols.shape
        KH, KW = self.k
        C = CKK // (KH * KW)
        H, W = self.out_hw
        OH = K.out_size(H, KH, SH, PH, DH)
        OW = K.out_size(W, KW, SW, PW, DW)
        c6 = cols.transpose(1, 0, 2).reshape(C, KH, KW, N, OH, OW)
        return K.select(cols).col2im(c6, (N, C, H, W), SH, SW, PH, PW, DH, DW)

    def backward(self, gy):
        return unfold(gy, self.k, self.p.dilation, self.p.padding, self.p.stride)


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """im2col as an op: (N, C, H, W) -> (N, C*KH*KW, L), L = OH*OW (PyTorch's F.unfold)."""
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"unfold: expected a 4-D input, got {describe(x)}")
    check_float("unfold", x)
    k = pair(kernel_size, "kernel_size", "unfold")
    params = _Params(pair(stride, "stride", "unfold"), pair(padding, "padding", "unfold"),
                     pair(dilation, "dilation", "unfold"), 1)
    OH = K.out_size(x.shape[2], k[0], params.stride[0], params.padding[0], params.dilation[0])
    OW = K.out_size(x.shape[3], k[1], params.stride[1], params.padding[1], params.dilation[1])
    if OH < 1 or OW < 1:
        raise ValueError(f"unfold: no complete block fits: input {x.shape[2:]}, kernel {k}, "
                         f"stride {params.stride}, padding {params.padding}, dilation "
                         f"{params.dilation}")
    return Unfold(k, params)(x)


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """col2im as an op: (N, C*KH*KW, L) -> (N, C, H, W), summing overlaps (F.fold)."""
    x = as_tensor(x)
    check_float("fold", x)
    k = pair(kernel_size, "kernel_size", "fold")
    out_hw = pair(output_size, "output_size", "fold")
    params = _Params(pair(stride, "stride", "fold"), pair(padding, "padding", "fold"),
                     pair(dilation, "dilation", "fold"), 1)
    OH = K.out_size(out_hw[0], k[0], params.stride[0], params.padding[0], params.dilation[0])
    OW = K.out_size(out_hw[1], k[1], params.stride[1], params.padding[1], params.dilation[1])
    if x.ndim != 3 or x.shape[1] % (k[0] * k[1]) or x.shape[2] != OH * OW:
        raise ValueError(f"fold: expected input (N, C*{k[0]}*{k[1]}, {OH * OW}) for output "
                         f"size {out_hw}, got {describe(x)}")
    return Fold(out_hw, k, params)(x)


def conv2d_simple(x, w, b=None, stride=1, padding=0, dilation=1):
    """The readable convolution: unfold, one matmul, reshape (no groups).

    Same result as ``conv2d``; kept for readers and tested against it.
    """
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    cols = unfold(x, (KH, KW), dilation, padding, stride)        # (N, C*KH*KW, L)
    y = reshape(w, (O, -1)) @ cols                               # (N, O, L)
    SH, SW = pair(stride, "stride", "conv2d")
    PH, PW = pair(padding, "padding", "conv2d")
    DH, DW = pair(dilation, "dilation", "conv2d")
    y = reshape(y, (N, O, K.out_size(H, KH, SH, PH, DH), K.out_size(W, KW, SW, PW, DW)))
    return y if b is None else y + reshape(b, (1, -1, 1, 1))


__all__ = ["conv1d", "conv2d", "conv2d_simple", "conv_transpose2d", "fold", "unfold"]
