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
              thread takes them all and each GEMM uses BLAS's threads. The
              CPU default where BLAS runs on at most two threads
              (``cpu_default()``); ``cpu_v1`` elsewhere.

Shapes: x (N, C, H, W), w (O, C/groups, KH, KW), y (N, O, OH, OW); SH, SW
strides, PH, PW paddings, DH, DW dilations. The column matrix is laid out
(C, KH, KW, N, OH, OW) so that one GEMM per group gives
y = w (O, C*KH*KW) @ cols (C*KH*KW, N*OH*OW).

``python -m tinynet.kernels.conv2d`` checks every version against ``ref`` and
then times them.
"""
import os
import threading

import numpy as np

from tinynet.backend import get_array_module
from tinynet.kernels import numba_available, pick, threads, workspace


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


# A part of a split kernel call should have at least this many elements to
# write, or handing it to another thread costs more than it saves.
GRAIN = 1 << 15


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
    threads.parallel_for(_kernels_v1()[0], C * KH * KW, np.ascontiguousarray(x), KH, KW,
                         SH, SW, PH, PW, DH, DW, cols, grain=-(-GRAIN // max(N * OH * OW, 1)))
    return cols


def col2im_cpu_v1(cols, x_shape, SH, SW, PH, PW, DH, DW):
    N, C, H, W = x_shape
    gx = np.empty(x_shape, dtype=cols.dtype)
    threads.parallel_for(_kernels_v1()[1], N * C, np.ascontiguousarray(cols), SH, SW, PH, PW,
                         DH, DW, gx, grain=-(-GRAIN // max(H * W, 1)))
    return gx


# ---------------------------------------------------------------- v2: Numba CUDA
_v2 = None
_THREADS = 128


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


def _blocks(n):
    return max(1, (n + _THREADS - 1) // _THREADS)


def im2col_cuda_v2(x, KH, KW, SH, SW, PH, PW, DH, DW):
    xp = get_array_module(x)
    N, C, H, W = x.shape
    OH, OW = out_size(H, KH, SH, PH, DH), out_size(W, KW, SW, PW, DW)
    cols = xp.empty((C, KH, KW, N, OH, OW), dtype=x.dtype)
    _kernels_v2()[0][_blocks(cols.size), _THREADS](xp.ascontiguousarray(x), KH, KW, SH, SW,
                                                    PH, PW, DH, DW, cols)
    return cols


def col2im_cuda_v2(cols, x_shape, SH, SW, PH, PW, DH, DW):
    xp = get_array_module(cols)
    gx = xp.empty(x_shape, dtype=cols.dtype)
    _kernels_v2()[1][_blocks(gx.size), _THREADS](xp.ascontiguousarray(cols), SH, SW, PH, PW,
                                                  DH, DW, gx)
    return gx


def cuda_sim_enabled():
    """True when Numba's CUDA simulator is on (CUDA kernels then take NumPy arrays)."""
    try:
        from numba import config
        return bool(config.ENABLE_CUDASIM)
    except ImportError:
        return False


_cuda_kernels_ok = None


def _numba_cuda_available():
    """True if Numba's CUDA kernels compile and run here.

    Checked once with a tiny launch: a Numba CUDA build that does not match
    the installed NumPy (seen on a GPU machine: numba-cuda with NumPy 2.5
    fails inside its own import) must not break the GPU path; ``select()``
    then uses the CuPy reference instead, with a warning.
    """
    global _cuda_kernels_ok
    if _cuda_kernels_ok is None:
        try:
            from numba import cuda as numba_cuda
            _cuda_kernels_ok = bool(numba_cuda.is_available())
            if _cuda_kernels_ok and not cuda_sim_enabled():
                from tinynet.backend import to_device
                x = to_device(np.ones((1, 1, 2, 2), np.float32), "cuda")
                im2col_cuda_v2(x, 1, 1, 1, 1, 0, 0, 1, 1)
        except Exception as e:
            if _cuda_kernels_ok:
                import warnings
                warnings.warn(f"tinynet: Numba's CUDA kernels do not work here "
                              f"({type(e).__name__}: {e}); convolution and pooling on the "
                              "GPU use the CuPy reference implementation instead")
            _cuda_kernels_ok = False
    return _cuda_kernels_ok


