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
Intel's SVML), while NumPy's ``tanh`` is SIMD: without SVML ``ref`` beats
both Numba versions, so ``select()`` picks ``CPU_DEFAULT`` (``ref``) on the
CPU; the Numba versions are there to be forced, tested and timed. On a GPU
``select()`` picks ``cuda_v3`` where Numba's CUDA kernels work (else
``ref``): it launches one kernel where the CuPy reference launches about
ten, and at these sizes a step is launch-bound. The measurements are in
docs/kernels.md. The saving that matters most, one graph node per sequence
instead of dozens per step, is in ``tinynet.ops.recurrent`` whatever version
runs inside it.

Besides the per-step versions, ``sequence_forward_np`` /
``sequence_backward_np`` run a whole unmasked direction on the CPU with
NumPy (the hidden matmul included), writing into preallocated arrays with
``out=`` instead of allocating each step's temporaries; ``LSTMLayer`` in
``tinynet.ops.recurrent`` uses them where the reference would run, and its
per-step loop is what they are tested against.

Shapes: N batch, H hidden size. ``xg`` and ``hg`` (N, 4H) are the input and
hidden projections (biases included), gate order i, f, g, o as in PyTorch;
``c_prev``, ``h``, ``c`` are (N, H). The forward saves ``act`` (N, 4H): the
activated gates, which with ``c`` is all the backward needs.

    i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (xg + hg), by quarters
    c = f * c_prev + i * g
    h = o * tanh(c)

``python -m tinynet.kernels.lstm_cell [--quick]`` checks every version
against ``ref`` and then times them (``self_check``; under the CUDA
simulator: small shapes, no timing).
"""
import numpy as np

from tinynet.backend import get_array_module
from tinynet.kernels import pick
from tinynet.kernels._common import (Case, Impl, check_and_time, contiguous, cuda_dtype_ok,
                                     for_parts, launch, main, numba_available,
                                     numba_cuda_available, sigmoid)


# ---------------------------------------------------------------- v0: reference
def lstm_forward_ref(xg, hg, c_prev):
    """h, c (N, H) and the activated gates act (N, 4H)."""
    xp = get_array_module(xg)
    H = c_prev.shape[1]
    pre = xg + hg
    act = xp.empty_like(pre)
    act[:, :2 * H] = sigmoid(xp, pre[:, :2 * H])         # i, f
    act[:, 2 * H:3 * H] = xp.tanh(pre[:, 2 * H:3 * H])   # g
    act[:, 3 * H:] = sigmoid(xp, pre[:, 3 * H:])         # o
    i, f, g, o = act[:, :H], act[:, H:2 * H], act[:, 2 * H:3 * H], act[:, 3 * H:]
    c = f * c_prev + i * g
    h = o * xp.tanh(c)
    return h, c, act


def lstm_backward_ref(gh, gc, act, c_prev, c):
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


# ---------------------------------------------------------------- whole sequence, NumPy in place
def _gate_vectors(G, dtype):
    """Per-column constants over the four gates (i, f, g, o): the factor
    applied to the pre-activations before ``exp`` (-1 for the sigmoid gates
    i, f, o; -2 for g, whose tanh is computed as 2 * sigmoid(2x) - 1) and
    the shift of the gates' derivative (0; 1 for g)."""
    H = G // 4
    factor = np.full(G, -1, dtype)
    shift = np.zeros(G, dtype)
    factor[2 * H:3 * H], shift[2 * H:3 * H] = -2, 1
    return factor, shift


