"""Array modules and devices.

tinynet computes on NumPy arrays (device ``'cpu'``) or CuPy arrays (device
``'cuda:N'``). CuPy is optional and never imported by ``import tinynet``: it is
looked up only when a CuPy array shows up or a GPU is asked for.

Every op picks its array module from its inputs with ``get_array_module``
(``xp`` in the ops), never by importing numpy for compute.
"""
import numpy as np

_cupy = None          # the cupy module once imported, False when unavailable


def _import_cupy():
    global _cupy
    if _cupy is None:
        try:
            import cupy
            _cupy = cupy
        except Exception:           # ImportError, or a broken CUDA install
            _cupy = False
    return _cupy or None


def is_cupy_array(a):
    # Checking the type's module avoids importing cupy for NumPy arrays.
    return type(a).__module__.startswith("cupy")


def get_array_module(*arrays):
    """numpy, or cupy if any of ``arrays`` is a CuPy array."""
    for a in arrays:
        if is_cupy_array(a):
            return _import_cupy()
    return np


def device_of(a):
    """'cpu' for NumPy arrays, 'cuda:N' for CuPy arrays on device N."""
    if is_cupy_array(a):
        return f"cuda:{a.device.id}"
    return "cpu"


def normalize_device(device):
    """Turn 'cpu' / 'cuda' / 'cuda:1' / None into 'cpu' or 'cuda:N'."""
    if device is None:
        return "cpu"
    device = str(device)
    if device == "cpu":
        return "cpu"
    if device == "cuda":
        cp = _import_cupy()
        index = cp.cuda.runtime.getDevice() if cp else 0
        return f"cuda:{index}"
    if device.startswith("cuda:") and device[5:].isdigit():
        return device
    raise ValueError(f"unknown device {device!r}: expected 'cpu', 'cuda' or 'cuda:N'")


def to_device(a, device):
    """Copy (only if needed) array ``a`` to ``device``."""
    device = normalize_device(device)
    if device == "cpu":
        return a.get() if is_cupy_array(a) else a
    if not cuda_is_available():
        raise RuntimeError(
            f"cannot move an array to {device}: no usable CUDA GPU "
            "(install the 'cuda' extra and check tn.cuda.is_available())")
    cp = _import_cupy()
    with cp.cuda.Device(int(device[5:])):
        return cp.asarray(a)


def tune_malloc():
    """Keep freed memory for reuse instead of returning it to the OS at once.

    NumPy has no caching allocator: every large temporary (an im2col matrix,
    an activation) is a fresh mmap, and the kernel zero-fills each of its
    pages on first touch. In a training loop that re-allocates the same sizes
    every step, this page-fault cost was about a quarter of the seed CNN's step
    time on the 2-core development machine. Raising glibc's mmap and trim
    thresholds makes such blocks come from (and go back to) the heap, the way
    PyTorch's caching allocator keeps its blocks; the price is that the
    process's memory stays at its peak. Called once by ``import tinynet`` on
    Linux with glibc; set ``TINYNET_MALLOC_TUNING=0`` to leave malloc alone.
    Returns True if the settings were applied.
    """
    import ctypes
    import os
    import sys
    if os.environ.get("TINYNET_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False          # not glibc (musl, ...): nothing to tune
    M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
    ok = mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024)      # glibc's largest allowed value
    ok &= mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024)
    ok &= mallopt(M_TOP_PAD, 64 * 1024 * 1024)
    return bool(ok)


def tune_gc(threshold=10000):
    """Run Python's cyclic garbage collector less often.

    Every op allocates a few small Python objects (a Tensor, a Function and
    its dict). CPython starts a collection every 700 such allocations and,
    every hundredth time, walks every object in the process; with NumPy,
    Numba and tinynet imported that took about 0.8 µs of the ~6.7 µs each op cost
    in the op-overhead benchmark. tinynet's graphs hold no reference cycles
    (Functions keep their outputs through weak references), so they are freed
    by reference counting alone and do not need the collector. The first
    threshold is raised to ``threshold`` (never lowered); set
    ``TINYNET_GC_TUNING=0`` to leave the collector alone. Returns True if the
    threshold was changed.
    """
    import gc
    import os
    if os.environ.get("TINYNET_GC_TUNING", "1") == "0":
        return False
    first, *rest = gc.get_threshold()
    if first == 0 or first >= threshold:        # 0: the user turned collection off
        return False
    gc.set_threshold(threshold, *rest)
    return True


_cuda_ok = None


def cuda_is_available():
    """True only if CuPy imports *and* a GPU can really allocate memory.

    A CuPy wheel imports fine on a machine without a driver and fails at the
    first allocation; that must read as "no GPU", not crash.
    """
    global _cuda_ok
    if _cuda_ok is None:
        cp = _import_cupy()
        try:
            _cuda_ok = bool(cp) and cp.cuda.runtime.getDeviceCount() > 0 \
                and int(cp.zeros(1).sum()) == 0
        except Exception:
            _cuda_ok = False
    return _cuda_ok
