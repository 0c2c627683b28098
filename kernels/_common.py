"""What every kernel module shares: the version record, availability checks,
launch helpers and the self-check.

A kernel module (``conv2d``, ``pool2d``, ``lstm_cell``, ``gru_cell``, ...)
holds its own kernels, one ``Impl`` per version in an ``IMPLS`` dict keyed by
version name (``"ref"`` is the NumPy/CuPy reference, the oracle), a
``select(x)`` that calls ``tinynet.kernels.pick``, and a ``self_check(quick)``
run by ``python -m tinynet.kernels.<module>``. Everything else comes from
here; a new module imports these names and nothing private from a sibling.

Versions
    ``Impl(name, device, available=always, **ops)``
        One version. ``device`` is ``"any"`` (NumPy or CuPy arrays, the
        reference), ``"cpu"`` (NumPy arrays) or ``"cuda"`` (CuPy arrays, or
        NumPy arrays under Numba's CUDA simulator). ``available()`` says
        whether it can run in this process. ``ops`` are the module's
        operations, each stored as an attribute (``impl.forward``,
        ``impl.im2col``, ...); every version of a module has the same ones.
    ``always()``
        The ``available`` of versions that need nothing but NumPy/CuPy.
    ``numba_available()``
        Numba imports (it is imported only when a kernel needs it).
    ``numba_cuda_available()``
        Numba's CUDA kernels compile and run here (checked once, with a tiny
        launch; warns and gives False when they do not, so that the GPU
        paths fall back to the CuPy reference).
    ``cuda_sim_enabled()``
        ``NUMBA_ENABLE_CUDASIM=1``: CUDA versions then run on NumPy arrays.
    ``gpu_arrays_available()``
        A real GPU with CuPy (not the simulator).
    ``runs_here(impl)``
        ``impl`` can run in this process, on some arrays.
    ``check_device(path, impl, on_gpu)``
        Raise if a forced version does not suit the arrays' device.

CPU launches
    ``GRAIN``
        The fewest elements a part of a split CPU kernel call should write.
    ``for_parts(kernel, n, item_size, *args, parallel=True)``
        ``kernel(*args, lo, hi)`` over range(n) split into parts for
        tinynet's threads (``threads.py``), parts of at least ``GRAIN``
        elements (``item_size`` per item), or all on the calling thread.
    ``contiguous(a, dtype=None)``
        ``a`` as a C-contiguous NumPy or CuPy array (Numba specialises on
        layout and dtype).
    ``updates_in_place(x, *arrays, gpu=False)``
        The arrays suit a loop that updates them in place through flat views
        (C-contiguous float32/float64 arrays of one dtype and shape: NumPy
        ones, or with ``gpu`` CuPy ones, NumPy ones under the simulator).

CUDA launches
    ``THREADS_PER_BLOCK``, ``launch_config(n)``
        (blocks, threads per block) covering ``n`` threads.
    ``launch(kernel, n)``
        ``kernel[launch_config(n)]``, without Numba's low-occupancy warning.

Shared math
    ``sigmoid(xp, x)``
        The logistic function on NumPy or CuPy arrays, in its tanh form.
    ``cuda_dtype_ok(dtype)``
        float32 and float64: the dtypes the per-dtype CUDA kernels are
        compiled for (the others run the reference).

Arrays in the self-check
    ``devices(impl)``
        The devices a version is timed on ("cpu", "cuda").
    ``on_device(a, device)``, ``to_host(a)``, ``sync(device)``
        Place an input where a version computes, bring a result back to
        NumPy, wait for the GPU's queued work.

Self-check
    ``Case(label, inputs, small=False, timed=False)``
        One problem: NumPy arrays (moved to each version's device) and plain
        values (passed as they are).
    ``exact(what, want)``, ``few_ulps(what, want)``
        ``tolerance``s for ``check_and_time``: the same bits; a few units in
        the last place (a CUDA update that rounds some operations its own way).
    ``check_and_time(title, impls, run, cases, ...)``
        Compare every version that runs here with ``ref`` on every case,
        print ``<title>: all versions match the reference``, then time them.
    ``main(self_check)``
        The ``__main__`` of a kernel module: parses ``--quick`` and returns
        the exit status.
"""
import threading
import time
import warnings

