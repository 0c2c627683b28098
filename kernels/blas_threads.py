"""How many threads NumPy's BLAS uses, read and set at run time.

The batch-parallel convolution (``conv2d`` version ``cpu_v3``) runs one
tinynet thread per core, each doing its share of the batch with its own
small GEMMs. BLAS must then be single-threaded for the duration, or every
GEMM would start more threads than there are cores. ``single_threaded()``
does that and puts the old count back afterwards.

Only OpenBLAS is handled (NumPy's wheels ship it: ``scipy_openblas64_``;
Linux distributions link ``libopenblas``). The library is looked up among the
shared objects already loaded into this process, so it is the one NumPy
calls. Anything else (MKL, Accelerate, BLIS, no symbol found) gives
``threads() is None`` and the convolution runs on one tinynet thread with
BLAS threading as it is.
"""
import contextlib
import ctypes
import glob
import os
import threading

import numpy as np

# (setter, getter) names: the NumPy wheels' prefixed 64-bit-integer build first
_SYMBOLS = [("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
            ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
            ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
            ("openblas_set_num_threads", "openblas_get_num_threads")]

_api = None          # (set, get, path), False if none found, None before the search
_lock = threading.Lock()


def _loaded_openblas_paths():
    """OpenBLAS libraries NumPy may be using: the copy bundled with NumPy's
    wheel first (SciPy bundles another, which must not be the one we set),
    then any other mapped into this process (a NumPy linked to the system's)."""
    root = os.path.dirname(np.__file__)
    paths = []
    for pattern in ("../numpy.libs/*openblas*", ".dylibs/*openblas*"):
        paths += sorted(glob.glob(os.path.join(root, pattern)))
    try:
        with open("/proc/self/maps") as f:            # Linux: what is mapped right now
            for line in f:
                path = line.rsplit(None, 1)[-1]
                if "openblas" in os.path.basename(path).lower() and \
                        os.path.realpath(path) not in map(os.path.realpath, paths):
                    paths.append(path)
    except OSError:
        pass
    return paths


def _find():
    for path in _loaded_openblas_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _SYMBOLS:
            setter, getter = getattr(lib, set_name, None), getattr(lib, get_name, None)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                return setter, getter, path
    return False


def _get_api():
    global _api
    if _api is None:
        np.ones((2, 2)) @ np.ones((2, 2))              # make sure NumPy's BLAS is loaded
        _api = _find()
    return _api


def threads():
    """The number of threads BLAS uses now, or None if it cannot be controlled."""
    api = _get_api()
    return api[1]() if api else None


@contextlib.contextmanager
def single_threaded():
    """BLAS on one thread inside the block (process-wide: BLAS has one
    setting), restored on exit, exceptions included. Blocks that overlap in
    several Python threads are serialised, so the restore is always right."""
    api = _get_api()
    if not api:
        yield
        return
    setter, getter, _ = api
    with _lock:
        before = getter()
        setter(1)
        try:
            yield
        finally:
            setter(before)
