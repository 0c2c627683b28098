"""tinynet's random numbers: one seeded generator for every random choice.

``tn.manual_seed(s)`` seeds parameter initialisation, dropout, ``randn`` and
friends, and DataLoader shuffling (unless the loader has its own ``seed``).
The generator's state can be saved and restored for exact resume.
"""
import numpy as np

from tinynet.backend import to_device
from tinynet.tensor import Tensor, as_tensor, describe, float32, int64, shape_arg

_rng = np.random.default_rng()


def manual_seed(seed):
    """Seed tinynet's generator; returns it."""
    global _rng
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: expected a non-negative int, got {seed!r}")
    _rng = np.random.default_rng(int(seed))
    return _rng


def generator():
    """The current ``numpy.random.Generator``."""
    return _rng


def get_rng_state():
    """The generator's state as a plain dict (saveable with tn.save)."""
    return dict(_rng.bit_generator.state)


def set_rng_state(state):
    _rng.bit_generator.state = state


def _finish(arr, dtype, device):
    arr = arr.astype(dtype, copy=False)
    if device is not None and str(device) != "cpu":
        arr = to_device(arr, device)
    return arr


# Values are drawn on the host in float64 (then cast), so a seed gives the same
# numbers for every dtype and device.
def normal(mean, std, shape, dtype, device=None):
    return _finish(_rng.normal(mean, std, shape), dtype, device)


def uniform(low, high, shape, dtype, device=None):
    return _finish(_rng.uniform(low, high, shape), dtype, device)


def integers(low, high, shape, dtype, device=None):
    return _finish(_rng.integers(low, high, shape), dtype, device)


def permutation(n):
    return _rng.permutation(n)


# ---------------------------------------------------------------- sampling ops
def randperm(n, *, dtype=None, device=None, requires_grad=False):
    """A random permutation of 0..n-1 (int64 by default)."""
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"randperm: n must be a non-negative int, got {n!r}")
    arr = _finish(_rng.permutation(int(n)), np.dtype(dtype or np.int64), device)
    return Tensor._wrap(arr, requires_grad=requires_grad)


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """``num_samples`` category indices per row, drawn with probabilities
    proportional to the non-negative weights in ``input`` (1-D or 2-D);
    without replacement each category is drawn at most once.

    Shape: (C,) -> (num_samples,); (N, C) -> (N, num_samples); int64."""
    x = as_tensor(input)
    rng = _rng if generator is None else generator
    if x.ndim not in (1, 2) or x.dtype.kind != "f":
        raise ValueError(f"multinomial: expects a 1-D or 2-D floating point tensor of "
                         f"weights, got {describe(x)}")
    w = np.asarray(x.numpy(), dtype=np.float64).reshape(-1, x.shape[-1])
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("multinomial: weights must be finite and non-negative")
    if num_samples <= 0:
        raise ValueError(f"multinomial: num_samples must be positive, got {num_samples}")
    totals = w.sum(axis=1)
    if (totals <= 0).any():
        raise ValueError("multinomial: every row needs a positive total weight")
    if not replacement and num_samples > int((w > 0).sum(axis=1).min()):
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement "
                         f"from {int((w > 0).sum(axis=1).min())} categories of non-zero weight")
    out = np.stack([rng.choice(w.shape[1], size=num_samples, replace=replacement, p=row / s)
                    for row, s in zip(w, totals)])
    out = out.reshape(x.shape[:-1] + (num_samples,)).astype(np.int64)
    return Tensor._wrap(_finish(out, np.int64, x.device))


def bernoulli(input, p=None, *, generator=None):
    """0/1 draws (of input's dtype) with probability ``input`` elementwise,
    or ``p`` (a number) for every element when given."""
    x = as_tensor(input)
    rng = _rng if generator is None else generator
    if x.dtype.kind != "f":
        raise TypeError(f"bernoulli: expects a floating point tensor, got {describe(x)}")
    probs = np.asarray(x.numpy() if p is None else p, dtype=np.float64)
    if ((probs < 0) | (probs > 1) | np.isnan(probs)).any():
        raise ValueError("bernoulli: probabilities must be in [0, 1]")
    draws = rng.random(x.shape) < probs
    return Tensor._wrap(_finish(draws, x.dtype, x.device))


# ---------------------------------------------------------------- random tensors
def _dtype(dtype, default):
    return default if dtype is None else np.dtype(dtype)


def randn(*shape, dtype=None, device=None, requires_grad=False):
    arr = normal(0.0, 1.0, shape_arg(shape, "randn"), _dtype(dtype, float32), device)
    return Tensor._wrap(arr, requires_grad=requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False):
    arr = uniform(0.0, 1.0, shape_arg(shape, "rand"), _dtype(dtype, float32), device)
    return Tensor._wrap(arr, requires_grad=requires_grad)


def randint(low, high=None, size=(), dtype=None, device=None):
    """Integers in [low, high); ``randint(high, size)`` as in PyTorch."""
    if isinstance(high, (tuple, list)):          # randint(high, size)
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: expected low < high, got low={low}, high={high}")
    arr = integers(low, high, shape_arg((size,), "randint"), _dtype(dtype, int64), device)
    return Tensor._wrap(arr)


def randn_like(t, dtype=None, device=None, requires_grad=False):
    return randn(*t.shape, dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)


def rand_like(t, dtype=None, device=None, requires_grad=False):
    return rand(*t.shape, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)