import numpy as np

from tinynet.backend import get_array_module


# ---------------------------------------------------------------- versions
class Impl:
    """One version of a kernel module: its name (the ``IMPLS`` key), the
    device its arrays live on, its availability check and its operations."""

    def __init__(self, name, device, available=None, **ops):
        if device not in ("any", "cpu", "cuda"):
            raise ValueError(f"Impl {name!r}: device must be 'any', 'cpu' or 'cuda', "
                             f"got {device!r}")
        if "ops" in ops:            # (name, device and available are parameters already)
            raise ValueError(f"Impl {name!r}: 'ops' cannot name an operation")
        self.name, self.device = name, device
        self.available = available or always
        self.ops = tuple(ops)
        for op, fn in ops.items():
            setattr(self, op, fn)

    def __repr__(self):
        return f"Impl({self.name!r}, {self.device!r}, ops={list(self.ops)})"


def always():
    return True


_numba_ok = None


def numba_available():
    """True if Numba imports. Numba itself is imported only then (it is most
    of ``import tinynet``'s time otherwise)."""
    global _numba_ok
    if _numba_ok is None:
        try:
            import numba  # noqa: F401
            _numba_ok = True
        except ImportError:
            _numba_ok = False
    return _numba_ok


def cuda_sim_enabled():
    """True when Numba's CUDA simulator is on (CUDA kernels then take NumPy arrays)."""
    if not numba_available():
        return False
    from numba import config
    return bool(config.ENABLE_CUDASIM)


def gpu_arrays_available():
    """True when CuPy arrays on a real GPU can be made (never under the simulator)."""
    if cuda_sim_enabled():
        return False
    from tinynet.backend import cuda_is_available
    return cuda_is_available()


cuda = None          # numba.cuda once the probe is built (the simulator patches this global)
_cuda_kernels_ok = None


def _probe_kernel():
    global cuda
    from numba import cuda

    @cuda.jit
    def fill(a):
        t = cuda.grid(1)
        if t < a.size:
            a[t] = t

    return fill


def numba_cuda_available():
    """True if Numba's CUDA kernels compile and run here.

    Checked once, with a tiny kernel launched on a CuPy array: a Numba CUDA
    build that does not match the installed NumPy or driver can fail inside
    its own import or at the first compile, and that must not break the GPU
    path. Every module's ``select()`` then runs the CuPy reference instead,
    and this warns once.
    """
    global _cuda_kernels_ok
    if _cuda_kernels_ok is None:
        ok = False
        try:
            if numba_available():
                from numba import cuda as numba_cuda
                ok = bool(numba_cuda.is_available())
                if ok and not cuda_sim_enabled():
                    from tinynet.backend import to_device
                    a = to_device(np.zeros(4, np.float32), "cuda")
                    launch(_probe_kernel(), a.size)(a)
        except Exception as e:
            if ok:
                warnings.warn(f"tinynet: Numba's CUDA kernels do not work here "
                              f"({type(e).__name__}: {e}); the GPU paths use the CuPy "
                              "reference implementations instead")
            ok = False
        _cuda_kernels_ok = ok
    return _cuda_kernels_ok


def runs_here(impl):
    """``impl`` can run in this process: it is available and, for a CUDA
    version, there is a GPU or the simulator."""
    return impl.available() and (impl.device != "cuda" or cuda_sim_enabled()
                                 or gpu_arrays_available())


def check_device(path, impl, on_gpu):
    """A forced version must suit the arrays' device."""
    if impl.device == "cpu" and on_gpu:
        raise RuntimeError(f"{path} implementation {impl.name!r} runs on the CPU only, but "
                           "the input is a CuPy array")
    if impl.device == "cuda" and not on_gpu and not cuda_sim_enabled():
        raise RuntimeError(f"{path} implementation {impl.name!r} needs CuPy (GPU) arrays, "
                           "or NUMBA_ENABLE_CUDASIM=1 to simulate it on NumPy arrays")


