"""2-D convolution kernels: im2col / col2im, and the three convolution
products built on them (forward, gradient w.r.t. input, w.r.t. weight).

Versions (one IMPLS entry each; the GEMMs are always xp.matmul, i.e. BLAS on
the CPU and cuBLAS through CuPy on the GPU):

- ``ref``     NumPy/CuPy reference, the oracle: im2col by KH*KW strided
              slices of the padded input, col2im by the matching slice-adds.
              Works on CuPy arrays unchanged.
- ``cpu_v1``  Numba CPU, serial GIL-free loops split over tinynet's threads
              (``kernels/threads.py``): im2col by rows of the column matrix
              (C*KH*KW of them), col2im by input planes (N*C; each plane is
              written by one thread, so no atomics), around whole-batch
              GEMMs. Compiled once, cached on disk.
- ``cuda_v2`` Numba CUDA, ``@cuda.jit``, on CuPy arrays (through
              ``__cuda_array_interface__``): im2col with one thread per column
              entry; col2im as a gather, one thread per input pixel summing
              the column entries that map to it (deterministic, no atomics).
              Under ``NUMBA_ENABLE_CUDASIM=1`` it runs on NumPy arrays, which
              is how CI tests it without a GPU.
- ``cpu_v3``  Numba CPU, batch-parallel: the batch in chunks whose column
              matrix stays in cache, serial GIL-free im2col/col2im, one GEMM
              per chunk; the weight gradient redoes the chunk's im2col
              instead of keeping the forward's. With a single-threaded BLAS
              (or, after ``tinynet.tune_process()``, one made so for the
              call) one tinynet thread per core takes chunks; otherwise one
              thread takes them all and each GEMM uses BLAS's threads.

Shapes: x (N, C, H, W), w (O, C/groups, KH, KW), y (N, O, OH, OW); SH, SW
strides, PH, PW paddings, DH, DW dilations. The column matrix is laid out
(C, KH, KW, N, OH, OW) so that one GEMM per group gives
y = w (O, C*KH*KW) @ cols (C*KH*KW, N*OH*OW).

The CPU default is ``cpu_v3`` where BLAS runs on at most
``CPU_V3_MAX_THREADS`` threads, else ``cpu_v1`` (``cpu_default()``); the GPU
default is ``cuda_v2`` where Numba's CUDA kernels work, else ``ref`` on CuPy.

``python -m tinynet.kernels.conv2d [--quick]`` checks every version against
``ref`` and then times them (``self_check``).
"""
import os
import threading

import numpy as np

from tinynet.backend import get_array_module
from tinynet.kernels import pick, threads, workspace
from tinynet.kernels._common import (Case, Impl, check_and_time, for_parts, launch, main,
                                     numba_available, numba_cuda_available)


