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
              thread). The backward scatters through the indices rather than
              comparing every window tap with its maximum again: it reads
              each output once and no input it does not write.
- ``cuda_v2`` Numba CUDA, ``@cuda.jit`` on CuPy arrays: one thread per
              output for the forwards; the backwards are gathers, one thread
              per input pixel visiting the windows that contain it
              (deterministic, no atomics). Under ``NUMBA_ENABLE_CUDASIM=1`` it
              runs on NumPy arrays, which is how CI tests it.

Shapes: x (N, C, H, W), y (N, C, OH, OW); indices (N, C, OH, OW) int64 hold the
flat position h * W + w of each maximum inside its input plane (PyTorch's
``return_indices`` convention). Padding never wins a max.

The CPU default is ``cpu_v1``; the GPU default is ``cuda_v2`` where Numba's
CUDA kernels work, else ``ref`` on CuPy.

``python -m tinynet.kernels.pool2d [--quick]`` checks every version against
``ref`` and then times them (``self_check``).
"""
import numpy as np

from tinynet.backend import get_array_module
from tinynet.kernels import pick
from tinynet.kernels._common import (Case, Impl, check_and_time, for_parts, launch, main,
                                     numba_available, numba_cuda_available, to_host)


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
def max_forward_ref(x, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
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


def avg_forward_ref(x, KH, KW, SH, SW, PH, PW, OH, OW, divisor):
    xp = get_array_module(x)
    xpad = _padded(x, PH, PW, OH, OW, KH, KW, SH, SW, 1, 1, 0)
    total = xp.zeros(x.shape[:2] + (OH, OW), dtype=x.dtype)
    for i in range(KH):
        for j in range(KW):
            hs, ws = _tap_slices(i, j, 1, 1, SH, SW, OH, OW)
            total += xpad[:, :, hs, ws]
    return (total / divisor).astype(x.dtype)


def avg_backward_ref(gy, x_shape, KH, KW, SH, SW, PH, PW, divisor):
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
    def max_forward(x, KH, KW, SH, SW, PH, PW, DH, DW, y, idx, p0, p1):
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
                            # once best is NaN. (Written this way so that LLVM
                            # vectorises it, which "v != v" prevents.) Selects,
                            # not branches: which tap wins is unpredictable.
                            better = (not (v <= best)) & (best == best)
                            best = v if better else best
                            where = h * W + w if better else where
                    y[n, c, oh, ow] = best
                    idx[n, c, oh, ow] = where

    @njit(nogil=True, cache=True)
    def max_forward_2x2(x, y, idx, p0, p1):
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
    def avg_forward(x, KH, KW, SH, SW, PH, PW, divisor, y, p0, p1):
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
    def avg_backward(gy, KH, KW, SH, SW, PH, PW, divisor, gx, p0, p1):
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

    return max_forward, max_scatter, avg_forward, avg_backward, max_forward_2x2


def _kernels_v1():
    global _v1
    if _v1 is None:
        _v1 = _build_v1()
    return _v1


def max_forward_cpu_v1(x, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
    N, C, H, W = x.shape
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    idx = np.empty((N, C, OH, OW), dtype=np.int64)
    x = np.ascontiguousarray(x)
    if (KH, KW, SH, SW, PH, PW, DH, DW) == (2, 2, 2, 2, 0, 0, 1, 1) and \
            2 * OH <= x.shape[2] and 2 * OW <= x.shape[3]:       # (ceil mode may overhang)
        for_parts(_kernels_v1()[4], N * C, H * W, x, y, idx)   # the common case, unrolled
    else:
        for_parts(_kernels_v1()[0], N * C, H * W, x, KH, KW, SH, SW, PH, PW, DH, DW, y, idx)
    return y, idx


def max_scatter_cpu_v1(gy, idx, x_shape, window=None):
    N, C, H, W = x_shape
    gx = np.empty(x_shape, dtype=gy.dtype)
    for_parts(_kernels_v1()[1], N * C, H * W, np.ascontiguousarray(gy),
              np.ascontiguousarray(idx), gx)
    return gx


def _divisor_2d(divisor, OH, OW):
    return np.ascontiguousarray(np.broadcast_to(np.asarray(divisor, np.float64), (OH, OW)))


def avg_forward_cpu_v1(x, KH, KW, SH, SW, PH, PW, OH, OW, divisor):
    N, C, H, W = x.shape
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    for_parts(_kernels_v1()[2], N * C, H * W, np.ascontiguousarray(x), KH, KW, SH, SW, PH, PW,
              _divisor_2d(divisor, OH, OW), y)
    return y


def avg_backward_cpu_v1(gy, x_shape, KH, KW, SH, SW, PH, PW, divisor):
    N, C, H, W = x_shape
    gx = np.empty(x_shape, dtype=gy.dtype)
    OH, OW = gy.shape[2:]
    for_parts(_kernels_v1()[3], N * C, H * W, np.ascontiguousarray(gy), KH, KW, SH, SW, PH, PW,
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
    def max_forward(x, KH, KW, SH, SW, PH, PW, DH, DW, y, idx):
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
    def avg_forward(x, KH, KW, SH, SW, PH, PW, divisor, y):
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
    def avg_backward(gy, KH, KW, SH, SW, PH, PW, divisor, gx):
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

    return max_forward, max_scatter, avg_forward, avg_backward


def _kernels_v2():
    global _v2
    if _v2 is None:
        _v2 = _build_v2()
    return _v2


def max_forward_cuda_v2(x, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
    xp = get_array_module(x)
    N, C = x.shape[:2]
    y = xp.empty((N, C, OH, OW), dtype=x.dtype)
    idx = xp.empty((N, C, OH, OW), dtype=np.int64)
    launch(_kernels_v2()[0], y.size)(xp.ascontiguousarray(x), KH, KW, SH, SW, PH, PW, DH, DW,
                                     y, idx)
    return y, idx


def max_scatter_cuda_v2(gy, idx, x_shape, window):
    """The gather needs the window geometry (the reference does not)."""
    xp = get_array_module(gy)
    gx = xp.empty(x_shape, dtype=gy.dtype)
    launch(_kernels_v2()[1], gx.size)(xp.ascontiguousarray(gy), xp.ascontiguousarray(idx),
                                      *window, gx)
    return gx


def _divisor_dev(xp, divisor, OH, OW):
    d = np.array(np.broadcast_to(np.asarray(to_host(divisor), np.float64), (OH, OW)))   # a copy
    return xp.asarray(d)


def avg_forward_cuda_v2(x, KH, KW, SH, SW, PH, PW, OH, OW, divisor):
    xp = get_array_module(x)
    y = xp.empty(x.shape[:2] + (OH, OW), dtype=x.dtype)
    launch(_kernels_v2()[2], y.size)(xp.ascontiguousarray(x), KH, KW, SH, SW, PH, PW,
                                     _divisor_dev(xp, divisor, OH, OW), y)
    return y


def avg_backward_cuda_v2(gy, x_shape, KH, KW, SH, SW, PH, PW, divisor):
    xp = get_array_module(gy)
    gx = xp.empty(x_shape, dtype=gy.dtype)
    OH, OW = gy.shape[2:]
    launch(_kernels_v2()[3], gx.size)(xp.ascontiguousarray(gy), KH, KW, SH, SW, PH, PW,
                                      _divisor_dev(xp, divisor, OH, OW), gx)
    return gx


# ---------------------------------------------------------------- table, dispatch
# max_scatter (the max-pool backward) takes the window too: the CUDA version
# gathers, so it needs the geometry; the others ignore it.
IMPLS = {
    "ref": Impl("ref", "any", max_forward=max_forward_ref, max_scatter=max_scatter_ref,
                avg_forward=avg_forward_ref, avg_backward=avg_backward_ref),
    "cpu_v1": Impl("cpu_v1", "cpu", numba_available, max_forward=max_forward_cpu_v1,
                   max_scatter=max_scatter_cpu_v1, avg_forward=avg_forward_cpu_v1,
                   avg_backward=avg_backward_cpu_v1),
    "cuda_v2": Impl("cuda_v2", "cuda", numba_cuda_available, max_forward=max_forward_cuda_v2,
                    max_scatter=max_scatter_cuda_v2, avg_forward=avg_forward_cuda_v2,
                    avg_backward=avg_backward_cuda_v2),
}


def select(x):
    """The implementation for array ``x``: forced by ``TINYNET_POOL_IMPL`` /
    ``tinynet.kernels.use(pool=...)``, else the fastest for its device."""
    return pick("pool", IMPLS, x, cpu="cpu_v1", gpu="cuda_v2")


# ---------------------------------------------------------------- self-check + timing
def _case(N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, ceil_mode, **flags):
    rng = np.random.default_rng(N * C * H * W)
    OH, OW = out_size(H, KH, SH, PH, DH, ceil_mode), out_size(W, KW, SW, PW, DW, ceil_mode)
    window = (KH, KW, SH, SW, PH, PW, DH, DW)
    label = (f"N{N} C{C} {H}x{W} k{KH}x{KW} s{SH},{SW} p{PH},{PW} d{DH},{DW}"
             + (" ceil" if ceil_mode else ""))
    r = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    divisor = avg_divisor(np, (N, C, H, W), KH, KW, SH, SW, PH, PW, OH, OW, True, None)
    return Case(label, dict(x=r(N, C, H, W), gy=r(N, C, OH, OW), window=window, out=(OH, OW),
                            divisor=divisor), **flags)


def self_check_cases():
    """Odd windows, strides, paddings, dilations and ceil mode (small), and
    the seed CNN's first pooling (checked and timed)."""
    return [
        _case(2, 3, 7, 6, 2, 2, 2, 2, 0, 0, 1, 1, False, small=True),
        _case(2, 2, 9, 8, 3, 2, 2, 3, 1, 1, 2, 1, True, small=True),
        _case(1, 2, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, False, small=True),
        _case(64, 32, 26, 26, 2, 2, 2, 2, 0, 0, 1, 1, False, timed=True),
    ]


