"""Upsample, UpsamplingNearest2d and UpsamplingBilinear2d: modules around
``F.interpolate`` (see tinynet.ops.interpolate for the modes and shapes)."""
from tinynet.nn.module import Module
from tinynet.ops.interpolate import interpolate


class Upsample(Module):
    """Resizes the spatial dims of ``(N, C, *spatial)`` inputs.

    To a given ``size`` or by a ``scale_factor``, with one of
    ``F.interpolate``'s modes.

    ``'nearest'`` copies input pixel ``floor(i * in_size / out_size)`` to
    output position ``i`` (PyTorch's rule, not always the closest pixel);
    ``'nearest-exact'`` copies the pixel whose centre is closest;
    ``'linear'``, ``'bilinear'`` and ``'trilinear'`` interpolate linearly
    along 1, 2 and 3 spatial dims.

    Args:
        size (int or tuple, optional): the output's spatial size (one int for
            every spatial dim, or one per dim). Give either ``size`` or
            ``scale_factor``. Default: ``None``.
        scale_factor (float or tuple, optional): multiplies each spatial size;
            the output size is ``floor(size * scale_factor)``. Default: ``None``.
        mode (str, optional): ``'nearest'``, ``'nearest-exact'`` (any number
            of spatial dims), ``'linear'`` (3-dim input), ``'bilinear'``
            (4-dim) or ``'trilinear'`` (5-dim). ``'bicubic'`` and ``'area'``
            raise NotImplementedError. Default: ``'nearest'``.
        align_corners (bool, optional): linear modes only. If True the
            centres of the corner pixels of input and output coincide;
            if False (the behaviour when ``None``) their outer edges do.
            Default: ``None``.
        recompute_scale_factor (bool, optional): compute the sampling
            positions from the output size instead of from ``scale_factor``.
            Default: ``None``.

    Shape:
        - Input: ``(N, C, W_in)``, ``(N, C, H_in, W_in)`` or
          ``(N, C, D_in, H_in, W_in)``.
        - Output: ``(N, C, W_out)``, ``(N, C, H_out, W_out)`` or
          ``(N, C, D_out, H_out, W_out)``, where each size is given by
          ``size`` or is ``floor(input size * scale_factor)``.

    Example::

        >>> x = tn.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
        >>> nn.Upsample(scale_factor=2)(x)
        tensor([[[[1., 1., 2., 2.],
                  [1., 1., 2., 2.],
                  [3., 3., 4., 4.],
                  [3., 3., 4., 4.]]]])
        >>> nn.Upsample(size=(3, 3), mode="bilinear", align_corners=True)(x)
        tensor([[[[1. , 1.5, 2. ],
                  [2. , 2.5, 3. ],
                  [3. , 3.5, 4. ]]]])
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
    """Nearest-neighbour upsampling of ``(N, C, H, W)`` inputs.

    ``Upsample`` with ``mode='nearest'``.

    Args:
        size (int or tuple, optional): the output's spatial size (one int for
            every spatial dim, or one per dim). Give either ``size`` or
            ``scale_factor``. Default: ``None``.
        scale_factor (float or tuple, optional): multiplies each spatial size;
            the output size is ``floor(size * scale_factor)``. Default: ``None``.

    Shape:
        - Input: ``(N, C, H_in, W_in)``.
        - Output: ``(N, C, H_out, W_out)``, from ``size`` or
          ``floor(H_in * scale_factor)`` and ``floor(W_in * scale_factor)``.

    Example::

        >>> m = nn.UpsamplingNearest2d(scale_factor=2)
        >>> m(tn.tensor([[[[1.0, 2.0]]]]))
        tensor([[[[1., 1., 2., 2.],
                  [1., 1., 2., 2.]]]])
    """

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear upsampling of ``(N, C, H, W)`` inputs, corners aligned.

    ``Upsample`` with ``mode='bilinear', align_corners=True``.

    Args:
        size (int or tuple, optional): the output's spatial size (one int for
            every spatial dim, or one per dim). Give either ``size`` or
            ``scale_factor``. Default: ``None``.
        scale_factor (float or tuple, optional): multiplies each spatial size;
            the output size is ``floor(size * scale_factor)``. Default: ``None``.

    Shape:
        - Input: ``(N, C, H_in, W_in)``.
        - Output: ``(N, C, H_out, W_out)``, from ``size`` or
          ``floor(H_in * scale_factor)`` and ``floor(W_in * scale_factor)``.

    Example::

        >>> m = nn.UpsamplingBilinear2d(size=(1, 5))
        >>> m(tn.tensor([[[[0.0, 4.0]]]]))
        tensor([[[[0., 1., 2., 3., 4.]]]])
    """

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
