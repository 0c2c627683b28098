"""Array modules and devices.

tinynet computes on NumPy arrays (device ``'cpu'``) or CuPy arrays (device
``'cuda:N'``). CuPy is optional and never imported by ``import tinynet``: it is
looked up only when a CuPy array shows up or a GPU is asked for.

Every op picks its array module from its inputs with ``get_array_module``
(``xp`` in the ops), never by importing numpy for compute.
"""
import numpy as np

_cupy = None          # the cupy module once imported, False when unavailable


def import_cupy():
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
            return import_cupy()
    return np


class device(str):
    """PyTorch's ``torch.device``: ``device('cpu')``, ``device('cuda', 0)``,
    ``device('cuda:1')``, with ``.type`` and ``.index`` (None when not given).

    It is the device's name as a ``str`` ('cpu', 'cuda', 'cuda:0'), so it
    equals that string (``x.device == 'cpu'``) and goes wherever a device
    name does. See https://pytorch.org/docs/stable/tensor_attributes.html#torch.device
    """
    __slots__ = ("type", "index")

    def __new__(cls, type, index=None):
        if isinstance(type, device) and index is None:
            return type
        if isinstance(type, int) and not isinstance(type, bool) and index is None:
            type, index = "cuda", type            # device(1) is cuda:1, as in PyTorch
        if not isinstance(type, str):
            raise TypeError(f"device: expected a device name such as 'cpu' or 'cuda:0', "
                            f"got {type!r}")
        name, _, number = type.partition(":")
        if number:
            if index is not None:
                raise ValueError(f"device: {type!r} already names an index; got index={index}")
            if not number.isdigit():
                raise ValueError(f"device: invalid device index in {type!r}")
            index = int(number)
        if name not in ("cpu", "cuda"):
            raise ValueError(f"device: unknown device type {name!r} in {type!r}: expected "
                             "'cpu', 'cuda' or 'cuda:N'")
        if index is not None and (not isinstance(index, int) or index < 0):
            raise ValueError(f"device: the index must be a non-negative int, got {index!r}")
        self = super().__new__(cls, name if index is None else f"{name}:{index}")
        self.type, self.index = name, index
        return self

    def __repr__(self):
        extra = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{extra})"

    def __reduce__(self):
        return device, (str(self),)


_CPU = device("cpu")
_CUDA = {}            # index -> device, so that x.device builds no object


def device_of(a):
    """device('cpu') for NumPy arrays, device('cuda:N') for CuPy arrays on device N."""
    if is_cupy_array(a):
        index = a.device.id
        d = _CUDA.get(index)
        if d is None:
            d = _CUDA[index] = device("cuda", index)
        return d
    return _CPU


def normalize_device(device):
    """Turn 'cpu' / 'cuda' / 'cuda:1' / a ``device`` / None into 'cpu' or 'cuda:N'."""
    if device is None:
        return "cpu"
    device = str(device)
    if device == "cpu" or device == "cpu:0":
        return "cpu"
    if device == "cuda":
        cp = import_cupy()
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
    cp = import_cupy()
    with cp.cuda.Device(int(device[5:])):
        return cp.asarray(a)


def tune_process(malloc=True, gc=True, blas=True):
    """Opt in to process-wide settings that make tinynet faster, for a
    program that is mostly tinynet (the ``tinynet`` command calls it).
    ``import tinynet`` changes none of them; a library or a server that
    embeds tinynet should leave them alone.

    - ``malloc``: glibc keeps freed memory for reuse (``tune_malloc``);
    - ``gc``: Python's cyclic collector runs less often (``tune_gc``);
    - ``blas``: the batch-parallel convolution may set NumPy's OpenBLAS to
      one thread while it runs, and put the count back after (see
      ``tinynet/kernels/blas_threads.py``). Then a float32 product that
      another thread starts during a convolution runs on one thread too, and
      its last bits may differ from a run without threads.

    Each can also be turned off by ``TINYNET_MALLOC_TUNING=0``,
    ``TINYNET_GC_TUNING=0``, ``TINYNET_BLAS_TUNING=0``. Returns a dict
    saying which were applied. See docs/reliability.md.
    """
    import os
    applied = {"malloc": bool(malloc) and tune_malloc(), "gc": bool(gc) and tune_gc(),
               "blas": False}
    if blas and os.environ.get("TINYNET_BLAS_TUNING", "1") != "0":
        from tinynet.kernels import blas_threads
        blas_threads.allow_switching(True)
        applied["blas"] = blas_threads.switching_allowed()
    return applied