def out_size(size, k, s, p, d):
    """Output length of a convolution along one dim (floor mode)."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


# ---------------------------------------------------------------- v0: reference
def im2col_ref(x, KH, KW, SH, SW, PH, PW, DH, DW):
    xp = get_array_module(x)
    N, C, H, W = x.shape
    OH, OW = out_size(H, KH, SH, PH, DH), out_size(W, KW, SW, PW, DW)
    xpad = xp.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))
    cols = xp.empty((C, KH, KW, N, OH, OW), dtype=x.dtype)
    for i in range(KH):
        for j in range(KW):
            # the input pixels that kernel tap (i, j) sees, for every output
            patch = xpad[:, :, i * DH:i * DH + SH * (OH - 1) + 1:SH,
                         j * DW:j * DW + SW * (OW - 1) + 1:SW]
            cols[:, i, j] = patch.transpose(1, 0, 2, 3)
    return cols


def col2im_ref(cols, x_shape, SH, SW, PH, PW, DH, DW):
    xp = get_array_module(cols)
    N, C, H, W = x_shape
    _, KH, KW, _, OH, OW = cols.shape
    gpad = xp.zeros((N, C, H + 2 * PH, W + 2 * PW), dtype=cols.dtype)
    for i in range(KH):
        for j in range(KW):
            gpad[:, :, i * DH:i * DH + SH * (OH - 1) + 1:SH,
                 j * DW:j * DW + SW * (OW - 1) + 1:SW] += cols[:, i, j].transpose(1, 0, 2, 3)
    return gpad[:, :, PH:PH + H, PW:PW + W]


# ---------------------------------------------------------------- v1: Numba CPU
_v1 = None


def _build_v1():
    numba_available()
    from numba import njit

    @njit(nogil=True, cache=True)
    def im2col(x, KH, KW, SH, SW, PH, PW, DH, DW, cols, r0, r1):
        # rows [r0, r1) of the column matrix, one (c, i, j) each
        N, C, H, W = x.shape
        OH, OW = cols.shape[4], cols.shape[5]
        for row in range(r0, r1):
            c = row // (KH * KW)
            i = (row // KW) % KH
            j = row % KW
            for n in range(N):
                for oh in range(OH):
                    h = oh * SH - PH + i * DH
                    if h < 0 or h >= H:
                        for ow in range(OW):
                            cols[c, i, j, n, oh, ow] = 0
                        continue
                    for ow in range(OW):
                        w = ow * SW - PW + j * DW
                        if 0 <= w < W:
                            cols[c, i, j, n, oh, ow] = x[n, c, h, w]
                        else:
                            cols[c, i, j, n, oh, ow] = 0

    @njit(nogil=True, cache=True)
    def col2im(cols, SH, SW, PH, PW, DH, DW, gx, p0, p1):
        # input planes [p0, p1) of gx, one (n, c) each
        N, C, H, W = gx.shape
        KH, KW, OH, OW = cols.shape[1], cols.shape[2], cols.shape[4], cols.shape[5]
        for plane in range(p0, p1):
            n = plane // C
            c = plane % C
            for h in range(H):
                for w in range(W):
                    gx[n, c, h, w] = 0
            for i in range(KH):
                for j in range(KW):
                    for oh in range(OH):
                        h = oh * SH - PH + i * DH
                        if h < 0 or h >= H:
                            continue
                        for ow in range(OW):
                            w = ow * SW - PW + j * DW
                            if 0 <= w < W:
                                gx[n, c, h, w] += cols[c, i, j, n, oh, ow]

    return im2col, col2im


def _kernels_v1():
    global _v1
    if _v1 is None:
        _v1 = _build_v1()
    return _v1


def _cpu_im2col(kernel, x, KH, KW, SH, SW, PH, PW, DH, DW):
    """A Numba CPU im2col kernel, run whole on this thread, on a fresh column matrix."""
    N, C, H, W = x.shape
    OH, OW = out_size(H, KH, SH, PH, DH), out_size(W, KW, SW, PW, DW)
    cols = np.empty((C, KH, KW, N, OH, OW), dtype=x.dtype)
    kernel(np.ascontiguousarray(x), KH, KW, SH, SW, PH, PW, DH, DW, cols)
    return cols


def _cpu_col2im(kernel, cols, x_shape, SH, SW, PH, PW, DH, DW):
    gx = np.empty(x_shape, dtype=cols.dtype)
    kernel(np.ascontiguousarray(cols), SH, SW, PH, PW, DH, DW, gx)
    return gx


def im2col_cpu_v1(x, KH, KW, SH, SW, PH, PW, DH, DW):
    N, C, H, W = x.shape
    OH, OW = out_size(H, KH, SH, PH, DH), out_size(W, KW, SW, PW, DW)
    cols = np.empty((C, KH, KW, N, OH, OW), dtype=x.dtype)
    for_parts(_kernels_v1()[0], C * KH * KW, N * OH * OW,       # a row of cols per item
              np.ascontiguousarray(x), KH, KW, SH, SW, PH, PW, DH, DW, cols)
    return cols


def col2im_cpu_v1(cols, x_shape, SH, SW, PH, PW, DH, DW):
    N, C, H, W = x_shape
    gx = np.empty(x_shape, dtype=cols.dtype)
    for_parts(_kernels_v1()[1], N * C, H * W,                    # an input plane per item
              np.ascontiguousarray(cols), SH, SW, PH, PW, DH, DW, gx)
    return gx


# ---------------------------------------------------------------- v2: Numba CUDA
_v2 = None
cuda = None          # numba.cuda, imported on first use (the simulator patches this global)


def _build_v2():
    global cuda
    numba_available()
    from numba import cuda

    @cuda.jit
    def im2col(x, KH, KW, SH, SW, PH, PW, DH, DW, cols):
        t = cuda.grid(1)
        C, _, _, N, OH, OW = cols.shape
        if t >= cols.size:
            return
        ow = t % OW
        oh = (t // OW) % OH
        n = (t // (OW * OH)) % N
        j = (t // (OW * OH * N)) % KW
        i = (t // (OW * OH * N * KW)) % KH
        c = t // (OW * OH * N * KW * KH)
        h = oh * SH - PH + i * DH
        w = ow * SW - PW + j * DW
        H, W = x.shape[2], x.shape[3]
        if 0 <= h < H and 0 <= w < W:
            cols[c, i, j, n, oh, ow] = x[n, c, h, w]
        else:
            cols[c, i, j, n, oh, ow] = 0

    @cuda.jit
    def col2im(cols, SH, SW, PH, PW, DH, DW, gx):
        t = cuda.grid(1)
        N, C, H, W = gx.shape
        if t >= gx.size:
            return
        w = t % W
        h = (t // W) % H
        c = (t // (W * H)) % C
        n = t // (W * H * C)
        KH, KW, OH, OW = cols.shape[1], cols.shape[2], cols.shape[4], cols.shape[5]
        acc = 0.0
        for i in range(KH):
            th = h + PH - i * DH
            if th < 0 or th % SH != 0 or th // SH >= OH:
                continue
            oh = th // SH
            for j in range(KW):
                tw = w + PW - j * DW
                if tw < 0 or tw % SW != 0 or tw // SW >= OW:
                    continue
                acc += cols[c, i, j, n, oh, tw // SW]
        gx[n, c, h, w] = acc

    return im2col, col2im


def _kernels_v2():
    global _v2
    if _v2 is None:
        _v2 = _build_v2()
    return _v2


def im2col_cuda_v2(x, KH, KW, SH, SW, PH, PW, DH, DW):
    xp = get_array_module(x)
    N, C, H, W = x.shape
    OH, OW = out_size(H, KH, SH, PH, DH), out_size(W, KW, SW, PW, DW)
    cols = xp.empty((C, KH, KW, N, OH, OW), dtype=x.dtype)
    launch(_kernels_v2()[0], cols.size)(xp.ascontiguousarray(x), KH, KW, SH, SW, PH, PW, DH, DW,
                                        cols)
    return cols


def col2im_cuda_v2(cols, x_shape, SH, SW, PH, PW, DH, DW):
    xp = get_array_module(cols)
    gx = xp.empty(x_shape, dtype=cols.dtype)
    launch(_kernels_v2()[1], gx.size)(xp.ascontiguousarray(cols), SH, SW, PH, PW, DH, DW, gx)
    return gx


# ---------------------------------------------------------------- v3: batch-parallel CPU
# One tinynet thread per core, each taking the next chunk of the batch, a
# chunk small enough that its column matrix stays in cache; every GEMM is
# single-threaded BLAS. No two thread pools (Numba's and BLAS's) take turns
# waking between the steps, and the column matrix never makes a round trip
# through memory. The forward keeps no column matrix (the weight gradient
# redoes the chunk's im2col, in cache), so a conv layer's graph holds only
# its input.
# A chunk's column matrix: larger than a core's private L2, so that there are
# few chunks (each is a GEMM call and a step of the reduction), and small
# enough that the shared L3 still holds every thread's chunk between its
# im2col and its GEMM.
CHUNK_BYTES = 2 << 20
_v3 = None
_inside = None                   # the jitted helper below, a global so the kernels can be cached


def _build_v3():
    global _inside
    numba_available()
    from numba import njit, uint64

    # Serial, GIL-free kernels on flat views: unsigned offsets let LLVM drop
    # the negative-index checks, so the inner loops vectorise.
    @njit(nogil=True, cache=True, inline="always")
    def inside(OW, SW, woff, W):
        """The output columns [lo, hi) whose input column ow*SW + woff is in [0, W)."""
        lo = 0
        while lo < OW and lo * SW + woff < 0:
            lo += 1
        hi = lo
        while hi < OW and hi * SW + woff < W:
            hi += 1
        return lo, hi

    _inside = inside                 # (a closure variable would defeat Numba's disk cache)

    @njit(nogil=True, cache=True, boundscheck=False)
    def im2col(x, KH, KW, SH, SW, PH, PW, DH, DW, cols):
        N, C, H, W = x.shape
        OH, OW = cols.shape[4], cols.shape[5]
        xf, cf = x.ravel(), cols.ravel()
        for row in range(C * KH * KW):
            c, i, j = row // (KH * KW), (row // KW) % KH, row % KW
            woff = j * DW - PW
            lo, hi = _inside(OW, SW, woff, W)
            for n in range(N):
                for oh in range(OH):
                    d = uint64(((row * N + n) * OH + oh) * OW)
                    h = oh * SH - PH + i * DH
                    if h < 0 or h >= H or hi == lo:  # a row of padding
                        for ow in range(uint64(OW)):
                            cf[d + ow] = 0
                        continue
                    for ow in range(uint64(lo)):
                        cf[d + ow] = 0
                    s = uint64(((n * C + c) * H + h) * W + lo * SW + woff)
                    dl = d + uint64(lo)
                    if SW == 1:                      # a plain copy: vectorised
                        for k in range(uint64(hi - lo)):
                            cf[dl + k] = xf[s + k]
                    else:
                        for k in range(uint64(hi - lo)):
                            cf[dl + k] = xf[s + k * uint64(SW)]
                    for ow in range(uint64(hi), uint64(OW)):
                        cf[d + ow] = 0

    @njit(nogil=True, cache=True, boundscheck=False)
    def col2im(cols, SH, SW, PH, PW, DH, DW, gx):
        N, C, H, W = gx.shape
        KH, KW, OH, OW = cols.shape[1], cols.shape[2], cols.shape[4], cols.shape[5]
        gf, cf = gx.ravel(), cols.ravel()
        for k in range(uint64(gf.size)):
            gf[k] = 0
        for plane in range(N * C):
            n, c = plane // C, plane % C
            base = uint64(plane * H * W)
            for j in range(KW):
                woff = j * DW - PW
                lo, hi = _inside(OW, SW, woff, W)
                for i in range(KH):
                    row = (c * KH + i) * KW + j
                    for oh in range(OH):
                        h = oh * SH - PH + i * DH
                        if h < 0 or h >= H:
                            continue
                        s = uint64(((row * N + n) * OH + oh) * OW + lo)
                        d = base + uint64(h * W + lo * SW + woff)
                        if SW == 1:
                            for k in range(uint64(hi - lo)):
                                gf[d + k] += cf[s + k]
                        else:
                            for k in range(uint64(hi - lo)):
                                gf[d + k * uint64(SW)] += cf[s + k]

    @njit(nogil=True, cache=True)
    def gemm_to_nchw(y2, bias, o0, y):
        # y2 (Og, N, P), one group's GEMM result -> y[:, o0:o0+Og] of y (N, O, P), + bias
        Og, N, P = y2.shape
        for n in range(N):
            for o in range(Og):
                b = bias[o0 + o] if bias.size else 0
                src, dst = y2[o, n], y[n, o0 + o]
                for p in range(P):
                    dst[p] = src[p] + b

    @njit(nogil=True, cache=True, fastmath={"reassoc"})
    def nchw_to_rows(gy, gy2, gb):
        # gy (N, O, P) -> gy2 (O, N, P), the GEMMs' layout; gb[o] += sum over n, p
        N, O, P = gy.shape
        for o in range(O):
            total = 0.0                              # float64, whatever the dtype
            for n in range(N):
                src, dst = gy[n, o], gy2[o, n]
                for p in range(P):
                    dst[p] = src[p]
                    total += src[p]
            gb[o] += total

    return im2col, col2im, gemm_to_nchw, nchw_to_rows


def _kernels_v3():
    global _v3
    if _v3 is None:
        _v3 = _build_v3()
    return _v3


def im2col_cpu_v3(x, *args):          # (unfold/fold: one thread, the whole batch)
    return _cpu_im2col(_kernels_v3()[0], x, *args)


def col2im_cpu_v3(cols, x_shape, *args):
    return _cpu_col2im(_kernels_v3()[1], cols, x_shape, *args)


def conv_threads():
    """Threads the batch-parallel convolution uses: ``TINYNET_CONV_THREADS``
    if set; else ``threads.count()`` (one per core by default) when each
    chunk's GEMM can run on one BLAS thread: BLAS is single-threaded already,
    or ``tinynet.tune_process()`` lets the call make it so. Otherwise 1: the
    chunks run one after another, each GEMM on BLAS's own threads. Always 1
    when BLAS's threads can neither be read nor set."""
    from tinynet.kernels import blas_threads
    env = os.environ.get("TINYNET_CONV_THREADS")
    if env and (not env.isdigit() or int(env) < 1):
        raise ValueError(f"TINYNET_CONV_THREADS must be a positive integer, got {env!r}")
    blas = blas_threads.threads()
    if blas is None:
        return 1
    if env:
        return int(env)
    return threads.count() if blas == 1 or blas_threads.switching_allowed() else 1


