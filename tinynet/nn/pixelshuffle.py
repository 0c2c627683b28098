"""PixelShuffle and PixelUnshuffle: modules around ``F.pixel_shuffle`` /
``F.pixel_unshuffle`` (sub-pixel convolution upsampling, Shi et al., 2016)."""
from tinynet.nn.module import Module
from tinynet.ops.nn_ops import pixel_shuffle, pixel_unshuffle


class PixelShuffle(Module):
    """Moves channels into space: ``(*, C * r * r, H, W) -> (*, C, H * r, W * r)``.

    ``r = upscale_factor``.

    Each ``r x r`` block of an output channel is taken from ``r * r``
    consecutive input channels; a convolution followed by ``PixelShuffle`` is
    the "sub-pixel convolution" upsampling of Shi et al. (2016).

    Args:
        upscale_factor (int): ``r``, the factor the spatial sizes grow by.

    Shape:
        - Input: ``(*, C_in, H_in, W_in)``, with ``C_in`` divisible by ``r * r``.
        - Output: ``(*, C_out, H_out, W_out)``, with ``C_out = C_in / (r * r)``,
          ``H_out = H_in * r`` and ``W_out = W_in * r``.

    Example::

        >>> m = nn.PixelShuffle(2)
        >>> m(tn.arange(4.0).reshape(1, 4, 1, 1))
        tensor([[[[0., 1.],
                  [2., 3.]]]])
        >>> nn.PixelShuffle(3)(tn.randn(1, 9, 4, 4)).shape
        (1, 1, 12, 12)
    """

    def __init__(self, upscale_factor):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input):
        return pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """Moves space into channels: ``(*, C, H * r, W * r) -> (*, C * r * r, H, W)``.

    The inverse of ``PixelShuffle``, with ``r = downscale_factor``.

    Args:
        downscale_factor (int): ``r``, the factor the spatial sizes shrink by.

    Shape:
        - Input: ``(*, C_in, H_in, W_in)``, with ``H_in`` and ``W_in``
          divisible by ``r``.
        - Output: ``(*, C_out, H_out, W_out)``, with ``C_out = C_in * r * r``,
          ``H_out = H_in / r`` and ``W_out = W_in / r``.

    Example::

        >>> m = nn.PixelUnshuffle(2)
        >>> m(tn.arange(4.0).reshape(1, 1, 2, 2)).flatten()
        tensor([0., 1., 2., 3.])
        >>> nn.PixelUnshuffle(3)(tn.randn(1, 1, 12, 12)).shape
        (1, 9, 4, 4)
    """

    def __init__(self, downscale_factor):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input):
        return pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"
