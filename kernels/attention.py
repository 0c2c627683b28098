"""Attention kernels: o = softmax(q @ k^T * scale + mask) @ v and its gradients.

Shapes: B batch (every batch and head dim folded into one), L queries, S keys,
E the query/key size, Ev the value size. q (B, L, E), k (B, S, E), v (B, S, Ev),
o (B, L, Ev). ``lse`` (B, L) is each query row's log-sum-exp of its scores,
log(sum_j exp(s_ij)): with it the backward recomputes any probability as
p_ij = exp(s_ij - lse_i) without storing the (L, S) matrix.

The mask, if any, is an additive float array (Bm, Lm, S) with Bm 1 or B and
Lm 1 or L (a boolean mask arrives as 0 / -inf). ``causal`` keeps key j for
query i only when j <= i (PyTorch's upper-left alignment when L != S). A query
row that sees no key at all (every score -inf) gets a zero output and zero
gradients, as PyTorch's ``scaled_dot_product_attention`` gives.

Versions (one IMPLS entry each):

- ``ref``     NumPy/CuPy reference, the oracle: the whole (B, L, S) score
              matrix, a softmax, a matmul; the backward recomputes the
              probabilities from ``lse`` and runs the textbook formulas.
              Works on CuPy arrays unchanged.
- ``cpu_v1``  Numba CPU, tiled, never holding more than a (BR, BC) block of
              scores: the forward takes BR query rows at a time and streams
              the keys past them in tiles of BC with the online softmax (keep
              each row's running max m and sum l; when a larger score comes,
              rescale what was accumulated by exp(m_old - m_new)), the
              FlashAttention recurrence; it saves only ``lse``. The backward
              goes over key tiles, recomputes each row's probabilities from
              ``lse`` and accumulates dq, and the tile's dk and dv transposed
              (so that every inner loop runs along the tile's contiguous
              keys), written out once per tile. Work is split over
              tinynet's threads (``threads.py``): (batch, query block) pairs
              in the forward, batches in the backward (a batch's dq rows are
              written by one thread, so no atomics). The scratch, a few
              tiles per thread, is allocated outside the kernel (which
              allocates nothing): with the outputs, memory is O(T*d).
- ``cpu_v3``  The reference's formulas on blocks (the CPU default): a chunk
              of heads times R3 query rows at a time, the products as BLAS
              matmuls (under causal only the keys up to the block's last
              row: about the causal half), the softmax as NumPy passes over
              the block while it is in cache; at most SCRATCH3 scores at a
              time, so memory stays O(T*d) plus that block. The products run
              on BLAS's threads and kernels, which beat cpu_v1's loops
              (figures in docs/kernels.md#attention).
- ``cuda_v2`` Numba CUDA, ``@cuda.jit`` on CuPy arrays: one thread per query
              row, the block's threads loading key/value tiles into shared
              memory together; one thread per query row for dq and one per
              key row for dk, dv (two kernels: no atomics, deterministic).
              Head sizes up to 256 (larger ones use ``ref``). Under
              ``NUMBA_ENABLE_CUDASIM=1`` it runs on NumPy arrays, which is how
              CI tests it.

The forward returns (o, lse); the backward takes (q, k, v, o, lse, do) and
returns (dq, dk, dv).

``python -m tinynet.kernels.attention`` checks every version against ``ref``
(forward and backward, causal or not, with and without a mask, odd sizes),
measures the memory ``cpu_v1`` and ``ref`` take at T=1024 and times them.
"""
import math

import numpy as np

from tinynet.backend import get_array_module
from tinynet.kernels import pick, threads
from tinynet.kernels._common import (Case, Impl, check_and_time, configure, contiguous,
                                     cuda_dtype_ok, cuda_sim_enabled, main, numba_available,
                                     numba_cuda_available)


def _dummy_mask(xp, dtype):
    # the compiled kernels take a mask array always; this one is never read
    return xp.zeros((1, 1, 1), dtype)


# ---------------------------------------------------------------- v0: reference
def _scores_ref(q, k, scale, causal, mask):
    """The (B, L, S) scores with the mask added and -inf where causal hides a key."""
    xp = get_array_module(q)
    s = xp.matmul(q, k.transpose(0, 2, 1)) * q.dtype.type(scale)
    if mask is not None:
        s = s + mask
    if causal:
        L, S = s.shape[1:]
        s = xp.where(xp.tri(L, S, dtype=bool), s, -xp.inf)
    return s


def attention_forward_ref(q, k, v, scale, causal=False, mask=None):
    """o (B, L, Ev) and lse (B, L)."""
    xp = get_array_module(q)
    B, L, _ = q.shape
    S, Ev = v.shape[1:]
    if S == 0:                     # no key at all: every row sees nothing
        return xp.zeros((B, L, Ev), q.dtype), xp.full((B, L), -xp.inf, q.dtype)
    s = _scores_ref(q, k, scale, causal, mask)
    m = s.max(axis=-1, keepdims=True)
    m = xp.where(xp.isneginf(m), 0, m)           # a fully masked row: exp(-inf) = 0 below
    p = xp.exp(s - m)
    l = p.sum(axis=-1, keepdims=True)
    seen = l > 0
    o = xp.matmul(p / xp.where(seen, l, 1), v)
    with np.errstate(divide="ignore"):
        lse = xp.where(seen, m + xp.log(xp.where(seen, l, 1)), -xp.inf)[..., 0]
    return o.astype(q.dtype, copy=False), lse.astype(q.dtype, copy=False)


