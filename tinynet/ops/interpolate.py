"""F.interpolate: nearest, nearest-exact, linear, bilinear and trilinear
resampling of (N, C, *spatial) inputs with PyTorch's coordinate rules.

All these modes are separable: the input is resampled along one spatial
axis at a time. Along an axis, nearest is one gather (``Take`` from
``tinynet.ops.padding``) and linear is two gathers blended with fixed
weights, ``x[i0] * (1 - l) + x[i1] * l``, so the backward (and the double
backward) comes from the gather's and the product's.

Source positions follow PyTorch's CPU kernels, including their float32
arithmetic for the nearest index, so outputs match element for element.
"""
import math

import numpy as np

from tinynet.backend import to_device
from tinynet.ops.padding import Take
from tinynet.tensor import Tensor, as_tensor, describe

# mode -> the number of spatial dims it takes
_MODES = {"nearest": (1, 2, 3), "nearest-exact": (1, 2, 3), "linear": (1,),
          "bilinear": (2,), "trilinear": (3,)}
_LINEAR = ("linear", "bilinear", "trilinear")


__all__ = [
    "interpolate", "upsample"
]


def _inverse_scale(n_in, n_out, scale, t):
    # PyTorch: 1 / scale_factor when one was given, else in / out
    return t(1.0 / scale) if scale is not None and scale > 0 else t(n_in) / t(n_out)


def _nearest_index(n_in, n_out, scale, exact):
    """Source index of every output position (PyTorch's float32 arithmetic)."""
    dst = np.arange(n_out, dtype=np.int64)
    if not exact and n_out == n_in:             # PyTorch's two special cases
        return dst                              # for 'nearest', whatever the scale
    if not exact and n_out == 2 * n_in:
        return dst // 2
    s = _inverse_scale(n_in, n_out, scale, np.float32)
    pos = dst.astype(np.float32) + (np.float32(0.5) if exact else np.float32(0))
    return np.minimum(np.floor(pos * s).astype(np.int64), n_in - 1)


def _linear_index(n_in, n_out, scale, align_corners, t):
    """Two source indices and the weight of the second, per output position."""
    if align_corners:
        s = t(n_in - 1) / t(n_out - 1) if n_out > 1 else t(0)
        src = s * np.arange(n_out, dtype=t)
    else:
        s = _inverse_scale(n_in, n_out, scale, t)
        src = np.maximum(s * (np.arange(n_out, dtype=t) + t(0.5)) - t(0.5), t(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    lam = np.clip(src - i0, 0, 1).astype(t)
    i1 = np.where(i0 < n_in - 1, i0 + 1, i0)
    return i0, i1, lam


def _along(weights, axis, x):
    # a constant (n,) weight array shaped to broadcast along ``axis`` of x
    w = weights.reshape((len(weights),) + (1,) * (x.ndim - 1 - axis))
    return Tensor._wrap(to_device(w, x.device) if x.is_cuda else w)


def _resample_axis(x, axis, n_out, scale, mode, align_corners):
    n_in = x.shape[axis]
    if mode in ("nearest", "nearest-exact"):
        return Take(axis, _nearest_index(n_in, n_out, scale, mode == "nearest-exact"))(x)
    t = x.dtype.type
    i0, i1, lam = _linear_index(n_in, n_out, scale, align_corners, t)
    lo, hi = Take(axis, i0)(x), Take(axis, i1)(x)
    return lo * _along(1 - lam, axis, x) + hi * _along(lam, axis, x)


def _as_list(value, k, what):
    if isinstance(value, (list, tuple)):
        if len(value) != k:
            raise ValueError(f"interpolate: {what} {tuple(value)} must have one entry per "
                             f"spatial dim ({k})")
        return list(value)
    return [value] * k


def _sizes(x, size, scale_factor, recompute_scale_factor, k):
    """Output sizes and the scales the kernels see (None where recomputed)."""
    if size is not None and scale_factor is not None:
        raise ValueError("interpolate: only one of size or scale_factor should be defined")
    if size is None and scale_factor is None:
        raise ValueError("interpolate: either size or scale_factor should be defined")
    spatial = x.shape[2:]
    if size is not None:
        if recompute_scale_factor:
            raise ValueError("interpolate: recompute_scale_factor is not meaningful with "
                             "an explicit size")
        sizes = _as_list(size, k, "size")
        if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in sizes):
            raise TypeError(f"interpolate: size must be ints, got {size!r}")
        scales = [None] * k
    else:
        scales = [float(s) for s in _as_list(scale_factor, k, "scale_factor")]
        if any(not s > 0 for s in scales):
            raise ValueError(f"interpolate: scale_factor must be positive, got {scale_factor}")
        sizes = [math.floor(n * s) for n, s in zip(spatial, scales)]
        if recompute_scale_factor:
            scales = [None] * k
    if any(s <= 0 for s in sizes):
        raise ValueError(f"interpolate: the output size {tuple(sizes)} must be positive; "
                         f"input {describe(x)}")
    return [int(s) for s in sizes], scales


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims of ``input`` (PyTorch's F.interpolate).

    Shape: (N, C, *spatial) with 1-3 spatial dims -> (N, C, *size), where
    ``size`` is given or ``floor(spatial * scale_factor)``. Modes: 'nearest'
    and 'nearest-exact' (any rank), 'linear' (3-D input), 'bilinear' (4-D),
    'trilinear' (5-D). ``align_corners`` (linear modes only, default False)
    maps the corner pixels' centres onto each other.
    See https://pytorch.org/docs/stable/generated/torch.nn.functional.interpolate.html
    """
    x = as_tensor(input)
    if mode not in _MODES:
        if mode in ("bicubic", "area"):
            raise NotImplementedError(f"interpolate: mode {mode!r} is not supported by "
                                      f"tinynet (supported: {', '.join(_MODES)})")
        raise ValueError(f"interpolate: unknown mode {mode!r}; expected one of "
                         f"{', '.join(_MODES)}")
    if align_corners is not None and mode not in _LINEAR:
        raise ValueError("interpolate: align_corners option can only be set with the "
                         "interpolating modes: linear | bilinear | trilinear")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported by tinynet")
    k = x.ndim - 2
    if k not in _MODES[mode]:
        need = " or ".join(f"{d + 2}-D" for d in _MODES[mode])
        raise ValueError(f"interpolate: mode {mode!r} needs a {need} input (N, C, "
                         f"*spatial), got {describe(x)}")
    if mode in _LINEAR and x.dtype.kind != "f":
        raise TypeError(f"interpolate: mode {mode!r} needs a floating point input, got "
                        f"{describe(x)}")
    sizes, scales = _sizes(x, size, scale_factor, recompute_scale_factor, k)
    for d in range(k):
        x = _resample_axis(x, 2 + d, sizes[d], scales[d], mode, bool(align_corners))
    return x


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Old name of ``interpolate`` (deprecated in PyTorch, kept for old code)."""
    return interpolate(input, size, scale_factor, mode, align_corners)
