"""The measurements behind tinynet's threading choices (docs/reliability.md).

    python benchmarks/threads.py                       # every part
    python benchmarks/threads.py --only pool bits      # some
    NUMBA_THREADING_LAYER=workqueue python benchmarks/threads.py --only pool

Parts:

- ``pool``: max_pool2d 2x2 forward + backward on (64, 32, 26, 26) with
  tinynet's ``cpu_v1`` kernels (serial Numba loops on tinynet's own threads)
  against the same loops compiled with ``parallel=True`` (Numba's threading
  layer: the one NUMBA_THREADING_LAYER picks, else Numba's default), each
  alone and with a 512x512 float32 product after every call, as in a
  training step where BLAS runs between the kernels.
- ``conv``: conv B (64, 32, 13, 13) -> 64, k3, forward + backward, for the
  CPU versions: ``cpu_v1``, ``cpu_v3`` as a program gets it (BLAS left
  alone) and ``cpu_v3`` after ``tinynet.tune_process()`` (BLAS set to one
  thread during the call).
- ``bits``: whether NumPy's float32 products of the workloads' shapes give
  the same bits on one BLAS thread as on all of them.
- ``concurrency``: seed-CNN training steps per second with 1, 2 and 4
  Python threads training their own models at once.

Each time is the median of several samples; the parts run in this one
process, one after another.
"""
import argparse
import os
import sys
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def _median_ms(fn, reps=20, samples=7):
    for _ in range(3):
        fn()
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        times.append((time.perf_counter() - t0) / reps)
    return 1e3 * float(np.median(times))


def _prange_pool():
    """The max-pool 2x2 forward and scatter backward with ``prange``."""
    from numba import njit, prange

    @njit(parallel=True)
    def fwd(x, y, idx):
        N, C, H, W = x.shape
        OH, OW = y.shape[2], y.shape[3]
        for plane in prange(N * C):
            n, c = plane // C, plane % C
            for oh in range(OH):
                for ow in range(OW):
                    h, w = 2 * oh, 2 * ow
                    best, where = x[n, c, h, w], h * W + w
                    for t in range(1, 4):
                        hh, ww = h + t // 2, w + t % 2
                        v = x[n, c, hh, ww]
                        better = (not (v <= best)) & (best == best)
                        best = v if better else best
                        where = hh * W + ww if better else where
                    y[n, c, oh, ow] = best
                    idx[n, c, oh, ow] = where

    @njit(parallel=True)
    def scatter(gy, idx, gx):
        N, C, H, W = gx.shape
        OH, OW = gy.shape[2], gy.shape[3]
        for plane in prange(N * C):
            n, c = plane // C, plane % C
            flat = gx[n, c].reshape(H * W)
            flat[:] = 0
            for oh in range(OH):
                for ow in range(OW):
                    flat[idx[n, c, oh, ow]] += gy[n, c, oh, ow]

    return fwd, scatter


def pool():
    from tinynet.kernels import pool2d
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 32, 26, 26)).astype(np.float32)
    a = rng.standard_normal((512, 512)).astype(np.float32)
    v1 = pool2d.IMPLS["cpu_v1"]
    window = (2, 2, 2, 2, 0, 0, 1, 1)

    def ours():
        y, idx = v1.max_forward(x, *window, 13, 13)
        v1.max_scatter(y, idx, x.shape, window)

    fwd, scatter = _prange_pool()
    y, gx = np.empty((64, 32, 13, 13), np.float32), np.empty_like(x)
    idx = np.empty(y.shape, np.int64)

    def theirs():
        fwd(x, y, idx)
        scatter(y, idx, gx)

    theirs()
    import numba
    layer = numba.threading_layer()
    rows = []
    for name, fn in ((f"tinynet threads (cpu_v1), {v1_threads()} threads", ours),
                     (f"Numba prange, '{layer}' layer", theirs)):
        alone = _median_ms(fn)
        mixed = _median_ms(lambda: (fn(), a @ a))
        rows.append((name, alone, mixed))
    mm = _median_ms(lambda: a @ a)
    print("max_pool2d 2x2 fwd+bwd on (64, 32, 26, 26):")
    for name, alone, mixed in rows:
        print(f"  {name:42s} alone {alone:6.2f} ms   with a 512^2 product after each: "
              f"{mixed:6.2f} ms (the product alone: {mm:.2f} ms)")


