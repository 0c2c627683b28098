"""Padding layers (PyTorch's ReflectionPad*, ReplicationPad*, CircularPad*,
ConstantPad*, ZeroPad*): modules around ``F.pad``.

``padding`` is an int (the same on every side) or a tuple (left, right[, top,
bottom[, front, back]]), last padded dim first. Shape: the 1d layers take
(C, W) or (N, C, W), the 2d layers (C, H, W) or (N, C, H, W), the 3d layers
(C, D, H, W) or (N, C, D, H, W); the padded dims grow by their two pads.
"""
import numpy as np

from tinynet.nn.module import Module
from tinynet.ops.shape import pad
from tinynet.tensor import describe


def _padding(padding, n_dims, name):
    """``padding`` as a tuple of 2 * n_dims ints."""
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        return (int(padding),) * (2 * n_dims)
    padding = tuple(padding)
    if len(padding) != 2 * n_dims or not all(isinstance(p, (int, np.integer))
                                            for p in padding):
        raise ValueError(f"{name}: padding must be an int or {2 * n_dims} ints, got "
                         f"{padding!r}")
    return tuple(int(p) for p in padding)


class _Pad(Module):
    """Shared body: the subclass sets ``mode`` and ``n_dims`` (how many
    trailing dims it pads); constant pads also ``value``."""
    mode, n_dims, value = "constant", 1, 0.0

    def __init__(self, padding):
        super().__init__()
        self.padding = _padding(padding, self.n_dims, type(self).__name__)

    def forward(self, input):
        if input.ndim not in (self.n_dims + 1, self.n_dims + 2):
            raise ValueError(f"{type(self).__name__}: expected a {self.n_dims + 1}-D or "
                             f"{self.n_dims + 2}-D input, got {describe(input)}")
        return pad(input, self.padding, self.mode, self.value)

    def extra_repr(self):
        return f"{self.padding}"


class ReflectionPad1d(_Pad):
    """Pads the last dim with the reflection of the input at its border.

    The border value itself is not repeated: ``[0, 1, 2, 3]`` padded by
    2 on the left becomes ``[2, 1, 0, 1, 2, 3]``. Each pad must be smaller
    than the size of its dim.

    Args:
        padding (int or tuple): the number of elements added on each side;
            one int for every side, or 2 ints
            ``(left, right)``.

    Shape:
        - Input: ``(N, C, W_in)`` or ``(C, W_in)``.
        - Output: ``(N, C, W_out)`` or ``(C, W_out)``, where
          ``W_out = W_in + padding_left + padding_right``.

    Example::

        >>> m = nn.ReflectionPad1d(2)
        >>> m(tn.arange(4.0).reshape(1, 1, 4))
        tensor([[[2., 1., 0., 1., 2., 3., 2., 1.]]])
    """
    mode, n_dims = "reflect", 1


class ReflectionPad2d(_Pad):
    """Pads the last 2 dims with the reflection of the input at its border.

    The border value itself is not repeated: ``[0, 1, 2, 3]`` padded by
    2 on the left becomes ``[2, 1, 0, 1, 2, 3]``. Each pad must be smaller
    than the size of its dim.

    Args:
        padding (int or tuple): the number of elements added on each side;
            one int for every side, or 4 ints
            ``(left, right, top, bottom)``.

    Shape:
        - Input: ``(N, C, H_in, W_in)`` or ``(C, H_in, W_in)``.
        - Output: ``(N, C, H_out, W_out)`` or ``(C, H_out, W_out)``, where
          ``H_out = H_in + padding_top + padding_bottom``,
          ``W_out = W_in + padding_left + padding_right``.

    Example::

        >>> m = nn.ReflectionPad2d(1)
        >>> m(tn.arange(9.0).reshape(1, 1, 3, 3))
        tensor([[[[4., 3., 4., 5., 4.],
                  [1., 0., 1., 2., 1.],
                  [4., 3., 4., 5., 4.],
                  [7., 6., 7., 8., 7.],
                  [4., 3., 4., 5., 4.]]]])
    """
    mode, n_dims = "reflect", 2


