"""Checks of values that tinynet makes on the GPU without a host
synchronisation (``tinynet.backend.check_values``): kept, then raised at the
next host read, as PyTorch's device-side asserts are.

CI has no GPU, so the kept path is driven here with a stand-in for a CuPy
boolean array (all ``check_values`` uses of it: its type's module and
``.any()``); tests/gpu/test_cupy_round_two.py checks the same on a real GPU
through cross_entropy.
"""
import numpy as np
import pytest

import tinynet as tn
import tinynet.nn.functional as F
from tinynet import backend


class GpuBools:
    """What check_values sees of a CuPy boolean array."""
    __module__ = "cupy._stand_in"

    def __init__(self, values):
        self.values = np.asarray(values, bool)

    def any(self):
        return self.values.any()


@pytest.fixture(autouse=True)
def no_leftovers():
    backend._pending_checks.clear()
    yield
    backend._pending_checks.clear()


def _error(bad):
    return IndexError(f"value out of range at {np.flatnonzero(bad.values).tolist()}")


def test_numpy_values_are_checked_at_once():
    with pytest.raises(IndexError, match=r"at \[1\]"):
        backend.check_values(GpuBools([False, True]).values, lambda bad: IndexError(
            f"value out of range at {np.flatnonzero(bad).tolist()}"))
    assert backend._pending_checks == []


def test_cross_entropy_on_the_cpu_raises_in_the_call():
    x = tn.randn(3, 4)
    with pytest.raises(IndexError, match="cross_entropy: target value 7 is out of bounds "
                                         "for 4 classes"):
        F.cross_entropy(x, tn.tensor([0, 7, 1]))


def test_gpu_values_wait_for_the_next_host_read():
    backend.check_values(GpuBools([False, True, True]), _error)      # no raise here
    assert len(backend._pending_checks) == 1
    with pytest.raises(IndexError, match=r"at \[1, 2\]"):
        tn.tensor(1.0).item()
    tn.tensor(1.0).item()            # raised once, then dropped
    assert backend._pending_checks == []


def test_passing_gpu_checks_raise_nothing_and_are_dropped():
    for _ in range(3):
        backend.check_values(GpuBools([False, False]), _error)
    assert tn.tensor(2.0).item() == 2.0
    assert backend._pending_checks == []


def test_the_first_failing_check_is_raised():
    backend.check_values(GpuBools([False]), _error)
    backend.check_values(GpuBools([False, False, True]), _error)
    backend.check_values(GpuBools([True]), _error)
    with pytest.raises(IndexError, match=r"at \[2\]"):
        backend.raise_pending_checks()


def test_the_kept_checks_are_bounded():
    # the (MAX + 1)-th kept check makes them all: memory stays bounded when a
    # program never reads a value back
    for _ in range(backend.MAX_PENDING_CHECKS):
        backend.check_values(GpuBools([False]), _error)
    assert len(backend._pending_checks) == backend.MAX_PENDING_CHECKS
    with pytest.raises(IndexError, match=r"at \[0\]"):
        backend.check_values(GpuBools([True]), _error)
    assert backend._pending_checks == []
