"""How many threads NumPy's BLAS uses, read and (only by opt-in) set at run time.

The batch-parallel convolution (``conv2d`` version ``cpu_v3``) runs one
tinynet thread per core, each doing its share of the batch with its own
small GEMMs. That pays only with a single-threaded BLAS, or every GEMM would
start more threads than there are cores. BLAS has one setting for the whole
process, and a float32 product's last bits depend on how many threads
computed it, so tinynet leaves the setting alone unless the program opts in
with ``tinynet.tune_process()`` (the ``tinynet`` command does): then
``single_threaded()`` sets one thread for the duration of a convolution and
puts the program's own count back after the last overlapping one.

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


_switch_allowed = False      # set by tinynet.tune_process()
_depth = 0                   # single_threaded() blocks running now, in all threads
_saved = None                # the program's own count while _depth > 0


def allow_switching(allowed=True):
    """Let ``single_threaded()`` change BLAS's thread count (process-wide)."""
    global _switch_allowed
    _switch_allowed = bool(allowed)


def switching_allowed():
    return _switch_allowed and bool(_get_api())


def threads():
    """The number of threads BLAS uses, or None if it cannot be controlled.
    While tinynet has set it to one for a convolution, this is the count it
    will put back: callers never see the temporary 1."""
    api = _get_api()
    if not api:
        return None
    with _lock:
        return _saved if _depth else api[1]()


def actual():
    """The count BLAS has right now, a temporary 1 included (None: not OpenBLAS)."""
    api = _get_api()
    return api[1]() if api else None


def _after_fork_in_child():
    # a fork during a convolution: the child has none running, so it gets the
    # program's count back (and a lock no other thread can be holding)
    global _lock, _depth, _saved
    _lock = threading.Lock()
    if _depth and _api:
        _api[0](_saved)
    _depth, _saved = 0, None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@contextlib.contextmanager
def single_threaded():
    """BLAS on one thread inside the block if switching is allowed (see
    ``allow_switching``), otherwise nothing. Blocks may overlap in several
    Python threads: the first sets one thread, the last puts the count back,
    exceptions included."""
    global _depth, _saved
    api = _get_api()
    if not (api and _switch_allowed):
        yield
        return
    setter, getter, _ = api
    with _lock:
        if _depth == 0:
            _saved = getter()
            setter(1)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                setter(_saved)
                _saved = None