def empty_cache():
    """Release the memory the CPU kernels keep for reuse (their workspace
    cache, ``tinynet/kernels/workspace.py``); arrays still in use keep
    theirs. ``tn.cuda.empty_cache()`` does the same for the GPU pool."""
    from tinynet.kernels import workspace
    workspace.clear()


def tune_malloc():
    """Keep freed memory for reuse instead of returning it to the OS at once
    (part of ``tune_process``; never called by ``import tinynet``).

    NumPy has no caching allocator: every large temporary (an im2col matrix,
    an activation) is a fresh mmap, and the kernel zero-fills each of its
    pages on first touch. Raising glibc's mmap and trim thresholds makes such
    blocks come from (and go back to) the heap, the way PyTorch's caching
    allocator keeps its blocks; the price is that the process's memory stays
    at its peak. Linux with glibc only; ``TINYNET_MALLOC_TUNING=0`` leaves
    malloc alone. Returns True if the settings were applied.
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
    """Run Python's cyclic garbage collector less often (part of
    ``tune_process``; never called by ``import tinynet``).

    Every op allocates a few small Python objects (a Tensor, a Function and
    its dict), and CPython starts a collection every 700 such allocations,
    every hundredth time walking every object in the process. tinynet's
    graphs hold no reference cycles (Functions keep their outputs through
    weak references), so they are freed by reference counting alone and do
    not need the collector. The first threshold is raised to ``threshold``
    (never lowered; 0, collection off, stays off); ``TINYNET_GC_TUNING=0``
    leaves the collector alone. Returns True if the threshold was changed.
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
        cp = import_cupy()
        try:
            _cuda_ok = bool(cp) and cp.cuda.runtime.getDeviceCount() > 0 \
                and int(cp.zeros(1).sum()) == 0
        except Exception:
            _cuda_ok = False
    return _cuda_ok


# ---------------------------------------------------------------- checks of GPU values
# A check of values (a class index in range, say) costs a host synchronisation
# on a GPU: the host waits for every queued kernel. As PyTorch's device-side
# asserts do, such a check on CuPy arrays is kept here and made at the next
# point where the host reads GPU values anyway (Tensor.item, .numpy, .tolist,
# print, tn.cuda.synchronize), or when MAX_PENDING_CHECKS are waiting. On NumPy
# arrays it is made at once.
MAX_PENDING_CHECKS = 16
_pending_checks = []


def check_values(bad, error):
    """Raise ``error(bad)`` (an exception made from the boolean array ``bad``)
    if any entry of ``bad`` is true: now for NumPy arrays, at the next host
    read for CuPy arrays."""
    if not is_cupy_array(bad):
        if bad.any():
            raise error(bad)
        return
    _pending_checks.append((bad.any(), bad, error))     # .any() stays on the GPU
    if len(_pending_checks) > MAX_PENDING_CHECKS:
        raise_pending_checks()


def raise_pending_checks():
    """Make the checks that ``check_values`` kept; raise the first that fails.
    All are dropped either way: each is raised at most once."""
    if not _pending_checks:
        return
    pending = _pending_checks[:]
    del _pending_checks[:]
    for flag, bad, error in pending:
        if bool(flag):
            raise error(bad)
