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
- ``cpu_v4``  Winograd F(2x2, 3x3) for 3x3 kernels at stride 1, dilation 1,
              one group (any padding): 16 products per 2x2 output tile and
              channel pair instead of 36, as 16 BLAS GEMMs over the whole
              batch; transforms in Numba on images transposed to (C, H, W, N),
              split over tinynet's threads; the backward is the forward's
              exact adjoint. Other convolutions go to ``cpu_v3``.
- ``cpu_v5``  Numba CPU direct loops (one group): each output row computed
              tap by tap (all nine at once for 3x3 at stride 1), for
              convolutions whose outputs sum few taps, where im2col's GEMM
              has too short an inner dimension. Other convolutions go to
              ``cpu_v3``.
- ``cpu_v6``  The per-shape choice (``cpu_route``): ``cpu_v5`` where an output
              sums at most DIRECT_MAX_TAPS taps, else ``cpu_v3`` (``cpu_v4``
              where it applies only with ``ROUTE_WINOGRAD``, off: it does not
              win in a training step here).
- ``cuda_v7`` Numba CUDA direct, for the same few-tap convolutions as
              ``cpu_v5``: one thread per output; the weight and bias
              gradients one block per entry (a float64 tree reduction);
              the input gradient, and other shapes, ``cuda_v2``'s.

Accuracy: every version is within 1e-5 * max|ref| (float32) and
1e-12 * max|ref| (float64) of the float64 reference on the tested shapes
(tests/kernels/test_conv_winograd_direct.py).

Shapes: x (N, C, H, W), w (O, C/groups, KH, KW), y (N, O, OH, OW); SH, SW
strides, PH, PW paddings, DH, DW dilations. The column matrix is laid out
(C, KH, KW, N, OH, OW) so that one GEMM per group gives
y = w (O, C*KH*KW) @ cols (C*KH*KW, N*OH*OW).

The CPU default is ``cpu_v6`` where BLAS runs on at most
``CPU_V3_MAX_THREADS`` threads, else ``cpu_v1`` (``cpu_default()``); the GPU
default is ``cuda_v2`` where Numba's CUDA kernels work (``cuda_v7`` for the
convolutions ``gpu_route`` gives it, unless a version is forced), else
``ref`` on CuPy.

