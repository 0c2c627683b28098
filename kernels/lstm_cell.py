"""LSTM cell gate math: the element-wise part of one LSTM step, fused.

One LSTM step is two matmuls (the input and hidden projections, done by the
caller with BLAS) and then this: four gate activations and the cell update,
about fifteen element-wise array operations if written in NumPy. The fused
versions do all of it in one pass over memory.

Versions (one IMPLS entry each):

- ``ref``     NumPy/CuPy reference, the oracle: slice the four gates, apply
              sigmoid/tanh, update the cell. Works on CuPy arrays unchanged.
- ``cpu_v1``  Numba CPU: one fused loop over the hidden units per batch
              row, the rows split over tinynet's threads (``threads.py``).
- ``cpu_v2``  Numba CPU: the same loop, all rows on the calling thread, for
              sizes where waking other threads costs more than the work.
- ``cuda_v3`` Numba CUDA, ``@cuda.jit`` on CuPy arrays: one thread per (n, h)
              element computes its four gates and the cell update (the
              backward likewise), compiled once per dtype so that float32
              math stays float32. Under ``NUMBA_ENABLE_CUDASIM=1`` it runs on
              NumPy arrays, which is how CI tests it.

Which is fastest depends on the machine. The Numba loops call the C
library's scalar ``exp`` (Numba vectorises transcendental functions only with
Intel's SVML, absent here), while NumPy 2's ``tanh`` is SIMD: on the 2-core
development machine ``ref`` was 2-4x faster than both Numba versions at the
char-LSTM size N32 H128 (about 45 us against 105-155 us for fwd+bwd, from
``python -m tinynet.kernels.lstm_cell``). So ``select()`` picks ``CPU_DEFAULT``
(``ref``) on the CPU; the Numba versions are there to be forced, tested and
timed. On a GPU ``select()`` picks ``cuda_v3`` when Numba's CUDA kernels
compile there (else ``ref``, whose CuPy version launches about ten kernels
where ``cuda_v3`` launches one). At these sizes both are launch-bound: on an
H200 a stand-alone copy of the ``cuda_v3`` forward took about 145 us a call
against 205-215 us for the CuPy reference, from N32 H128 to N256 H2048 (a
one-off measurement; ``python -m tinynet.kernels.lstm_cell`` on a GPU times
the real versions). The saving that matters most, one graph node per
sequence instead of dozens per step, is in ``tinynet.ops.recurrent``
whatever version runs inside it.

Shapes: N batch, H hidden size. ``xg`` and ``hg`` (N, 4H) are the input and
hidden projections (biases included), gate order i, f, g, o as in PyTorch;
``c_prev``, ``h``, ``c`` are (N, H). The forward saves ``act`` (N, 4H): the
activated gates, which with ``c`` is all the backward needs.

    i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (xg + hg), by quarters
    c = f * c_prev + i * g
    h = o * tanh(c)

``python -m tinynet.kernels.lstm_cell`` checks every version against ``ref``
and then times them (under the CUDA simulator: tiny shapes, no timing).
"""
import threading

import numpy as np

from tinynet.backend import get_array_module
from tinynet.kernels import numba_available, pick, threads
from tinynet.kernels.conv2d import _THREADS


# ---------------------------------------------------------------- v0: reference
def _sigmoid(xp, x):
    # the tanh form never overflows, unlike 1 / (1 + exp(-x)) for large -x
    return 0.5 + 0.5 * xp.tanh(0.5 * x)


def lstm_fwd_ref(xg, hg, c_prev):
    """h, c (N, H) and the activated gates act (N, 4H)."""
    xp = get_array_module(xg)
    H = c_prev.shape[1]
    pre = xg + hg
    act = xp.empty_like(pre)
    act[:, :2 * H] = _sigmoid(xp, pre[:, :2 * H])        # i, f
    act[:, 2 * H:3 * H] = xp.tanh(pre[:, 2 * H:3 * H])   # g
    act[:, 3 * H:] = _sigmoid(xp, pre[:, 3 * H:])        # o
    i, f, g, o = act[:, :H], act[:, H:2 * H], act[:, 2 * H:3 * H], act[:, 3 * H:]
    c = f * c_prev + i * g
    h = o * xp.tanh(c)
    return h, c, act