# The chunk count is rounded up to a multiple of this (where the batch
# allows), so that one, two or four threads share the chunks evenly.
CHUNK_MULTIPLE = 4


def _chunks(N, sample_bytes):
    """The split of range(N) into chunks [a, a + nb): each chunk's column
    matrix (``sample_bytes`` per sample) about CHUNK_BYTES, the chunk count a
    multiple of CHUNK_MULTIPLE where the batch allows. It depends on the
    problem only, never on the threads that run the call, the thread
    settings or what other calls are running: the chunk sums, and so the
    result bits, are the same whatever else happens."""
    n = -(-N // max(1, CHUNK_BYTES // sample_bytes))     # ceil
    n = min(N, CHUNK_MULTIPLE * -(-n // CHUNK_MULTIPLE))
    bounds = [N * k // n for k in range(n + 1)] if n else [0]   # even sizes
    return [(a, b - a) for a, b in zip(bounds, bounds[1:])]


class _InOrder:
    """Feeds chunk results to ``reduce`` in chunk order, as soon as each is
    next, and holds back a thread whose chunk is ``window`` or more ahead of
    the next one to reduce: at most ``window`` results wait at any time."""

    def __init__(self, reduce, window):
        self.reduce, self.window = reduce, window
        self.done, self.waiting, self.stopped = 0, {}, False
        self.cond = threading.Condition()

    def wait_turn(self, k):
        """False if the call has failed meanwhile (stop)."""
        with self.cond:
            while k - self.done >= self.window and not self.stopped:
                self.cond.wait()
            return not self.stopped

    def put(self, k, result):
        with self.cond:
            self.waiting[k] = result
            while self.done in self.waiting:
                self.reduce(self.waiting.pop(self.done))
                self.done += 1
            self.cond.notify_all()

    def stop(self):
        with self.cond:
            self.stopped = True
            self.cond.notify_all()


def _for_chunks(N, sample_bytes, start, step, reduce=None):
    """``step(state, a, nb)`` for every chunk [a, a + nb) of range(N) (see
    ``_chunks``), on ``conv_threads()`` threads; ``start(B)`` makes a
    thread's scratch ``state`` for chunks of up to B samples. ``reduce``, if
    given, receives the steps' results in chunk order (the same sums every
    run), each as soon as all earlier ones are in.

    Threads take the next chunk when they finish one, so a thread that gets
    less of its core does fewer. After an error no thread takes another
    chunk, and the error is raised once all have stopped.
    """
    chunks = _chunks(N, sample_bytes)
    T = max(1, min(conv_threads(), len(chunks)))
    B = max((nb for _, nb in chunks), default=1)
    tasks = threads.Tasks(len(chunks))
    order = _InOrder(reduce, 2 * T) if reduce is not None else None

    def work():
        state = None
        while (k := tasks.take()) is not None:
            try:
                if order is not None and not order.wait_turn(k):
                    return
                if state is None:
                    state = start(B)
                result = step(state, *chunks[k])
                if order is not None:
                    order.put(k, result)
            except BaseException:        # noqa: B902
                tasks.failed = True
                if order is not None:
                    order.stop()
                raise

    if T <= 1:
        work()
        return
    from tinynet.kernels import blas_threads
    with blas_threads.single_threaded():         # only after tune_process()
        threads.run(work, T)


def conv2d_forward_cpu_v3(x, w, stride, padding, dilation, groups, bias=None):
    (SH, SW), (PH, PW), (DH, DW) = stride, padding, dilation
    im2col, _, gemm_to_nchw, _ = _kernels_v3()
    x = np.ascontiguousarray(x)
    N, C, H, W = x.shape
    O, Cg, KH, KW = w.shape
    G, Og, CK = groups, O // groups, C * KH * KW
    OH, OW = out_size(H, KH, SH, PH, DH), out_size(W, KW, SW, PW, DW)
    P = OH * OW
    y = np.empty((N, O, OH, OW), dtype=x.dtype)
    w3 = w.reshape(G, Og, CK // G)
    b = np.empty(0, x.dtype) if bias is None else np.ascontiguousarray(bias)

    def start(B):                        # one thread's scratch (reused across calls)
        return workspace.empty(CK * B * P, x.dtype), workspace.empty(Og * B * P, x.dtype)

    def step(state, a, nb):
        cols = state[0][:CK * nb * P].reshape(C, KH, KW, nb, OH, OW)
        im2col(x[a:a + nb], KH, KW, SH, SW, PH, PW, DH, DW, cols)
        cols3, y2 = cols.reshape(G, CK // G, nb * P), state[1][:Og * nb * P].reshape(Og, nb * P)
        for g in range(G):
            np.matmul(w3[g], cols3[g], out=y2)
            gemm_to_nchw(y2.reshape(Og, nb, P), b, g * Og, y[a:a + nb].reshape(nb, O, P))

    _for_chunks(N, CK * P * x.dtype.itemsize, start, step)
    return y, None                       # no column matrix kept: the backward redoes it


def conv2d_backward_cpu_v3(gy, w, x, x_shape, stride, padding, dilation, groups,
                           need_x=True, need_w=True, need_b=False):
    """(gx, gw, gb) of one convolution in a single pass over the batch; each is
    None unless asked for. ``x`` is needed only for gw, and only the shape of
    ``w`` unless gx is asked for.

    Each chunk's weight-gradient part is added to the total as soon as the
    parts before it are in (chunk order: the same sum every run), and its
    buffer is reused by a later chunk, so only a few parts exist at once."""
    (SH, SW), (PH, PW), (DH, DW) = stride, padding, dilation
    im2col, col2im, _, nchw_to_rows = _kernels_v3()
    gy = np.ascontiguousarray(gy)
    N, C, H, W = x_shape
    _, O, OH, OW = gy.shape
    _, Cg, KH, KW = w.shape
    G, Og, CK, P = groups, O // groups, C * KH * KW, OH * OW
    if need_x:
        wt = np.ascontiguousarray(w.reshape(G, Og, CK // G).transpose(0, 2, 1))  # (G, CKg, Og)
    if need_w:
        x = np.ascontiguousarray(x)
    gx = np.empty(x_shape, dtype=gy.dtype) if need_x else None
    gw_t = np.zeros((G, CK // G, Og), dtype=gy.dtype) if need_w else None
    gb = np.zeros(O)                                       # float64 sums
    spare = []                           # weight-gradient part buffers, free for reuse

    def start(B):                        # scratch: column matrix (then its gradient), gy rows
        return workspace.empty(CK * B * P, gy.dtype), workspace.empty(O * B * P, gy.dtype)

    def step(state, a, nb):
        gy2 = state[1][:O * nb * P].reshape(O, nb, P)
        gb_part = np.zeros(O)
        nchw_to_rows(gy[a:a + nb].reshape(nb, O, P), gy2, gb_part)
        gy3 = gy2.reshape(G, Og, nb * P)
        cols = state[0][:CK * nb * P].reshape(C, KH, KW, nb, OH, OW)
        cols3 = cols.reshape(G, CK // G, nb * P)
        part = None
        if need_w:
            im2col(x[a:a + nb], KH, KW, SH, SW, PH, PW, DH, DW, cols)
            try:
                part = spare.pop()
            except IndexError:
                part = workspace.empty((G, CK // G, Og), gy.dtype)
            np.matmul(cols3, gy3.transpose(0, 2, 1), out=part)     # (G, CKg, Og)
        if need_x:                       # the same buffer now takes the column gradient
            for g in range(G):
                np.matmul(wt[g], gy3[g], out=cols3[g])
            col2im(cols, SH, SW, PH, PW, DH, DW, gx[a:a + nb])
        return part, gb_part

    def reduce(result):                  # in chunk order (see _for_chunks)
        part, gb_part = result
        if part is not None:
            np.add(gw_t, part, out=gw_t)
            spare.append(part)
        np.add(gb, gb_part, out=gb)

    _for_chunks(N, CK * P * gy.dtype.itemsize, start, step, reduce)
    gw = np.ascontiguousarray(gw_t.transpose(0, 2, 1)).reshape(w.shape) if need_w else None
    return gx, gw, gb.astype(gy.dtype) if need_b else None


# ---------------------------------------------------------------- table, dispatch
# Every version has im2col and col2im (also behind ``unfold``/``fold``);
# ``forward``/``backward`` are the whole convolution for versions that
# organise it themselves, None for those that use the im2col + GEMM
# products below.
IMPLS = {
    "ref": Impl("ref", "any", im2col=im2col_ref, col2im=col2im_ref,
                forward=None, backward=None),
    "cpu_v1": Impl("cpu_v1", "cpu", numba_available, im2col=im2col_cpu_v1, col2im=col2im_cpu_v1,
                   forward=None, backward=None),
    "cuda_v2": Impl("cuda_v2", "cuda", numba_cuda_available, im2col=im2col_cuda_v2,
                    col2im=col2im_cuda_v2, forward=None, backward=None),
    "cpu_v3": Impl("cpu_v3", "cpu", numba_available, im2col=im2col_cpu_v3, col2im=col2im_cpu_v3,
                   forward=conv2d_forward_cpu_v3, backward=conv2d_backward_cpu_v3),
}


# Where BLAS runs on more threads than this, cpu_v1 is the CPU default:
# cpu_v3's threads then compete with BLAS's own, which keep spinning for a
# while after every multi-threaded product elsewhere in the step, and on many
# cores that costs more than the batch split gains (docs/kernels.md,
# "Deliberate choices").
CPU_V3_MAX_THREADS = 2


def cpu_default():
    """The CPU version ``select()`` picks: ``cpu_v3`` where BLAS uses at most
    CPU_V3_MAX_THREADS threads (or cannot be controlled), else ``cpu_v1``."""
    from tinynet.kernels import blas_threads
    return "cpu_v3" if (blas_threads.threads() or 1) <= CPU_V3_MAX_THREADS else "cpu_v1"


def select(x):
    """The implementation for array ``x``: forced by ``TINYNET_CONV_IMPL`` /
    ``tinynet.kernels.use(conv=...)``, else the fastest for its device."""
    return pick("conv", IMPLS, x, cpu=cpu_default(), gpu="cuda_v2")


# ---------------------------------------------------------------- the three products
def conv2d_forward(x, w, stride, padding, dilation, groups, impl=None, bias=None):
    """y (N, O, OH, OW) and the column matrix (kept for the weight gradient).

    ``bias`` (O,) is added while the GEMM's (O, N, ...) result is rearranged
    to (N, O, ...): one pass over y instead of two."""
    xp = get_array_module(x)
    impl = impl or select(x)
    if impl.forward is not None:
        return impl.forward(x, w, stride, padding, dilation, groups, bias)
    (SH, SW), (PH, PW), (DH, DW) = stride, padding, dilation
    N, C, H, W = x.shape
    O, Cg, KH, KW = w.shape
    cols = impl.im2col(x, KH, KW, SH, SW, PH, PW, DH, DW)
    OH, OW = cols.shape[4], cols.shape[5]
    G = groups
    y = xp.matmul(w.reshape(G, O // G, Cg * KH * KW),
                  cols.reshape(G, Cg * KH * KW, N * OH * OW))
    y = y.reshape(O, N, OH, OW).transpose(1, 0, 2, 3)
    if bias is not None:
        # out= keeps the result C-contiguous (y + b alone would follow y's
        # transposed memory order and slow every later op)
        out = xp.empty((N, O, OH, OW), dtype=y.dtype)
        return xp.add(y, bias.reshape(1, O, 1, 1), out=out), cols
    return xp.ascontiguousarray(y), cols


def conv2d_backward_input(gy, w, x_shape, stride, padding, dilation, groups, impl=None):
    """gx = the adjoint of the convolution applied to gy (a transposed conv)."""
    xp = get_array_module(gy)
    impl = impl or select(gy)
    if impl.backward is not None:
        return impl.backward(gy, w, None, x_shape, stride, padding, dilation, groups,
                             need_x=True, need_w=False)[0]
    (SH, SW), (PH, PW), (DH, DW) = stride, padding, dilation
    N, O, OH, OW = gy.shape
    _, Cg, KH, KW = w.shape
    G = groups
    gy2 = gy.transpose(1, 0, 2, 3).reshape(G, O // G, N * OH * OW)
    gcols = xp.matmul(w.reshape(G, O // G, Cg * KH * KW).transpose(0, 2, 1), gy2)
    gcols = gcols.reshape(G * Cg, KH, KW, N, OH, OW)
    return impl.col2im(gcols, x_shape, SH, SW, PH, PW, DH, DW)


def conv2d_backward_weight(x, gy, w_shape, stride, padding, dilation, groups, cols=None,
                           impl=None):
    """gw (O, C/groups, KH, KW); reuses the forward's column matrix if given."""
    xp = get_array_module(x)
    impl = impl or select(x)
    if impl.backward is not None:
        return impl.backward(gy, np.empty(w_shape, gy.dtype), x, x.shape, stride, padding,
                             dilation, groups, need_x=False, need_w=True)[1]
    (SH, SW), (PH, PW), (DH, DW) = stride, padding, dilation
    N, O, OH, OW = gy.shape
    _, Cg, KH, KW = w_shape
    G = groups
    if cols is None:
        cols = impl.im2col(x, KH, KW, SH, SW, PH, PW, DH, DW)
    gy2 = gy.transpose(1, 0, 2, 3).reshape(G, O // G, N * OH * OW)
    gw = xp.matmul(gy2, cols.reshape(G, Cg * KH * KW, N * OH * OW).transpose(0, 2, 1))
    return gw.reshape(w_shape)


def conv2d_backward(gy, x, w, stride, padding, dilation, groups, cols=None,
                    needs=(True, True, False), impl=None):
    """(gx, gw, gb) for the needed ones (None for the others): the plain
    backward of a convolution, in one pass where the version has one."""
    impl = impl or select(gy)
    need_x, need_w, need_b = needs
    if impl.backward is not None:
        return impl.backward(gy, w, x, x.shape, stride, padding, dilation, groups,
                             need_x, need_w, need_b)
    gx = conv2d_backward_input(gy, w, x.shape, stride, padding, dilation, groups, impl) \
        if need_x else None
    gw = conv2d_backward_weight(x, gy, w.shape, stride, padding, dilation, groups, cols, impl) \
        if need_w else None
    gb = gy.sum(axis=(0, 2, 3)) if need_b else None
    return gx, gw, gb


# ---------------------------------------------------------------- self-check + timing
def _case(N, C, H, W, O, KH, KW, stride, padding, dilation, groups, **flags):
    rng = np.random.default_rng(N * C * H * W * O)
    OH = out_size(H, KH, stride[0], padding[0], dilation[0])
    OW = out_size(W, KW, stride[1], padding[1], dilation[1])
    r = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    label = (f"N{N} C{C}->O{O} {H}x{W} k{KH}x{KW} s{stride[0]},{stride[1]} "
             f"p{padding[0]},{padding[1]} d{dilation[0]},{dilation[1]} g{groups}")
    return Case(label, dict(x=r(N, C, H, W), w=r(O, C // groups, KH, KW), b=r(O),
                            gy=r(N, O, OH, OW), args=(stride, padding, dilation, groups)),
                **flags)


def self_check_cases():
    """Odd shapes, strides, paddings, dilations and groups (small), and the
    seed CNN's two convolutions (timed)."""
    return [
        _case(2, 3, 7, 6, 4, 3, 3, (1, 1), (1, 1), (1, 1), 1, small=True),
        _case(2, 4, 9, 9, 6, 3, 2, (2, 3), (2, 0), (2, 1), 2, small=True),
        _case(1, 4, 5, 5, 4, 1, 1, (3, 3), (0, 0), (1, 1), 4, small=True),
        _case(64, 1, 28, 28, 32, 3, 3, (1, 1), (0, 0), (1, 1), 1, timed=True),   # conv A
        _case(64, 32, 13, 13, 64, 3, 3, (1, 1), (0, 0), (1, 1), 1, timed=True),  # conv B
    ]


def _run(impl, d):
    """Every product on its own, and the plain backward's one call."""
    x, w, gy, args = d["x"], d["w"], d["gy"], d["args"]
    y, cols = conv2d_forward(x, w, *args, impl, bias=d["b"])
    gx = conv2d_backward_input(gy, w, x.shape, *args, impl)
    gw = conv2d_backward_weight(x, gy, w.shape, *args, None, impl)
    both = conv2d_backward(gy, x, w, *args, cols, (True, True, True), impl)
    return {"y": y, "gx": gx, "gw": gw, "plain gx": both[0], "plain gw": both[1],
            "plain gb": both[2]}


def _step(impl, d):
    """What a training step runs: the forward, then the plain backward."""
    y, cols = conv2d_forward(d["x"], d["w"], *d["args"], impl, bias=d["b"])
    conv2d_backward(d["gy"], d["x"], d["w"], *d["args"], cols, (True, True, True), impl)


def _tolerance(what, want):
    # float32 sums of thousands of terms, in another order: an entry near
    # zero can differ by far more than 1e-4 of itself
    return 1e-4, 1e-5 * max(1.0, float(np.abs(want).max(initial=0)))


def _rate(d, seconds):
    N, C, H, W = d["x"].shape
    O, Cg, KH, KW = d["w"].shape
    OH, OW = d["gy"].shape[2:]
    flops = 3 * 2 * N * O * OH * OW * Cg * KH * KW        # forward, grad input, grad weight
    return f"{flops / seconds / 1e9:6.1f} GFLOP/s"


def self_check(quick=False):
    """Check every version that runs here against ``ref``, then time them
    (``python -m tinynet.kernels.conv2d [--quick]``); 0 if all match."""
    return check_and_time("conv2d", IMPLS, _run, self_check_cases(), step=_step,
                          tolerance=_tolerance, rate=_rate, quick=quick)


if __name__ == "__main__":
    raise SystemExit(main(self_check))
