"""Image transforms for datasets, named as in torchvision.transforms.

Images are ``(C, H, W)`` (or ``(H, W)``) Tensors or NumPy/CuPy arrays; each
transform returns the same kind it was given. Random transforms draw from
``tinynet.random`` at call time, so ``tn.manual_seed`` makes them repeatable.

Shape letters: C channels, H height, W width.
"""
import math
import numbers

import numpy as np

from tinynet import random as tn_random
from tinynet.backend import get_array_module
from tinynet.tensor import Tensor


def _unwrap(img, op):
    if isinstance(img, Tensor):
        return img.array, True
    if isinstance(img, np.ndarray) or hasattr(img, "__cuda_array_interface__"):
        return img, False
    raise TypeError(f"{op}: expected a Tensor or an array of shape (C, H, W) or (H, W), "
                    f"got {type(img).__name__}")


def _wrap(arr, as_tensor):
    return Tensor._make(arr) if as_tensor else arr


def _check_image(arr, op):
    if arr.ndim < 2:
        raise ValueError(f"{op}: expected an image of shape (..., H, W), got shape {arr.shape}")


def _pair(value, name, op):
    if isinstance(value, numbers.Number):
        return value, value
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return tuple(value)
    raise ValueError(f"{op}: {name} must be a number or a pair, got {value!r}")