``python -m tinynet.kernels.conv2d [--quick]`` checks every version against
``ref`` and then times them (``self_check``).
"""
import os
import threading

import numpy as np

from tinynet.backend import get_array_module
from tinynet.kernels import forced, pick, threads, workspace
from tinynet.kernels._common import (Case, Impl, check_and_time, configure, for_parts, launch,
                                     main, numba_available, numba_cuda_available)


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


# ---------------------------------------------------------------- v4: Winograd F(2x2, 3x3)
# For 3x3 kernels at stride 1, dilation 1, one group: the output in 2x2
# tiles, each from a 4x4 tile of the (zero-padded) input, with 16
# element-wise products per tile and input-output channel pair where im2col
# needs 36 (Lavin and Gray, "Fast Algorithms for Convolutional Neural
# Networks"). Y = A^T [(G g G^T) * (B^T d B)] A per tile, with
#   B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
#   G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
#   A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]
# The sums over channels are 16 GEMMs, one per point p of the 4x4 tile:
# M[p] (O, TT*N) = U[p] (O, C) @ V[p] (C, TT*N), TT = tiles per image.
# The backward is the exact adjoint of that chain: the output gradient goes
# through A's adjoint (Z = A gy A^T per tile), then gV[p] = U[p]^T @ Z[p]
# and gU[p] = Z[p] @ V[p]^T; gx is gV through the input transform's adjoint
# (tiles overlap by two rows and columns; each channel is summed by one
# thread), gw = G^T gU G.
#
# Layout: the transforms work on images transposed to (C, H, W, N), the
# batch innermost, so that every loop runs over the batch with unit stride
# (small images have too few tiles per row to fill a vector). The 16 point
# matrices of V, M, Z and gV live in the rows of one (16, L + WINO_SKEW)
# buffer: with rows exactly L apart (a multiple of 4 KiB for many shapes)
# the 16 streams a transform writes would fall in the same cache sets.
# Transforms are serial GIL-free Numba loops over channel ranges on
# tinynet's threads; the GEMMs are NumPy's BLAS on its own threads.
WINO_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
WINO_SKEW = 16
_v4 = None


def _build_v4():
    numba_available()
    from numba import njit, uint64

    @njit(nogil=True, cache=True, boundscheck=False)
    def to_cwhn(x, PH, PW, xt, c0, c1):
        # xt (C, Hp, Wp, N)[c, h + PH, w + PW, n] = x (N, C, H, W)[n, c, h, w], 0 elsewhere
        N, C, H, W = x.shape
        Hp, Wp = xt.shape[1], xt.shape[2]
        for c in range(c0, c1):
            for h in range(Hp):
                hh = h - PH
                for w in range(Wp):
                    ww = w - PW
                    if 0 <= hh < H and 0 <= ww < W:
                        for n in range(N):
                            xt[c, h, w, n] = x[n, c, hh, ww]
                    else:
                        for n in range(N):
                            xt[c, h, w, n] = 0

    @njit(nogil=True, cache=True, boundscheck=False)
    def from_cwhn(xt, PH, PW, bias, x, c0, c1):
        # x (N, C, H, W)[n, c, h, w] = xt (C, Hp, Wp, N)[c, h + PH, w + PW, n] (+ bias[c])
        N, C, H, W = x.shape
        for c in range(c0, c1):
            b = bias[c] if bias.size else 0
            for n in range(N):
                for h in range(H):
                    for w in range(W):
                        x[n, c, h, w] = xt[c, h + PH, w + PW, n] + b

    @njit(nogil=True, cache=True, boundscheck=False)
    def input_transform(xt, TH, TW, V, c0, c1):
        # V[p, ((c*TH + th)*TW + tw)*N + n] = (B^T d B)[p], d = xt[c, 2th:2th+4, 2tw:2tw+4, n]
        C, Hp, Wp, N = xt.shape
        xf = xt.ravel()
        R, S = uint64(Wp * N), uint64(N)
        for c in range(c0, c1):
            for th in range(TH):
                for tw in range(TW):
                    s = uint64(((c * Hp + 2 * th) * Wp + 2 * tw) * N)
                    d = uint64(((c * TH + th) * TW + tw) * N)
                    for n in range(uint64(N)):
                        q = s + n
                        d00, d01, d02, d03 = xf[q], xf[q + S], xf[q + 2 * S], xf[q + 3 * S]
                        q += R
                        d10, d11, d12, d13 = xf[q], xf[q + S], xf[q + 2 * S], xf[q + 3 * S]
                        q += R
                        d20, d21, d22, d23 = xf[q], xf[q + S], xf[q + 2 * S], xf[q + 3 * S]
                        q += R
                        d30, d31, d32, d33 = xf[q], xf[q + S], xf[q + 2 * S], xf[q + 3 * S]
                        a0, a1, a2, a3 = d00 - d20, d01 - d21, d02 - d22, d03 - d23   # B^T d
                        b0, b1, b2, b3 = d10 + d20, d11 + d21, d12 + d22, d13 + d23
                        e0, e1, e2, e3 = d20 - d10, d21 - d11, d22 - d12, d23 - d13
                        f0, f1, f2, f3 = d10 - d30, d11 - d31, d12 - d32, d13 - d33
                        o = d + n                                                   # (B^T d) B
                        V[0, o], V[1, o], V[2, o], V[3, o] = a0 - a2, a1 + a2, a2 - a1, a1 - a3
                        V[4, o], V[5, o], V[6, o], V[7, o] = b0 - b2, b1 + b2, b2 - b1, b1 - b3
                        V[8, o], V[9, o], V[10, o], V[11, o] = e0 - e2, e1 + e2, e2 - e1, e1 - e3
                        V[12, o], V[13, o], V[14, o], V[15, o] = f0 - f2, f1 + f2, f2 - f1, f1 - f3

    @njit(nogil=True, cache=True, boundscheck=False)
    def output_transform(M, TH, TW, yt, o0, o1):
        # yt (O, 2TH, 2TW, N)[o, 2th + a, 2tw + b, n] = (A^T m A)[a, b], m = M[:, tile]
        O, Hp, Wp, N = yt.shape
        yf = yt.ravel()
        R, S = uint64(Wp * N), uint64(N)
        for o in range(o0, o1):
            for th in range(TH):
                for tw in range(TW):
                    s = uint64(((o * TH + th) * TW + tw) * N)
                    d = uint64(((o * Hp + 2 * th) * Wp + 2 * tw) * N)
                    for n in range(uint64(N)):
                        q = s + n
                        r0 = M[0, q] + M[4, q] + M[8, q]                # A^T m, row 0
                        r1 = M[1, q] + M[5, q] + M[9, q]
                        r2 = M[2, q] + M[6, q] + M[10, q]
                        r3 = M[3, q] + M[7, q] + M[11, q]
                        u0 = M[4, q] - M[8, q] - M[12, q]               # row 1
                        u1 = M[5, q] - M[9, q] - M[13, q]
                        u2 = M[6, q] - M[10, q] - M[14, q]
                        u3 = M[7, q] - M[11, q] - M[15, q]
                        e = d + n
                        yf[e], yf[e + S] = r0 + r1 + r2, r1 - r2 - r3
                        yf[e + R], yf[e + R + S] = u0 + u1 + u2, u1 - u2 - u3

    @njit(nogil=True, cache=True, boundscheck=False, fastmath={"reassoc"})
    def output_adjoint(gyt, TH, TW, Z, gb, o0, o1):
        # Z[:, tile] = A g A^T, g = gyt (O, 2TH, 2TW, N)[o, 2th:2th+2, 2tw:2tw+2, n];
        # gb[o] = the sum of gyt[o] (zero outside gy), in float64
        O, Hp, Wp, N = gyt.shape
        gf = gyt.ravel()
        R, S = uint64(Wp * N), uint64(N)
        for o in range(o0, o1):
            total = 0.0
            for k in range(uint64(o * Hp * Wp * N), uint64((o + 1) * Hp * Wp * N)):
                total += gf[k]
            gb[o] = total
            for th in range(TH):
                for tw in range(TW):
                    s = uint64(((o * Hp + 2 * th) * Wp + 2 * tw) * N)
                    d = uint64(((o * TH + th) * TW + tw) * N)
                    for n in range(uint64(N)):
                        q = s + n
                        g00, g01, g10, g11 = gf[q], gf[q + S], gf[q + R], gf[q + R + S]
                        s0, s1 = g00 + g10, g01 + g11                   # A g, rows 1, 2
                        t0, t1 = g00 - g10, g01 - g11
                        e = d + n                                        # (A g) A^T
                        Z[0, e], Z[1, e], Z[2, e], Z[3, e] = g00, g00 + g01, g00 - g01, -g01
                        Z[4, e], Z[5, e], Z[6, e], Z[7, e] = s0, s0 + s1, s0 - s1, -s1
                        Z[8, e], Z[9, e], Z[10, e], Z[11, e] = t0, t0 + t1, t0 - t1, -t1
                        Z[12, e], Z[13, e], Z[14, e], Z[15, e] = -g10, -g10 - g11, g11 - g10, g11

    @njit(nogil=True, cache=True, boundscheck=False)
    def input_adjoint(gV, TH, TW, gxt, c0, c1):
        # gxt (C, Hp, Wp, N) = the sum over tiles of B e B^T, e = gV[:, tile], added
        # where the forward read the tile; channels [c0, c1), zeroed first
        C, Hp, Wp, N = gxt.shape
        gf = gxt.ravel()
        R, S = uint64(Wp * N), uint64(N)
        for k in range(uint64(c0 * Hp * Wp * N), uint64(c1 * Hp * Wp * N)):
            gf[k] = 0
        for c in range(c0, c1):
            for th in range(TH):
                for tw in range(TW):
                    s = uint64(((c * TH + th) * TW + tw) * N)
                    d = uint64(((c * Hp + 2 * th) * Wp + 2 * tw) * N)
                    for n in range(uint64(N)):
                        q = s + n
                        # B e: rows r0..r3, each over the tile's 4 columns
                        r00, r01, r02, r03 = gV[0, q], gV[1, q], gV[2, q], gV[3, q]
                        r30, r31, r32, r33 = -gV[12, q], -gV[13, q], -gV[14, q], -gV[15, q]
                        r10 = gV[4, q] - gV[8, q] + gV[12, q]
                        r11 = gV[5, q] - gV[9, q] + gV[13, q]
                        r12 = gV[6, q] - gV[10, q] + gV[14, q]
                        r13 = gV[7, q] - gV[11, q] + gV[15, q]
                        r20 = gV[8, q] - gV[0, q] + gV[4, q]
                        r21 = gV[9, q] - gV[1, q] + gV[5, q]
                        r22 = gV[10, q] - gV[2, q] + gV[6, q]
                        r23 = gV[11, q] - gV[3, q] + gV[7, q]
                        e = d + n                                        # (B e) B^T
                        gf[e] += r00
                        gf[e + S] += r01 - r02 + r03
                        gf[e + 2 * S] += r02 - r00 + r01
                        gf[e + 3 * S] -= r03
                        e += R
                        gf[e] += r10
                        gf[e + S] += r11 - r12 + r13
                        gf[e + 2 * S] += r12 - r10 + r11
                        gf[e + 3 * S] -= r13
                        e += R
                        gf[e] += r20
                        gf[e + S] += r21 - r22 + r23
                        gf[e + 2 * S] += r22 - r20 + r21
                        gf[e + 3 * S] -= r23
                        e += R
                        gf[e] += r30
                        gf[e + S] += r31 - r32 + r33
                        gf[e + 2 * S] += r32 - r30 + r31
                        gf[e + 3 * S] -= r33

    return to_cwhn, from_cwhn, input_transform, output_transform, output_adjoint, input_adjoint


def _kernels_v4():
    global _v4
    if _v4 is None:
        _v4 = _build_v4()
    return _v4


def winograd_covers(w_shape, stride, dilation, groups):
    """Whether ``cpu_v4``'s Winograd kernels compute this convolution (3x3,
    stride 1, dilation 1, one group); it hands any other to ``cpu_v3``."""
    return (tuple(w_shape[2:]) == (3, 3) and tuple(stride) == (1, 1)
            and tuple(dilation) == (1, 1) and groups == 1)


def _wino_weights(w):
    """U (16, O, C) = G w G^T per (o, c), point p = 4*a + b: two plain
    products (a batch of O*C tiny ones costs far more)."""
    O, C = w.shape[:2]
    G = WINO_G.astype(w.dtype)
    t = np.ascontiguousarray(w).reshape(O * C * 3, 3) @ G.T            # [oc, i, b]
    t = np.ascontiguousarray(t.reshape(O * C, 3, 4).transpose(0, 2, 1))  # [oc, b, i]
    U = t.reshape(O * C * 4, 3) @ G.T                                  # [oc, b, a]
    return np.ascontiguousarray(U.reshape(O, C, 4, 4).transpose(3, 2, 0, 1)).reshape(16, O, C)


def _wino_weight_grad(gU, O, C):
    """gw (O, C, 3, 3) = G^T gU G per (o, c), gU (16, O, C) (the adjoint of
    ``_wino_weights``)."""
    G = WINO_G.astype(gU.dtype)
    t = np.ascontiguousarray(gU.reshape(4, 4, O * C).transpose(2, 0, 1))  # [oc, a, b]
    t = t.reshape(O * C * 4, 4) @ G                                      # [oc, a, j]
    t = np.ascontiguousarray(t.reshape(O * C, 4, 3).transpose(0, 2, 1))  # [oc, j, a]
    gw = t.reshape(O * C * 3, 4) @ G                                     # [oc, j, i]
    return np.ascontiguousarray(gw.reshape(O, C, 3, 3).transpose(0, 1, 3, 2))


def _wino_points(rows, cols, dtype):
    """A (16, rows*cols) scratch buffer of point matrices (rows WINO_SKEW
    apart from a dense layout) and its (16, rows, cols) view for the GEMMs."""
    buf = workspace.empty((16, rows * cols + WINO_SKEW), dtype)
    return buf, buf[:, :rows * cols].reshape(16, rows, cols)


def _wino_geometry(x_shape, padding):
    N, C, H, W = x_shape
    PH, PW = padding
    OH, OW = out_size(H, 3, 1, PH, 1), out_size(W, 3, 1, PW, 1)
    TH, TW = (OH + 1) // 2, (OW + 1) // 2
    return OH, OW, TH, TW


def _wino_input(x, padding, TH, TW):
    """V (16, C*TH*TW*N), the input transform of every tile, and its GEMM view."""
    to_cwhn, _, input_transform = _kernels_v4()[:3]
    N, C = x.shape[:2]
    xt = workspace.empty((C, 2 * TH + 2, 2 * TW + 2, N), x.dtype)
    threads.parallel_for(to_cwhn, C, x, padding[0], padding[1], xt)
    V, V3 = _wino_points(C, TH * TW * N, x.dtype)
    threads.parallel_for(input_transform, C, xt, TH, TW, V)
    return V, V3


def conv2d_forward_cpu_v4(x, w, stride, padding, dilation, groups, bias=None):
    if not winograd_covers(w.shape, stride, dilation, groups):
        return conv2d_forward_cpu_v3(x, w, stride, padding, dilation, groups, bias)
    _, from_cwhn, _, output_transform, _, _ = _kernels_v4()
    x = np.ascontiguousarray(x)
    N, C, H, W = x.shape
    O = w.shape[0]
    OH, OW, TH, TW = _wino_geometry(x.shape, padding)
    V, V3 = _wino_input(x, padding, TH, TW)
    M, M3 = _wino_points(O, TH * TW * N, x.dtype)
    np.matmul(_wino_weights(w), V3, out=M3)
    del V, V3
    yt = workspace.empty((O, 2 * TH, 2 * TW, N), x.dtype)
    threads.parallel_for(output_transform, O, M, TH, TW, yt)
    del M, M3
    y = np.empty((N, O, OH, OW), dtype=x.dtype)
    b = np.empty(0, x.dtype) if bias is None else np.ascontiguousarray(bias)
    threads.parallel_for(from_cwhn, O, yt, 0, 0, b, y)
    return y, None


def conv2d_backward_cpu_v4(gy, w, x, x_shape, stride, padding, dilation, groups,
                           need_x=True, need_w=True, need_b=False):
    """(gx, gw, gb) as ``conv2d_backward_cpu_v3``, by the adjoint of the
    Winograd forward (the forward's tiles; no flipped weights)."""
    if not winograd_covers(w.shape, stride, dilation, groups):
        return conv2d_backward_cpu_v3(gy, w, x, x_shape, stride, padding, dilation, groups,
                                      need_x, need_w, need_b)
    to_cwhn, from_cwhn, _, _, output_adjoint, input_adjoint = _kernels_v4()
    gy = np.ascontiguousarray(gy)
    N, C, H, W = x_shape
    O = gy.shape[1]
    OH, OW, TH, TW = _wino_geometry(x_shape, padding)
    gyt = workspace.empty((O, 2 * TH, 2 * TW, N), gy.dtype)
    threads.parallel_for(to_cwhn, O, gy, 0, 0, gyt)
    Z, Z3 = _wino_points(O, TH * TW * N, gy.dtype)
    gb64 = np.empty(O)
    threads.parallel_for(output_adjoint, O, gyt, TH, TW, Z, gb64)
    del gyt
    gx = gw = gb = None
    if need_w:
        V, V3 = _wino_input(np.ascontiguousarray(x), padding, TH, TW)
        gU = np.matmul(Z3, V3.transpose(0, 2, 1))              # (16, O, C)
        del V, V3
        gw = _wino_weight_grad(gU, O, C)
    if need_x:
        gV, gV3 = _wino_points(C, TH * TW * N, gy.dtype)
        np.matmul(_wino_weights(w).transpose(0, 2, 1), Z3, out=gV3)
        gxt = workspace.empty((C, 2 * TH + 2, 2 * TW + 2, N), gy.dtype)
        threads.parallel_for(input_adjoint, C, gV, TH, TW, gxt)
        del gV, gV3
        gx = np.empty(x_shape, dtype=gy.dtype)
        threads.parallel_for(from_cwhn, C, gxt, padding[0], padding[1],
                             np.empty(0, gy.dtype), gx)
    if need_b:
        gb = gb64.astype(gy.dtype)
    return gx, gw, gb


# ---------------------------------------------------------------- v5: direct CPU
# For convolutions with few taps per output (C/groups * KH * KW small: a
# first layer on a one-channel image) the im2col product has an inner
# dimension too short for a GEMM to pay; these loops compute each output
# plane directly, one kernel tap at a time over whole rows (vectorised), the
# plane staying in L1. The forward splits the batch over tinynet's threads,
# the weight (and bias) gradient the output channels, each summed in float64
# in a fixed order. The input gradient, where each input pixel gathers
# O*KH*KW taps, is cpu_v4's (Winograd where it applies, else cpu_v3's).
DIRECT_MAX_TAPS = 9
_v5 = None


def _build_v5():
    numba_available()
    from numba import njit, uint64

    # Flat views and unsigned offsets (as cpu_v3's kernels), so that the
    # inner loops over an output row vectorise.
    @njit(nogil=True, cache=True, boundscheck=False, inline="always")
    def row_range(OW, SW, woff, W):
        # output columns [lo, hi) whose input column ow*SW + woff is in [0, W)
        lo = 0
        while lo < OW and lo * SW + woff < 0:
            lo += 1
        hi = lo
        while hi < OW and hi * SW + woff < W:
            hi += 1
        return lo, hi

    @njit(nogil=True, cache=True, boundscheck=False)
    def forward(x, w, bias, SH, SW, PH, PW, DH, DW, y, n0, n1):
        N, C, H, W = x.shape
        O, _, KH, KW = w.shape
        OH, OW = y.shape[2], y.shape[3]
        xf, yf = x.ravel(), y.ravel()
        for n in range(n0, n1):
            for o in range(O):
                b = bias[o] if bias.size else 0
                ybase = uint64((n * O + o) * OH * OW)
                for k in range(uint64(OH * OW)):
                    yf[ybase + k] = b
                for c in range(C):
                    xbase = (n * C + c) * H * W
                    for j in range(KW):
                        woff = j * DW - PW
                        lo, hi = row_range(OW, SW, woff, W)
                        for i in range(KH):
                            wv = w[o, c, i, j]
                            for oh in range(OH):
                                h = oh * SH - PH + i * DH
                                if h < 0 or h >= H:
                                    continue
                                d = ybase + uint64(oh * OW + lo)
                                s = uint64(xbase + h * W + lo * SW + woff)
                                if SW == 1:
                                    for k in range(uint64(hi - lo)):
                                        yf[d + k] += wv * xf[s + k]
                                else:
                                    for k in range(uint64(hi - lo)):
                                        yf[d + k] += wv * xf[s + k * uint64(SW)]

    @njit(nogil=True, cache=True, boundscheck=False, fastmath={"reassoc"})
    def grad_weight(x, gy, SH, SW, PH, PW, DH, DW, gw, gb, o0, o1):
        # gw (O, C, KH, KW) and gb (O,) in float64, output channels [o0, o1);
        # each output row's dot product in the arrays' dtype, their sum in float64
        N, C, H, W = x.shape
        _, _, KH, KW = gw.shape
        OH, OW = gy.shape[2], gy.shape[3]
        xf, yf = x.ravel(), gy.ravel()
        for o in range(o0, o1):
            for n in range(N):
                ybase = (n * gy.shape[1] + o) * OH * OW
                tb = 0.0
                for oh in range(OH):
                    s = yf[0] * 0
                    r = uint64(ybase + oh * OW)
                    for k in range(uint64(OW)):
                        s += yf[r + k]
                    tb += s
                gb[o] += tb
                for c in range(C):
                    xbase = (n * C + c) * H * W
                    for j in range(KW):
                        woff = j * DW - PW
                        lo, hi = row_range(OW, SW, woff, W)
                        for i in range(KH):
                            t = 0.0
                            for oh in range(OH):
                                h = oh * SH - PH + i * DH
                                if h < 0 or h >= H:
                                    continue
                                r = uint64(ybase + oh * OW + lo)
                                q = uint64(xbase + h * W + lo * SW + woff)
                                s = yf[0] * 0
                                if SW == 1:
                                    for k in range(uint64(hi - lo)):
                                        s += yf[r + k] * xf[q + k]
                                else:
                                    for k in range(uint64(hi - lo)):
                                        s += yf[r + k] * xf[q + k * uint64(SW)]
                                t += s
                            gw[o, c, i, j] += t

    # The 3x3 stride-1 kernels below index rows of 2-D views (LLVM vectorises
    # these nine-tap loops, not their flat-offset form).
    @njit(nogil=True, cache=True, boundscheck=False)
    def forward3(x, w, bias, y, n0, n1):
        # 3x3, stride 1, no padding: each output row takes its nine taps at once
        N, C, H, W = x.shape
        O = w.shape[0]
        OH, OW = y.shape[2], y.shape[3]
        for n in range(n0, n1):
            for o in range(O):
                b = bias[o] if bias.size else y.dtype.type(0)
                for oh in range(OH):
                    yr = y[n, o, oh]
                    for k in range(OW):
                        yr[k] = b
                for c in range(C):
                    w00, w01, w02 = w[o, c, 0, 0], w[o, c, 0, 1], w[o, c, 0, 2]
                    w10, w11, w12 = w[o, c, 1, 0], w[o, c, 1, 1], w[o, c, 1, 2]
                    w20, w21, w22 = w[o, c, 2, 0], w[o, c, 2, 1], w[o, c, 2, 2]
                    for oh in range(OH):
                        x0, x1, x2, yr = x[n, c, oh], x[n, c, oh + 1], x[n, c, oh + 2], y[n, o, oh]
                        for k in range(OW):
                            yr[k] += (w00 * x0[k] + w01 * x0[k + 1] + w02 * x0[k + 2]
                                      + w10 * x1[k] + w11 * x1[k + 1] + w12 * x1[k + 2]
                                      + w20 * x2[k] + w21 * x2[k + 1] + w22 * x2[k + 2])

    @njit(nogil=True, cache=True, boundscheck=False, fastmath={"reassoc"})
    def grad_weight3(x, gy, gw, gb, o0, o1):
        # 3x3, stride 1, no padding: gw (O, C, 3, 3) and gb (O,) in float64,
        # output channels [o0, o1); the nine sums of an output plane at once,
        # in the arrays' dtype, added to the float64 totals plane by plane
        N, C, H, W = x.shape
        OH, OW = gy.shape[2], gy.shape[3]
        for o in range(o0, o1):
            for n in range(N):
                for c in range(C):
                    z = gy.dtype.type(0)
                    a00 = a01 = a02 = a10 = a11 = a12 = a20 = a21 = a22 = ab = z
                    for oh in range(OH):
                        g, x0, x1, x2 = gy[n, o, oh], x[n, c, oh], x[n, c, oh + 1], x[n, c, oh + 2]
                        for k in range(OW):
                            gk = g[k]
                            ab += gk
                            a00 += gk * x0[k]
                            a01 += gk * x0[k + 1]
                            a02 += gk * x0[k + 2]
                            a10 += gk * x1[k]
                            a11 += gk * x1[k + 1]
                            a12 += gk * x1[k + 2]
                            a20 += gk * x2[k]
                            a21 += gk * x2[k + 1]
                            a22 += gk * x2[k + 2]
                    gw[o, c, 0, 0] += a00
                    gw[o, c, 0, 1] += a01
                    gw[o, c, 0, 2] += a02
                    gw[o, c, 1, 0] += a10
                    gw[o, c, 1, 1] += a11
                    gw[o, c, 1, 2] += a12
                    gw[o, c, 2, 0] += a20
                    gw[o, c, 2, 1] += a21
                    gw[o, c, 2, 2] += a22
                    if c == 0:
                        gb[o] += ab

    return forward, grad_weight, forward3, grad_weight3


def _kernels_v5():
    global _v5
    if _v5 is None:
        _v5 = _build_v5()
    return _v5


def direct_covers(w_shape, groups):
    """Whether ``cpu_v5``'s direct loops compute this convolution (one group;
    any stride, padding, dilation); it hands any other to ``cpu_v3``."""
    return groups == 1


def _direct3(w_shape, stride, dilation):
    """3x3 at stride 1, dilation 1: the kernels that take all nine taps of a
    row at once (on the zero-padded input)."""
    return tuple(w_shape[2:]) == (3, 3) and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)