# ---------------------------------------------------------------- CPU launches
# A part of a split kernel call should have at least this many elements to
# write, or handing it to another thread costs more than it saves.
GRAIN = 1 << 15


def for_parts(kernel, n, item_size, *args, parallel=True):
    """``kernel(*args, lo, hi)`` over range(n): split over tinynet's threads
    in parts of at least ``GRAIN`` elements (an item is ``item_size`` of
    them), or in one call on this thread when ``parallel`` is False."""
    if parallel:
        from tinynet.kernels import threads
        threads.parallel_for(kernel, n, *args, grain=-(-GRAIN // max(item_size, 1)))
    else:
        kernel(*args, 0, n)


def contiguous(a, dtype=None):
    """``a`` as a C-contiguous array of ``dtype`` (NumPy or CuPy as ``a`` is);
    no copy if it is one already. Numba compiles one specialisation per
    layout and dtype, and the kernels index raw memory."""
    return get_array_module(a).ascontiguousarray(a, dtype=dtype)


def updates_in_place(x, *arrays, gpu=False):
    """True if ``x`` and ``arrays`` are C-contiguous float32/float64 arrays of
    one type, dtype and shape, NumPy ones (CuPy ones with ``gpu``, or NumPy
    ones under the CUDA simulator): what the in-place optimizer kernels
    (``adam``, ``rmsprop``) take, writing through flat views."""
    kind = type(x)
    if gpu:
        ok = kind.__module__.startswith("cupy") or (cuda_sim_enabled() and kind is np.ndarray)
    else:
        ok = kind is np.ndarray
    return (ok and x.dtype in (np.float32, np.float64) and x.flags.c_contiguous
            and all(type(a) is kind and a.dtype == x.dtype and a.shape == x.shape
                    and a.flags.c_contiguous for a in arrays))


# ---------------------------------------------------------------- CUDA launches
THREADS_PER_BLOCK = 128


def launch_config(n):
    """(blocks, threads per block) covering ``n`` threads, one per element.
    Small problems get one small block: the GPU does not mind, and the
    simulator runs every launched thread in Python, idle ones included."""
    per_block = max(1, min(THREADS_PER_BLOCK, n))
    return (n + per_block - 1) // per_block or 1, per_block


_quiet_lock = threading.Lock()


_streams = {}       # CuPy stream handle -> Numba's view of that stream


def current_stream():
    """The stream for a Numba kernel: CuPy's current stream, so that the
    kernel runs in order with the CuPy work around it (in a program's own
    ``with cupy.cuda.Stream(non_blocking=True):`` too, where Numba's default
    stream would race with it). None, Numba's default, under the simulator
    and on CuPy's default null stream, which is the same stream."""
    if cuda_sim_enabled():
        return None
    import cupy
    ptr = cupy.cuda.get_current_stream().ptr
    if not ptr:
        return None
    stream = _streams.get(ptr)
    if stream is None:
        if len(_streams) > 64:        # a program making many short-lived streams
            _streams.clear()
        from numba import cuda as numba_cuda
        stream = _streams[ptr] = numba_cuda.external_stream(ptr)
    return stream


def configure(kernel, grid, block):
    """``kernel[grid, block]`` on ``current_stream()``, ready to call, without
    Numba's "Grid size N will likely result in GPU under-utilization"
    warning: a pooling window or a recurrent step over a small batch is
    small by nature, and the warning would come back at every new size. The
    filter holds for this call only: the program's warning filters are put
    back as they were (under a lock, so that two threads' calls do not
    interleave their save and restore)."""
    stream = current_stream()
    with _quiet_lock, warnings.catch_warnings():
        # by message only: numba-cuda has its own copy of the warning class, and
        # it wraps the text in terminal escapes, hence the leading .*
        warnings.filterwarnings("ignore", message=r".*Grid size \d+ will likely result in "
                                "GPU under-utilization")
        return kernel[grid, block] if stream is None else kernel[grid, block, stream]


def launch(kernel, n):
    """``configure(kernel, *launch_config(n))``: one thread per element."""
    return configure(kernel, *launch_config(n))


# ---------------------------------------------------------------- shared math
def sigmoid(xp, x):
    """1 / (1 + exp(-x)) in its tanh form, which never overflows (the exp
    form does for large -x); ``xp`` is numpy or cupy."""
    return 0.5 + 0.5 * xp.tanh(0.5 * x)


def cuda_dtype_ok(dtype):
    """float32 and float64 have CUDA kernels, compiled per dtype so that
    float32 math stays float32; other dtypes (float16) run the reference."""
    return np.dtype(dtype) in (np.float32, np.float64)


# ---------------------------------------------------------------- arrays in the self-check
def devices(impl):
    """Where the self-check times ``impl``: a CUDA version on the GPU, a CPU
    version on the CPU, the reference on the CPU and, when there is a GPU,
    on it too (the version a GPU falls back to)."""
    if impl.device == "cuda":
        return ["cuda"]
    if impl.device == "any" and gpu_arrays_available():
        return ["cpu", "cuda"]
    return ["cpu"]


def on_device(a, device):
    """``a`` where a version computes: CuPy for ``"cuda"`` on a real GPU,
    NumPy on the CPU and under the simulator. Values that are not NumPy
    arrays are returned as they are."""
    if device == "cuda" and isinstance(a, np.ndarray) and not cuda_sim_enabled():
        from tinynet.backend import to_device
        return to_device(a, "cuda")
    return a


def to_host(a):
    """``a`` as a NumPy array (CuPy arrays are copied back)."""
    return a.get() if hasattr(a, "get") else np.asarray(a)


def sync(device):
    """Wait until the GPU has finished the work queued so far (kernels run
    asynchronously: a timer must stop at their end)."""
    if device == "cuda" and not cuda_sim_enabled():
        import cupy
        cupy.cuda.Device().synchronize()


# ---------------------------------------------------------------- self-check
class Case:
    """One problem of a module's self-check: ``label`` names it in the
    report, ``inputs`` (a dict) holds NumPy arrays, moved to each version's
    device, and plain values, passed as they are. ``small`` cases are the
    ones checked in quick mode and under the CUDA simulator (which runs each
    GPU thread in Python); ``timed`` cases are the ones timed in a full run."""

    def __init__(self, label, inputs, small=False, timed=False):
        self.label, self.inputs, self.small, self.timed = label, inputs, small, timed

    def on(self, device):
        return {k: on_device(v, device) for k, v in self.inputs.items()}


def tolerance_by_dtype(what, want):
    """(rtol, atol) for comparing output ``what`` with the reference's
    ``want``: float64 versions agree to rounding, float32 ones (summing in
    another order, or in float64) to about 1e-5; integers exactly."""
    if want.dtype.kind != "f":
        return 0, 0
    tol = 1e-12 if want.dtype == np.float64 else 1e-5
    return tol, tol


def exact(what, want):
    """The tolerance of versions that run the reference's operations in its
    order: none (the same bits)."""
    return 0.0, 0.0


def few_ulps(what, want):
    """The tolerance of a CUDA version of an elementwise update that runs the
    reference's operations in its order, but rounds a few of them its own way
    (the GPU's square root, multiply-adds fused into one rounding; the
    simulator's math.sqrt in float64): a few units in the last place of the
    values, which are of order one, and of the updates, of order lr."""
    return (5e-7, 1e-9) if want.dtype == np.float32 else (1e-15, 1e-18)


def _difference(got, want, rtol, atol):
    """Why ``got`` does not match ``want``, or None."""
    if got.dtype != want.dtype:
        return f"dtype {got.dtype}, the reference's is {want.dtype}"
    if got.shape != want.shape:
        return f"shape {got.shape}, the reference's is {want.shape}"
    if np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
        return None
    err = np.abs(got.astype(np.float64) - want.astype(np.float64))
    at = np.unravel_index(int(np.nanargmax(err)), err.shape)
    return (f"max abs diff {float(err[at]):.3e} at {tuple(int(i) for i in at)}: "
            f"{got[at]!r} against the reference's {want[at]!r}")


def check_and_time(title, impls, run, cases, step=None, step_name="forward+backward",
                   tolerance=tolerance_by_dtype, rate=None, repeats=10, quick=False):
    """Check every version against ``impls["ref"]``, then time them; return
    the exit status (0: all match).

    ``run(impl, inputs)`` computes one case with one version and returns a
    dict of named output arrays; each is compared with the reference's
    (same dtype and shape, and ``np.allclose`` within ``tolerance(name,
    want)``, an (rtol, atol) pair; ``tolerance`` may be a dict from version
    names to such functions, its key "*" for the versions it does not name).
    ``step(impl, inputs)`` is what is timed (``run`` if not given),
    ``step_name`` says what it is in the report.
    ``rate(inputs, seconds)``, if given, adds a column such as
    GFLOP/s to each timing.

    A full run checks every case and times the ``timed`` ones (the median
    of ``repeats`` calls after three warm-up calls; the first checked call of each
    version is reported separately, since it includes Numba's compile or
    its load from the on-disk cache). ``quick`` checks only the ``small``
    cases and times the last of them with few calls: a smoke run of the same
    code, not a measurement. Under the CUDA simulator the ``small`` cases are checked
    and nothing is timed.
    """
    sim = cuda_sim_enabled()
    checked = [c for c in cases if c.small] if quick or sim else list(cases)
    ref = impls["ref"]
    others = [(name, impl) for name, impl in impls.items() if name != "ref" and runs_here(impl)]
    first_call, ok = {}, True
    for case in checked:
        want = {k: to_host(v) for k, v in run(ref, case.inputs).items()}
        for name, impl in others:
            device = devices(impl)[0]
            inputs = case.on(device)
            t0 = time.perf_counter()
            got = run(impl, inputs)
            sync(device)
            first_call.setdefault(name, time.perf_counter() - t0)
            tol = tolerance.get(name, tolerance["*"]) if isinstance(tolerance, dict) \
                else tolerance
            for what, w in want.items():
                problem = _difference(to_host(got[what]), w, *tol(what, w))
                if problem:
                    ok = False
                    print(f"MISMATCH {title} {name} {what} ({case.label}): {problem}")
    if not ok:
        print(f"{title}: some versions differ from the reference")
        return 1
    names = ", ".join(["ref"] + [name for name, _ in others])
    print(f"{title}: all versions match the reference ({names})")
    for name, seconds in first_call.items():
        print(f"{title} {name}: first call {seconds:.2f} s (Numba compile, or loading "
              "its on-disk cache)")
    if sim:
        print(f"{title}: timings skipped (CUDA simulator)")
        return 0
    timed = checked[-1:] if quick else [c for c in cases if c.timed]
    warmup, repeats = (1, 2) if quick else (3, repeats)
    for case in timed:
        for name, impl in impls.items():
            if not runs_here(impl):
                continue
            for device in devices(impl):
                seconds = _median_seconds(step or run, impl, case.on(device), device,
                                          warmup, repeats, settle=device == "cpu" and not quick)
                extra = f"  {rate(case.inputs, seconds)}" if rate else ""
                where = "gpu" if device == "cuda" else "cpu"
                print(f"{title} {name:8s} ({where}) {case.label}: {step_name} "
                      f"{1e3 * seconds:9.3f} ms (median of {repeats}){extra}")
    return 0


def _median_seconds(step, impl, inputs, device, warmup, repeats, settle):
    if settle:
        # OpenBLAS's idle threads keep spinning for a while after a
        # multi-threaded product and would take cores from the next version's
        # threads: let them go to sleep first
        time.sleep(0.3)
    for _ in range(warmup):
        step(impl, inputs)
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        step(impl, inputs)
        sync(device)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(self_check, argv=None):
    """Command line of ``python -m tinynet.kernels.<module> [--quick]``."""
    import argparse
    import os
    import sys
    module = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    parser = argparse.ArgumentParser(
        prog=f"python -m tinynet.kernels.{module}",
        description="Check every version of the kernels against the reference, then time them.")
    parser.add_argument("--quick", action="store_true",
                        help="small problems only, timed with few calls (a smoke run)")
    args = parser.parse_args(argv)
    return self_check(quick=args.quick)
