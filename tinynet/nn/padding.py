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
    """Pad the last dim with its reflection (the edge value is not repeated)."""
    mode, n_dims = "reflect", 1


class ReflectionPad2d(_Pad):
    """Pad the last 2 dims with their reflection (the edge is not repeated)."""
    mode, n_dims = "reflect", 2


class ReflectionPad3d(_Pad):
    """Pad the last 3 dims with their reflection (the edge is not repeated)."""
    mode, n_dims = "reflect", 3


class ReplicationPad1d(_Pad):
    """Pad the last dim by repeating its edge values."""
    mode, n_dims = "replicate", 1


class ReplicationPad2d(_Pad):
    """Pad the last 2 dims by repeating their edge values."""
    mode, n_dims = "replicate", 2


class ReplicationPad3d(_Pad):
    """Pad the last 3 dims by repeating their edge values."""
    mode, n_dims = "replicate", 3


class CircularPad1d(_Pad):
    """Pad the last dim by wrapping around."""
    mode, n_dims = "circular", 1


class CircularPad2d(_Pad):
    """Pad the last 2 dims by wrapping around."""
    mode, n_dims = "circular", 2


class CircularPad3d(_Pad):
    """Pad the last 3 dims by wrapping around."""
    mode, n_dims = "circular", 3


class _ConstantPad(_Pad):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPad):
    """Pad the last dim with ``value``."""
    n_dims = 1


class ConstantPad2d(_ConstantPad):
    """Pad the last 2 dims with ``value``."""
    n_dims = 2


class ConstantPad3d(_ConstantPad):
    """Pad the last 3 dims with ``value``."""
    n_dims = 3


class ZeroPad1d(_Pad):
    """Pad the last dim with zeros."""
    n_dims = 1


class ZeroPad2d(_Pad):
    """Pad the last 2 dims with zeros."""
    n_dims = 2


class ZeroPad3d(_Pad):
    """Pad the last 3 dims with zeros."""
    n_dims = 3
