"""2-D pooling kernels: max pooling with argmax indices (and the scatter /
gather that its backward and double backward need), average pooling and its
adjoint.

Versions (one IMPLS entry each):

- ``ref``     NumPy/CuPy reference, the oracle: a loop over the KH*KW kernel
              taps, each a strided slice of the padded input; the max-pool
              backward scatters through the stored indices with ``bincount``.
- ``cpu_v1``  Numba CPU, serial GIL-free loops over the N*C planes, the
              planes split over tinynet's threads (``kernels/threads.py``):
              one pass per output for the forward, one pass over the stored
              indices for the backward (no atomics: a plane belongs to one
              thread). Scattering through indices was measured
              2.5x faster than a mask-based backward (the figure the
              project's convolution issue gives).
- ``cuda_v2`` Numba CUDA, ``@cuda.jit`` on CuPy arrays: one thread per
              output for the forwards; the backwards are gathers, one thread
              per input pixel visiting the windows that contain it
              (deterministic, no atomics). Under ``NUMBA_ENABLE_CUDASIM=1`` it
              runs on NumPy arrays, which is how CI tests it.

Shapes: x (N, C, H, W), y (N, C, OH, OW); indices (N, C, OH, OW) int64 hold the
flat position h * W + w of each maximum inside its input plane (PyTorch's
``return_indices`` convention). Padding never wins a max.

``python -m tinynet.kernels.pool2d`` checks every version against ``ref`` and
then times them.
"""
import numpy as np

from tinynet.backend import get_array_module
from tinynet.kernels import numba_available, pick, threads
from tinynet.kernels.conv2d import _blocks, _THREADS, GRAIN, cuda_sim_enabled


def out_size(size, k, s, p, d, ceil_mode):
    """PyTorch's pooling output length: in ceil mode the last window must
    still start inside the input or its left padding."""
    span = size + 2 * p - d * (k - 1) - 1
    n = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (n - 1) * s >= size + p:
        n -= 1
    return n


def _tap_slices(i, j, DH, DW, SH, SW, OH, OW):
    return (slice(i * DH, i * DH + SH * (OH - 1) + 1, SH),
            slice(j * DW, j * DW + SW * (OW - 1) + 1, SW))


def _padded_hw(H, W, PH, PW, OH, OW, KH, KW, SH, SW, DH, DW):
    """Height and width of the input padded by P on the left and enough on
    the right for every window (ceil mode can overhang the padding)."""
    return (max(H + 2 * PH, (OH - 1) * SH + DH * (KH - 1) + 1),
            max(W + 2 * PW, (OW - 1) * SW + DW * (KW - 1) + 1))


def _padded(x, PH, PW, OH, OW, KH, KW, SH, SW, DH, DW, value):
    """x padded as ``_padded_hw`` says, with ``value``."""
    xp = get_array_module(x)
    H, W = x.shape[2:]
    HP, WP = _padded_hw(H, W, PH, PW, OH, OW, KH, KW, SH, SW, DH, DW)
    return xp.pad(x, ((0, 0), (0, 0), (PH, HP - H - PH), (PW, WP - W - PW)),
                  constant_values=value)