def sequence_forward_np(xg, h0, c0, w_hh, reverse=False):
    """A whole LSTM direction on the CPU with NumPy, writing every step's
    results straight into preallocated arrays (no temporaries per step).

    The math of a loop of ``h @ w_hh.T`` and ``lstm_forward_ref``, except
    that the gates come from one ``exp`` over all four of them, sigmoid(x)
    = 1 / (1 + exp(-x)) and tanh(x) = 2 / (1 + exp(-2x)) - 1: NumPy's
    ``exp`` is SIMD and much cheaper than its ``tanh``. The factors -1 and
    -2 are applied to ``w_hh`` and ``xg`` once, before the loop (exact:
    powers of two). An overflowing ``exp`` (x below about -88 in float32)
    gives inf, which lands on the right limit (0, -1); its warning is
    silenced.

    ``xg`` (T, N, 4H) holds the input projections with both biases. Returns
    ``out`` (T, N, H), ``h_n``, ``c_n`` and ``saved``, what
    ``sequence_backward_np`` needs: the gates (T, N, 4H), the states
    ``hs``/``cs`` (T+1, N, H; step t reads slot t and writes slot t+1, or
    reads t+1 and writes t when ``reverse``) and tanh of every new cell
    state (T, N, H). The saved arrays come from the workspace cache
    (``workspace.py``): they stay private to the caller, while ``out``,
    ``h_n`` and ``c_n`` are ordinary new arrays.
    """
    from tinynet.kernels import workspace
    T, N, G = xg.shape
    H = G // 4
    dt = xg.dtype
    factor, _ = _gate_vectors(G, dt)
    acts = workspace.empty((T, N, G), dt)
    np.multiply(xg, factor, out=acts)                   # -xg (i, f, o), -2 xg (g)
    w_t = (w_hh * factor[:, None]).T
    hs, cs = workspace.empty((T + 1, N, H), dt), workspace.empty((T + 1, N, H), dt)
    tcs = workspace.empty((T, N, H), dt)
    ig, hg = np.empty((N, H), dt), np.empty((N, G), dt)
    first = T if reverse else 0
    hs[first], cs[first] = h0, c0
    with np.errstate(over="ignore"):
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            src, dst = (t + 1, t) if reverse else (t, t + 1)
            a = acts[t]
            np.matmul(hs[src], w_t, out=hg)
            np.add(a, hg, out=a)                        # the scaled pre-activations
            np.exp(a, out=a)
            np.add(a, 1, out=a)
            np.divide(1, a, out=a)                      # sigmoid of x (i, f, o), of 2x (g)
            i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            np.multiply(g, 2, out=g)
            np.subtract(g, 1, out=g)                    # tanh(x) = 2 sigmoid(2x) - 1
            c = cs[dst]
            np.multiply(f, cs[src], out=c)              # c = f * c_prev + i * g
            np.multiply(i, g, out=ig)
            np.add(c, ig, out=c)
            np.tanh(c, out=tcs[t])                      # h = o * tanh(c)
            np.multiply(o, tcs[t], out=hs[dst])
    out = np.empty((T, N, H), dt)
    out[...] = hs[:T] if reverse else hs[1:]
    last = 0 if reverse else T
    return out, hs[last].copy(), cs[last].copy(), (acts, hs, cs, tcs)