def attention_backward_ref(q, k, v, o, lse, do, scale, causal=False, mask=None):
    """dq, dk, dv from the probabilities recomputed through ``lse``."""
    xp = get_array_module(q)
    if v.shape[1] == 0:
        return xp.zeros_like(q), xp.zeros_like(k), xp.zeros_like(v)
    s = _scores_ref(q, k, scale, causal, mask)
    # a row that saw no key has lse = -inf: +inf there makes every p 0
    p = xp.exp(s - xp.where(xp.isneginf(lse), xp.inf, lse)[..., None])
    dv = xp.matmul(p.transpose(0, 2, 1), do)
    dp = xp.matmul(do, v.transpose(0, 2, 1))
    D = (do * o).sum(axis=-1, keepdims=True)     # sum_j p_ij dp_ij, the softmax's correction
    ds = p * (dp - D) * q.dtype.type(scale)
    dq = xp.matmul(ds, k)
    dk = xp.matmul(ds.transpose(0, 2, 1), q)
    return dq.astype(q.dtype, copy=False), dk.astype(q.dtype, copy=False), \
        dv.astype(q.dtype, copy=False)


# ---------------------------------------------------------------- v1: Numba CPU, tiled
BR = 32      # query rows per forward task
BC = 64      # keys per tile
_v1 = None
# reassociation lets LLVM vectorise the inner sums; no flag that assumes
# finite values, because -inf scores carry the masks
_FASTMATH = {"reassoc", "contract"}


def _build_v1():
    numba_available()
    from numba import njit

    @njit(nogil=True, cache=True, fastmath=_FASTMATH)
    def forward(q, k, v, scale, causal, mask, has_mask, o, lse, s, kt, acc, m, l, t0, t1):
        # tasks [t0, t1): task t is query block t % nqb of batch t // nqb
        B, L, E = q.shape
        S, Ev = v.shape[1], v.shape[2]
        nqb = (L + BR - 1) // BR
        mb_all, ml_all = mask.shape[0] > 1, mask.shape[1] > 1
        # constants of the arrays' dtype: a bare Python float would make the
        # float32 math float64 (and every exp a double-precision one)
        ninf, zero, one = q.dtype.type(-np.inf), q.dtype.type(0), q.dtype.type(1)
        for t in range(t0, t1):
            b = t // nqb
            i0 = (t % nqb) * BR
            nr = min(BR, L - i0)
            qb, kb, vb = q[b], k[b], v[b]
            mk = mask[b if mb_all else 0]
            for r in range(nr):
                m[r] = ninf
                l[r] = zero
                acc[r, :Ev] = zero
            j_end = min(S, i0 + nr) if causal else S
            for j0 in range(0, j_end, BC):
                nc = min(BC, j_end - j0)
                for c in range(nc):                    # the key tile, transposed
                    for e in range(E):
                        kt[e, c] = kb[j0 + c, e]
                for r in range(nr):
                    i = i0 + r
                    cn = min(nc, i - j0 + 1) if causal else nc    # keys j <= i only
                    if cn <= 0:
                        continue
                    # scores of row i against the tile: an outer-product sweep
                    # over e, so that the inner loop runs along contiguous keys
                    for c in range(cn):
                        s[r, c] = zero
                    for e in range(E):
                        qe = qb[i, e] * scale
                        for c in range(cn):
                            s[r, c] += qe * kt[e, c]
                    if has_mask:
                        ml = i if ml_all else 0
                        for c in range(cn):
                            s[r, c] += mk[ml, j0 + c]
                    mx = ninf
                    nan_seen = False
                    for c in range(cn):
                        nan_seen = nan_seen or s[r, c] != s[r, c]
                        mx = max(mx, s[r, c])
                    if nan_seen:                      # a NaN score: the row's softmax is NaN
                        l[r] = np.nan                 # (stays NaN through every update)
                        continue
                    m_new = max(m[r], mx)
                    if m_new == ninf:                 # nothing visible yet in this row
                        continue
                    if m[r] != m_new:
                        # rescale what was accumulated under the old max
                        alpha = np.exp(m[r] - m_new)
                        l[r] *= alpha
                        for e in range(Ev):
                            acc[r, e] *= alpha
                        m[r] = m_new
                    total = zero
                    for c in range(cn):
                        p = np.exp(s[r, c] - m_new)
                        s[r, c] = p
                        total += p
                    l[r] += total
                    for c in range(cn):
                        p = s[r, c]
                        for e in range(Ev):
                            acc[r, e] += p * vb[j0 + c, e]
            for r in range(nr):
                i = i0 + r
                if l[r] > zero:
                    inv = one / l[r]
                    for e in range(Ev):
                        o[b, i, e] = acc[r, e] * inv
                    lse[b, i] = m[r] + np.log(l[r])
                elif l[r] != l[r]:                    # NaN in, NaN out, as PyTorch
                    o[b, i, :] = np.nan
                    lse[b, i] = np.nan
                else:                                 # the row saw no key
                    o[b, i, :] = zero
                    lse[b, i] = ninf

    @njit(nogil=True, cache=True, fastmath=_FASTMATH)
    def backward(q, k, v, lse, do, D, scale, causal, mask, has_mask, dq, dk, dv,
                 kt, vt, p, ds, dkt, dvt, b0, b1):
        # batches [b0, b1)
        B, L, E = q.shape
        S, Ev = v.shape[1], v.shape[2]
        mb_all, ml_all = mask.shape[0] > 1, mask.shape[1] > 1
        ninf, zero = q.dtype.type(-np.inf), q.dtype.type(0)
        for b in range(b0, b1):
            qb, kb, vb, dob = q[b], k[b], v[b], do[b]
            dqb, dkb, dvb = dq[b], dk[b], dv[b]
            mk = mask[b if mb_all else 0]
            dqb[:, :] = zero
            for j0 in range(0, S, BC):
                nc = min(BC, S - j0)
                # the key and value tiles transposed, and the tile's dk, dv
                # accumulated transposed too: every inner loop below then runs
                # along the tile's contiguous keys
                for c in range(nc):
                    for e in range(E):
                        kt[e, c] = kb[j0 + c, e]
                        dkt[e, c] = zero
                    for e in range(Ev):
                        vt[e, c] = vb[j0 + c, e]
                        dvt[e, c] = zero
                # a query before the tile sees none of it under causal
                for i in range(j0 if causal else 0, L):
                    lse_i = lse[b, i]
                    if lse_i == ninf:                 # the row saw no key: no gradient
                        continue
                    cn = min(nc, i - j0 + 1) if causal else nc
                    # the probabilities p_ij = exp(s_ij - lse_i), recomputed
                    for c in range(cn):
                        p[c] = zero
                    for e in range(E):
                        qe = qb[i, e] * scale
                        for c in range(cn):
                            p[c] += qe * kt[e, c]
                    if has_mask:
                        ml = i if ml_all else 0
                        for c in range(cn):
                            p[c] += mk[ml, j0 + c]
                    for c in range(cn):
                        p[c] = np.exp(p[c] - lse_i)
                    # dv_j += p_ij do_i, and dp_ij = do_i . v_j
                    for c in range(cn):
                        ds[c] = zero
                    for e in range(Ev):
                        g = dob[i, e]
                        for c in range(cn):
                            dvt[e, c] += g * p[c]
                            ds[c] += g * vt[e, c]
                    # ds_ij = p_ij (dp_ij - D_i) * scale
                    Di = D[b, i]
                    for c in range(cn):
                        ds[c] = p[c] * (ds[c] - Di) * scale
                    # dk_j += ds_ij q_i, and dq_i += sum_j ds_ij k_j
                    for e in range(E):
                        qe = qb[i, e]
                        acc = zero
                        for c in range(cn):
                            dkt[e, c] += qe * ds[c]
                            acc += ds[c] * kt[e, c]
                        dqb[i, e] += acc
                for c in range(nc):
                    for e in range(E):
                        dkb[j0 + c, e] = dkt[e, c]
                    for e in range(Ev):
                        dvb[j0 + c, e] = dvt[e, c]

    return forward, backward


