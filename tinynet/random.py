"""tinynet's random numbers: one seeded generator for every random choice.

``tn.manual_seed(s)`` seeds parameter initialisation, dropout, ``randn`` and
friends, and DataLoader shuffling (unless the loader has its own ``seed``).
The generator's state can be saved and restored for exact resume.
"""
import numpy as np

from tinynet.backend import to_device

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