# ---------------------------------------------------------------- v0: reference
def max_fwd_ref(x, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
    xp = get_array_module(x)
    N, C, H, W = x.shape
    xpad = _padded(x, PH, PW, OH, OW, KH, KW, SH, SW, DH, DW, -xp.inf)
    y = xp.full((N, C, OH, OW), -xp.inf, dtype=x.dtype)
    idx = xp.zeros((N, C, OH, OW), dtype=np.int64)
    oh = xp.arange(OH)[:, None]
    ow = xp.arange(OW)[None, :]
    for i in range(KH):
        for j in range(KW):
            hs, ws = _tap_slices(i, j, DH, DW, SH, SW, OH, OW)
            patch = xpad[:, :, hs, ws]
            # strict '>': the first maximum wins; a NaN wins once (PyTorch propagates NaN)
            better = (patch > y) | (xp.isnan(patch) & ~xp.isnan(y))
            y = xp.where(better, patch, y)
            flat = (oh * SH - PH + i * DH) * W + (ow * SW - PW + j * DW)
            idx = xp.where(better, flat, idx)
    return y, idx


def max_scatter_ref(gy, idx, x_shape, window=None):
    """gx[n, c, idx[n, c, k]] += gy[n, c, k] (the max-pool backward).

    ``window`` (KH, KW, SH, SW, PH, PW, DH, DW) is used only by the CUDA gather."""
    xp = get_array_module(gy)
    N, C, H, W = x_shape
    planes = xp.arange(N * C, dtype=np.int64).reshape(N, C, 1, 1) * (H * W)
    flat = (idx + planes).reshape(-1)
    gx = xp.bincount(flat, weights=gy.reshape(-1).astype(np.float64), minlength=N * C * H * W)
    return gx.astype(gy.dtype).reshape(x_shape)


def max_gather(ggx, idx):
    """ggy[n, c, k] = ggx[n, c, idx[n, c, k]] (the adjoint of the scatter)."""
    xp = get_array_module(ggx)
    N, C = ggx.shape[:2]
    picked = xp.take_along_axis(ggx.reshape(N, C, -1), idx.reshape(N, C, -1), axis=2)
    return picked.reshape(idx.shape)


def _avg_divisors(xp, size, k, s, p, out, count_include_pad):
    """Divisor of each output position along one dim (PyTorch's rule: padding
    counts, the ceil-mode overhang beyond the padding does not)."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, size + p)
    if count_include_pad:
        n = end - start
    else:
        n = np.minimum(end, size) - np.maximum(start, 0)
    return n


def avg_divisor(xp, x_shape, KH, KW, SH, SW, PH, PW, OH, OW, count_include_pad,
                divisor_override):
    if divisor_override:
        return xp.asarray(float(divisor_override))
    dh = _avg_divisors(xp, x_shape[2], KH, SH, PH, OH, count_include_pad)
    dw = _avg_divisors(xp, x_shape[3], KW, SW, PW, OW, count_include_pad)
    return xp.asarray(np.outer(dh, dw).astype(np.float64))


def avg_fwd_ref(x, KH, KW, SH, SW, PH, PW, OH, OW, divisor):
    xp = get_array_module(x)
    xpad = _padded(x, PH, PW, OH, OW, KH, KW, SH, SW, 1, 1, 0)
    total = xp.zeros(x.shape[:2] + (OH, OW), dtype=x.dtype)
    for i in range(KH):
        for j in range(KW):
            hs, ws = _tap_slices(i, j, 1, 1, SH, SW, OH, OW)
            total += xpad[:, :, hs, ws]
    return (total / divisor).astype(x.dtype)


def avg_bwd_ref(gy, x_shape, KH, KW, SH, SW, PH, PW, divisor):
    xp = get_array_module(gy)
    N, C, H, W = x_shape
    OH, OW = gy.shape[2:]
    share = (gy / divisor).astype(gy.dtype)
    HP, WP = _padded_hw(H, W, PH, PW, OH, OW, KH, KW, SH, SW, 1, 1)
    gpad = xp.zeros((N, C, HP, WP), dtype=gy.dtype)
    for i in range(KH):
        for j in range(KW):
            hs, ws = _tap_slices(i, j, 1, 1, SH, SW, OH, OW)
            gpad[:, :, hs, ws] += share
    return gpad[:, :, PH:PH + H, PW:PW + W]


# ---------------------------------------------------------------- v1: Numba CPU
_v1 = None


def _build_v1():
    numba_available()
    from numba import njit

    @njit(nogil=True, cache=True)
    def max_fwd(x, KH, KW, SH, SW, PH, PW, DH, DW, y, idx, p0, p1):
        N, C, H, W = x.shape
        OH, OW = y.shape[2], y.shape[3]
        for plane in range(p0, p1):
            n = plane // C
            c = plane % C
            for oh in range(OH):
                h0 = oh * SH - PH
                ilo = 0 if h0 >= 0 else (-h0 + DH - 1) // DH       # taps inside the input
                ihi = min(KH, (H - 1 - h0) // DH + 1)
                for ow in range(OW):
                    w0 = ow * SW - PW
                    jlo = 0 if w0 >= 0 else (-w0 + DW - 1) // DW
                    jhi = min(KW, (W - 1 - w0) // DW + 1)
                    best = x[n, c, h0 + ilo * DH, w0 + jlo * DW]
                    where = (h0 + ilo * DH) * W + w0 + jlo * DW
                    for i in range(ilo, ihi):
                        h = h0 + i * DH
                        for j in range(jlo, jhi):
                            w = w0 + j * DW
                            v = x[n, c, h, w]
                            # '>' keeps the first maximum; a NaN wins once: "not
                            # v <= best" holds for a NaN v, "best == best" fails
                            # once best is NaN. (Written this way LLVM vectorises
                            # it; with "v != v" it did not.) Selects, not
                            # branches: random data mispredicts half of them.
                            better = (not (v <= best)) & (best == best)
                            best = v if better else best
                            where = h * W + w if better else where
                    y[n, c, oh, ow] = best
                    idx[n, c, oh, ow] = where

    @njit(nogil=True, cache=True)
    def max_fwd_2x2(x, y, idx, p0, p1):
        # kernel 2, stride 2, no padding: the common case, taps unrolled
        N, C, H, W = x.shape
        OH, OW = y.shape[2], y.shape[3]
        for plane in range(p0, p1):
            n = plane // C
            c = plane % C
            for oh in range(OH):
                for ow in range(OW):
                    h, w = 2 * oh, 2 * ow
                    best = x[n, c, h, w]
                    where = h * W + w
                    for t in range(1, 4):
                        hh = h + t // 2
                        ww = w + t % 2
                        v = x[n, c, hh, ww]
                        better = (not (v <= best)) & (best == best)     # as above
                        best = v if better else best
                        where = hh * W + ww if better else where
                    y[n, c, oh, ow] = best
                    idx[n, c, oh, ow] = where

    @njit(nogil=True, cache=True)
    def max_scatter(gy, idx, gx, p0, p1):
        N, C, H, W = gx.shape
        OH, OW = gy.shape[2], gy.shape[3]
        for plane in range(p0, p1):
            n = plane // C
            c = plane % C
            flat = gx[n, c].reshape(H * W)
            flat[:] = 0
            for oh in range(OH):
                for ow in range(OW):
                    flat[idx[n, c, oh, ow]] += gy[n, c, oh, ow]

    @njit(nogil=True, cache=True)
    def avg_fwd(x, KH, KW, SH, SW, PH, PW, divisor, y, p0, p1):
        N, C, H, W = x.shape
        OH, OW = y.shape[2], y.shape[3]
        for plane in range(p0, p1):
            n = plane // C
            c = plane % C
            for oh in range(OH):
                for ow in range(OW):
                    total = 0.0
                    for i in range(KH):
                        h = oh * SH - PH + i
                        if h < 0 or h >= H:
                            continue
                        for j in range(KW):
                            w = ow * SW - PW + j
                            if 0 <= w < W:
                                total += x[n, c, h, w]
                    y[n, c, oh, ow] = total / divisor[oh, ow]

    @njit(nogil=True, cache=True)
    def avg_bwd(gy, KH, KW, SH, SW, PH, PW, divisor, gx, p0, p1):
        N, C, H, W = gx.shape
        OH, OW = gy.shape[2], gy.shape[3]
        for plane in range(p0, p1):
            n = plane // C
            c = plane % C
            for h in range(H):
                for w in range(W):
                    gx[n, c, h, w] = 0
            for oh in range(OH):
                for ow in range(OW):
                    share = gy[n, c, oh, ow] / divisor[oh, ow]
                    for i in range(KH):
                        h = oh * SH - PH + i
                        if h < 0 or h >= H:
                            continue
                        for j in range(KW):
                            w = ow * SW - PW + j
                            if 0 <= w < W:
                                gx[n, c, h, w] += share

    return max_fwd, max_scatter, avg_fwd, avg_bwd, max_fwd_2x2


def _kernels_v1():
    global _v1
    if _v1 is None:
        _v1 = _build_v1()
    return _v1


def _planes(kernel, n_planes, plane_size, *args):
    """``kernel(*args, p0, p1)`` over the N*C planes, split over tinynet's threads."""
    threads.parallel_for(kernel, n_planes, *args, grain=-(-GRAIN // max(plane_size, 1)))


def max_fwd_cpu_v1(x, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
    N, C, H, W = x.shape
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    idx = np.empty((N, C, OH, OW), dtype=np.int64)
    x = np.ascontiguousarray(x)
    if (KH, KW, SH, SW, PH, PW, DH, DW) == (2, 2, 2, 2, 0, 0, 1, 1) and \
            2 * OH <= x.shape[2] and 2 * OW <= x.shape[3]:       # (ceil mode may overhang)
        _planes(_kernels_v1()[4], N * C, H * W, x, y, idx)   # unrolled: the general loop is slower
    else:
        _planes(_kernels_v1()[0], N * C, H * W, x, KH, KW, SH, SW, PH, PW, DH, DW, y, idx)
    return y, idx


def max_scatter_cpu_v1(gy, idx, x_shape, window=None):
    N, C, H, W = x_shape
    gx = np.empty(x_shape, dtype=gy.dtype)
    _planes(_kernels_v1()[1], N * C, H * W, np.ascontiguousarray(gy),
            np.ascontiguousarray(idx), gx)
    return gx


def _divisor_2d(divisor, OH, OW):
    return np.ascontiguousarray(np.broadcast_to(np.asarray(divisor, np.float64), (OH, OW)))


def avg_fwd_cpu_v1(x, KH, KW, SH, SW, PH, PW, OH, OW, divisor):
    N, C, H, W = x.shape
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    _planes(_kernels_v1()[2], N * C, H * W, np.ascontiguousarray(x), KH, KW, SH, SW, PH, PW,
            _divisor_2d(divisor, OH, OW), y)
    return y


def avg_bwd_cpu_v1(gy, x_shape, KH, KW, SH, SW, PH, PW, divisor):
    N, C, H, W = x_shape
    gx = np.empty(x_shape, dtype=gy.dtype)
    OH, OW = gy.shape[2:]
    _planes(_kernels_v1()[3], N * C, H * W, np.ascontiguousarray(gy), KH, KW, SH, SW, PH, PW,
            _divisor_2d(divisor, OH, OW), gx)
    return gx


# ---------------------------------------------------------------- v2: Numba CUDA
_v2 = None
cuda = None          # numba.cuda, imported on first use (the simulator patches this global)


def _build_v2():
    global cuda
    numba_available()
    from numba import cuda

    @cuda.jit
    def max_fwd(x, KH, KW, SH, SW, PH, PW, DH, DW, y, idx):
        t = cuda.grid(1)
        N, C, OH, OW = y.shape
        if t >= y.size:
            return
        ow = t % OW
        oh = (t // OW) % OH
        c = (t // (OW * OH)) % C
        n = t // (OW * OH * C)
        H, W = x.shape[2], x.shape[3]
        best = x[n, c, 0, 0]
        where = -1
        for i in range(KH):
            h = oh * SH - PH + i * DH
            if h < 0 or h >= H:
                continue
            for j in range(KW):
                w = ow * SW - PW + j * DW
                if w < 0 or w >= W:
                    continue
                v = x[n, c, h, w]
                if where < 0 or v > best or (v != v and best == best):   # v != v: NaN
                    best = v
                    where = h * W + w
        y[n, c, oh, ow] = best
        idx[n, c, oh, ow] = where

    @cuda.jit
    def max_scatter(gy, idx, KH, KW, SH, SW, PH, PW, DH, DW, gx):
        t = cuda.grid(1)
        N, C, H, W = gx.shape
        if t >= gx.size:
            return
        w = t % W
        h = (t // W) % H
        c = (t // (W * H)) % C
        n = t // (W * H * C)
        OH, OW = gy.shape[2], gy.shape[3]
        me = h * W + w
        acc = 0.0
        for i in range(KH):
            th = h + PH - i * DH
            if th < 0 or th % SH != 0 or th // SH >= OH:
                continue
            for j in range(KW):
                tw = w + PW - j * DW
                if tw < 0 or tw % SW != 0 or tw // SW >= OW:
                    continue
                if idx[n, c, th // SH, tw // SW] == me:
                    acc += gy[n, c, th // SH, tw // SW]
        gx[n, c, h, w] = acc

    @cuda.jit
    def avg_fwd(x, KH, KW, SH, SW, PH, PW, divisor, y):
        t = cuda.grid(1)
        N, C, OH, OW = y.shape
        if t >= y.size:
            return
        ow = t % OW
        oh = (t // OW) % OH
        c = (t // (OW * OH)) % C
        n = t // (OW * OH * C)
        H, W = x.shape[2], x.shape[3]
        total = 0.0
        for i in range(KH):
            h = oh * SH - PH + i
            if h < 0 or h >= H:
                continue
            for j in range(KW):
                w = ow * SW - PW + j
                if 0 <= w < W:
                    total += x[n, c, h, w]
        y[n, c, oh, ow] = total / divisor[oh, ow]

    @cuda.jit
    def avg_bwd(gy, KH, KW, SH, SW, PH, PW, divisor, gx):
        t = cuda.grid(1)
        N, C, H, W = gx.shape
        if t >= gx.size:
            return
        w = t % W
        h = (t // W) % H
        c = (t // (W * H)) % C
        n = t // (W * H * C)
        OH, OW = gy.shape[2], gy.shape[3]
        acc = 0.0
        for i in range(KH):
            th = h + PH - i
            if th < 0 or th % SH != 0 or th // SH >= OH:
                continue
            for j in range(KW):
                tw = w + PW - j
                if tw < 0 or tw % SW != 0 or tw // SW >= OW:
                    continue
                acc += gy[n, c, th // SH, tw // SW] / divisor[th // SH, tw // SW]
        gx[n, c, h, w] = acc

    return max_fwd, max_scatter, avg_fwd, avg_bwd


def _kernels_v2():
    global _v2
    if _v2 is None:
        _v2 = _build_v2()
    return _v2


def max_fwd_cuda_v2(x, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
    xp = get_array_module(x)
    N, C = x.shape[:2]
    y = xp.empty((N, C, OH, OW), dtype=x.dtype)
    idx = xp.empty((N, C, OH, OW), dtype=np.int64)
    _kernels_v2()[0][_blocks(y.size), _THREADS](xp.ascontiguousarray(x), KH, KW, SH, SW,
                                                 PH, PW, DH, DW, y, idx)
    return y, idx


def max_scatter_cuda_v2(gy, idx, x_shape, window):
    """The gather needs the window geometry (the reference does not)."""
    xp = get_array_module(gy)
    gx = xp.empty(x_shape, dtype=gy.dtype)
    _kernels_v2()[1][_blocks(gx.size), _THREADS](xp.ascontiguousarray(gy),
                                                  xp.ascontiguousarray(idx), *window, gx)
    return gx


def _divisor_dev(xp, divisor, OH, OW):
    d = np.array(np.broadcast_to(np.asarray(_host(divisor), np.float64), (OH, OW)))   # a copy
    return xp.asarray(d)


def _host(a):
    return a.get() if hasattr(a, "get") else a


def avg_fwd_cuda_v2(x, KH, KW, SH, SW, PH, PW, OH, OW, divisor):
    xp = get_array_module(x)
    y = xp.empty(x.shape[:2] + (OH, OW), dtype=x.dtype)
    _kernels_v2()[2][_blocks(y.size), _THREADS](xp.ascontiguousarray(x), KH, KW, SH, SW, PH,
                                                 PW, _divisor_dev(xp, divisor, OH, OW), y)
    return y


def avg_bwd_cuda_v2(gy, x_shape, KH, KW, SH, SW, PH, PW, divisor):
    xp = get_array_module(gy)
    gx = xp.empty(x_shape, dtype=gy.dtype)
    OH, OW = gy.shape[2:]
    _kernels_v2()[3][_blocks(gx.size), _THREADS](xp.ascontiguousarray(gy), KH, KW, SH, SW, PH,
                                                  PW, _divisor_dev(xp, divisor, OH, OW), gx)
    return gx


def _numba_cuda_available():
    from tinynet.kernels.conv2d import _numba_cuda_available as check
    return check()          # one check (a tiny conv kernel launch) for both hot paths


# ---------------------------------------------------------------- table, dispatch
class Impl:
    def __init__(self, name, max_fwd, max_scatter, avg_fwd, avg_bwd, device, available):
        self.name, self.max_fwd, self.max_scatter = name, max_fwd, max_scatter
        self.avg_fwd, self.avg_bwd = avg_fwd, avg_bwd
        self.device, self.available = device, available


IMPLS = {
    "ref": Impl("ref", max_fwd_ref, max_scatter_ref, avg_fwd_ref, avg_bwd_ref, "any",
                lambda: True),
    "cpu_v1": Impl("cpu_v1", max_fwd_cpu_v1, max_scatter_cpu_v1, avg_fwd_cpu_v1,
                   avg_bwd_cpu_v1, "cpu", numba_available),
    "cuda_v2": Impl("cuda_v2", max_fwd_cuda_v2, max_scatter_cuda_v2, avg_fwd_cuda_v2,
                    avg_bwd_cuda_v2, "cuda", _numba_cuda_available),
}


def select(x):
    """The implementation for array ``x``: forced by ``TINYNET_POOL_IMPL`` /
    ``tinynet.kernels.use(pool=...)``, else the fastest for its device."""
    return pick("pool", IMPLS, x, cpu="cpu_v1", gpu="cuda_v2")


# ---------------------------------------------------------------- self-check + timing
_SHAPES = [
    # (N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, ceil_mode)
    (2, 3, 7, 6, 2, 2, 2, 2, 0, 0, 1, 1, False),
    (2, 2, 9, 8, 3, 2, 2, 3, 1, 1, 2, 1, True),
    (1, 2, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, False),
    (64, 32, 26, 26, 2, 2, 2, 2, 0, 0, 1, 1, False),   # the seed CNN's first pool
]


def _check_and_time():
    import time
    from tinynet.kernels.conv2d import _host, _on, _runs_here, _sync
    rng = np.random.default_rng(0)
    ok = True
    first_call = {}
    sim = cuda_sim_enabled()
    for (N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, ceil) in (_SHAPES[:3] if sim else _SHAPES):
        x = rng.standard_normal((N, C, H, W)).astype(np.float32)
        OH, OW = out_size(H, KH, SH, PH, DH, ceil), out_size(W, KW, SW, PW, DW, ceil)
        window = (KH, KW, SH, SW, PH, PW, DH, DW)
        ry, ridx = max_fwd_ref(x, *window, OH, OW)
        gy = rng.standard_normal(ry.shape).astype(np.float32)
        rgx = max_scatter_ref(gy, ridx, x.shape)
        div = avg_divisor(np, x.shape, KH, KW, SH, SW, PH, PW, OH, OW, True, None)
        ray = avg_fwd_ref(x, KH, KW, SH, SW, PH, PW, OH, OW, div)
        ragx = avg_bwd_ref(gy, x.shape, KH, KW, SH, SW, PH, PW, div)
        for name, impl in IMPLS.items():
            if name == "ref" or not _runs_here(impl):
                continue
            xi, gyi = _on(impl, x), _on(impl, gy)
            t0 = time.perf_counter()
            y, idx = impl.max_fwd(xi, *window, OH, OW)
            gx = impl.max_scatter(gyi, idx, x.shape, window)
            _sync(impl)
            first_call.setdefault(name, time.perf_counter() - t0)
            checks = [("max y", y, ry), ("max idx", idx, ridx), ("max gx", gx, rgx)]
            if DH == DW == 1:
                checks += [("avg y", impl.avg_fwd(xi, KH, KW, SH, SW, PH, PW, OH, OW, div), ray),
                           ("avg gx", impl.avg_bwd(gyi, x.shape, KH, KW, SH, SW, PH, PW, div),
                            ragx)]
            for what, a, b in checks:
                a = _host(a)
                if not np.allclose(a, b, rtol=1e-5, atol=1e-5):
                    ok = False
                    print(f"MISMATCH {name} {what} shape {(N, C, H, W)}: max abs diff "
                          f"{float(np.abs(a - b).max()):.3e}")
    if not ok:
        return 1
    print("pool2d: all versions match the reference")
    for name, seconds in first_call.items():
        print(f"{name}: first max-pool call {seconds:.2f} s (Numba compile, or its on-disk cache)")
    if sim:
        print("(CUDA simulator: timings skipped)")
        return 0
    N, C, H, W = _SHAPES[-1][:4]
    window = (2, 2, 2, 2, 0, 0, 1, 1)
    for name, impl in IMPLS.items():
        if not _runs_here(impl):
            continue
        x = _on(impl, rng.standard_normal((N, C, H, W)).astype(np.float32))
        times = []
        for k in range(13):
            _sync(impl)
            t0 = time.perf_counter()
            y, idx = impl.max_fwd(x, *window, H // 2, W // 2)
            impl.max_scatter(y, idx, x.shape, window)
            _sync(impl)
            if k >= 3:
                times.append(time.perf_counter() - t0)
        device = "gpu" if impl.device == "cuda" else "cpu"
        print(f"{name:8s} ({device}) max_pool 2x2 on {(N, C, H, W)}: fwd+bwd "
              f"{1e3 * float(np.median(times)):.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(_check_and_time())