# ---------------------------------------------------------------- v3: batch-parallel CPU
# One tinynet thread per core, each taking the next chunk of the batch, a
# chunk small enough that its column matrix stays in cache; every GEMM is
# single-threaded BLAS. On two cores this took conv B from 8.0
# to 4.6 ms (docs/kernels.md): no two thread pools (Numba's and BLAS's) take turns
# waking between the steps, and the column matrix never makes a round trip
# through memory. The forward keeps no column matrix (the weight gradient
# redoes the chunk's im2col, in cache), so a conv layer's graph holds only
# its input.
# A chunk's column matrix: with this set to 512 KB, 1 MB (this machine's L2)
# and 2 MB in turn, the conv2d_b workload ran about 5% faster at 2 MB, on
# both BLAS settings: fewer chunks, and the 32 MB L3 still holds them.
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
class Impl:
    """One version: its im2col and col2im (also behind ``unfold``/``fold``)
    and, for versions that organise the whole convolution themselves, its
    ``forward`` and ``backward``; the others use the im2col + GEMM products
    below."""

    def __init__(self, name, im2col, col2im, device, available, forward=None, backward=None):
        self.name, self.im2col, self.col2im = name, im2col, col2im
        self.device, self.available = device, available
        self.forward, self.backward = forward, backward


IMPLS = {
    "ref": Impl("ref", im2col_ref, col2im_ref, "any", lambda: True),
    "cpu_v1": Impl("cpu_v1", im2col_cpu_v1, col2im_cpu_v1, "cpu", numba_available),
    "cuda_v2": Impl("cuda_v2", im2col_cuda_v2, col2im_cuda_v2, "cuda", _numba_cuda_available),
    "cpu_v3": Impl("cpu_v3", im2col_cpu_v3, col2im_cpu_v3, "cpu", numba_available,
                   conv2d_forward_cpu_v3, conv2d_backward_cpu_v3),
}


# Where BLAS runs on more threads than this, cpu_v1 is the CPU default: on a
# 16-core host cpu_v3 measured slower than cpu_v1 (docs/kernels.md,
# "Deliberate choices"); on the 2-core development machine it is faster.
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


def check_device(path, impl, on_gpu):
    """A forced implementation must suit the arrays' device."""
    if impl.device == "cpu" and on_gpu:
        raise RuntimeError(f"{path} implementation {impl.name!r} runs on the CPU only, but "
                           "the input is a CuPy array")
    if impl.device == "cuda" and not on_gpu and not cuda_sim_enabled():
        raise RuntimeError(f"{path} implementation {impl.name!r} needs CuPy (GPU) arrays, "
                           "or NUMBA_ENABLE_CUDASIM=1 to simulate it on NumPy arrays")


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
_SHAPES = [
    # (N, C, H, W, O, KH, KW, stride, padding, dilation, groups)
    (2, 3, 7, 6, 4, 3, 3, (1, 1), (1, 1), (1, 1), 1),
    (2, 4, 9, 9, 6, 3, 2, (2, 3), (2, 0), (2, 1), 2),
    (1, 4, 5, 5, 4, 1, 1, (3, 3), (0, 0), (1, 1), 4),
    (64, 1, 28, 28, 32, 3, 3, (1, 1), (0, 0), (1, 1), 1),      # conv A of the seed CNN
    (64, 32, 13, 13, 64, 3, 3, (1, 1), (0, 0), (1, 1), 1),     # conv B
]


def _runs_here(impl):
    # CUDA versions run on a real GPU (CuPy arrays) or, simulated, on NumPy arrays
    return impl.available() and (impl.device != "cuda" or cuda_sim_enabled()
                                 or _gpu_arrays_available())


def _gpu_arrays_available():
    from tinynet.backend import cuda_is_available
    return cuda_is_available()


def _on(impl, a):
    """``a`` on the device that ``impl`` computes on."""
    if impl.device == "cuda" and not cuda_sim_enabled():
        from tinynet.backend import to_device
        return to_device(a, "cuda")
    return a


def _host(a):
    return a.get() if hasattr(a, "get") else a


def _sync(impl):
    if impl.device == "cuda" and not cuda_sim_enabled():
        from numba import cuda
        cuda.synchronize()