class ReflectionPad3d(_Pad):
    """Pads the last 3 dims with the reflection of the input at its border.

    The border value itself is not repeated: ``[0, 1, 2, 3]`` padded by
    2 on the left becomes ``[2, 1, 0, 1, 2, 3]``. Each pad must be smaller
    than the size of its dim.

    Args:
        padding (int or tuple): the number of elements added on each side;
            one int for every side, or 6 ints
            ``(left, right, top, bottom, front, back)``.

    Shape:
        - Input: ``(N, C, D_in, H_in, W_in)`` or ``(C, D_in, H_in, W_in)``.
        - Output: ``(N, C, D_out, H_out, W_out)`` or ``(C, D_out, H_out, W_out)``, where
          ``D_out = D_in + padding_front + padding_back``,
          ``H_out = H_in + padding_top + padding_bottom``,
          ``W_out = W_in + padding_left + padding_right``.

    Example::

        >>> m = nn.ReflectionPad3d(1)
        >>> m(tn.randn(16, 3, 8, 8, 8)).shape
        (16, 3, 10, 10, 10)
    """
    mode, n_dims = "reflect", 3


class ReplicationPad1d(_Pad):
    """Pads the last dim by repeating the border value of the input.

    Args:
        padding (int or tuple): the number of elements added on each side;
            one int for every side, or 2 ints
            ``(left, right)``.

    Shape:
        - Input: ``(N, C, W_in)`` or ``(C, W_in)``.
        - Output: ``(N, C, W_out)`` or ``(C, W_out)``, where
          ``W_out = W_in + padding_left + padding_right``.

    Example::

        >>> m = nn.ReplicationPad1d((1, 3))
        >>> m(tn.arange(4.0).reshape(1, 1, 4))
        tensor([[[0., 0., 1., 2., 3., 3., 3., 3.]]])
    """
    mode, n_dims = "replicate", 1


class ReplicationPad2d(_Pad):
    """Pads the last 2 dims by repeating the border value of the input.

    Args:
        padding (int or tuple): the number of elements added on each side;
            one int for every side, or 4 ints
            ``(left, right, top, bottom)``.

    Shape:
        - Input: ``(N, C, H_in, W_in)`` or ``(C, H_in, W_in)``.
        - Output: ``(N, C, H_out, W_out)`` or ``(C, H_out, W_out)``, where
          ``H_out = H_in + padding_top + padding_bottom``,
          ``W_out = W_in + padding_left + padding_right``.

    Example::

        >>> m = nn.ReplicationPad2d((1, 1, 2, 0))
        >>> m(tn.arange(4.0).reshape(1, 2, 2))
        tensor([[[0., 0., 1., 1.],
                 [0., 0., 1., 1.],
                 [0., 0., 1., 1.],
                 [2., 2., 3., 3.]]])
    """
    mode, n_dims = "replicate", 2


class ReplicationPad3d(_Pad):
    """Pads the last 3 dims by repeating the border value of the input.

    Args:
        padding (int or tuple): the number of elements added on each side;
            one int for every side, or 6 ints
            ``(left, right, top, bottom, front, back)``.

    Shape:
        - Input: ``(N, C, D_in, H_in, W_in)`` or ``(C, D_in, H_in, W_in)``.
        - Output: ``(N, C, D_out, H_out, W_out)`` or ``(C, D_out, H_out, W_out)``, where
          ``D_out = D_in + padding_front + padding_back``,
          ``H_out = H_in + padding_top + padding_bottom``,
          ``W_out = W_in + padding_left + padding_right``.

    Example::

        >>> m = nn.ReplicationPad3d((3, 3, 6, 6, 1, 1))
        >>> m(tn.randn(16, 3, 8, 32, 48)).shape
        (16, 3, 10, 44, 54)
    """
    mode, n_dims = "replicate", 3