def sequence_backward_np(g_out, g_h, g_c, w_hh, saved, reverse=False):
    """The backward of ``sequence_forward_np``: the gradients of ``xg``
    (T, N, 4H), ``h0``, ``c0`` and ``w_hh``, all new arrays (the caller's
    gradients are not changed; T >= 1).

    ``lstm_backward_ref``'s formulas, regrouped so that the step loop does
    little: with dc the cell state's total gradient and gh the hidden
    state's, the gates' gradients are dc * g * i(1-i), dc * c_prev * f(1-f),
    dc * i * (1-g)(1+g) and gh * tanh(c) * o(1-o); everything but dc and gh
    is known from the forward, so those factors (``q``) and o(1 - tanh(c)^2)
    (``k``, in dc = gc + gh * k) are computed for all steps at once first.
    """
    from tinynet.kernels import workspace
    acts, hs, cs, tcs = saved
    T, N, G = acts.shape
    H = G // 4
    dt = acts.dtype
    _, shift = _gate_vectors(G, dt)
    dxg = np.empty((T, N, G), dt)
    a4 = acts.reshape(T, N, 4, H)
    q = workspace.empty((T, N, G), dt)
    q4 = q.reshape(T, N, 4, H)
    np.subtract(1, acts, out=q)                         # (1 - a)(a + shift): the derivatives
    np.add(acts, shift, out=dxg)                        # (dxg as scratch: overwritten below)
    np.multiply(q, dxg, out=q)
    np.multiply(q4[:, :, 0], a4[:, :, 2], out=q4[:, :, 0])
    np.multiply(q4[:, :, 1], cs[1:] if reverse else cs[:T], out=q4[:, :, 1])
    np.multiply(q4[:, :, 2], a4[:, :, 0], out=q4[:, :, 2])
    np.multiply(q4[:, :, 3], tcs, out=q4[:, :, 3])
    k = workspace.empty((T, N, H), dt)
    np.multiply(tcs, tcs, out=k)
    np.subtract(1, k, out=k)
    np.multiply(a4[:, :, 3], k, out=k)
    gh, dcb = np.empty((N, H), dt), np.empty((N, H), dt)
    dh_buf, dc_buf = np.empty((N, H), dt), np.empty((N, H), dt)
    dh, dc = g_h, g_c
    for t in (range(T) if reverse else range(T - 1, -1, -1)):
        u = dxg[t]
        u4 = u.reshape(N, 4, H)
        np.add(g_out[t], dh, out=gh)
        np.multiply(gh, k[t], out=dcb)
        np.add(dc, dcb, out=dcb)                        # dc = gc + gh * o * (1 - tanh(c)^2)
        np.multiply(q4[t, :, :3], dcb[:, None, :], out=u4[:, :3])
        np.multiply(gh, q4[t, :, 3], out=u4[:, 3])
        np.multiply(dcb, a4[t, :, 1], out=dc_buf)       # dc_prev = dc * f
        np.matmul(u, w_hh, out=dh_buf)                  # dh_prev = dpre @ w_hh
        dh, dc = dh_buf, dc_buf
    h_in = hs[1:] if reverse else hs[:T]
    gw = dxg.reshape(T * N, G).T @ h_in.reshape(T * N, H)
    return dxg, dh_buf, dc_buf, gw


# ---------------------------------------------------------------- v1, v2: Numba CPU
_built = None        # (forward, backward), compiled on first use


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
    def forward(xg, hg, c_prev, h, c, act, r0, r1):
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
    def backward(gh, gc, act, c_prev, c, dpre, dc_prev, r0, r1):
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

    return forward, backward


def _kernels():
    global _built
    if _built is None:
        _built = _build()
    return _built


# for_parts' items are batch rows, each about 8H elements of work (two 4H rows
# of projections in).
def _forward_numba(parallel):
    def forward(xg, hg, c_prev):
        dt = xg.dtype
        N, H = c_prev.shape
        h = np.empty((N, H), dt)
        c = np.empty((N, H), dt)
        act = np.empty((N, 4 * H), dt)
        for_parts(_kernels()[0], N, 8 * H, contiguous(xg, dt), contiguous(hg, dt),
                  contiguous(c_prev, dt), h, c, act, parallel=parallel)
        return h, c, act
    return forward


def _backward_numba(parallel):
    def backward(gh, gc, act, c_prev, c):
        dt = act.dtype
        N, H = c_prev.shape
        dpre = np.empty((N, 4 * H), dt)
        dc_prev = np.empty((N, H), dt)
        for_parts(_kernels()[1], N, 8 * H, contiguous(gh, dt), contiguous(gc, dt),
                  contiguous(act, dt), contiguous(c_prev, dt), contiguous(c, dt), dpre, dc_prev,
                  parallel=parallel)
        return dpre, dc_prev
    return backward


lstm_forward_cpu_v1, lstm_backward_cpu_v1 = _forward_numba(True), _backward_numba(True)
lstm_forward_cpu_v2, lstm_backward_cpu_v2 = _forward_numba(False), _backward_numba(False)


# ---------------------------------------------------------------- v3: Numba CUDA
_v3 = {}             # dtype -> (forward, backward)
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
    def forward(xg, hg, c_prev, h, c, act):
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
    def backward(gh, gc, act, c_prev, c, dpre, dc_prev):
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

    return forward, backward


def _kernels_v3(dtype):
    key = np.dtype(dtype)
    if key not in _v3:
        _v3[key] = _build_v3(key.type)
    return _v3[key]