def _check_and_time():
    import time
    rng = np.random.default_rng(0)
    ok = True
    first_call = {}
    sim = cuda_sim_enabled()
    shapes = _SHAPES[:3] if sim else _SHAPES        # the simulator needs tiny shapes
    for (N, C, H, W, O, KH, KW, s, p, d, g) in shapes:
        x = rng.standard_normal((N, C, H, W)).astype(np.float32)
        w = rng.standard_normal((O, C // g, KH, KW)).astype(np.float32)
        ref_y, _ = conv2d_forward(x, w, s, p, d, g, IMPLS["ref"])
        gy = rng.standard_normal(ref_y.shape).astype(np.float32)
        ref_gx = conv2d_backward_input(gy, w, x.shape, s, p, d, g, IMPLS["ref"])
        ref_gw = conv2d_backward_weight(x, gy, w.shape, s, p, d, g, None, IMPLS["ref"])
        for name, impl in IMPLS.items():
            if name == "ref" or not _runs_here(impl):
                continue
            xi, wi, gyi = _on(impl, x), _on(impl, w), _on(impl, gy)
            t0 = time.perf_counter()
            y, _ = conv2d_forward(xi, wi, s, p, d, g, impl)
            gx = conv2d_backward_input(gyi, wi, x.shape, s, p, d, g, impl)
            _sync(impl)
            first_call.setdefault(name, time.perf_counter() - t0)
            gw = conv2d_backward_weight(xi, gyi, w.shape, s, p, d, g, None, impl)
            gx2, gw2, _ = conv2d_backward(gyi, xi, wi, s, p, d, g, None, (True, True, False),
                                          impl)
            for what, a, b in (("y", y, ref_y), ("gx", gx, ref_gx), ("gw", gw, ref_gw),
                               ("fused gx", gx2, ref_gx), ("fused gw", gw2, ref_gw)):
                a = _host(a)
                # float32 sums of thousands of terms, in another order: an
                # entry near zero can differ by far more than 1e-4 of itself
                scale = max(1.0, float(np.abs(b).max()))
                if not np.allclose(a, b, rtol=1e-4, atol=1e-5 * scale):
                    ok = False
                    print(f"MISMATCH {name} {what} shape {(N, C, H, W, O, KH, KW)}: "
                          f"max abs diff {float(np.abs(a - b).max()):.3e}")
    if not ok:
        return 1
    print("conv2d: all versions match the reference")
    for name, seconds in first_call.items():
        print(f"{name}: first call {seconds:.2f} s (Numba compile, or loading its on-disk cache)")
    if sim:
        print("(CUDA simulator: timings skipped)")
        return 0
    for name, impl in IMPLS.items():
        if not _runs_here(impl):
            continue
        # OpenBLAS's idle threads spin for about 0.1 s after a multi-threaded
        # product and would slow the next version's threads: let them settle
        time.sleep(0.3)
        for (N, C, H, W, O, KH, KW, s, p, d, g) in _SHAPES[3:]:
            x = _on(impl, rng.standard_normal((N, C, H, W)).astype(np.float32))
            w = _on(impl, rng.standard_normal((O, C // g, KH, KW)).astype(np.float32))
            y, cols = conv2d_forward(x, w, s, p, d, g, impl)
            gy = get_array_module(y).ones_like(y)

            def step():                  # what a training step runs: forward, fused backward
                y, cols = conv2d_forward(x, w, s, p, d, g, impl)
                conv2d_backward(gy, x, w, s, p, d, g, cols, (True, True, False), impl)
            for _ in range(3):
                step()
            times = []
            for _ in range(10):
                _sync(impl)
                t0 = time.perf_counter()
                step()
                _sync(impl)
                times.append(time.perf_counter() - t0)
            ms = 1e3 * float(np.median(times))
            flops = 3 * 2 * N * O * y.shape[2] * y.shape[3] * (C // g) * KH * KW
            device = "gpu" if impl.device == "cuda" else "cpu"
            print(f"{name:8s} ({device}) N{N} C{C}->O{O} {H}x{W} k{KH}: fwd+bwd {ms:7.2f} ms "
                  f"{flops / ms / 1e6:8.1f} GFLOP/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(_check_and_time())