def _padded(x, padding):
    PH, PW = padding
    x = np.ascontiguousarray(x)
    return np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW))) if PH or PW else x


def conv2d_forward_cpu_v5(x, w, stride, padding, dilation, groups, bias=None):
    if not direct_covers(w.shape, groups):
        return conv2d_forward_cpu_v3(x, w, stride, padding, dilation, groups, bias)
    (SH, SW), (PH, PW), (DH, DW) = stride, padding, dilation
    x, w = np.ascontiguousarray(x), np.ascontiguousarray(w)
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    OH, OW = out_size(H, KH, SH, PH, DH), out_size(W, KW, SW, PW, DW)
    y = np.empty((N, O, OH, OW), dtype=x.dtype)
    b = np.empty(0, x.dtype) if bias is None else np.ascontiguousarray(bias)
    if _direct3(w.shape, stride, dilation):
        threads.parallel_for(_kernels_v5()[2], N, _padded(x, padding), w, b, y)
    else:
        threads.parallel_for(_kernels_v5()[0], N, x, w, b, SH, SW, PH, PW, DH, DW, y)
    return y, None


def conv2d_backward_cpu_v5(gy, w, x, x_shape, stride, padding, dilation, groups,
                           need_x=True, need_w=True, need_b=False):
    if not direct_covers(w.shape, groups):
        return conv2d_backward_cpu_v3(gy, w, x, x_shape, stride, padding, dilation, groups,
                                      need_x, need_w, need_b)
    (SH, SW), (PH, PW), (DH, DW) = stride, padding, dilation
    _, grad_weight, _, grad_weight3 = _kernels_v5()
    gy = np.ascontiguousarray(gy)
    O = gy.shape[1]
    gx = gw = gb = None
    if need_x:
        # each input pixel gathers O*KH*KW taps: a product's work (Winograd's
        # where it applies, else im2col's), not the direct loops'
        gx = conv2d_backward_cpu_v4(gy, w, None, x_shape, stride, padding, dilation, groups,
                                    need_x=True, need_w=False)[0]
    if need_w or need_b:
        gw64, gb64 = np.zeros(w.shape), np.zeros(O)
        if _direct3(w.shape, stride, dilation):
            threads.parallel_for(grad_weight3, O, _padded(x, padding), gy, gw64, gb64)
        else:
            threads.parallel_for(grad_weight, O, np.ascontiguousarray(x), gy,
                                 SH, SW, PH, PW, DH, DW, gw64, gb64)
        gw = gw64.astype(gy.dtype) if need_w else None
        gb = gb64.astype(gy.dtype) if need_b else None
    return gx, gw, gb


