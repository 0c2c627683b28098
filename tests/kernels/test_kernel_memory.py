"""Bounded memory: every CPU kernel version's peak traced memory stays within
1.5x of the NumPy reference's for the same work, on shapes where a careless
version would hold much more (many channels on tiny images: a batch-parallel
backward that kept every chunk's weight-gradient part until the end would
hold several times the reference's peak). tracemalloc sees every NumPy
allocation."""
import tracemalloc

import numpy as np
import pytest

from tinynet.kernels import conv2d as K
from tinynet.kernels import pool2d as P
from tinynet.kernels import workspace

BOUND = 1.5


def peak_bytes(fn):
    """Peak traced memory of ``fn()`` above what was allocated before it,
    with the kernels' workspace cache empty at the start."""
    workspace.clear()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    workspace.clear()
    return peak - start


# (N, C, H, W, O, k, padding): many channels on 4x4 images (one GEMM part per
# chunk is larger than the chunk's columns), and a seed-CNN-like layer
CONV_SHAPES = [(128, 512, 4, 4, 512, 3, 1), (64, 32, 13, 13, 64, 3, 0)]


@pytest.mark.parametrize("threads", ["1", "4"])
@pytest.mark.parametrize("impl", ["cpu_v1", "cpu_v3", "cpu_v4", "cpu_v5", "cpu_v6"])
@pytest.mark.parametrize("shape", CONV_SHAPES, ids=lambda s: "N{}-C{}-{}x{}-O{}".format(*s))
def test_convolution_forward_and_backward_peak_within_bound(shape, impl, threads, monkeypatch):
    monkeypatch.setenv("TINYNET_CONV_THREADS", threads)
    monkeypatch.setenv("TINYNET_NUM_THREADS", threads)
    N, C, H, W, O, k, p = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((O, C, k, k)).astype(np.float32)
    args = ((1, 1), (p, p), (1, 1), 1)
    OH = H + 2 * p - k + 1
    gy = rng.standard_normal((N, O, OH, OH)).astype(np.float32)

    def step(name):
        version = K.IMPLS[name]
        y, cols = K.conv2d_forward(x, w, *args, impl=version)
        grads = K.conv2d_backward(gy, x, w, *args, cols, (True, True, True), impl=version)
        return y, grads

    step(impl)                                  # compile / load outside the measurement
    ref, ours = peak_bytes(lambda: step("ref")), peak_bytes(lambda: step(impl))
    assert ours <= BOUND * ref, f"{impl}: {ours / 2**20:.1f} MiB against ref {ref / 2**20:.1f}"


@pytest.mark.parametrize("threads", ["1", "4"])
def test_batch_parallel_backward_keeps_only_a_few_weight_gradient_parts(threads,
                                                                        monkeypatch):
    # the parts are added as they come, so the peak does not grow with the
    # number of chunks: 128 one-sample chunks cost what 16 do
    monkeypatch.setenv("TINYNET_CONV_THREADS", threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 256, 4, 4)).astype(np.float32)
    w = rng.standard_normal((256, 256, 3, 3)).astype(np.float32)
    gy = rng.standard_normal((128, 256, 4, 4)).astype(np.float32)
    args = ((1, 1), (1, 1), (1, 1), 1)
    part = w.nbytes

    def backward():
        return K.conv2d_backward(gy, x, w, *args, None, (False, True, False),
                                 impl=K.IMPLS["cpu_v3"])

    backward()
    monkeypatch.setattr(K, "CHUNK_BYTES", 1)            # one chunk per sample
    assert peak_bytes(backward) <= (2 * int(threads) + 4) * part


def test_pooling_peak_within_bound():
    x = np.random.default_rng(0).standard_normal((64, 32, 26, 26)).astype(np.float32)

    def step(impl):
        y, idx = impl.max_forward(x, 2, 2, 2, 2, 0, 0, 1, 1, 13, 13)
        return impl.max_scatter(y, idx, x.shape, (2, 2, 2, 2, 0, 0, 1, 1))

    ref, v1 = P.IMPLS["ref"], P.IMPLS["cpu_v1"]
    step(v1)
    ref, ours = peak_bytes(lambda: step(ref)), peak_bytes(lambda: step(v1))
    assert ours <= BOUND * ref


def test_workspace_reuses_blocks_stays_within_its_limit_and_empties(monkeypatch):
    import tinynet as tn
    workspace.clear()
    a = workspace.empty((512, 1024), np.float32)         # 2 MiB: cached
    block = id(a.base)                                   # (holding the block would keep it)
    del a
    b = workspace.empty((1024, 512), np.float32)         # same size class: the same block
    assert id(b.base) == block
    c = workspace.empty((512, 1024), np.float32)         # b still uses it: another block
    assert id(c.base) != block
    del c
    assert workspace.stats()["blocks"] == 2 and workspace.stats()["free_bytes"] == 2 << 20
    view = b[3:].T                                       # a view keeps the block in use
    del b
    d = workspace.empty((512, 1024), np.float32)
    assert id(d.base) != block
    del view, d
    small = workspace.empty((10, 10), np.float64)        # small: plain NumPy
    assert small.base is None
    tn.empty_cache()
    assert workspace.stats() == {"blocks": 0, "bytes": 0, "free_bytes": 0}
    monkeypatch.setenv("TINYNET_WORKSPACE_MB", "5")      # room for two 2 MiB blocks
    held = [workspace.empty((512, 1024), np.float32) for _ in range(3)]
    assert [h.base is not None for h in held] == [True, True, False]
    assert workspace.stats()["bytes"] == 4 << 20
    del held
    workspace.empty((1024, 1024), np.float32)           # 4 MiB: the free blocks make room
    assert workspace.stats()["bytes"] == 4 << 20 and workspace.stats()["blocks"] == 1
    tn.empty_cache()
    monkeypatch.setenv("TINYNET_WORKSPACE_MB", "-1")
    with pytest.raises(ValueError, match="TINYNET_WORKSPACE_MB"):
        workspace.empty((512, 1024), np.float32)
