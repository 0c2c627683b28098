"""Upsample, UpsamplingNearest2d and UpsamplingBilinear2d: modules around
``F.interpolate`` (see tinynet.ops.interpolate for the modes and shapes)."""
from tinynet.nn.module import Module
from tinynet.ops.interpolate import interpolate


class Upsample(Module):
    """Resize (N, C, *spatial) inputs to ``size`` or by ``scale_factor``.

    Modes 'nearest', 'nearest-exact', 'linear' (3-D input), 'bilinear' (4-D)
    and 'trilinear' (5-D); ``align_corners`` for the linear modes.
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        # stored as floats, as PyTorch does (so the repr reads scale_factor=2.0)
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor = tuple(float(s) for s in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor is not None else None
        self.mode, self.align_corners = mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):
        return interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                           recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self):
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """Upsample with mode='nearest' for (N, C, H, W) inputs."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Upsample with mode='bilinear' and align_corners=True for (N, C, H, W) inputs."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