def v1_threads():
    from tinynet.kernels import threads
    return threads.count()


def conv():
    from tinynet.kernels import blas_threads
    from tinynet.kernels import conv2d as K
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 32, 13, 13)).astype(np.float32)
    w = rng.standard_normal((64, 32, 3, 3)).astype(np.float32)
    args = ((1, 1), (0, 0), (1, 1), 1)
    gy = np.ones((64, 64, 11, 11), np.float32)

    def step(impl):
        y, cols = K.conv2d_forward(x, w, *args, impl=impl)
        K.conv2d_backward(gy, x, w, *args, cols, (True, True, False), impl)

    print(f"conv B (64, 32, 13, 13) -> 64, k3, fwd+bwd; BLAS on {blas_threads.threads()} "
          "threads:")
    for label, name, tuned in (("cpu_v1", "cpu_v1", False),
                               ("cpu_v3, BLAS left alone (default)", "cpu_v3", False),
                               ("cpu_v3 after tune_process()", "cpu_v3", True)):
        blas_threads.allow_switching(tuned)
        ms = _median_ms(lambda: step(K.IMPLS[name]), reps=10)
        print(f"  {label:36s} {ms:7.2f} ms  ({K.conv_threads()} tinynet threads)")
    blas_threads.allow_switching(False)


def bits():
    from tinynet.kernels import blas_threads
    api = blas_threads._get_api()
    if not api:
        print("bits: NumPy's BLAS is not OpenBLAS here; nothing to compare")
        return
    setter, getter, _ = api
    n = getter()
    rng = np.random.default_rng(0)
    # (M, K, N) of the workloads' products: linear layers, LSTM projections,
    # conv B as one whole-batch GEMM and as one chunk's
    shapes = [(64, 784, 128), (64, 128, 10), (64, 1600, 512), (64, 512, 10),
              (2048, 65, 512), (32, 128, 512), (64, 288, 7744), (64, 288, 1936)]
    same = []
    for m, k, nn in shapes:
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, nn)).astype(np.float32)
        setter(1)
        one = a @ b
        setter(n)
        same.append(np.array_equal(one, a @ b))
    print(f"float32 products, same bits on 1 and {n} BLAS threads: {sum(same)} of "
          f"{len(same)} shapes")
    for (m, k, nn), s in zip(shapes, same):
        print(f"  ({m}, {k}) @ ({k}, {nn}): {'same' if s else 'different'}")


def concurrency():
    import tinynet as tn
    import tinynet.nn.functional as F
    from tinynet import models, optim
    rng = np.random.default_rng(0)
    x = tn.tensor(rng.standard_normal((64, 1, 8, 8)).astype(np.float32))
    y = tn.tensor(rng.integers(0, 10, 64))
    steps = 40

    def train(model, opt):
        for _ in range(steps):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

    print(f"seed CNN on 8x8 digits, batch 64: training steps per second, all threads "
          f"together ({steps} steps each)")
    for n in (1, 2, 4):
        pairs = []
        for _ in range(n):
            model = models.cnn()
            pairs.append((model, optim.RMSprop(model.parameters(), lr=1e-3)))
        train(*pairs[0])                         # warm-up: compile / load the kernels
        ts = [threading.Thread(target=train, args=p) for p in pairs]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        dt = time.perf_counter() - t0
        print(f"  {n} thread(s): {n * steps / dt:7.1f} steps/s")


PARTS = {"pool": pool, "conv": conv, "bits": bits, "concurrency": concurrency}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", nargs="+", choices=sorted(PARTS))
    a = p.parse_args(argv)
    import platform
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"{os.cpu_count()} cores; NUMBA_THREADING_LAYER="
          f"{os.environ.get('NUMBA_THREADING_LAYER', '(unset)')}")
    for name in a.only or list(PARTS):
        PARTS[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