class CircularPad1d(_Pad):
    """Pads the last dim by wrapping the input around.

    The left pad copies the end of the dim, the right pad its start.
    Each pad must be at most the size of its dim.

    Args:
        padding (int or tuple): the number of elements added on each side;
            one int for every side, or 2 ints
            ``(left, right)``.

    Shape:
        - Input: ``(N, C, W_in)`` or ``(C, W_in)``.
        - Output: ``(N, C, W_out)`` or ``(C, W_out)``, where
          ``W_out = W_in + padding_left + padding_right``.

    Example::

        >>> m = nn.CircularPad1d(2)
        >>> m(tn.arange(4.0).reshape(1, 1, 4))
        tensor([[[2., 3., 0., 1., 2., 3., 0., 1.]]])
    """
    mode, n_dims = "circular", 1


class CircularPad2d(_Pad):
    """Pads the last 2 dims by wrapping the input around.

    The left pad copies the end of the dim, the right pad its start.
    Each pad must be at most the size of its dim.

    Args:
        padding (int or tuple): the number of elements added on each side;
            one int for every side, or 4 ints
            ``(left, right, top, bottom)``.

    Shape:
        - Input: ``(N, C, H_in, W_in)`` or ``(C, H_in, W_in)``.
        - Output: ``(N, C, H_out, W_out)`` or ``(C, H_out, W_out)``, where
          ``H_out = H_in + padding_top + padding_bottom``,
          ``W_out = W_in + padding_left + padding_right``.

    Example::

        >>> m = nn.CircularPad2d((1, 0, 0, 1))
        >>> m(tn.arange(4.0).reshape(1, 1, 2, 2))
        tensor([[[[1., 0., 1.],
                  [3., 2., 3.],
                  [1., 0., 1.]]]])
    """
    mode, n_dims = "circular", 2


class CircularPad3d(_Pad):
    """Pads the last 3 dims by wrapping the input around.

    The left pad copies the end of the dim, the right pad its start.
    Each pad must be at most the size of its dim.

    Args:
        padding (int or tuple): the number of elements added on each side;
            one int for every side, or 6 ints
            ``(left, right, top, bottom, front, back)``.

    Shape:
        - Input: ``(N, C, D_in, H_in, W_in)`` or ``(C, D_in, H_in, W_in)``.
        - Output: ``(N, C, D_out, H_out, W_out)`` or ``(C, D_out, H_out, W_out)``, where
          ``D_out = D_in + padding_front + padding_back``,
          ``H_out = H_in + padding_top + padding_bottom``,
          ``W_out = W_in + padding_left + padding_right``.

    Example::

        >>> m = nn.CircularPad3d(1)
        >>> m(tn.randn(2, 3, 4, 4, 4)).shape
        (2, 3, 6, 6, 6)
    """
    mode, n_dims = "circular", 3


class _ConstantPad(_Pad):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPad):
    """Pads the last dim with the constant ``value``.

    Args:
        padding (int or tuple): the number of elements added on each side;
            one int for every side, or 2 ints
            ``(left, right)``.
        value (float): the fill value.

    Shape:
        - Input: ``(N, C, W_in)`` or ``(C, W_in)``.
        - Output: ``(N, C, W_out)`` or ``(C, W_out)``, where
          ``W_out = W_in + padding_left + padding_right``.

    Example::

        >>> m = nn.ConstantPad1d((1, 2), 3.5)
        >>> m(tn.zeros(1, 2, 2))
        tensor([[[3.5, 0. , 0. , 3.5, 3.5],
                 [3.5, 0. , 0. , 3.5, 3.5]]])
    """
    n_dims = 1


class ConstantPad2d(_ConstantPad):
    """Pads the last 2 dims with the constant ``value``.

    Args:
        padding (int or tuple): the number of elements added on each side;
            one int for every side, or 4 ints
            ``(left, right, top, bottom)``.
        value (float): the fill value.

    Shape:
        - Input: ``(N, C, H_in, W_in)`` or ``(C, H_in, W_in)``.
        - Output: ``(N, C, H_out, W_out)`` or ``(C, H_out, W_out)``, where
          ``H_out = H_in + padding_top + padding_bottom``,
          ``W_out = W_in + padding_left + padding_right``.

    Example::

        >>> m = nn.ConstantPad2d((1, 0, 0, 1), -1.0)
        >>> m(tn.ones(1, 2, 2))
        tensor([[[-1.,  1.,  1.],
                 [-1.,  1.,  1.],
                 [-1., -1., -1.]]])
    """
    n_dims = 2