def lstm_forward_cuda_v3(xg, hg, c_prev):
    dt = xg.dtype
    if not cuda_dtype_ok(dt):
        return lstm_forward_ref(xg, hg, c_prev)
    xp = get_array_module(xg)
    N, H = c_prev.shape
    h = xp.empty((N, H), dt)
    c = xp.empty((N, H), dt)
    act = xp.empty((N, 4 * H), dt)
    if N * H:                   # no launch for an empty batch
        launch(_kernels_v3(dt)[0], N * H)(contiguous(xg, dt), contiguous(hg, dt),
                                          contiguous(c_prev, dt), h, c, act)
    return h, c, act


def lstm_backward_cuda_v3(gh, gc, act, c_prev, c):
    dt = act.dtype
    if not cuda_dtype_ok(dt):
        return lstm_backward_ref(gh, gc, act, c_prev, c)
    xp = get_array_module(act)
    N, H = c_prev.shape
    dpre = xp.empty((N, 4 * H), dt)
    dc_prev = xp.empty((N, H), dt)
    if N * H:                   # no launch for an empty batch
        launch(_kernels_v3(dt)[1], N * H)(contiguous(gh, dt), contiguous(gc, dt),
                                          contiguous(act, dt), contiguous(c_prev, dt),
                                          contiguous(c, dt), dpre, dc_prev)
    return dpre, dc_prev


# ---------------------------------------------------------------- table, dispatch
IMPLS = {
    "ref": Impl("ref", "any", forward=lstm_forward_ref, backward=lstm_backward_ref),
    "cpu_v1": Impl("cpu_v1", "cpu", numba_available, forward=lstm_forward_cpu_v1,
                   backward=lstm_backward_cpu_v1),
    "cpu_v2": Impl("cpu_v2", "cpu", numba_available, forward=lstm_forward_cpu_v2,
                   backward=lstm_backward_cpu_v2),
    "cuda_v3": Impl("cuda_v3", "cuda", numba_cuda_available, forward=lstm_forward_cuda_v3,
                    backward=lstm_backward_cuda_v3),
}

# the version select() runs on the CPU (see the module docstring for why)
CPU_DEFAULT = "ref"


def select(x):
    """The implementation for array ``x``: forced by ``TINYNET_LSTM_IMPL`` /
    ``tinynet.kernels.use(lstm=...)``, else ``cuda_v3`` on a GPU (``ref`` if
    Numba's CUDA kernels do not work there) and ``CPU_DEFAULT`` on the CPU."""
    return pick("lstm", IMPLS, x, cpu=CPU_DEFAULT, gpu="cuda_v3")


# ---------------------------------------------------------------- self-check + timing
# (N, H): tiny and odd sizes, then the char-LSTM's and a larger one (timed)
SHAPES = [(1, 1), (3, 5), (7, 33), (32, 128), (64, 512)]


def self_check_cases():
    """Every shape in float64 and float32 (saturating gates included); the
    last two shapes are timed in float32. The simulator runs one Python
    thread per (n, h), so only N * H <= 16 counts as small."""
    cases = []
    for k, (N, H) in enumerate(SHAPES):
        for dt in (np.float64, np.float32):
            rng = np.random.default_rng(k)
            r = lambda *s: (3 * rng.standard_normal(s)).astype(dt)  # noqa: E731
            cases.append(Case(f"N{N} H{H} {np.dtype(dt).name}",
                              dict(xg=r(N, 4 * H), hg=r(N, 4 * H), c_prev=r(N, H), gh=r(N, H),
                                   gc=r(N, H)),
                              small=N * H <= 16, timed=k >= 3 and dt == np.float32))
    return cases


def _run(impl, d):
    h, c, act = impl.forward(d["xg"], d["hg"], d["c_prev"])
    dpre, dc_prev = impl.backward(d["gh"], d["gc"], act, d["c_prev"], c)
    return {"h": h, "c": c, "act": act, "dpre": dpre, "dc_prev": dc_prev}


def self_check(quick=False):
    """Check every version that runs here against ``ref``, then time them
    (``python -m tinynet.kernels.lstm_cell [--quick]``); 0 if all match."""
    return check_and_time("lstm_cell", IMPLS, _run, self_check_cases(), repeats=50, quick=quick)


if __name__ == "__main__":
    raise SystemExit(main(self_check))