class Compose:
    """Apply ``transforms`` one after another."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class Lambda:
    """Wrap any function ``fn(img) -> img`` as a transform."""

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError(f"Lambda: expected a callable, got {type(fn).__name__}")
        self.fn = fn

    def __call__(self, img):
        return self.fn(img)

    def __repr__(self):
        return f"Lambda({getattr(self.fn, '__name__', self.fn)!r})"


class ToTensor:
    """An image array (or PIL image) to a ``(C, H, W)`` Tensor.

    uint8 ``(H, W)`` or ``(H, W, C)`` becomes float32 in [0, 1] (divided by
    255); other dtypes keep their values and dtype, as torchvision does.

    Shape:
        ``(H, W)`` -> ``(1, H, W)``; ``(H, W, C)`` -> ``(C, H, W)``.
    """

    def __call__(self, pic):
        if isinstance(pic, Tensor):
            raise TypeError("ToTensor: the input is already a Tensor; expected a NumPy "
                            "array (H, W) / (H, W, C) or a PIL image")
        arr = np.asarray(pic) if not hasattr(pic, "__cuda_array_interface__") else pic
        if arr.ndim not in (2, 3):
            raise ValueError(f"ToTensor: expected an image of shape (H, W) or (H, W, C), "
                             f"got shape {arr.shape}")
        xp = get_array_module(arr)
        arr = arr[None] if arr.ndim == 2 else xp.moveaxis(arr, -1, 0)
        if arr.dtype == np.uint8:
            arr = arr.astype(np.float32) / np.float32(255)
        return Tensor._make(xp.ascontiguousarray(arr))

    def __repr__(self):
        return "ToTensor()"


class Normalize:
    """``(img - mean[c]) / std[c]`` per channel, in the image's dtype.

    Shape:
        ``(..., C, H, W)`` with ``len(mean) == len(std) == C`` (or scalars).
    """

    def __init__(self, mean, std, inplace=False):
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if self.mean.ndim != 1 or self.std.ndim != 1:
            raise ValueError(f"Normalize: mean and std must be numbers or sequences, got "
                             f"{mean!r} and {std!r}")
        if (self.std == 0).any():
            raise ValueError(f"Normalize: std contains a zero ({std!r}); that would divide by zero")
        self.inplace = inplace

    def __call__(self, img):
        arr, as_tensor = _unwrap(img, "Normalize")
        if arr.ndim < 3 or arr.dtype.kind not in "fc":
            raise ValueError(f"Normalize: expected a floating image of shape (..., C, H, W), "
                             f"got {arr.shape} {arr.dtype}")
        channels = arr.shape[-3]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if len(v) not in (1, channels):
                raise ValueError(f"Normalize: image has {channels} channels but {name} has "
                                 f"{len(v)} values")
        xp = get_array_module(arr)
        # cast to the image's dtype so float32 stays float32
        mean = xp.asarray(self.mean, dtype=arr.dtype)[:, None, None]
        std = xp.asarray(self.std, dtype=arr.dtype)[:, None, None]
        if self.inplace:
            arr -= mean
            arr /= std
            return img
        return _wrap((arr - mean) / std, as_tensor)

    def __repr__(self):
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class RandomHorizontalFlip:
    """Flip the image left-right with probability ``p``."""

    def __init__(self, p=0.5):
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, img):
        arr, as_tensor = _unwrap(img, "RandomHorizontalFlip")
        _check_image(arr, "RandomHorizontalFlip")
        if tn_random.generator().random() < self.p:
            arr = get_array_module(arr).ascontiguousarray(arr[..., ::-1])
        return _wrap(arr, as_tensor)

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class RandomVerticalFlip(RandomHorizontalFlip):
    """Flip the image upside down with probability ``p``."""

    def __call__(self, img):
        arr, as_tensor = _unwrap(img, "RandomVerticalFlip")
        _check_image(arr, "RandomVerticalFlip")
        if tn_random.generator().random() < self.p:
            arr = get_array_module(arr).ascontiguousarray(arr[..., ::-1, :])
        return _wrap(arr, as_tensor)

    def __repr__(self):
        return f"RandomVerticalFlip(p={self.p})"


def _padding4(padding, op):
    """(left, top, right, bottom) from an int, a pair (l/r, t/b) or a 4-sequence."""
    if isinstance(padding, numbers.Integral):
        return (int(padding),) * 4
    if isinstance(padding, (tuple, list)) and len(padding) == 2:
        return (padding[0], padding[1], padding[0], padding[1])
    if isinstance(padding, (tuple, list)) and len(padding) == 4:
        return tuple(padding)
    raise ValueError(f"{op}: padding must be an int or a sequence of 2 or 4 ints, got {padding!r}")


class RandomCrop:
    """Crop a random ``size`` window, after optional padding.

    Args:
        size: ``(h, w)`` or an int for a square crop.
        padding: pixels added first on each side (int, (l/r, t/b) or (l, t, r, b)).
        pad_if_needed: pad images smaller than ``size`` instead of failing.
        fill: value of constant padding.
        padding_mode: ``'constant'``, ``'edge'``, ``'reflect'`` or ``'symmetric'``.

    Shape:
        ``(..., H, W)`` -> ``(..., h, w)``.
    """

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        self.size = tuple(int(s) for s in _pair(size, "size", "RandomCrop"))
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError(f"RandomCrop: padding_mode must be 'constant', 'edge', 'reflect' "
                             f"or 'symmetric', got {padding_mode!r}")
        self.padding = None if padding is None else _padding4(padding, "RandomCrop")
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode

    def _pad(self, arr, left, top, right, bottom):
        xp = get_array_module(arr)
        widths = [(0, 0)] * (arr.ndim - 2) + [(top, bottom), (left, right)]
        if self.padding_mode == "constant":
            return xp.pad(arr, widths, mode="constant", constant_values=self.fill)
        return xp.pad(arr, widths, mode=self.padding_mode)

    def __call__(self, img):
        arr, as_tensor = _unwrap(img, "RandomCrop")
        _check_image(arr, "RandomCrop")
        if self.padding is not None:
            arr = self._pad(arr, *self.padding)
        h, w = self.size
        H, W = arr.shape[-2:]
        if self.pad_if_needed and (H < h or W < w):
            arr = self._pad(arr, max(w - W, 0), max(h - H, 0), max(w - W, 0), max(h - H, 0))
            H, W = arr.shape[-2:]
        if H < h or W < w:
            raise ValueError(f"RandomCrop: crop size {(h, w)} is larger than the (padded) "
                             f"image {(H, W)}")
        rng = tn_random.generator()
        top = int(rng.integers(0, H - h + 1))
        left = int(rng.integers(0, W - w + 1))
        out = get_array_module(arr).ascontiguousarray(arr[..., top:top + h, left:left + w])
        return _wrap(out, as_tensor)

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


# ---------------------------------------------------------------- affine warps
def affine(img, angle=0.0, translate=(0, 0), scale=1.0, interpolation="nearest", fill=0):
    """Rotate by ``angle`` degrees (counter-clockwise, about the image centre),
    scale by ``scale``, then shift by ``translate = (dx, dy)`` pixels.

    Every output pixel looks up where it came from (the inverse map) and
    samples there: ``'nearest'`` takes the closest pixel, ``'bilinear'``
    blends the four around it. Points outside the image read ``fill``.

    Shape:
        ``(..., H, W)`` -> ``(..., H, W)``.
    """
    arr, as_tensor = _unwrap(img, "affine")
    _check_image(arr, "affine")
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"affine: interpolation must be 'nearest' or 'bilinear', "
                         f"got {interpolation!r}")
    if scale <= 0:
        raise ValueError(f"affine: scale must be positive, got {scale}")
    xp = get_array_module(arr)
    H, W = arr.shape[-2:]
    cy, cx = (H - 1) / 2, (W - 1) / 2
    oy, ox = xp.meshgrid(xp.arange(H, dtype=np.float64), xp.arange(W, dtype=np.float64),
                         indexing="ij")
    # inverse map with y pointing down: undo the shift, then the scale, then rotate by -angle
    a = math.radians(angle)
    dx, dy = (ox - cx - translate[0]) / scale, (oy - cy - translate[1]) / scale
    sx = cx + math.cos(a) * dx - math.sin(a) * dy
    sy = cy + math.sin(a) * dx + math.cos(a) * dy
    sample = _nearest if interpolation == "nearest" else _bilinear
    out = sample(arr, sx, sy, fill)
    return _wrap(out.astype(arr.dtype, copy=False), as_tensor)


def _gather(arr, ix, iy, fill):
    """arr[..., iy, ix] where inside the image, ``fill`` elsewhere."""
    xp = get_array_module(arr)
    H, W = arr.shape[-2:]
    inside = (ix >= 0) & (ix < W) & (iy >= 0) & (iy < H)
    values = arr[..., xp.clip(iy, 0, H - 1), xp.clip(ix, 0, W - 1)]
    return xp.where(inside, values, xp.asarray(fill, dtype=arr.dtype))


def _nearest(arr, sx, sy, fill):
    xp = get_array_module(arr)
    # floor(x + 0.5), not rint: rint's round-half-to-even would make ties alternate
    ix = xp.floor(sx + 0.5).astype(np.int64)
    iy = xp.floor(sy + 0.5).astype(np.int64)
    return _gather(arr, ix, iy, fill)


def _bilinear(arr, sx, sy, fill):
    xp = get_array_module(arr)
    x0, y0 = xp.floor(sx), xp.floor(sy)
    wx, wy = sx - x0, sy - y0
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    work = arr.astype(np.float64) if arr.dtype.kind in "iub" else arr
    top = (1 - wx) * _gather(work, x0, y0, fill) + wx * _gather(work, x0 + 1, y0, fill)
    bottom = (1 - wx) * _gather(work, x0, y0 + 1, fill) + wx * _gather(work, x0 + 1, y0 + 1, fill)
    out = (1 - wy) * top + wy * bottom
    if arr.dtype.kind in "iub":
        out = xp.rint(out)
    return out


def _range(value, name, op):
    if isinstance(value, numbers.Number):
        if value < 0:
            raise ValueError(f"{op}: {name} must be non-negative if it is a single number, "
                             f"got {value}")
        return (-float(value), float(value))
    lo, hi = _pair(value, name, op)
    if lo > hi:
        raise ValueError(f"{op}: {name} range must be (min, max), got {value!r}")
    return (float(lo), float(hi))


class RandomAffine:
    """Random rotation, translation and scaling (see :func:`affine`).

    Args:
        degrees: angle range ``(min, max)``, or ``d`` for ``(-d, d)``.
        translate: ``(a, b)``: shift by up to ``a * W`` horizontally and
            ``b * H`` vertically (rounded to whole pixels); None for no shift.
        scale: ``(lo, hi)`` scale range; None keeps the size.
        interpolation: ``'nearest'`` or ``'bilinear'``.
        fill: value for pixels that come from outside the image.
    """

    def __init__(self, degrees, translate=None, scale=None, interpolation="nearest", fill=0):
        self.degrees = _range(degrees, "degrees", "RandomAffine")
        if translate is not None and not all(0 <= t <= 1 for t in _pair(translate, "translate",
                                                                         "RandomAffine")):
            raise ValueError(f"RandomAffine: translate fractions must be in [0, 1], "
                             f"got {translate!r}")
        self.translate = translate
        self.scale = None if scale is None else _range(scale, "scale", "RandomAffine")
        if self.scale is not None and self.scale[0] <= 0:
            raise ValueError(f"RandomAffine: scale must be positive, got {scale!r}")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"RandomAffine: interpolation must be 'nearest' or 'bilinear', "
                             f"got {interpolation!r}")
        self.interpolation = interpolation
        self.fill = fill

    def get_params(self, height, width):
        """(angle, (dx, dy), scale) drawn from tinynet.random."""
        rng = tn_random.generator()
        angle = float(rng.uniform(*self.degrees))
        shift = (0, 0)
        if self.translate is not None:
            a, b = _pair(self.translate, "translate", "RandomAffine")
            shift = (int(round(rng.uniform(-a * width, a * width))),
                     int(round(rng.uniform(-b * height, b * height))))
        scale = 1.0 if self.scale is None else float(rng.uniform(*self.scale))
        return angle, shift, scale

    def __call__(self, img):
        arr, _ = _unwrap(img, type(self).__name__)
        _check_image(arr, type(self).__name__)
        angle, shift, scale = self.get_params(*arr.shape[-2:])
        return affine(img, angle, shift, scale, self.interpolation, self.fill)

    def __repr__(self):
        return (f"{type(self).__name__}(degrees={self.degrees}, translate={self.translate}, "
                f"scale={self.scale}, interpolation={self.interpolation!r})")


class RandomRotation(RandomAffine):
    """Rotate by a random angle in ``degrees`` (``(min, max)`` or ``(-d, d)``)."""

    def __init__(self, degrees, interpolation="nearest", fill=0):
        super().__init__(degrees, interpolation=interpolation, fill=fill)

    def __repr__(self):
        return f"RandomRotation(degrees={self.degrees}, interpolation={self.interpolation!r})"
