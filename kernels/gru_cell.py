"""GRU cell gate math: the element-wise part of one GRU step, fused.

As for the LSTM (``tinynet.kernels.lstm_cell``), the two projections are
BLAS matmuls done by the caller; this file is the rest of the step.

Versions (one IMPLS entry each):

- ``ref``     NumPy/CuPy reference, the oracle.
- ``cpu_v1``  Numba CPU, the batch rows split over tinynet's threads.
- ``cpu_v2``  Numba CPU, all rows on the calling thread.
- ``cuda_v3`` Numba CUDA, ``@cuda.jit`` on CuPy arrays: one thread per (n, h)
              element, for the forward and for the backward; compiled per
              dtype. Runs on NumPy arrays under ``NUMBA_ENABLE_CUDASIM=1``.

The defaults are the LSTM's, one rule for both cells (``lstm_cell``'s
docstring gives it): ``ref`` on the CPU (``CPU_DEFAULT``), ``cuda_v3`` on a
GPU where Numba's CUDA kernels work, else ``ref`` on CuPy. docs/kernels.md
has both cells' measurements.

Shapes: N batch, H hidden size. ``xg`` (N, 3H) = x @ w_ih.T + b_ih and
``hg`` (N, 3H) = h_prev @ w_hh.T + b_hh, gate order r, z, n as in PyTorch,
which applies the reset gate after the hidden matmul:

    r = sigmoid(xg_r + hg_r)
    z = sigmoid(xg_z + hg_z)
    n = tanh(xg_n + r * hg_n)
    h = (1 - z) * n + z * h_prev

The forward saves ``act`` (N, 3H) = r, z, n; the backward also reads ``hg``
and ``h_prev``, which are inputs anyway.

``python -m tinynet.kernels.gru_cell [--quick]`` checks every version
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
def gru_forward_ref(xg, hg, h_prev):
    """h (N, H) and the activated gates act (N, 3H) = r, z, n."""
    xp = get_array_module(xg)
    H = h_prev.shape[1]
    act = xp.empty_like(xg)
    act[:, :2 * H] = sigmoid(xp, xg[:, :2 * H] + hg[:, :2 * H])     # r, z
    r, z = act[:, :H], act[:, H:2 * H]
    act[:, 2 * H:] = xp.tanh(xg[:, 2 * H:] + r * hg[:, 2 * H:])     # n
    n = act[:, 2 * H:]
    h = n + z * (h_prev - n)
    return h, act


def gru_backward_ref(gh, act, hg, h_prev):
    """Gradients of xg (N, 3H), hg (N, 3H) and h_prev (N, H)."""
    xp = get_array_module(gh)
    H = h_prev.shape[1]
    r, z, n = act[:, :H], act[:, H:2 * H], act[:, 2 * H:]
    hn = hg[:, 2 * H:]
    dn = gh * (1 - z) * (1 - n * n)          # through tanh
    dxg = xp.empty_like(act)
    dxg[:, :H] = dn * hn * r * (1 - r)
    dxg[:, H:2 * H] = gh * (h_prev - n) * z * (1 - z)
    dxg[:, 2 * H:] = dn
    dhg = dxg.copy()
    dhg[:, 2 * H:] = dn * r                  # the reset gate scales the hidden part of n
    return dxg, dhg, gh * z


# ---------------------------------------------------------------- v1, v2: Numba CPU
_built = None        # (forward, backward), compiled on first use


def _build():
    numba_available()
    from numba import njit

    @njit(inline="always")
    def sig(x):
        return 1 / (1 + np.exp(-x))

    @njit(inline="always")
    def tanh(x):
        return 2 / (1 + np.exp(-2 * x)) - 1

    @njit(nogil=True, cache=True)
    def forward(xg, hg, h_prev, h, act, r0, r1):
        # batch rows [r0, r1)
        N, H = h_prev.shape
        for b in range(r0, r1):
            for j in range(H):
                r = sig(xg[b, j] + hg[b, j])
                z = sig(xg[b, H + j] + hg[b, H + j])
                n = tanh(xg[b, 2 * H + j] + r * hg[b, 2 * H + j])
                h[b, j] = n + z * (h_prev[b, j] - n)
                act[b, j] = r
                act[b, H + j] = z
                act[b, 2 * H + j] = n

    @njit(nogil=True, cache=True)
    def backward(gh, act, hg, h_prev, dxg, dhg, dh_prev, r0, r1):
        N, H = h_prev.shape
        for b in range(r0, r1):
            for j in range(H):
                r = act[b, j]
                z = act[b, H + j]
                n = act[b, 2 * H + j]
                g = gh[b, j]
                dn = g * (1 - z) * (1 - n * n)
                dr = dn * hg[b, 2 * H + j] * r * (1 - r)
                dz = g * (h_prev[b, j] - n) * z * (1 - z)
                dxg[b, j] = dr
                dxg[b, H + j] = dz
                dxg[b, 2 * H + j] = dn
                dhg[b, j] = dr
                dhg[b, H + j] = dz
                dhg[b, 2 * H + j] = dn * r
                dh_prev[b, j] = g * z

    return forward, backward


def _kernels():
    global _built
    if _built is None:
        _built = _build()
    return _built


# for_parts' items are batch rows, each about 6H elements of work (two 3H rows
# of projections in).
def _forward_numba(parallel):
    def forward(xg, hg, h_prev):
        dt = xg.dtype
        N, H = h_prev.shape
        h = np.empty((N, H), dt)
        act = np.empty((N, 3 * H), dt)
        for_parts(_kernels()[0], N, 6 * H, contiguous(xg, dt), contiguous(hg, dt),
                  contiguous(h_prev, dt), h, act, parallel=parallel)
        return h, act
    return forward


def _backward_numba(parallel):
    def backward(gh, act, hg, h_prev):
        dt = act.dtype
        N, H = h_prev.shape
        dxg = np.empty((N, 3 * H), dt)
        dhg = np.empty((N, 3 * H), dt)
        dh_prev = np.empty((N, H), dt)
        for_parts(_kernels()[1], N, 6 * H, contiguous(gh, dt), contiguous(act, dt),
                  contiguous(hg, dt), contiguous(h_prev, dt), dxg, dhg, dh_prev,
                  parallel=parallel)
        return dxg, dhg, dh_prev
    return backward


gru_forward_cpu_v1, gru_backward_cpu_v1 = _forward_numba(True), _backward_numba(True)
gru_forward_cpu_v2, gru_backward_cpu_v2 = _forward_numba(False), _backward_numba(False)


# ---------------------------------------------------------------- v3: Numba CUDA
_v3 = {}             # dtype -> (forward, backward)
cuda = None          # numba.cuda, imported on first use (the simulator patches this global)


def _build_v3(T):
    """The kernels for float type ``T`` (constants cast to ``T`` so that
    float32 math is not promoted to float64)."""
    global cuda
    import math
    numba_available()
    from numba import cuda

    @cuda.jit(device=True)
    def sig(x):
        return T(0.5) + T(0.5) * math.tanh(T(0.5) * x)

    @cuda.jit
    def forward(xg, hg, h_prev, h, act):
        t = cuda.grid(1)
        N, H = h_prev.shape
        if t >= N * H:
            return
        b = t // H
        j = t % H
        r = sig(xg[b, j] + hg[b, j])
        z = sig(xg[b, H + j] + hg[b, H + j])
        n = math.tanh(xg[b, 2 * H + j] + r * hg[b, 2 * H + j])
        h[b, j] = n + z * (h_prev[b, j] - n)
        act[b, j] = r
        act[b, H + j] = z
        act[b, 2 * H + j] = n

    @cuda.jit
    def backward(gh, act, hg, h_prev, dxg, dhg, dh_prev):
        t = cuda.grid(1)
        N, H = h_prev.shape
        if t >= N * H:
            return
        b = t // H
        j = t % H
        one = T(1)
        r = act[b, j]
        z = act[b, H + j]
        n = act[b, 2 * H + j]
        g = gh[b, j]
        dn = g * (one - z) * (one - n * n)
        dr = dn * hg[b, 2 * H + j] * r * (one - r)
        dz = g * (h_prev[b, j] - n) * z * (one - z)
        dxg[b, j] = dr
        dxg[b, H + j] = dz
        dxg[b, 2 * H + j] = dn
        dhg[b, j] = dr
        dhg[b, H + j] = dz
        dhg[b, 2 * H + j] = dn * r
        dh_prev[b, j] = g * z

    return forward, backward


def _kernels_v3(dtype):
    key = np.dtype(dtype)
    if key not in _v3:
        _v3[key] = _build_v3(key.type)
    return _v3[key]


def gru_forward_cuda_v3(xg, hg, h_prev):
    dt = xg.dtype
    if not cuda_dtype_ok(dt):
        return gru_forward_ref(xg, hg, h_prev)
    xp = get_array_module(xg)
    N, H = h_prev.shape
    h = xp.empty((N, H), dt)
    act = xp.empty((N, 3 * H), dt)
    if N * H:                   # no launch for an empty batch
        launch(_kernels_v3(dt)[0], N * H)(contiguous(xg, dt), contiguous(hg, dt),
                                          contiguous(h_prev, dt), h, act)
    return h, act


def gru_backward_cuda_v3(gh, act, hg, h_prev):
    dt = act.dtype
    if not cuda_dtype_ok(dt):
        return gru_backward_ref(gh, act, hg, h_prev)
    xp = get_array_module(act)
    N, H = h_prev.shape
    dxg = xp.empty((N, 3 * H), dt)
    dhg = xp.empty((N, 3 * H), dt)
    dh_prev = xp.empty((N, H), dt)
    if N * H:                   # no launch for an empty batch
        launch(_kernels_v3(dt)[1], N * H)(contiguous(gh, dt), contiguous(act, dt),
                                          contiguous(hg, dt), contiguous(h_prev, dt),
                                          dxg, dhg, dh_prev)
    return dxg, dhg, dh_prev


# ---------------------------------------------------------------- table, dispatch
IMPLS = {
    "ref": Impl("ref", "any", forward=gru_forward_ref, backward=gru_backward_ref),
    "cpu_v1": Impl("cpu_v1", "cpu", numba_available, forward=gru_forward_cpu_v1,
                   backward=gru_backward_cpu_v1),
    "cpu_v2": Impl("cpu_v2", "cpu", numba_available, forward=gru_forward_cpu_v2,
                   backward=gru_backward_cpu_v2),
    "cuda_v3": Impl("cuda_v3", "cuda", numba_cuda_available, forward=gru_forward_cuda_v3,
                    backward=gru_backward_cuda_v3),
}

# the version select() runs on the CPU: the LSTM's (see the module docstring)
CPU_DEFAULT = "ref"


def select(x):
    """The implementation for array ``x``: forced by ``TINYNET_GRU_IMPL`` /
    ``tinynet.kernels.use(gru=...)``, else ``cuda_v3`` on a GPU (``ref`` if
    Numba's CUDA kernels do not work there) and ``CPU_DEFAULT`` on the CPU."""
    return pick("gru", IMPLS, x, cpu=CPU_DEFAULT, gpu="cuda_v3")


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
                              dict(xg=r(N, 3 * H), hg=r(N, 3 * H), h_prev=r(N, H), gh=r(N, H)),
                              small=N * H <= 16, timed=k >= 3 and dt == np.float32))
    return cases


def _run(impl, d):
    h, act = impl.forward(d["xg"], d["hg"], d["h_prev"])
    dxg, dhg, dh_prev = impl.backward(d["gh"], act, d["hg"], d["h_prev"])
    return {"h": h, "act": act, "dxg": dxg, "dhg": dhg, "dh_prev": dh_prev}


def self_check(quick=False):
    """Check every version that runs here against ``ref``, then time them
    (``python -m tinynet.kernels.gru_cell [--quick]``); 0 if all match."""
    return check_and_time("gru_cell", IMPLS, _run, self_check_cases(), repeats=50, quick=quick)


if __name__ == "__main__":
    raise SystemExit(main(self_check))
