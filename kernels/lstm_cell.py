"""LSTM cell gate math: the element-wise part of one LSTM step, fused.

One LSTM step is two matmuls (the input and hidden projections, done by the
caller with BLAS) and then this: four gate activations and the cell update,
about fifteen element-wise array operations if written in NumPy. The fused
versions do all of it in one pass over memory.

Versions (one IMPLS entry each):

- ``ref``     NumPy/CuPy reference, the oracle: slice the four gates, apply
              sigmoid/tanh, update the cell. Works on CuPy arrays unchanged.
- ``cpu_v1``  Numba CPU, ``@njit(parallel=True)``: ``prange`` over the batch
              rows, one fused loop over the hidden units per row.
- ``cpu_v2``  Numba CPU, ``@njit`` serial: the same loop without threads,
              for sizes where waking the thread pool costs more than the work.

Which is fastest depends on the machine. The Numba loops call the C
library's scalar ``exp`` (Numba vectorises transcendental functions only with
Intel's SVML, absent here), while NumPy 2's ``tanh`` is SIMD: on the 2-core
development machine ``ref`` was 2-4x faster than both Numba versions at the
char-LSTM size N32 H128 (about 45 us against 105-155 us for fwd+bwd, from
``python -m tinynet.kernels.lstm_cell``). So ``select()`` picks ``CPU_DEFAULT``
(``ref``) on the CPU; the Numba versions are there to be forced, tested and
timed. The saving that matters most, one graph node per sequence instead of
dozens per step, is in ``tinynet.ops.recurrent`` whatever version runs
inside it.

Shapes: N batch, H hidden size. ``xg`` and ``hg`` (N, 4H) are the input and
hidden projections (biases included), gate order i, f, g, o as in PyTorch;
``c_prev``, ``h``, ``c`` are (N, H). The forward saves ``act`` (N, 4H): the
activated gates, which with ``c`` is all the backward needs.

    i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (xg + hg), by quarters
    c = f * c_prev + i * g
    h = o * tanh(c)

``python -m tinynet.kernels.lstm_cell`` checks every version against ``ref``
and then times them.
"""
import numpy as np

from tinynet.backend import get_array_module
from tinynet.kernels import forced


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
_built = {}


def _build(parallel):
    from numba import njit, prange

    # exp-based sigmoid/tanh: libm's exp is several times faster than its tanh,
    # and an overflowing exp gives inf, which lands on the right limit (0, +-1)
    @njit(inline="always")
    def sig(x):
        return 1 / (1 + np.exp(-x))

    @njit(inline="always")
    def tanh(x):
        return 2 / (1 + np.exp(-2 * x)) - 1

    @njit(parallel=parallel, cache=True)
    def fwd(xg, hg, c_prev, h, c, act):
        N, H = c_prev.shape
        for n in prange(N):
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

    @njit(parallel=parallel, cache=True)
    def bwd(gh, gc, act, c_prev, c, dpre, dc_prev):
        N, H = c_prev.shape
        for n in prange(N):
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


def _kernels(parallel):
    if parallel not in _built:
        _built[parallel] = _build(parallel)
    return _built[parallel]


def _c(a, dtype):
    # Numba specialises on layout and dtype: give it C-contiguous arrays of one dtype
    return np.ascontiguousarray(a, dtype=dtype)


def _fwd_numba(parallel):
    def launch(xg, hg, c_prev):
        dt = xg.dtype
        N, H = c_prev.shape
        h = np.empty((N, H), dt)
        c = np.empty((N, H), dt)
        act = np.empty((N, 4 * H), dt)
        _kernels(parallel)[0](_c(xg, dt), _c(hg, dt), _c(c_prev, dt), h, c, act)
        return h, c, act
    return launch


def _bwd_numba(parallel):
    def launch(gh, gc, act, c_prev, c):
        dt = act.dtype
        N, H = c_prev.shape
        dpre = np.empty((N, 4 * H), dt)
        dc_prev = np.empty((N, H), dt)
        _kernels(parallel)[1](_c(gh, dt), _c(gc, dt), _c(act, dt), _c(c_prev, dt), _c(c, dt),
                              dpre, dc_prev)
        return dpre, dc_prev
    return launch


lstm_fwd_cpu_v1, lstm_bwd_cpu_v1 = _fwd_numba(True), _bwd_numba(True)
lstm_fwd_cpu_v2, lstm_bwd_cpu_v2 = _fwd_numba(False), _bwd_numba(False)


# ---------------------------------------------------------------- table, dispatch
class Impl:
    def __init__(self, name, fwd, bwd, device, available):
        self.name, self.fwd, self.bwd = name, fwd, bwd
        self.device, self.available = device, available