# ---------------------------------------------------------------- v6: per-shape CPU choice
# Whether cpu_v6 gives the convolutions cpu_v4 covers to it. Off: measured
# in a training step's process, the Winograd transforms (memory passes that
# the batch-parallel im2col avoids) cost more than the products they save
# (docs/kernels.md, "Fewer multiplications").
ROUTE_WINOGRAD = False


def cpu_route(w_shape, stride, dilation, groups):
    """The CPU version for one convolution (``cpu_v6``, the CPU default where
    ``cpu_v3`` would be): ``cpu_v5`` (direct) when each output sums at most
    DIRECT_MAX_TAPS taps, else ``cpu_v4`` (Winograd) where it applies and
    ROUTE_WINOGRAD is set, else ``cpu_v3``."""
    if groups == 1 and w_shape[1] * w_shape[2] * w_shape[3] <= DIRECT_MAX_TAPS:
        return "cpu_v5"
    if ROUTE_WINOGRAD and winograd_covers(w_shape, stride, dilation, groups):
        return "cpu_v4"
    return "cpu_v3"


def conv2d_forward_cpu_v6(x, w, stride, padding, dilation, groups, bias=None):
    impl = IMPLS[cpu_route(w.shape, stride, dilation, groups)]
    return impl.forward(x, w, stride, padding, dilation, groups, bias)