class ConstantPad3d(_ConstantPad):
    """Pads the last 3 dims with the constant ``value``.

    Args:
        padding (int or tuple): the number of elements added on each side;
            one int for every side, or 6 ints
            ``(left, right, top, bottom, front, back)``.
        value (float): the fill value.

    Shape:
        - Input: ``(N, C, D_in, H_in, W_in)`` or ``(C, D_in, H_in, W_in)``.
        - Output: ``(N, C, D_out, H_out, W_out)`` or ``(C, D_out, H_out, W_out)``, where
          ``D_out = D_in + padding_front + padding_back``,
          ``H_out = H_in + padding_top + padding_bottom``,
          ``W_out = W_in + padding_left + padding_right``.

    Example::

        >>> m = nn.ConstantPad3d((3, 3, 6, 6, 0, 1), 3.5)
        >>> m(tn.randn(16, 3, 10, 20, 30)).shape
        (16, 3, 11, 32, 36)
    """
    n_dims = 3


class ZeroPad1d(_Pad):
    """Pads the last dim with zeros.

    The same as ``ConstantPad1d(padding, 0.0)``.

    Args:
        padding (int or tuple): the number of elements added on each side;
            one int for every side, or 2 ints
            ``(left, right)``.

    Shape:
        - Input: ``(N, C, W_in)`` or ``(C, W_in)``.
        - Output: ``(N, C, W_out)`` or ``(C, W_out)``, where
          ``W_out = W_in + padding_left + padding_right``.

    Example::

        >>> m = nn.ZeroPad1d((1, 2))
        >>> m(tn.ones(1, 2, 2))
        tensor([[[0., 1., 1., 0., 0.],
                 [0., 1., 1., 0., 0.]]])
    """
    n_dims = 1


class ZeroPad2d(_Pad):
    """Pads the last 2 dims with zeros.

    The same as ``ConstantPad2d(padding, 0.0)``.

    Args:
        padding (int or tuple): the number of elements added on each side;
            one int for every side, or 4 ints
            ``(left, right, top, bottom)``.

    Shape:
        - Input: ``(N, C, H_in, W_in)`` or ``(C, H_in, W_in)``.
        - Output: ``(N, C, H_out, W_out)`` or ``(C, H_out, W_out)``, where
          ``H_out = H_in + padding_top + padding_bottom``,
          ``W_out = W_in + padding_left + padding_right``.

    Example::

        >>> m = nn.ZeroPad2d(1)
        >>> m(tn.ones(1, 1, 2, 2))
        tensor([[[[0., 0., 0., 0.],
                  [0., 1., 1., 0.],
                  [0., 1., 1., 0.],
                  [0., 0., 0., 0.]]]])
    """
    n_dims = 2


class ZeroPad3d(_Pad):
    """Pads the last 3 dims with zeros.

    The same as ``ConstantPad3d(padding, 0.0)``.

    Args:
        padding (int or tuple): the number of elements added on each side;
            one int for every side, or 6 ints
            ``(left, right, top, bottom, front, back)``.

    Shape:
        - Input: ``(N, C, D_in, H_in, W_in)`` or ``(C, D_in, H_in, W_in)``.
        - Output: ``(N, C, D_out, H_out, W_out)`` or ``(C, D_out, H_out, W_out)``, where
          ``D_out = D_in + padding_front + padding_back``,
          ``H_out = H_in + padding_top + padding_bottom``,
          ``W_out = W_in + padding_left + padding_right``.

    Example::

        >>> m = nn.ZeroPad3d((1, 1, 2, 2, 0, 0))
        >>> m(tn.randn(1, 2, 3, 4, 5)).shape
        (1, 2, 3, 8, 7)
    """
    n_dims = 3