def _numba_available():
    try:
        import numba  # noqa: F401
        return True
    except ImportError:
        return False


IMPLS = {
    "ref": Impl("ref", lstm_fwd_ref, lstm_bwd_ref, "any", lambda: True),
    "cpu_v1": Impl("cpu_v1", lstm_fwd_cpu_v1, lstm_bwd_cpu_v1, "cpu", _numba_available),
    "cpu_v2": Impl("cpu_v2", lstm_fwd_cpu_v2, lstm_bwd_cpu_v2, "cpu", _numba_available),
}

# the version select() runs on the CPU: the fastest measured here (see the docstring)
CPU_DEFAULT = "ref"


def select(x, path="lstm", table=None):
    """The implementation for array ``x``: forced by ``TINYNET_LSTM_IMPL`` /
    ``tinynet.kernels.use(lstm=...)``, else ``ref`` on a GPU and ``CPU_DEFAULT``
    on the CPU."""
    table = IMPLS if table is None else table
    name = forced(path)
    on_gpu = type(x).__module__.startswith("cupy")
    if name is not None:
        impl = table.get(name)
        if impl is None:
            raise ValueError(f"TINYNET_{path.upper()}_IMPL={name!r} is not one of "
                             f"{sorted(table)}")
        if impl.device == "cpu" and on_gpu:
            raise RuntimeError(f"{path} implementation {name!r} runs on the CPU only, but "
                               "the input is a CuPy array")
        return impl
    if on_gpu or not table[CPU_DEFAULT].available():
        return table["ref"]
    return table[CPU_DEFAULT]


# ---------------------------------------------------------------- self-check + timing
_SHAPES = [(1, 1), (3, 5), (7, 33), (32, 128), (64, 512)]      # (N, H)


def check_and_time(name, IMPLS, make_inputs, fwd_args, bwd_args, shapes=_SHAPES):
    """Shared by the LSTM and GRU kernel files: compare every version with
    ``ref`` (forward and backward, float32 and float64), then time them."""
    import time
    rng = np.random.default_rng(0)
    ok = True
    for (N, H) in shapes:
        for dt, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
            ins = make_inputs(rng, N, H, dt)
            ref = IMPLS["ref"]
            ref_out = ref.fwd(*fwd_args(ins))
            ref_grads = ref.bwd(*bwd_args(ins, ref_out))
            for impl_name, impl in IMPLS.items():
                if impl_name == "ref" or not impl.available() or impl.device == "cuda":
                    continue
                out = impl.fwd(*fwd_args(ins))
                grads = impl.bwd(*bwd_args(ins, out))
                for k, (a, b) in enumerate(zip(out + grads, ref_out + ref_grads)):
                    if a.dtype != dt or not np.allclose(a, b, rtol=tol, atol=tol):
                        ok = False
                        bad = int(np.argmax(np.abs(a - b)))
                        print(f"Mismatch of {name} {impl_name} output {k} N{N} H{H} "
                              f"{np.dtype(dt).name} at {bad}: ref {b.flat[bad]!r} vs "
                              f"{impl_name} {a.flat[bad]!r} (dtype {a.dtype})")
    if not ok:
        return 1
    print(f"{name}: all versions match")
    for (N, H) in shapes[3:]:
        ins = make_inputs(rng, N, H, np.float32)
        for impl_name, impl in IMPLS.items():
            if not impl.available() or impl.device == "cuda":
                continue

            def step():
                out = impl.fwd(*fwd_args(ins))
                impl.bwd(*bwd_args(ins, out))
            for _ in range(5):                 # warm-up: Numba compile / cache load
                step()
            times = []
            for _ in range(50):
                t0 = time.perf_counter()
                step()
                times.append(time.perf_counter() - t0)
            us = 1e6 * float(np.median(times))
            print(f"{name} {impl_name:7s} N{N:<4d} H{H:<4d} fwd+bwd {us:8.1f} us (median of 50)")
    return 0


def _make_inputs(rng, N, H, dt):
    r = lambda *s: rng.standard_normal(s).astype(dt)  # noqa: E731
    return dict(xg=r(N, 4 * H), hg=r(N, 4 * H), c_prev=r(N, H), gh=r(N, H), gc=r(N, H))


if __name__ == "__main__":
    raise SystemExit(check_and_time(
        "lstm_cell", IMPLS, _make_inputs,
        lambda d: (d["xg"], d["hg"], d["c_prev"]),
        lambda d, out: (d["gh"], d["gc"], out[2], d["c_prev"], out[1])))
