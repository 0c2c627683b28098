"""Convolution and pooling modules (PyTorch's parameter shapes, init, repr)."""
import math

from tinynet.nn import init
from tinynet.nn.module import Module, Parameter
from tinynet.ops import conv as C
from tinynet.ops import pool as P
from tinynet.tensor import empty


def _tuple(v, n=2):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


class _ConvNd(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 groups, bias, padding_mode, transposed, n, output_padding=0):
        super().__init__()
        name = type(self).__name__
        if in_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) must be divisible by "
                             f"groups ({groups})")
        if out_channels % groups:
            raise ValueError(f"{name}: out_channels ({out_channels}) must be divisible by "
                             f"groups ({groups})")
        if padding_mode != "zeros":
            raise NotImplementedError(f"{name}: padding_mode {padding_mode!r} is not "
                                      "supported (only 'zeros')")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be 'same', 'valid', an int or a "
                                 f"tuple, got {padding!r}")
            if padding == "same" and any(s != 1 for s in _tuple(stride, n)):
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 "convolutions")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _tuple(kernel_size, n)
        self.stride = _tuple(stride, n)
        self.padding = padding if isinstance(padding, str) else _tuple(padding, n)
        self.dilation = _tuple(dilation, n)
        self.output_padding = _tuple(output_padding, n)
        self.groups, self.padding_mode, self.transposed = groups, padding_mode, transposed
        shape = ((in_channels, out_channels // groups) if transposed else
                 (out_channels, in_channels // groups)) + self.kernel_size
        self.weight = Parameter(empty(*shape))
        self.bias = Parameter(empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        # PyTorch's default: kaiming_uniform_(a=sqrt(5)), bias U(-1/sqrt(fan_in), ..)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        n = len(self.kernel_size)
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
             f", stride={self.stride}")
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """2-D convolution over an ``(N, C_in, H, W)`` batch.

    Output channel ``j`` of sample ``n`` is
    ``bias[j] + sum_k weight[j, k] (*) input[n, k]``, where ``(*)`` is the
    2-D cross-correlation (the kernel is not flipped, as in PyTorch) and
    ``k`` runs over the input channels of ``j``'s group.

    Args:
        in_channels (int): channels of the input, ``C_in``.
        out_channels (int): channels of the output, ``C_out``.
        kernel_size (int or tuple): the window's size, ``(KH, KW)`` or one
            int for both.
        stride (int or tuple, optional): the step between two windows.
            Default: ``1``.
        padding (int, tuple or str, optional): zeros added on both sides of
            each spatial dim, or ``'valid'`` (none) or ``'same'`` (the output
            keeps the input's size; stride 1 only). Default: ``0``.
        dilation (int or tuple, optional): the spacing between kernel
            elements. Default: ``1``.
        groups (int, optional): split the channels into this many groups, each
            convolved with its own filters; ``in_channels`` and
            ``out_channels`` must both be divisible by it. Default: ``1``.
        bias (bool, optional): learn an additive bias per output channel.
            Default: ``True``.
        padding_mode (str, optional): only ``'zeros'`` is supported; any other
            mode raises NotImplementedError. Default: ``'zeros'``.

    Shape:
        - Input: ``(N, C_in, H_in, W_in)``.
        - Output: ``(N, C_out, H_out, W_out)``, where (``W_out`` likewise
          with index 1)::

              H_out = floor((H_in + 2 * padding[0] - dilation[0] * (kernel_size[0] - 1) - 1)
                            / stride[0] + 1)

    Attributes:
        weight: ``(C_out, C_in / groups, KH, KW)``.
        bias: ``(C_out,)``, or None when ``bias=False``.
        Both are initialised as in PyTorch: ``U(-1/sqrt(k), 1/sqrt(k))`` with
        ``k`` = the fan-in of one output element (``C_in / groups * KH * KW``).

    Example::

        >>> m = nn.Conv2d(3, 8, kernel_size=3, padding=1)
        >>> m(tn.randn(2, 3, 16, 16)).shape
        (2, 8, 16, 16)
        >>> m = nn.Conv2d(4, 6, (3, 5), stride=2, groups=2, bias=False)
        >>> m.weight.shape
        (6, 2, 3, 5)
        >>> m(tn.randn(1, 4, 9, 9)).shape
        (1, 6, 4, 3)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True, padding_mode="zeros"):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, False, 2)

    def forward(self, x):
        return C.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class Conv1d(_ConvNd):
    """1-D convolution over an ``(N, C_in, L)`` batch of sequences.

    The 1-D case of ``Conv2d``: output channel ``j`` is
    ``bias[j] + sum_k weight[j, k] (*) input[n, k]`` with ``(*)`` the
    cross-correlation along the length.

    Args:
        in_channels (int): channels of the input, ``C_in``.
        out_channels (int): channels of the output, ``C_out``.
        kernel_size (int or tuple): the window's length ``K``.
        stride (int or tuple, optional): the step between two windows.
            Default: ``1``.
        padding (int, tuple or str, optional): zeros added on both sides of
            each spatial dim, or ``'valid'`` (none) or ``'same'`` (the output
            keeps the input's size; stride 1 only). Default: ``0``.
        dilation (int or tuple, optional): the spacing between kernel
            elements. Default: ``1``.
        groups (int, optional): split the channels into this many groups, each
            convolved with its own filters; ``in_channels`` and
            ``out_channels`` must both be divisible by it. Default: ``1``.
        bias (bool, optional): learn an additive bias per output channel.
            Default: ``True``.
        padding_mode (str, optional): only ``'zeros'`` is supported; any other
            mode raises NotImplementedError. Default: ``'zeros'``.

    Shape:
        - Input: ``(N, C_in, L_in)``.
        - Output: ``(N, C_out, L_out)``, where
          ``L_out = floor((L_in + 2 * padding - dilation * (kernel_size - 1) - 1) / stride + 1)``.

    Attributes:
        weight: ``(C_out, C_in / groups, K)``.
        bias: ``(C_out,)``, or None when ``bias=False``.
        Both are initialised as in PyTorch: ``U(-1/sqrt(k), 1/sqrt(k))`` with
        ``k`` = the fan-in of one output element (``C_in / groups * K``).

    Example::

        >>> m = nn.Conv1d(16, 33, 3, stride=2)
        >>> m(tn.randn(20, 16, 50)).shape
        (20, 33, 24)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True, padding_mode="zeros"):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, False, 1)

    def forward(self, x):
        pad = self.padding if isinstance(self.padding, str) else self.padding[0]
        return C.conv1d(x, self.weight, self.bias, self.stride[0], pad, self.dilation[0],
                        self.groups)


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution, the adjoint of ``Conv2d``, used to upsample.

    It computes the gradient of ``Conv2d`` with respect to its input.

    Each input pixel scatters a copy of the kernel, scaled by its value, into
    the output; overlapping copies add up. With the same arguments,
    ``ConvTranspose2d`` maps ``Conv2d``'s output shape back to its input shape
    (``output_padding`` picks among the input sizes a strided ``Conv2d`` maps
    to the same output size).

    Args:
        in_channels (int): channels of the input, ``C_in``.
        out_channels (int): channels of the output, ``C_out``.
        kernel_size (int or tuple): the kernel's size, ``(KH, KW)`` or one int
            for both.
        stride (int or tuple, optional): the step between two scattered
            kernels in the output. Default: ``1``.
        padding (int or tuple, optional): ``dilation * (kernel_size - 1) - padding``
            zeros of implicit padding; the output shrinks by ``2 * padding``.
            Default: ``0``.
        output_padding (int or tuple, optional): extra rows/columns added to
            one side of the output; must be smaller than the stride or the
            dilation. Default: ``0``.
        groups (int, optional): channel groups, as in ``Conv2d``. Default: ``1``.
        bias (bool, optional): learn an additive bias per output channel.
            Default: ``True``.
        dilation (int or tuple, optional): the spacing between kernel
            elements. Default: ``1``.
        padding_mode (str, optional): only ``'zeros'`` is supported.
            Default: ``'zeros'``.

    Shape:
        - Input: ``(N, C_in, H_in, W_in)``.
        - Output: ``(N, C_out, H_out, W_out)``, where (``W_out`` likewise
          with index 1)::

              H_out = (H_in - 1) * stride[0] - 2 * padding[0]
                      + dilation[0] * (kernel_size[0] - 1) + output_padding[0] + 1

    Attributes:
        weight: ``(C_in, C_out / groups, KH, KW)`` (in- and out-channels in
            the opposite order from ``Conv2d``'s).
        bias: ``(C_out,)``, or None when ``bias=False``.
        Both are initialised as in PyTorch: ``U(-1/sqrt(k), 1/sqrt(k))`` with
        ``k`` = the fan-in of one output element (``C_out / groups * KH * KW``, as in PyTorch).

    Example::

        >>> m = nn.ConvTranspose2d(16, 8, kernel_size=3, stride=2, padding=1,
        ...                        output_padding=1)
        >>> m(tn.randn(1, 16, 12, 12)).shape
        (1, 8, 24, 24)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros"):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, True, 2, output_padding)

    def forward(self, x):
        return C.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.groups, self.dilation)


class MaxPool2d(Module):
    """2-D max pooling: the largest value of each window of each channel.

    Padding adds ``-inf`` (it never wins a window).

    Args:
        kernel_size (int or tuple): the window's size ``(KH, KW)``.
        stride (int or tuple, optional): the step between two windows.
            Default: ``None``, meaning ``kernel_size`` (non-overlapping windows).
        padding (int or tuple, optional): ``-inf`` padding on both sides of
            each spatial dim; at most half the kernel size. Default: ``0``.
        dilation (int or tuple, optional): the spacing between window
            elements. Default: ``1``.
        return_indices (bool, optional): also return, for every output, the
            flat index ``h * W_in + w`` of its maximum in the input plane (what
            ``F.max_unpool2d`` in PyTorch takes). Default: ``False``.
        ceil_mode (bool, optional): round the output size up instead of down,
            so that a last partial window still gives an output.
            Default: ``False``.

    Shape:
        - Input: ``(N, C, H_in, W_in)`` or ``(C, H_in, W_in)``.
        - Output: ``(N, C, H_out, W_out)`` or ``(C, H_out, W_out)``, where
          (``ceil`` instead of ``floor`` with ``ceil_mode``, ``W_out``
          likewise with index 1)::

              H_out = floor((H_in + 2 * padding[0] - dilation[0] * (kernel_size[0] - 1) - 1)
                            / stride[0] + 1)

    Example::

        >>> m = nn.MaxPool2d(2)
        >>> x = tn.arange(16.0).reshape(1, 1, 4, 4)
        >>> m(x)
        tensor([[[[ 5.,  7.],
                  [13., 15.]]]])
        >>> m = nn.MaxPool2d(3, stride=2, padding=1)
        >>> m(tn.randn(2, 4, 15, 15)).shape
        (2, 4, 8, 8)
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        return P.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                f", dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """2-D average pooling: the mean of each window of each channel.

    Args:
        kernel_size (int or tuple): the window's size ``(KH, KW)``.
        stride (int or tuple, optional): the step between two windows.
            Default: ``None``, meaning ``kernel_size``.
        padding (int or tuple, optional): zero padding on both sides of each
            spatial dim; at most half the kernel size. Default: ``0``.
        ceil_mode (bool, optional): round the output size up instead of down.
            Default: ``False``.
        count_include_pad (bool, optional): count the padding zeros in the
            divisor; if False a window divides by its number of real input
            elements. Default: ``True``.
        divisor_override (int, optional): divide every window's sum by this
            number instead. Default: ``None``.

    Shape:
        - Input: ``(N, C, H_in, W_in)`` or ``(C, H_in, W_in)``.
        - Output: ``(N, C, H_out, W_out)`` or ``(C, H_out, W_out)``, where
          (``ceil`` instead of ``floor`` with ``ceil_mode``, ``W_out``
          likewise with index 1)::

              H_out = floor((H_in + 2 * padding[0] - kernel_size[0]) / stride[0] + 1)

    Example::

        >>> m = nn.AvgPool2d(2)
        >>> x = tn.arange(16.0).reshape(1, 1, 4, 4)
        >>> m(x)
        tensor([[[[ 2.5,  4.5],
                  [10.5, 12.5]]]])
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x):
        return P.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """2-D average pooling to a fixed output size, whatever the input size.

    Output cell ``(i, j)`` averages input rows ``floor(i * H_in / H_out)`` to
    ``ceil((i + 1) * H_in / H_out)`` (end excluded), and the columns likewise,
    so windows may differ in size by one and may overlap.
    ``AdaptiveAvgPool2d(1)`` is global average pooling.

    Args:
        output_size (int or tuple): ``(H_out, W_out)``, or one int for both;
            ``None`` in the tuple keeps that input size.

    Shape:
        - Input: ``(N, C, H_in, W_in)`` or ``(C, H_in, W_in)``.
        - Output: ``(N, C, H_out, W_out)`` or ``(C, H_out, W_out)``.

    Example::

        >>> m = nn.AdaptiveAvgPool2d((5, 7))
        >>> m(tn.randn(1, 64, 8, 9)).shape
        (1, 64, 5, 7)
        >>> nn.AdaptiveAvgPool2d(1)(tn.ones(2, 3, 4, 4)).shape
        (2, 3, 1, 1)
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return P.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(AdaptiveAvgPool2d):
    """2-D max pooling to a fixed output size, whatever the input size.

    The windows are those of ``AdaptiveAvgPool2d``; each output is the
    largest value of its window. (PyTorch's ``return_indices`` is not
    supported.)

    Args:
        output_size (int or tuple): ``(H_out, W_out)``, or one int for both;
            ``None`` in the tuple keeps that input size.

    Shape:
        - Input: ``(N, C, H_in, W_in)`` or ``(C, H_in, W_in)``.
        - Output: ``(N, C, H_out, W_out)`` or ``(C, H_out, W_out)``.

    Example::

        >>> m = nn.AdaptiveMaxPool2d(1)
        >>> m(tn.arange(16.0).reshape(1, 1, 4, 4))
        tensor([[[[15.]]]])
        >>> nn.AdaptiveMaxPool2d((3, None))(tn.randn(1, 2, 7, 5)).shape
        (1, 2, 3, 5)
    """

    def forward(self, x):
        return P.adaptive_max_pool2d(x, self.output_size)