def _run(impl, d):
    """Max pooling forward and backward; average pooling too where it is
    defined (no dilation)."""
    x, gy, window, (OH, OW) = d["x"], d["gy"], d["window"], d["out"]
    y, idx = impl.max_forward(x, *window, OH, OW)
    out = {"max y": y, "max idx": idx, "max gx": impl.max_scatter(gy, idx, x.shape, window)}
    KH, KW, SH, SW, PH, PW, DH, DW = window
    if DH == DW == 1:
        out["avg y"] = impl.avg_forward(x, KH, KW, SH, SW, PH, PW, OH, OW, d["divisor"])
        out["avg gx"] = impl.avg_backward(gy, x.shape, KH, KW, SH, SW, PH, PW, d["divisor"])
    return out


def _step(impl, d):
    """Max pooling, forward and backward (the seed CNN's)."""
    y, idx = impl.max_forward(d["x"], *d["window"], *d["out"])
    impl.max_scatter(d["gy"], idx, d["x"].shape, d["window"])


def self_check(quick=False):
    """Check every version that runs here against ``ref``, then time them
    (``python -m tinynet.kernels.pool2d [--quick]``); 0 if all match."""
    return check_and_time("pool2d", IMPLS, _run, self_check_cases(), step=_step, quick=quick)


if __name__ == "__main__":
    raise SystemExit(main(self_check))