def conv2d_backward_cpu_v6(gy, w, x, x_shape, stride, padding, dilation, groups,
                           need_x=True, need_w=True, need_b=False):
    impl = IMPLS[cpu_route(w.shape, stride, dilation, groups)]
    return impl.backward(gy, w, x, x_shape, stride, padding, dilation, groups,
                         need_x, need_w, need_b)


# ---------------------------------------------------------------- v7: direct CUDA
# cpu_v5's idea on a GPU: for a convolution whose outputs sum at most
# DIRECT_MAX_TAPS taps (the seed CNN's first layer), im2col writes a column
# matrix nine times the input for a GEMM with an inner dimension of nine.
# Here one thread computes one output from the input directly, and the
# weight and bias gradients are reductions, one block per weight (and per
# bias) entry, each thread summing a strided share of the N*OH*OW products
# in float64, then a tree in shared memory. The input gradient, and every
# convolution with more taps, is cuda_v2's.
_v7 = {}


def _v7_threads():
    # a block's threads; the simulator runs each in Python, so it gets few
    from tinynet.kernels._common import cuda_sim_enabled
    return 8 if cuda_sim_enabled() else 128


def _build_v7(T, nthreads):
    global cuda
    numba_available()
    from numba import cuda, float64

    @cuda.jit
    def forward(x, w, bias, has_bias, SH, SW, PH, PW, DH, DW, y):
        t = cuda.grid(1)
        if t >= y.size:
            return
        N, O, OH, OW = y.shape
        C, H, W = x.shape[1], x.shape[2], x.shape[3]
        KH, KW = w.shape[2], w.shape[3]
        ow = t % OW
        oh = (t // OW) % OH
        o = (t // (OW * OH)) % O
        n = t // (OW * OH * O)
        acc = bias[o] if has_bias else T(0)
        for c in range(C):
            for i in range(KH):
                h = oh * SH - PH + i * DH
                if 0 <= h < H:
                    for j in range(KW):
                        v = ow * SW - PW + j * DW
                        if 0 <= v < W:
                            acc += w[o, c, i, j] * x[n, c, h, v]
        y[n, o, oh, ow] = acc

    @cuda.jit
    def grad_weight(x, gy, SH, SW, PH, PW, DH, DW, gw, gb):
        # block e < gw.size: the weight entry e; block gw.size + o: the bias o
        e = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        N, O, OH, OW = gy.shape
        C, H, W = x.shape[1], x.shape[2], x.shape[3]
        KH, KW = gw.shape[2], gw.shape[3]
        acc = 0.0
        if e < gw.size:
            j = e % KW
            i = (e // KW) % KH
            c = (e // (KW * KH)) % C
            o = e // (KW * KH * C)
            for k in range(tid, N * OH * OW, nthreads):
                ow = k % OW
                oh = (k // OW) % OH
                n = k // (OW * OH)
                h = oh * SH - PH + i * DH
                v = ow * SW - PW + j * DW
                if 0 <= h < H and 0 <= v < W:
                    acc += float64(gy[n, o, oh, ow]) * float64(x[n, c, h, v])
        else:
            o = e - gw.size
            for k in range(tid, N * OH * OW, nthreads):
                acc += float64(gy[k // (OW * OH), o, (k // OW) % OH, k % OW])
        part = cuda.shared.array(nthreads, float64)
        part[tid] = acc
        cuda.syncthreads()
        step = nthreads // 2
        while step > 0:
            if tid < step:
                part[tid] += part[tid + step]
            cuda.syncthreads()
            step //= 2
        if tid == 0:
            if e < gw.size:
                gw.reshape(gw.size)[e] = T(part[0])
            else:
                gb[e - gw.size] = T(part[0])

    return forward, grad_weight


def _kernels_v7(dtype):
    key = (np.dtype(dtype), _v7_threads())
    if key not in _v7:
        _v7[key] = _build_v7(key[0].type, key[1])
    return _v7[key]


def gpu_route(w_shape, groups):
    """The GPU version for one convolution: ``cuda_v7`` (direct) where each
    output sums at most DIRECT_MAX_TAPS taps, else ``cuda_v2``."""
    taps = w_shape[1] * w_shape[2] * w_shape[3]
    return "cuda_v7" if groups == 1 and taps <= DIRECT_MAX_TAPS else "cuda_v2"


def conv2d_forward_cuda_v7(x, w, stride, padding, dilation, groups, bias=None):
    if gpu_route(w.shape, groups) != "cuda_v7" or x.dtype not in (np.float32, np.float64):
        return conv2d_forward(x, w, stride, padding, dilation, groups, IMPLS["cuda_v2"], bias)
    (SH, SW), (PH, PW), (DH, DW) = stride, padding, dilation
    xp = get_array_module(x)
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    y = xp.empty((N, O, out_size(H, KH, SH, PH, DH), out_size(W, KW, SW, PW, DW)), x.dtype)
    b = xp.zeros(1, x.dtype) if bias is None else xp.ascontiguousarray(bias, dtype=x.dtype)
    if y.size:
        launch(_kernels_v7(x.dtype)[0], y.size)(
            xp.ascontiguousarray(x), xp.ascontiguousarray(w, dtype=x.dtype), b,
            bias is not None, SH, SW, PH, PW, DH, DW, y)
    return y, None


def conv2d_backward_cuda_v7(gy, w, x, x_shape, stride, padding, dilation, groups,
                            need_x=True, need_w=True, need_b=False):
    v2 = IMPLS["cuda_v2"]
    xp = get_array_module(gy)
    gx = conv2d_backward_input(gy, w, x_shape, stride, padding, dilation, groups, v2) \
        if need_x else None
    if not (need_w or need_b):
        return gx, None, None
    if gpu_route(w.shape, groups) != "cuda_v7" or gy.dtype not in (np.float32, np.float64):
        gw = conv2d_backward_weight(x, gy, w.shape, stride, padding, dilation, groups,
                                    None, v2) if need_w else None
        return gx, gw, gy.sum(axis=(0, 2, 3)) if need_b else None
    (SH, SW), (PH, PW), (DH, DW) = stride, padding, dilation
    O = gy.shape[1]
    gw = xp.zeros(w.shape, gy.dtype)      # (only w's shape is used here)
    gb = xp.zeros(O, gy.dtype)
    if gy.size:
        nthreads = _v7_threads()
        configure(_kernels_v7(gy.dtype)[1], gw.size + O, nthreads)(
            xp.ascontiguousarray(x), xp.ascontiguousarray(gy), SH, SW, PH, PW, DH, DW, gw, gb)
    return gx, gw if need_w else None, gb if need_b else None


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
    "cpu_v4": Impl("cpu_v4", "cpu", numba_available, im2col=im2col_cpu_v3, col2im=col2im_cpu_v3,
                   forward=conv2d_forward_cpu_v4, backward=conv2d_backward_cpu_v4),
    "cpu_v5": Impl("cpu_v5", "cpu", numba_available, im2col=im2col_cpu_v3, col2im=col2im_cpu_v3,
                   forward=conv2d_forward_cpu_v5, backward=conv2d_backward_cpu_v5),
    "cpu_v6": Impl("cpu_v6", "cpu", numba_available, im2col=im2col_cpu_v3, col2im=col2im_cpu_v3,
                   forward=conv2d_forward_cpu_v6, backward=conv2d_backward_cpu_v6),
    "cuda_v7": Impl("cuda_v7", "cuda", numba_cuda_available, im2col=im2col_cuda_v2,
                    col2im=col2im_cuda_v2, forward=conv2d_forward_cuda_v7,
                    backward=conv2d_backward_cuda_v7),
}


# Where BLAS runs on more threads than this, cpu_v1 is the CPU default:
# cpu_v3's threads then compete with BLAS's own, which keep spinning for a
# while after every multi-threaded product elsewhere in the step, and on many
# cores that costs more than the batch split gains (docs/kernels.md,
# "Deliberate choices").
CPU_V3_MAX_THREADS = 2


def cpu_default():
    """The CPU version ``select()`` picks: ``cpu_v6`` (``cpu_v3``, with the
    direct kernels for the shapes ``cpu_route`` gives them) where
    BLAS uses at most CPU_V3_MAX_THREADS threads (or cannot be controlled),
    else ``cpu_v1``."""
    from tinynet.kernels import blas_threads
    return "cpu_v6" if (blas_threads.threads() or 1) <= CPU_V3_MAX_THREADS else "cpu_v1"


def select(x):
    """The implementation for array ``x``: forced by ``TINYNET_CONV_IMPL`` /
    ``tinynet.kernels.use(conv=...)``, else the fastest for its device."""
    return pick("conv", IMPLS, x, cpu=cpu_default(), gpu="cuda_v2")


def select_for(x, w_shape, groups):
    """``select(x)`` for one convolution: on a GPU, unless a version is
    forced, ``gpu_route`` picks between ``cuda_v2`` and ``cuda_v7`` (the CPU's
    per-shape choice is ``cpu_v6``'s own)."""
    impl = select(x)
    if impl.name == "cuda_v2" and forced("conv") is None \
            and gpu_route(w_shape, groups) == "cuda_v7":
        return IMPLS["cuda_v7"]
    return impl


# ---------------------------------------------------------------- the three products
def conv2d_forward(x, w, stride, padding, dilation, groups, impl=None, bias=None):
    """y (N, O, OH, OW) and the column matrix (kept for the weight gradient).

    ``bias`` (O,) is added while the GEMM's (O, N, ...) result is rearranged
    to (N, O, ...): one pass over y instead of two."""
    xp = get_array_module(x)
    impl = impl or select_for(x, w.shape, groups)
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
    impl = impl or select_for(gy, w.shape, groups)
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
    impl = impl or select_for(x, w_shape, groups)
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
    impl = impl or select_for(gy, w.shape, groups)
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
        _case(2, 1, 8, 7, 5, 3, 3, (1, 1), (0, 0), (1, 1), 1, small=True),
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
