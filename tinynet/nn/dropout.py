"""Dropout layers (inverted dropout: identity in eval mode)."""
from tinynet.nn.module import Module
from tinynet.ops.nn_ops import _check_p, dropout, dropout2d


class _DropoutNd(Module):
    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        _check_p(p, type(self).__name__)
        self.p, self.inplace = p, inplace

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero each element with probability p while training, scale the rest by 1/(1-p)."""

    def forward(self, input):
        return dropout(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zero whole channels while training. Shape: (N, C, H, W) or (N, C, L)."""

    def forward(self, input):
        return dropout2d(input, self.p, self.training, self.inplace)