def lstm_bwd_ref(gh, gc, act, c_prev, c):
    """The gradient of the gate pre-activations (N, 4H) and of c_prev (N, H)."""
    xp = get_array_module(gh)
    H = c_prev.shape[1]
    i, f, g, o = act[:, :H], act[:, H:2 * H], act[:, 2 * H:3 * H], act[:, 3 * H:]
    tc = xp.tanh(c)
    # the cell state reaches the loss directly (gc) and through h = o * tanh(c)
    dc = gc + gh * o * (1 - tc * tc)
    dpre = xp.empty_like(act)
    dpre[:, :H] = dc * g * i * (1 - i)
    dpre[:, H:2 * H] = dc * c_prev * f * (1 - f)
    dpre[:, 2 * H:3 * H] = dc * i * (1 - g * g)
    dpre[:, 3 * H:] = gh * tc * o * (1 - o)
    return dpre, dc * f


# ---------------------------------------------------------------- v1, v2: Numba CPU
_built = None        # (fwd, bwd), compiled on first use


def _build():
    numba_available()
    from numba import njit

    # exp-based sigmoid/tanh: libm's exp is several times faster than its tanh,
    # and an overflowing exp gives inf, which lands on the right limit (0, +-1)
    @njit(inline="always")
    def sig(x):
        return 1 / (1 + np.exp(-x))

    @njit(inline="always")
    def tanh(x):
        return 2 / (1 + np.exp(-2 * x)) - 1

    @njit(nogil=True, cache=True)
    def fwd(xg, hg, c_prev, h, c, act, r0, r1):
        # batch rows [r0, r1)
        N, H = c_prev.shape
        for n in range(r0, r1):
            for j in range(H):
                i = sig(xg[n, j] + hg[n, j])
                f = sig(xg[n, H + j] + hg[n, H + j])
                g = tanh(xg[n, 2 * H + j] + hg[n, 2 * H + j])
                o = sig(xg[n, 3 * H + j] + hg[n, 3 * H + j])
                cn = f * c_prev[n, j] + i * g
                c[n, j] = cn
                h[n, j] = o * tanh(cn)
                act[n, j] = i
                act[n, H + j] = f
                act[n, 2 * H + j] = g
                act[n, 3 * H + j] = o

    @njit(nogil=True, cache=True)
    def bwd(gh, gc, act, c_prev, c, dpre, dc_prev, r0, r1):
        N, H = c_prev.shape
        for n in range(r0, r1):
            for j in range(H):
                i = act[n, j]
                f = act[n, H + j]
                g = act[n, 2 * H + j]
                o = act[n, 3 * H + j]
                tc = tanh(c[n, j])
                dc = gc[n, j] + gh[n, j] * o * (1 - tc * tc)
                dpre[n, j] = dc * g * i * (1 - i)
                dpre[n, H + j] = dc * c_prev[n, j] * f * (1 - f)
                dpre[n, 2 * H + j] = dc * i * (1 - g * g)
                dpre[n, 3 * H + j] = gh[n, j] * tc * o * (1 - o)
                dc_prev[n, j] = dc * f

    return fwd, bwd


def _kernels():
    global _built
    if _built is None:
        _built = _build()
    return _built


def _c(a, dtype):
    # Numba specialises on layout and dtype: give it C-contiguous arrays of one dtype
    return np.ascontiguousarray(a, dtype=dtype)


