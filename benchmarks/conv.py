"""Convolution A and B forward + backward, max-pool 2x2, and one seed-CNN training step at batch 64, tinynet and PyTorch in the same run.

    python benchmarks/conv.py [--quick] [--blas-env default|unset|both] [--json PATH]
    python benchmarks/conv.py --products

The same as `python benchmarks/run.py --only conv2d_a conv2d_b maxpool cnn_step`: outputs are checked
against PyTorch's before anything is timed (see run.py).

``--products`` instead times the three matrix products of conv B as the
batch-parallel convolution (``cpu_v3``) runs them: one chunk of samples, BLAS
on one thread. Their rate is what one core can give conv B at best; run it
once as is and once with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset to see
what the machine's BLAS settings cost."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402


def products(samples=7, repeats=200):
    import numpy as np
    from tinynet.kernels import blas_threads
    O, C, P = 64, 32, 11 * 11                        # conv B: 64 <- 32 channels, 11x11 out
    rng = np.random.default_rng(0)
    w = rng.standard_normal((O, C * 9)).astype(np.float32)
    wt = np.ascontiguousarray(w.T)
    cols = rng.standard_normal((C * 9, samples * P)).astype(np.float32)
    gy = rng.standard_normal((O, samples * P)).astype(np.float32)
    y, gcols = np.empty((O, samples * P), np.float32), np.empty_like(cols)
    flops = 2 * O * C * 9 * samples * P
    if blas_threads.threads() is None:
        print("BLAS threads cannot be set here (not OpenBLAS): the rates below use all of them")
    print(f"conv B's products for a chunk of {samples} samples, BLAS on one thread "
          f"(OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}):")
    with blas_threads.single_threaded():
        for name, f in (("forward  w @ cols", lambda: np.matmul(w, cols, out=y)),
                        ("input    w.T @ gy", lambda: np.matmul(wt, gy, out=gcols)),
                        ("weight   cols @ gy.T", lambda: cols @ gy.T)):
            for _ in range(10):
                f()
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                f()
                times.append(time.perf_counter() - t0)
            sec = float(np.median(times))
            print(f"  {name:22s} {sec * 1e3:7.3f} ms  {flops / sec / 1e9:6.1f} GFLOP/s")


if __name__ == "__main__":
    if sys.argv[1:] == ["--products"]:
        sys.exit(products())
    sys.exit(run.main(["--only", *"conv2d_a conv2d_b maxpool cnn_step".split()] + sys.argv[1:]))