def _kernels_v1():
    global _v1
    if _v1 is None:
        _v1 = _build_v1()
    return _v1


# A thread's part of a kernel call should have at least this many score
# entries to compute, or handing it to another thread costs more than it saves.
GRAIN = 1 << 16


def _run_parts(kernel, n, grain, args, make_scratch):
    """``kernel(*args, *scratch, lo, hi)`` over contiguous parts of range(n),
    one part per thread as ``threads.parallel_for`` splits them, each part
    with scratch arrays of its own (``make_scratch()``)."""
    T = max(1, min(threads.count(), n // max(grain, 1)))
    bounds = [n * t // T for t in range(T + 1)]
    scratch = [make_scratch() for _ in range(T)]
    tasks = threads.Tasks(T)

    def work():
        while (t := tasks.take()) is not None:
            try:
                kernel(*args, *scratch[t], bounds[t], bounds[t + 1])
            except BaseException:       # noqa: B902
                tasks.failed = True
                raise

    threads.run(work, T)


def _mask_arg(mask, dtype):
    return (contiguous(mask, dtype), True) if mask is not None else (_dummy_mask(np, dtype), False)


def _cpu_forward_start(q, k, v, scale, causal, mask):
    """(o, lse, done) for a CPU version's forward: the output arrays, and
    whether they are final already (a dtype without kernels runs ``ref``; no
    key or no query gives zeros and -inf)."""
    dt = q.dtype
    if dt not in (np.float32, np.float64):
        return attention_forward_ref(q, k, v, scale, causal, mask) + (True,)
    B, L, E = q.shape
    S, Ev = v.shape[1:]
    o = np.empty((B, L, Ev), dt)
    lse = np.empty((B, L), dt)
    if S == 0 or B * L == 0:
        o[...] = 0
        lse[...] = -np.inf
        return o, lse, True
    return o, lse, False


def attention_forward_cpu_v1(q, k, v, scale, causal=False, mask=None):
    o, lse, done = _cpu_forward_start(q, k, v, scale, causal, mask)
    if done:
        return o, lse
    dt = q.dtype
    B, L, E = q.shape
    S, Ev = v.shape[1:]
    mask_a, has_mask = _mask_arg(mask, dt)
    nqb = -(-L // BR)
    per_task = BR * max(S, 1) * max(E + Ev, 1)
    _run_parts(_kernels_v1()[0], B * nqb, -(-GRAIN // per_task),
               (contiguous(q, dt), contiguous(k, dt), contiguous(v, dt), dt.type(scale),
                bool(causal), mask_a, has_mask, o, lse),
               lambda: (np.empty((BR, BC), dt), np.empty((E, BC), dt), np.empty((BR, Ev), dt),
                        np.empty(BR, dt), np.empty(BR, dt)))
    return o, lse


def attention_backward_cpu_v1(q, k, v, o, lse, do, scale, causal=False, mask=None):
    dt = q.dtype
    if dt not in (np.float32, np.float64):
        return attention_backward_ref(q, k, v, o, lse, do, scale, causal, mask)
    B, L, E = q.shape
    S, Ev = v.shape[1:]
    dq, dk, dv = np.empty_like(q), np.empty_like(k), np.empty_like(v)
    if S == 0 or L == 0 or B == 0:
        for a in (dq, dk, dv):
            a[...] = 0
        return dq, dk, dv
    do = contiguous(do, dt)
    o = contiguous(o, dt)
    D = np.einsum("ble,ble->bl", do, o)          # (B, L): sum_j p_ij dp_ij per row
    mask_a, has_mask = _mask_arg(mask, dt)
    per_batch = L * S * max(E + Ev, 1)
    _run_parts(_kernels_v1()[1], B, -(-GRAIN // per_batch),
               (contiguous(q, dt), contiguous(k, dt), contiguous(v, dt), contiguous(lse, dt), do,
                D, dt.type(scale), bool(causal), mask_a, has_mask, dq, dk, dv),
               lambda: (np.empty((E, BC), dt), np.empty((Ev, BC), dt),
                        np.empty(BC, dt), np.empty(BC, dt),
                        np.empty((E, BC), dt), np.empty((Ev, BC), dt)))
    return dq, dk, dv


# ---------------------------------------------------------------- v3: blocked BLAS products
# The reference's formulas on blocks: a chunk of heads times a block of
# R3 query rows at a time, the score products as BLAS matmuls, the softmax as
# in-place NumPy passes over the block while it is in cache. Under causal a
# query block multiplies only the keys up to its last row, so the products
# do the causal half (and the diagonal blocks) instead of the whole matrix.
# A block holds at most SCRATCH3 scores (1 MiB of float32), so memory stays
# O(T*d) plus that scratch, as cpu_v1's does.
R3 = 64
SCRATCH3 = 1 << 18


def _blocks3(B, L, S, causal):
    """(b0, b1, i0, i1, J): heads [b0, b1), query rows [i0, i1), keys [0, J)."""
    hb = max(1, SCRATCH3 // (R3 * max(S, 1)))
    for b0 in range(0, B, hb):
        for i0 in range(0, L, R3):
            i1 = min(L, i0 + R3)
            yield b0, min(B, b0 + hb), i0, i1, (min(S, i1) if causal else S)


def _scores3(q, kT, mask, scale, causal, b0, b1, i0, i1, J):
    """The block's scores (h, r, J): scaled (the query block is scaled, the
    smaller of the two), the mask added, -inf where causal hides a key (only
    keys j >= i0, the block's diagonal part, can be hidden)."""
    s = np.matmul(q[b0:b1, i0:i1] * q.dtype.type(scale), kT[b0:b1, :, :J])
    if mask is not None:
        rows = slice(i0, i1) if mask.shape[1] > 1 else slice(None)
        s += mask[slice(b0, b1) if mask.shape[0] > 1 else slice(None), rows, :J]
    if causal and J > i0:
        s[:, :, i0:J] += _hidden3(q.dtype)[:i1 - i0, :J - i0]
    return s


_hidden = {}


def _hidden3(dtype):
    """(R3, R3): -inf above the diagonal (key j > query i), 0 elsewhere."""
    key = np.dtype(dtype)
    if key not in _hidden:
        _hidden[key] = np.triu(np.full((R3, R3), -np.inf, key), 1)
    return _hidden[key]


def attention_forward_cpu_v3(q, k, v, scale, causal=False, mask=None):
    o, lse, done = _cpu_forward_start(q, k, v, scale, causal, mask)
    if done:
        return o, lse
    dt = q.dtype
    B, L, S = q.shape[0], q.shape[1], k.shape[1]
    q, v = contiguous(q, dt), contiguous(v, dt)
    kT = contiguous(k, dt).transpose(0, 2, 1)
    mask = None if mask is None else contiguous(mask, dt)
    with np.errstate(divide="ignore", invalid="ignore"):
        for b0, b1, i0, i1, J in _blocks3(B, L, S, causal):
            s = _scores3(q, kT, mask, scale, causal, b0, b1, i0, i1, J)
            m = s.max(axis=-1, keepdims=True)          # NaN stays NaN, as in ref
            m[m == -np.inf] = 0                         # a row that sees no key: p = 0
            s -= m
            np.exp(s, out=s)
            l = s.sum(axis=-1, keepdims=True)
            ob = o[b0:b1, i0:i1]
            np.matmul(s, v[b0:b1, :J], out=ob)
            # normalised after the product: (r, Ev) values instead of (r, J)
            ob *= np.divide(1, l, out=np.zeros_like(l), where=l != 0)
            lse[b0:b1, i0:i1] = (m + np.log(l))[..., 0]      # log 0 = -inf: no key seen
    return o, lse


def attention_backward_cpu_v3(q, k, v, o, lse, do, scale, causal=False, mask=None):
    dt = q.dtype
    if dt not in (np.float32, np.float64):
        return attention_backward_ref(q, k, v, o, lse, do, scale, causal, mask)
    B, L, E = q.shape
    S, Ev = v.shape[1:]
    dq, dk, dv = np.zeros_like(q), np.zeros((B, S, E), dt), np.zeros((B, S, Ev), dt)
    if S == 0 or L == 0 or B == 0:
        return dq, dk, dv
    q, k, v, do = (contiguous(a, dt) for a in (q, k, v, do))
    kT, vT = k.transpose(0, 2, 1), v.transpose(0, 2, 1)
    D = np.einsum("ble,ble->bl", do, contiguous(o, dt))[..., None]
    # a row that saw no key has lse = -inf: +inf there makes every p 0
    lse = np.where(lse == -np.inf, np.inf, lse).astype(dt)[..., None]
    mask = None if mask is None else contiguous(mask, dt)
    t = dt.type(scale)
    with np.errstate(invalid="ignore"):
        for b0, b1, i0, i1, J in _blocks3(B, L, S, causal):
            p = _scores3(q, kT, mask, scale, causal, b0, b1, i0, i1, J)
            p -= lse[b0:b1, i0:i1]
            np.exp(p, out=p)
            dob = do[b0:b1, i0:i1]
            dv[b0:b1, :J] += np.matmul(p.transpose(0, 2, 1), dob)
            ds = np.matmul(dob, vT[b0:b1, :, :J])      # dp
            ds -= D[b0:b1, i0:i1]
            ds *= p
            ds *= t
            np.matmul(ds, k[b0:b1, :J], out=dq[b0:b1, i0:i1])
            dk[b0:b1, :J] += np.matmul(ds.transpose(0, 2, 1), q[b0:b1, i0:i1])
    return dq, dk, dv


# ---------------------------------------------------------------- v2: Numba CUDA
_v2 = {}             # (dtype, DMAX, tile) -> (fwd, bwd_dq, bwd_dkdv)
cuda = None          # numba.cuda, imported on first use (the simulator patches this global)
DMAX_CHOICES = (32, 64, 128, 256)
ROWS = 64            # threads (query or key rows) per block
TILE_ROWS = 64       # rows per shared-memory tile, at most (fewer where 32 KB is too little)


def _build_v2(T, DMAX, TILE):
    """The three kernels for float type ``T``, head sizes up to ``DMAX`` and
    shared-memory tiles of ``TILE`` rows. Constants are cast to ``T``: a bare
    Python float would turn float32 math into float64."""
    global cuda
    numba_available()
    from numba import cuda, from_dtype
    NT = from_dtype(np.dtype(T))         # the element type of the local and shared arrays

    @cuda.jit
    def fwd(q, k, v, scale, causal, mask, has_mask, o, lse):
        b = cuda.blockIdx.y
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        row0 = cuda.blockIdx.x * nt
        i = row0 + tid
        L, E = q.shape[1], q.shape[2]
        S, Ev = v.shape[1], v.shape[2]
        ks = cuda.shared.array((TILE, DMAX), NT)
        vs = cuda.shared.array((TILE, DMAX), NT)
        qr = cuda.local.array(DMAX, NT)
        acc = cuda.local.array(DMAX, NT)
        ninf = T(-math.inf)
        zero = T(0)
        active = i < L
        mb = b if mask.shape[0] > 1 else 0
        ml = i if mask.shape[1] > 1 else 0
        m = ninf
        s_sum = zero
        if active:
            for e in range(E):
                qr[e] = q[b, i, e] * scale
            for e in range(Ev):
                acc[e] = zero
        # the block's last row decides how many keys any of its threads needs
        j_end = min(S, min(L, row0 + nt)) if causal else S
        for j0 in range(0, j_end, TILE):
            nc = min(TILE, j_end - j0)
            cuda.syncthreads()                       # the previous tile is used up
            for t in range(tid, nc * E, nt):
                ks[t // E, t % E] = k[b, j0 + t // E, t % E]
            for t in range(tid, nc * Ev, nt):
                vs[t // Ev, t % Ev] = v[b, j0 + t // Ev, t % Ev]
            cuda.syncthreads()
            if active:
                for c in range(nc):
                    j = j0 + c
                    if causal and j > i:
                        break
                    s = zero
                    for e in range(E):
                        s += qr[e] * ks[c, e]
                    if has_mask:
                        s += mask[mb, ml, j]
                    if s == ninf:
                        continue
                    if s > m:                         # a new running max: rescale
                        alpha = math.exp(m - s) if m != ninf else zero
                        s_sum *= alpha
                        for e in range(Ev):
                            acc[e] *= alpha
                        m = s
                    p = math.exp(s - m)
                    s_sum += p
                    for e in range(Ev):
                        acc[e] += p * vs[c, e]
        if active:
            if s_sum > zero:
                for e in range(Ev):
                    o[b, i, e] = acc[e] / s_sum
                lse[b, i] = m + math.log(s_sum)
            elif s_sum != s_sum:                      # a NaN score: NaN out, as PyTorch
                for e in range(Ev):
                    o[b, i, e] = math.nan
                lse[b, i] = math.nan
            else:
                for e in range(Ev):
                    o[b, i, e] = zero
                lse[b, i] = ninf

    @cuda.jit
    def bwd_dq(q, k, v, lse, do, D, scale, causal, mask, has_mask, dq):
        # one thread per query row i: dq_i = scale * sum_j ds_ij k_j
        b = cuda.blockIdx.y
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        row0 = cuda.blockIdx.x * nt
        i = row0 + tid
        L, E = q.shape[1], q.shape[2]
        S, Ev = v.shape[1], v.shape[2]
        ks = cuda.shared.array((TILE, DMAX), NT)
        vs = cuda.shared.array((TILE, DMAX), NT)
        qr = cuda.local.array(DMAX, NT)
        gr = cuda.local.array(DMAX, NT)
        acc = cuda.local.array(DMAX, NT)
        ninf = T(-math.inf)
        zero = T(0)
        active = i < L and lse[b, min(i, L - 1)] != ninf
        mb = b if mask.shape[0] > 1 else 0
        ml = i if mask.shape[1] > 1 else 0
        lse_i = zero
        D_i = zero
        if active:
            lse_i = lse[b, i]
            D_i = D[b, i]
            for e in range(E):
                qr[e] = q[b, i, e] * scale
                acc[e] = zero
            for e in range(Ev):
                gr[e] = do[b, i, e]
        j_end = min(S, min(L, row0 + nt)) if causal else S
        for j0 in range(0, j_end, TILE):
            nc = min(TILE, j_end - j0)
            cuda.syncthreads()
            for t in range(tid, nc * E, nt):
                ks[t // E, t % E] = k[b, j0 + t // E, t % E]
            for t in range(tid, nc * Ev, nt):
                vs[t // Ev, t % Ev] = v[b, j0 + t // Ev, t % Ev]
            cuda.syncthreads()
            if active:
                for c in range(nc):
                    j = j0 + c
                    if causal and j > i:
                        break
                    s = zero
                    for e in range(E):
                        s += qr[e] * ks[c, e]
                    if has_mask:
                        s += mask[mb, ml, j]
                    p = math.exp(s - lse_i)
                    dp = zero
                    for e in range(Ev):
                        dp += gr[e] * vs[c, e]
                    ds = p * (dp - D_i)
                    for e in range(E):
                        acc[e] += ds * ks[c, e]
        if i < L:
            for e in range(E):
                dq[b, i, e] = acc[e] * scale if active else zero

    @cuda.jit
    def bwd_dkdv(q, k, v, lse, do, D, scale, causal, mask, has_mask, dk, dv):
        # one thread per key row j: dv_j = sum_i p_ij do_i, dk_j = scale * sum_i ds_ij q_i
        b = cuda.blockIdx.y
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        j = cuda.blockIdx.x * nt + tid
        L, E = q.shape[1], q.shape[2]
        S, Ev = v.shape[1], v.shape[2]
        qs = cuda.shared.array((TILE, DMAX), NT)
        gs = cuda.shared.array((TILE, DMAX), NT)
        ls = cuda.shared.array(TILE, NT)
        Ds = cuda.shared.array(TILE, NT)
        kr = cuda.local.array(DMAX, NT)
        vr = cuda.local.array(DMAX, NT)
        dk_acc = cuda.local.array(DMAX, NT)
        dv_acc = cuda.local.array(DMAX, NT)
        ninf = T(-math.inf)
        zero = T(0)
        active = j < S
        mb = b if mask.shape[0] > 1 else 0
        if active:
            for e in range(E):
                kr[e] = k[b, j, e] * scale
                dk_acc[e] = zero
            for e in range(Ev):
                vr[e] = v[b, j, e]
                dv_acc[e] = zero
        # under causal only queries i >= j see key j: start at the block's first key
        i_start = cuda.blockIdx.x * nt if causal else 0
        for i0 in range(i_start, L, TILE):
            nr = min(TILE, L - i0)
            cuda.syncthreads()
            for t in range(tid, nr * E, nt):
                qs[t // E, t % E] = q[b, i0 + t // E, t % E]
            for t in range(tid, nr * Ev, nt):
                gs[t // Ev, t % Ev] = do[b, i0 + t // Ev, t % Ev]
            for t in range(tid, nr, nt):
                ls[t] = lse[b, i0 + t]
                Ds[t] = D[b, i0 + t]
            cuda.syncthreads()
            if active:
                for r in range(nr):
                    i = i0 + r
                    if (causal and j > i) or ls[r] == ninf:
                        continue
                    s = zero
                    for e in range(E):
                        s += qs[r, e] * kr[e]
                    if has_mask:
                        s += mask[mb, i if mask.shape[1] > 1 else 0, j]
                    p = math.exp(s - ls[r])
                    dp = zero
                    for e in range(Ev):
                        dv_acc[e] += p * gs[r, e]
                        dp += gs[r, e] * vr[e]
                    ds = p * (dp - Ds[r])
                    for e in range(E):
                        dk_acc[e] += ds * qs[r, e]
        if active:
            for e in range(E):
                dk[b, j, e] = dk_acc[e] * scale
            for e in range(Ev):
                dv[b, j, e] = dv_acc[e]

    return fwd, bwd_dq, bwd_dkdv


def _kernels_v2(dtype, d):
    """The CUDA kernels for ``dtype`` and head size ``d``, or None when the
    head is larger than the biggest compiled size."""
    dmax = next((x for x in DMAX_CHOICES if d <= x), None)
    if dmax is None:
        return None
    dtype = np.dtype(dtype)
    # two (tile, DMAX) tiles in at most 32 KB of shared memory
    tile = max(1, min(TILE_ROWS, (32 << 10) // (2 * dmax * dtype.itemsize)))
    key = (dtype, dmax, tile)
    if key not in _v2:
        _v2[key] = _build_v2(dtype.type, dmax, tile)
    return _v2[key]


def _cuda_ok(q, k, v):
    """float32 / float64 with a head size the kernels were compiled for."""
    return (cuda_dtype_ok(q.dtype)
            and _kernels_v2(q.dtype, max(q.shape[2], v.shape[2], 1)) is not None)


def _launch(kernel, rows, B):
    """``kernel`` configured with one thread per row in blocks of up to ROWS
    threads, the batch along the grid's second dim; without Numba's
    low-occupancy warning (a small problem is small by nature), the
    program's warning filters put back as they were."""
    threads_per_block = max(1, min(ROWS, rows))
    blocks = max(1, -(-rows // threads_per_block))
    return configure(kernel, (blocks, B), threads_per_block)


def attention_forward_cuda_v2(q, k, v, scale, causal=False, mask=None):
    if not _cuda_ok(q, k, v):
        return attention_forward_ref(q, k, v, scale, causal, mask)
    xp = get_array_module(q)
    dt = q.dtype
    B, L, E = q.shape
    S, Ev = v.shape[1:]
    o = xp.empty((B, L, Ev), dt)
    lse = xp.empty((B, L), dt)
    if B * L == 0:
        return o, lse
    fwd = _kernels_v2(dt, max(E, Ev, 1))[0]
    mask_a = contiguous(mask, dt) if mask is not None else _dummy_mask(xp, dt)
    _launch(fwd, L, B)(contiguous(q, dt), contiguous(k, dt), contiguous(v, dt), dt.type(scale),
                       bool(causal), mask_a, mask is not None, o, lse)
    return o, lse


def attention_backward_cuda_v2(q, k, v, o, lse, do, scale, causal=False, mask=None):
    if not _cuda_ok(q, k, v):
        return attention_backward_ref(q, k, v, o, lse, do, scale, causal, mask)
    xp = get_array_module(q)
    dt = q.dtype
    B, L, E = q.shape
    S, Ev = v.shape[1:]
    dq, dk, dv = xp.empty_like(q), xp.empty_like(k), xp.empty_like(v)
    if B == 0 or L == 0 or S == 0:
        for a in (dq, dk, dv):
            a[...] = 0
        return dq, dk, dv
    _, bwd_dq, bwd_dkdv = _kernels_v2(dt, max(E, Ev, 1))
    q, k, v, lse, do = (contiguous(a, dt) for a in (q, k, v, lse, do))
    D = contiguous((do * o).sum(axis=-1), dt)
    mask_a = contiguous(mask, dt) if mask is not None else _dummy_mask(xp, dt)
    args = (q, k, v, lse, do, D, dt.type(scale), bool(causal), mask_a, mask is not None)
    _launch(bwd_dq, L, B)(*args, dq)
    _launch(bwd_dkdv, S, B)(*args, dk, dv)
    return dq, dk, dv


# ---------------------------------------------------------------- table, dispatch
IMPLS = {
    "ref": Impl("ref", "any", forward=attention_forward_ref, backward=attention_backward_ref),
    "cpu_v1": Impl("cpu_v1", "cpu", numba_available, forward=attention_forward_cpu_v1,
                   backward=attention_backward_cpu_v1),
    "cuda_v2": Impl("cuda_v2", "cuda", numba_cuda_available, forward=attention_forward_cuda_v2,
                    backward=attention_backward_cuda_v2),
    "cpu_v3": Impl("cpu_v3", "cpu", forward=attention_forward_cpu_v3,
                   backward=attention_backward_cpu_v3),
}


def select(x):
    """The implementation for array ``x``: forced by ``TINYNET_ATTENTION_IMPL`` /
    ``tinynet.kernels.use(attention=...)``, else ``cpu_v3`` on the CPU and
    ``cuda_v2`` on a GPU (``ref`` where that cannot run)."""
    return pick("attention", IMPLS, x, cpu="cpu_v3", gpu="cuda_v2")


# ---------------------------------------------------------------- self-check + timing
# (B, L, S, E, Ev, causal, mask layout): odd sizes, sizes that are not a
# multiple of the tiles, L != S both ways, every mask layout. The first ones
# are small enough for the CUDA simulator (one Python thread per row).
SHAPES = [
    (1, 1, 1, 1, 1, False, None),
    (2, 5, 7, 3, 2, False, None),
    (2, 7, 5, 4, 3, True, None),
    (2, 9, 6, 4, 4, False, "rows-masked"),    # some rows see no key at all
    (2, 6, 9, 3, 5, True, "keys"),            # a key padding mask (B, 1, S)
    (3, 37, 37, 8, 8, True, None),
    (2, 33, 70, 5, 6, False, "keys"),
    (2, 70, 33, 6, 4, True, "full"),          # a mask per batch and row (B, L, S)
    (1, 65, 129, 16, 16, True, "shared"),     # one (1, L, S) mask for the batch
    (4, 130, 130, 64, 64, True, None),
]
# (B, T, d, causal), float32: the benchmark's size (batch 32 x 4 heads) and a long one
TIMED = [(128, 256, 64, True), (128, 256, 64, False), (4, 1024, 64, True)]


def make_mask(rng, kind, B, L, S, dtype):
    """An additive mask in one of the layouts the kernels take (None: no mask)."""
    if kind is None:
        return None
    if kind == "keys":
        m = np.where(rng.random((B, 1, S)) < 0.3, -np.inf, 0.0)
    elif kind == "full":
        m = rng.standard_normal((B, L, S))
    elif kind == "shared":
        m = np.where(rng.random((1, L, S)) < 0.2, -np.inf, rng.standard_normal((1, L, S)))
    elif kind == "rows-masked":
        m = np.where(rng.random((B, L, S)) < 0.3, -np.inf, 0.0)
        m[:, ::3] = -np.inf
    else:
        raise ValueError(f"unknown mask layout {kind!r}")
    return m.astype(dtype)


def self_check_cases():
    """Every shape in float64 and float32, then the timed float32 problems."""
    cases = []
    for n, (B, L, S, E, Ev, causal, kind) in enumerate(SHAPES):
        for dt in (np.float64, np.float32):
            rng = np.random.default_rng(n)
            r = lambda *shape: rng.standard_normal(shape).astype(dt)  # noqa: E731
            inputs = dict(q=r(B, L, E), k=r(B, S, E), v=r(B, S, Ev), do=r(B, L, Ev),
                          mask=make_mask(rng, kind, B, L, S, dt),
                          scale=1 / math.sqrt(max(E, 1)), causal=causal)
            cases.append(Case(f"B{B} L{L} S{S} E{E} Ev{Ev} causal={causal} mask={kind} "
                              f"{np.dtype(dt).name}", inputs, small=n < 5))
    for (B, T, d, causal) in TIMED:
        rng = np.random.default_rng(T)
        r = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
        inputs = dict(q=r(B, T, d), k=r(B, T, d), v=r(B, T, d), do=r(B, T, d), mask=None,
                      scale=1 / math.sqrt(d), causal=causal)
        cases.append(Case(f"B{B} T{T} d{d} causal={causal} float32", inputs, timed=True))
    return cases


def _run(impl, d):
    args = (d["q"], d["k"], d["v"])
    o, lse = impl.forward(*args, d["scale"], d["causal"], d["mask"])
    dq, dk, dv = impl.backward(*args, o, lse, d["do"], d["scale"], d["causal"], d["mask"])
    return {"o": o, "lse": lse, "dq": dq, "dk": dk, "dv": dv}


def _tolerance(what, want):
    # float32 sums of up to a thousand products, in another order than the
    # reference's matmul
    return (1e-10, 1e-10) if want.dtype == np.float64 else (2e-5, 2e-5)


def flop_count(B, L, S, d, causal):
    """Floating-point operations of one forward + backward, counting the
    matrix products only (two forward, four backward, none for the backward's
    recomputed scores); causal attention does about half."""
    return 2 * B * L * S * d * 6 * (0.5 if causal else 1)


def _rate(d, seconds):
    B, L, E = d["q"].shape
    return f"{flop_count(B, L, d['k'].shape[1], E, d['causal']) / seconds / 1e9:7.1f} GFLOP/s"


def memory_check(T=1024, d=64, dtype=np.float32):
    """Peak memory (tracemalloc, which sees every NumPy allocation; the Numba
    kernels allocate nothing themselves) of one forward + backward of
    ``cpu_v1``, ``cpu_v3`` and ``ref`` on one head of T tokens, beside the size of one
    (T, T) matrix and of one (T, d) array, in bytes."""
    import tracemalloc
    rng = np.random.default_rng(1)
    q, k, v, do = (rng.standard_normal((1, T, d)).astype(dtype) for _ in range(4))
    scale = 1 / math.sqrt(d)
    peaks = {}
    for name in ("cpu_v1", "cpu_v3", "ref"):
        impl = IMPLS[name]
        if not impl.available():
            continue
        o, lse = impl.forward(q, k, v, scale, True)        # compile / load the cache first
        impl.backward(q, k, v, o, lse, do, scale, True)
        del o, lse
        tracemalloc.start()
        try:
            o, lse = impl.forward(q, k, v, scale, True)
            grads = impl.backward(q, k, v, o, lse, do, scale, True)
            peaks[name] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        del o, lse, grads
    itemsize = np.dtype(dtype).itemsize
    return {"T": T, "d": d, "peaks": peaks, "TxT": T * T * itemsize, "Txd": T * d * itemsize}


def self_check(quick=False):
    """Check every version that runs here against ``ref`` (``python -m
    tinynet.kernels.attention [--quick]``), show that ``cpu_v1``'s memory at
    T=1024 is O(T*d), then time the versions; 0 if all is well."""
    status = check_and_time("attention", IMPLS, _run, self_check_cases(), tolerance=_tolerance,
                            rate=_rate, repeats=7, quick=quick)
    if status or cuda_sim_enabled() or not numba_available():
        return status
    mem = memory_check()
    kib = lambda n: f"{n / 1024:.0f} KiB"  # noqa: E731
    tiled = {n: p for n, p in mem["peaks"].items() if n != "ref"}
    print(f"attention memory, one forward+backward at T={mem['T']} d={mem['d']} float32 "
          f"(tracemalloc peak): " + ", ".join(f"{n} {kib(p)}" for n, p in mem["peaks"].items())
          + f"; one TxT matrix {kib(mem['TxT'])}, one Txd array {kib(mem['Txd'])}, so "
          + ", ".join(f"{n} took {p / mem['Txd']:.1f}" for n, p in tiled.items())
          + " Txd arrays (the outputs o, lse, dq, dk, dv are 4 of them)")
    status = 0
    for name, peak in tiled.items():
        if peak >= mem["TxT"]:
            print(f"attention: {name} took as much memory as a TxT matrix; it should take "
                  "O(T*d)")
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main(self_check))