def _rows(kernel, parallel, N, H, *args):
    """``kernel(*args, r0, r1)`` over the N batch rows: split over tinynet's
    threads (``cpu_v1``) or all on this one (``cpu_v2``)."""
    if parallel:
        from tinynet.kernels.conv2d import GRAIN
        threads.parallel_for(kernel, N, *args, grain=-(-GRAIN // (8 * max(H, 1))))
    else:
        kernel(*args, 0, N)


def _fwd_numba(parallel):
    def launch(xg, hg, c_prev):
        dt = xg.dtype
        N, H = c_prev.shape
        h = np.empty((N, H), dt)
        c = np.empty((N, H), dt)
        act = np.empty((N, 4 * H), dt)
        _rows(_kernels()[0], parallel, N, H, _c(xg, dt), _c(hg, dt), _c(c_prev, dt), h, c, act)
        return h, c, act
    return launch


def _bwd_numba(parallel):
    def launch(gh, gc, act, c_prev, c):
        dt = act.dtype
        N, H = c_prev.shape
        dpre = np.empty((N, 4 * H), dt)
        dc_prev = np.empty((N, H), dt)
        _rows(_kernels()[1], parallel, N, H, _c(gh, dt), _c(gc, dt), _c(act, dt), _c(c_prev, dt),
              _c(c, dt), dpre, dc_prev)
        return dpre, dc_prev
    return launch


lstm_fwd_cpu_v1, lstm_bwd_cpu_v1 = _fwd_numba(True), _bwd_numba(True)
lstm_fwd_cpu_v2, lstm_bwd_cpu_v2 = _fwd_numba(False), _bwd_numba(False)


# ---------------------------------------------------------------- v3: Numba CUDA
_v3 = {}             # dtype -> (fwd, bwd)
cuda = None          # numba.cuda, imported on first use (the simulator patches this global)


def _build_v3(T):
    """The forward and backward kernels for float type ``T``: the constants
    are cast to ``T`` because a bare Python float would promote float32 math
    to float64 (slow on most GPUs)."""
    global cuda
    import math
    numba_available()
    from numba import cuda

    @cuda.jit(device=True)
    def sig(x):
        # the tanh form, as in ref: no overflow for large -x
        return T(0.5) + T(0.5) * math.tanh(T(0.5) * x)

    @cuda.jit
    def fwd(xg, hg, c_prev, h, c, act):
        t = cuda.grid(1)
        N, H = c_prev.shape
        if t >= N * H:
            return
        n = t // H          # j fastest: neighbouring threads read neighbouring columns
        j = t % H
        i = sig(xg[n, j] + hg[n, j])
        f = sig(xg[n, H + j] + hg[n, H + j])
        g = math.tanh(xg[n, 2 * H + j] + hg[n, 2 * H + j])
        o = sig(xg[n, 3 * H + j] + hg[n, 3 * H + j])
        cn = f * c_prev[n, j] + i * g
        c[n, j] = cn
        h[n, j] = o * math.tanh(cn)
        act[n, j] = i
        act[n, H + j] = f
        act[n, 2 * H + j] = g
        act[n, 3 * H + j] = o

    @cuda.jit
    def bwd(gh, gc, act, c_prev, c, dpre, dc_prev):
        t = cuda.grid(1)
        N, H = c_prev.shape
        if t >= N * H:
            return
        n = t // H
        j = t % H
        one = T(1)
        i = act[n, j]
        f = act[n, H + j]
        g = act[n, 2 * H + j]
        o = act[n, 3 * H + j]
        tc = math.tanh(c[n, j])
        dc = gc[n, j] + gh[n, j] * o * (one - tc * tc)
        dpre[n, j] = dc * g * i * (one - i)
        dpre[n, H + j] = dc * c_prev[n, j] * f * (one - f)
        dpre[n, 2 * H + j] = dc * i * (one - g * g)
        dpre[n, 3 * H + j] = gh[n, j] * tc * o * (one - o)
        dc_prev[n, j] = dc * f

    return fwd, bwd


_quiet_lock = threading.Lock()


def configure(kernel, n):
    """``kernel[launch_config(n)]`` without Numba's "Grid size N will likely
    result in GPU under-utilization" warning: a recurrent step over a small
    batch is small by nature, and the warning would come back at every new
    size. The filter holds for this call only: the program's warning filters
    are put back as they were (under a lock, so that two threads' calls do
    not interleave their save and restore)."""
    import warnings
    with _quiet_lock, warnings.catch_warnings():
        # by message only: numba-cuda has its own copy of the warning class, and
        # it wraps the text in terminal escapes, hence the leading .*
        warnings.filterwarnings("ignore", message=r".*Grid size \d+ will likely result in "
                                "GPU under-utilization")
        return kernel[launch_config(n)]


def _kernels_v3(dtype):
    key = np.dtype(dtype)
    if key not in _v3:
        _v3[key] = _build_v3(key.type)
    return _v3[key]


def launch_config(n):
    """(blocks, threads) covering n threads. Small problems get one small
    block: the GPU does not mind, and the simulator runs every launched
    thread in Python, idle ones included."""
    threads = max(1, min(_THREADS, n))
    return (n + threads - 1) // threads or 1, threads


def cuda_dtype_ok(dt):
    """float32 and float64 have CUDA versions; other dtypes (float16) use ``ref``."""
    return np.dtype(dt) in (np.float32, np.float64)


def lstm_fwd_cuda_v3(xg, hg, c_prev):
    dt = xg.dtype
    if not cuda_dtype_ok(dt):
        return lstm_fwd_ref(xg, hg, c_prev)
    xp = get_array_module(xg)
    N, H = c_prev.shape
    h = xp.empty((N, H), dt)
    c = xp.empty((N, H), dt)
    act = xp.empty((N, 4 * H), dt)
    if N * H:                   # no launch for an empty batch
        configure(_kernels_v3(dt)[0], N * H)(_dev(xp, xg, dt), _dev(xp, hg, dt),
                                              _dev(xp, c_prev, dt), h, c, act)
    return h, c, act


def lstm_bwd_cuda_v3(gh, gc, act, c_prev, c):
    dt = act.dtype
    if not cuda_dtype_ok(dt):
        return lstm_bwd_ref(gh, gc, act, c_prev, c)
    xp = get_array_module(act)
    N, H = c_prev.shape
    dpre = xp.empty((N, 4 * H), dt)
    dc_prev = xp.empty((N, H), dt)
    if N * H:                   # no launch for an empty batch
        configure(_kernels_v3(dt)[1], N * H)(_dev(xp, gh, dt), _dev(xp, gc, dt),
                                              _dev(xp, act, dt),
                                              _dev(xp, c_prev, dt), _dev(xp, c, dt),
                                              dpre, dc_prev)
    return dpre, dc_prev


def _dev(xp, a, dtype):
    # the kernels index 2-D arrays of one dtype; CuPy and NumPy both take dtype here
    return xp.ascontiguousarray(a, dtype=dtype)


def _numba_cuda_available():
    from tinynet.kernels.conv2d import _numba_cuda_available as check
    return check()          # one check (a tiny kernel launch) for every hot path


# ---------------------------------------------------------------- table, dispatch
class Impl:
    def __init__(self, name, fwd, bwd, device, available):
        self.name, self.fwd, self.bwd = name, fwd, bwd
        self.device, self.available = device, available


IMPLS = {
    "ref": Impl("ref", lstm_fwd_ref, lstm_bwd_ref, "any", lambda: True),
    "cpu_v1": Impl("cpu_v1", lstm_fwd_cpu_v1, lstm_bwd_cpu_v1, "cpu", numba_available),
    "cpu_v2": Impl("cpu_v2", lstm_fwd_cpu_v2, lstm_bwd_cpu_v2, "cpu", numba_available),
    "cuda_v3": Impl("cuda_v3", lstm_fwd_cuda_v3, lstm_bwd_cuda_v3, "cuda", _numba_cuda_available),
}

# the version select() runs on the CPU: the fastest measured here (see the docstring)
CPU_DEFAULT = "ref"


def select(x, path="lstm", table=None):
    """The implementation for array ``x``: forced by ``TINYNET_LSTM_IMPL`` /
    ``tinynet.kernels.use(lstm=...)``, else ``cuda_v3`` on a GPU (``ref`` if
    Numba's CUDA kernels do not work there) and ``CPU_DEFAULT`` on the CPU."""
    return pick(path, IMPLS if table is None else table, x, cpu=CPU_DEFAULT, gpu="cuda_v3")


# ---------------------------------------------------------------- self-check + timing
_SHAPES = [(1, 1), (3, 5), (7, 33), (32, 128), (64, 512)]      # (N, H)


def check_and_time(name, IMPLS, make_inputs, fwd_args, bwd_args, shapes=_SHAPES):
    """Shared by the LSTM and GRU kernel files: compare every version that runs
    here with ``ref`` (forward and backward, float32 and float64), then time
    them. Under the CUDA simulator only the tiny shapes run, untimed."""
    from tinynet.kernels.conv2d import _runs_here, cuda_sim_enabled
    rng = np.random.default_rng(0)
    sim = cuda_sim_enabled()
    if sim:
        shapes = [s for s in shapes if s[0] * s[1] <= 16]    # the simulator: ~1 ms a thread
    runs = [(n, impl) for n, impl in IMPLS.items() if _runs_here(impl)]
    ok = True
    for (N, H) in shapes:
        for dt, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
            ins = make_inputs(rng, N, H, dt)
            ref = IMPLS["ref"]
            ref_out = ref.fwd(*fwd_args(ins))
            ref_grads = ref.bwd(*bwd_args(ins, ref_out))
            for impl_name, impl in runs:
                if impl_name == "ref":
                    continue
                dins = {k: _on(impl.device == "cuda", v) for k, v in ins.items()}
                out = impl.fwd(*fwd_args(dins))
                grads = impl.bwd(*bwd_args(dins, out))
                for k, (a, b) in enumerate(zip(out + grads, ref_out + ref_grads)):
                    a = _host(a)
                    if a.dtype != dt or not np.allclose(a, b, rtol=tol, atol=tol):
                        ok = False
                        bad = int(np.argmax(np.abs(a - b)))
                        print(f"Mismatch of {name} {impl_name} output {k} N{N} H{H} "
                              f"{np.dtype(dt).name} at {bad}: ref {b.flat[bad]!r} vs "
                              f"{impl_name} {a.flat[bad]!r} (dtype {a.dtype})")
    if not ok:
        return 1
    print(f"{name}: all versions match ({', '.join(n for n, _ in runs)})")
    if sim:
        print("(CUDA simulator: timings skipped)")
        return 0
    for (N, H) in shapes[3:]:
        ins = make_inputs(rng, N, H, np.float32)
        for impl_name, impl, gpu in _timed_runs(runs):
            _time(name, impl_name, impl, gpu, {k: _on(gpu, v) for k, v in ins.items()},
                  fwd_args, bwd_args, N, H)
    return 0


def _timed_runs(runs):
    """(label, impl, on the GPU): every version on its device, and ``ref``
    on the GPU too when there is one (the version a GPU falls back to)."""
    out = []
    for impl_name, impl in runs:
        out.append((impl_name, impl, impl.device == "cuda"))
        if impl_name == "ref" and _gpu_arrays():
            out.append(("ref", impl, True))
    return out


def _time(name, impl_name, impl, gpu, ins, fwd_args, bwd_args, N, H):
    import time
    xp = get_array_module(*ins.values())

    def step():
        out = impl.fwd(*fwd_args(ins))
        impl.bwd(*bwd_args(ins, out))
        if gpu:
            xp.cuda.Device().synchronize()    # kernels are asynchronous: time their end
    for _ in range(5):                 # warm-up: Numba compile / cache load
        step()
    times = []
    for _ in range(50):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    us = 1e6 * float(np.median(times))
    print(f"{name} {impl_name:7s} ({'gpu' if gpu else 'cpu'}) N{N:<4d} H{H:<4d} fwd+bwd "
          f"{us:8.1f} us (median of 50)")


def _gpu_arrays():
    from tinynet.kernels.conv2d import _gpu_arrays_available, cuda_sim_enabled
    return not cuda_sim_enabled() and _gpu_arrays_available()


def _on(gpu, a):
    """``a`` where a version computes: CuPy for a CUDA version on a real GPU,
    NumPy on the CPU and under the simulator."""
    from tinynet.kernels.conv2d import cuda_sim_enabled
    if gpu and not cuda_sim_enabled():
        from tinynet.backend import to_device
        return to_device(a, "cuda")
    return a


def _host(a):
    return a.get() if hasattr(a, "get") else a


def _make_inputs(rng, N, H, dt):
    r = lambda *s: rng.standard_normal(s).astype(dt)  # noqa: E731
    return dict(xg=r(N, 4 * H), hg=r(N, 4 * H), c_prev=r(N, H), gh=r(N, H), gc=r(N, H))


if __name__ == "__main__":
    raise SystemExit(check_and_time(
        "lstm_cell", IMPLS, _make_inputs,
        lambda d: (d["xg"], d["hg"], d["c_prev"]),
        lambda d, out: (d["gh"], d["gc"], out[2], d["c_prev"], out[1])))
