"""GRU cell gate math: the element-wise part of one GRU step, fused.

As for the LSTM (``tinynet.kernels.lstm_cell``, whose docstring explains the
choice between versions), the two projections are BLAS matmuls done by the
caller; this file is the rest of the step.

Versions (one IMPLS entry each):

- ``ref``     NumPy/CuPy reference, the oracle.
- ``cpu_v1``  Numba CPU, the batch rows split over tinynet's threads.
- ``cpu_v2``  Numba CPU, all rows on the calling thread.
- ``cuda_v3`` Numba CUDA, ``@cuda.jit`` on CuPy arrays: one thread per (n, h)
              element, for the forward and for the backward; compiled per
              dtype. Runs on NumPy arrays under ``NUMBA_ENABLE_CUDASIM=1``.

Shapes: N batch, H hidden size. ``xg`` (N, 3H) = x @ w_ih.T + b_ih and
``hg`` (N, 3H) = h_prev @ w_hh.T + b_hh, gate order r, z, n as in PyTorch,
which applies the reset gate after the hidden matmul:

    r = sigmoid(xg_r + hg_r)
    z = sigmoid(xg_z + hg_z)
    n = tanh(xg_n + r * hg_n)
    h = (1 - z) * n + z * h_prev

The forward saves ``act`` (N, 3H) = r, z, n; the backward also reads ``hg``
and ``h_prev``, which are inputs anyway.

``python -m tinynet.kernels.gru_cell`` checks every version against ``ref``
and then times them (under the CUDA simulator: tiny shapes, no timing).
"""
import numpy as np

from tinynet.backend import get_array_module
from tinynet.kernels.lstm_cell import (Impl, _c, _dev, _numba_cuda_available, _rows,
                                       _sigmoid, check_and_time, configure, cuda_dtype_ok)
from tinynet.kernels import lstm_cell as _lstm
from tinynet.kernels import numba_available


# ---------------------------------------------------------------- v0: reference
def gru_fwd_ref(xg, hg, h_prev):
    """h (N, H) and the activated gates act (N, 3H) = r, z, n."""
    xp = get_array_module(xg)
    H = h_prev.shape[1]
    act = xp.empty_like(xg)
    act[:, :2 * H] = _sigmoid(xp, xg[:, :2 * H] + hg[:, :2 * H])     # r, z
    r, z = act[:, :H], act[:, H:2 * H]
    act[:, 2 * H:] = xp.tanh(xg[:, 2 * H:] + r * hg[:, 2 * H:])     # n
    n = act[:, 2 * H:]
    h = n + z * (h_prev - n)
    return h, act


def gru_bwd_ref(gh, act, hg, h_prev):
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
_built = None        # (fwd, bwd), compiled on first use


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
    def fwd(xg, hg, h_prev, h, act, r0, r1):
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
    def bwd(gh, act, hg, h_prev, dxg, dhg, dh_prev, r0, r1):
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

    return fwd, bwd


def _kernels():
    global _built
    if _built is None:
        _built = _build()
    return _built


def _fwd_numba(parallel):
    def launch(xg, hg, h_prev):
        dt = xg.dtype
        N, H = h_prev.shape
        h = np.empty((N, H), dt)
        act = np.empty((N, 3 * H), dt)
        _rows(_kernels()[0], parallel, N, H, _c(xg, dt), _c(hg, dt), _c(h_prev, dt), h, act)
        return h, act
    return launch


def _bwd_numba(parallel):
    def launch(gh, act, hg, h_prev):
        dt = act.dtype
        N, H = h_prev.shape
        dxg = np.empty((N, 3 * H), dt)
        dhg = np.empty((N, 3 * H), dt)
        dh_prev = np.empty((N, H), dt)
        _rows(_kernels()[1], parallel, N, H, _c(gh, dt), _c(act, dt), _c(hg, dt),
              _c(h_prev, dt), dxg, dhg, dh_prev)
        return dxg, dhg, dh_prev
    return launch


gru_fwd_cpu_v1, gru_bwd_cpu_v1 = _fwd_numba(True), _bwd_numba(True)
gru_fwd_cpu_v2, gru_bwd_cpu_v2 = _fwd_numba(False), _bwd_numba(False)


# ---------------------------------------------------------------- v3: Numba CUDA
_v3 = {}             # dtype -> (fwd, bwd)
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
    def fwd(xg, hg, h_prev, h, act):
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
    def bwd(gh, act, hg, h_prev, dxg, dhg, dh_prev):
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

    return fwd, bwd


def _kernels_v3(dtype):
    key = np.dtype(dtype)
    if key not in _v3:
        _v3[key] = _build_v3(key.type)
    return _v3[key]


def gru_fwd_cuda_v3(xg, hg, h_prev):
    dt = xg.dtype
    if not cuda_dtype_ok(dt):
        return gru_fwd_ref(xg, hg, h_prev)
    xp = get_array_module(xg)
    N, H = h_prev.shape
    h = xp.empty((N, H), dt)
    act = xp.empty((N, 3 * H), dt)
    if N * H:                   # no launch for an empty batch
        configure(_kernels_v3(dt)[0], N * H)(_dev(xp, xg, dt), _dev(xp, hg, dt),
                                              _dev(xp, h_prev, dt), h, act)
    return h, act


def gru_bwd_cuda_v3(gh, act, hg, h_prev):
    dt = act.dtype
    if not cuda_dtype_ok(dt):
        return gru_bwd_ref(gh, act, hg, h_prev)
    xp = get_array_module(act)
    N, H = h_prev.shape
    dxg = xp.empty((N, 3 * H), dt)
    dhg = xp.empty((N, 3 * H), dt)
    dh_prev = xp.empty((N, H), dt)
    if N * H:                   # no launch for an empty batch
        configure(_kernels_v3(dt)[1], N * H)(_dev(xp, gh, dt), _dev(xp, act, dt),
                                              _dev(xp, hg, dt), _dev(xp, h_prev, dt),
                                              dxg, dhg, dh_prev)
    return dxg, dhg, dh_prev


# ---------------------------------------------------------------- table, dispatch
IMPLS = {
    "ref": Impl("ref", gru_fwd_ref, gru_bwd_ref, "any", lambda: True),
    "cpu_v1": Impl("cpu_v1", gru_fwd_cpu_v1, gru_bwd_cpu_v1, "cpu", numba_available),
    "cpu_v2": Impl("cpu_v2", gru_fwd_cpu_v2, gru_bwd_cpu_v2, "cpu", numba_available),
    "cuda_v3": Impl("cuda_v3", gru_fwd_cuda_v3, gru_bwd_cuda_v3, "cuda", _numba_cuda_available),
}


def select(x):
    """The implementation for array ``x``: forced by ``TINYNET_GRU_IMPL`` /
    ``tinynet.kernels.use(gru=...)``, else the one ``lstm_cell.select`` rules pick."""
    return _lstm.select(x, path="gru", table=IMPLS)


def _make_inputs(rng, N, H, dt):
    r = lambda *s: rng.standard_normal(s).astype(dt)  # noqa: E731
    return dict(xg=r(N, 3 * H), hg=r(N, 3 * H), h_prev=r(N, H), gh=r(N, H))


if __name__ == "__main__":
    raise SystemExit(check_and_time(
        "gru_cell", IMPLS, _make_inputs,
        lambda d: (d["xg"], d["hg"], d["h_prev"]),
        lambda d, out: (d["gh"], out[1], d["hg"], d["h_prev"])))
