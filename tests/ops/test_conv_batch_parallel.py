"""The batch-parallel CPU convolution (``cpu_v3``): thread counts and chunk
sizes that change how the batch is split must not change the result (and
thread counts not even its bits), the BLAS thread count is changed only
after ``tune_process()`` and then always comes back, an error stops every
thread, and the plain (fused) backward must agree with the differentiable
one."""
import threading
import time

import numpy as np
import pytest

import tinynet as tn
from tinynet import kernels
from tinynet.kernels import blas_threads
from tinynet.kernels import threads as kernel_threads
from tinynet.kernels import conv2d as K
from tinynet.ops.conv import conv2d

pytestmark = pytest.mark.skipif(not K.IMPLS["cpu_v3"].available(), reason="needs Numba")

V3, REF = K.IMPLS["cpu_v3"], K.IMPLS["ref"]

# (N, C, H, W, O, KH, KW, stride, padding, dilation, groups)
SHAPES = [
    (7, 3, 9, 8, 4, 3, 3, (1, 1), (1, 1), (1, 1), 1),
    (5, 4, 10, 7, 6, 3, 2, (2, 1), (2, 0), (1, 2), 2),
    (6, 4, 6, 6, 4, 3, 3, (1, 1), (1, 1), (1, 1), 4),        # depthwise
    (3, 2, 11, 11, 3, 1, 1, (3, 3), (0, 0), (1, 1), 1),      # 1x1, stride > kernel
]


def shape_id(c):
    return "N{}-C{}-{}x{}-O{}-k{}x{}-s{}-p{}-d{}-g{}".format(*c).replace(" ", "")


def arrays(c, dtype=np.float64, seed=0):
    N, C, H, W, O, KH, KW, s, p, d, g = c
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((O, C // g, KH, KW)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype)
    y, _ = K.conv2d_forward(x, w, s, p, d, g, REF, bias=b)
    gy = rng.standard_normal(y.shape).astype(dtype)
    return x, w, b, gy, (s, p, d, g)


def run_v3(x, w, b, gy, args):
    y, cols = K.conv2d_forward(x, w, *args, impl=V3, bias=b)
    assert cols is None                     # nothing kept: the backward redoes im2col
    return (y,) + K.conv2d_backward(gy, x, w, *args, needs=(True, True, True), impl=V3)


def reference(x, w, b, gy, args):
    y, _ = K.conv2d_forward(x, w, *args, impl=REF, bias=b)
    return (y,) + K.conv2d_backward(gy, x, w, *args, needs=(True, True, True), impl=REF)


@pytest.mark.parametrize("threads", ["1", "2", "3", "8"])
@pytest.mark.parametrize("chunk_bytes", [1, K.CHUNK_BYTES])
@pytest.mark.parametrize("c", SHAPES, ids=shape_id)
def test_any_split_of_the_batch_gives_the_reference(c, chunk_bytes, threads, monkeypatch):
    # chunk_bytes=1 makes every chunk one sample; 8 threads is more than the batch
    monkeypatch.setattr(K, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setenv("TINYNET_CONV_THREADS", threads)
    x, w, b, gy, args = arrays(c)
    for ours, ref, what in zip(run_v3(x, w, b, gy, args), reference(x, w, b, gy, args),
                               ("y", "gx", "gw", "gb")):
        np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12, err_msg=what)


def test_same_bits_every_run_whatever_thread_finishes_first(monkeypatch):
    monkeypatch.setattr(K, "CHUNK_BYTES", 1)
    monkeypatch.setenv("TINYNET_CONV_THREADS", "3")
    x, w, b, gy, args = arrays(SHAPES[0], np.float32)
    first = run_v3(x, w, b, gy, args)
    for _ in range(5):
        for a, b_ in zip(run_v3(x, w, b, gy, args), first):
            assert np.array_equal(a, b_)


@pytest.mark.parametrize("needs", [(True, False, False), (False, True, False),
                                   (False, False, True), (True, True, True)])
def test_fused_backward_computes_only_what_is_asked(needs):
    x, w, b, gy, args = arrays(SHAPES[1])
    got = K.conv2d_backward(gy, x, w, *args, needs=needs, impl=V3)
    want = K.conv2d_backward(gy, x, w, *args, needs=needs, impl=REF)
    for g, r, need in zip(got, want, needs):
        assert (g is None) == (not need) == (r is None)
        if need:
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("N", [0, 1, 2])
def test_batches_smaller_than_the_thread_count(N, monkeypatch):
    monkeypatch.setenv("TINYNET_CONV_THREADS", "4")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, 2, 5, 5)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    gy = rng.standard_normal((N, 3, 3, 3)).astype(np.float32)
    args = ((1, 1), (0, 0), (1, 1), 1)
    ours = run_v3(x, w, None, gy, args)
    ref = reference(x, w, None, gy, args)
    assert ours[0].shape == (N, 3, 3, 3) and ours[1].shape == x.shape
    for a, r in zip(ours, ref):
        np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-5)


def test_non_contiguous_inputs():
    x, w, b, gy, args = arrays(SHAPES[0])
    xt, wt, gyt = np.asfortranarray(x), np.asfortranarray(w), np.asfortranarray(gy)
    assert not any(a.flags["C_CONTIGUOUS"] for a in (xt, wt, gyt))
    for a, r in zip(run_v3(xt, wt, b, gyt, args), reference(x, w, b, gy, args)):
        np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-12)


needs_blas_control = pytest.mark.skipif(blas_threads.threads() is None,
                                        reason="NumPy's BLAS is not OpenBLAS here")


def test_openblas_is_found_when_numpy_uses_it():
    blas = np.__config__.CONFIG["Build Dependencies"]["blas"]["name"]
    if "openblas" not in blas.lower():
        pytest.skip(f"NumPy uses {blas}")
    assert blas_threads.threads() >= 1


@pytest.fixture
def switching(monkeypatch):
    """As after tinynet.tune_process(): cpu_v3 may set BLAS to one thread."""
    monkeypatch.setattr(blas_threads, "_switch_allowed", True)


@pytest.mark.parametrize("threads", ["1", "2", "3", "5"])
def test_same_bits_for_any_thread_count(threads, monkeypatch):
    # the chunks do not depend on the threads that run them, so neither do the sums
    monkeypatch.setattr(K, "CHUNK_BYTES", 1)
    x, w, b, gy, args = arrays(SHAPES[0], np.float32)
    monkeypatch.setenv("TINYNET_CONV_THREADS", "1")
    alone = run_v3(x, w, b, gy, args)
    monkeypatch.setenv("TINYNET_CONV_THREADS", threads)
    for a, r in zip(run_v3(x, w, b, gy, args), alone):
        assert np.array_equal(a, r)


@needs_blas_control
def test_blas_is_left_alone_unless_the_process_opted_in(monkeypatch):
    monkeypatch.setenv("TINYNET_CONV_THREADS", "2")
    monkeypatch.setattr(blas_threads, "_switch_allowed", False)
    before = blas_threads.actual()
    seen = []
    real = K._kernels_v3()

    def im2col(*a):
        seen.append(blas_threads.actual())
        return real[0](*a)

    monkeypatch.setattr(K, "_v3", (im2col,) + real[1:])
    x, w, b, gy, args = arrays(SHAPES[0])
    run_v3(x, w, b, gy, args)
    assert seen and set(seen) == {before}
    with blas_threads.single_threaded():
        assert blas_threads.actual() == before


@needs_blas_control
def test_blas_thread_count_comes_back(monkeypatch, switching):
    monkeypatch.setenv("TINYNET_CONV_THREADS", "2")
    before = blas_threads.threads()
    x, w, b, gy, args = arrays(SHAPES[0])
    run_v3(x, w, b, gy, args)
    assert blas_threads.actual() == before
    with blas_threads.single_threaded():
        assert blas_threads.actual() == 1
        assert blas_threads.threads() == before        # readers never see the temporary 1
        with blas_threads.single_threaded():           # nested / overlapping blocks
            assert blas_threads.actual() == 1
        assert blas_threads.actual() == 1
    assert blas_threads.actual() == before


@needs_blas_control
def test_overlapping_calls_in_several_threads_restore_the_count_after_the_last(monkeypatch,
                                                                               switching):
    monkeypatch.setenv("TINYNET_CONV_THREADS", "2")
    monkeypatch.setattr(K, "CHUNK_BYTES", 1)
    before = blas_threads.actual()
    x, w, b, gy, args = arrays(SHAPES[0], np.float32)
    alone = run_v3(x, w, b, gy, args)
    seen_by_readers, errors, stop = set(), [], threading.Event()

    def convolve():
        try:
            for _ in range(20):
                for a, r in zip(run_v3(x, w, b, gy, args), alone):
                    assert np.array_equal(a, r)
        except BaseException as e:                     # noqa: B902
            errors.append(e)

    def read():
        while not stop.is_set():
            seen_by_readers.add(blas_threads.threads())
            seen_by_readers.add(K.conv_threads())

    workers = [threading.Thread(target=convolve) for _ in range(3)]
    reader = threading.Thread(target=read)
    reader.start()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    stop.set()
    reader.join()
    assert not errors, errors
    assert 1 not in seen_by_readers                    # neither saw the temporary 1
    assert blas_threads.actual() == before


@needs_blas_control
@pytest.mark.parametrize("allowed", [False, True])
def test_an_error_stops_every_thread_and_restores_blas(allowed, monkeypatch):
    monkeypatch.setattr(blas_threads, "_switch_allowed", allowed)
    monkeypatch.setenv("TINYNET_CONV_THREADS", "2")
    monkeypatch.setattr(K, "CHUNK_BYTES", 1)           # one chunk per sample: 40 chunks
    before = blas_threads.actual()
    calls = []
    real = K._kernels_v3()

    def failing_im2col(*a):
        calls.append(1)
        if len(calls) == 3:
            raise MemoryError("planted")
        time.sleep(0.002)
        return real[0](*a)

    monkeypatch.setattr(K, "_v3", (failing_im2col,) + real[1:])
    x = np.random.default_rng(0).standard_normal((40, 2, 6, 6))
    w = np.ones((3, 2, 3, 3))
    for run in (lambda: K.conv2d_forward(x, w, (1, 1), (0, 0), (1, 1), 1, impl=V3),
                lambda: K.conv2d_backward(np.ones((40, 3, 4, 4)), x, w, (1, 1), (0, 0), (1, 1),
                                          1, needs=(True, True, True), impl=V3)):
        calls.clear()
        with pytest.raises(MemoryError, match="planted"):
            run()
        after = len(calls)
        time.sleep(0.05)
        assert len(calls) == after <= 4                 # nobody went on after the error
        assert blas_threads.actual() == before


@needs_blas_control
def test_thread_count_setting(monkeypatch):
    monkeypatch.setenv("TINYNET_CONV_THREADS", "3")
    assert K.conv_threads() == 3
    monkeypatch.delenv("TINYNET_CONV_THREADS")
    monkeypatch.setattr(blas_threads, "_switch_allowed", True)
    assert K.conv_threads() == kernel_threads.count()
    monkeypatch.setattr(blas_threads, "_switch_allowed", False)
    assert K.conv_threads() == (kernel_threads.count() if blas_threads.threads() == 1 else 1)
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("TINYNET_CONV_THREADS", bad)
        with pytest.raises(ValueError, match="TINYNET_CONV_THREADS must be a positive"):
            K.conv_threads()


def test_without_blas_control_one_thread_does_it_all(monkeypatch):
    monkeypatch.setattr(blas_threads, "_api", False)
    monkeypatch.setenv("TINYNET_CONV_THREADS", "4")
    assert blas_threads.threads() is None and K.conv_threads() == 1
    x, w, b, gy, args = arrays(SHAPES[1])
    for a, r in zip(run_v3(x, w, b, gy, args), reference(x, w, b, gy, args)):
        np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("impl", ["ref", "cpu_v1", "cpu_v3"])
def test_plain_backward_agrees_with_the_differentiable_one(impl):
    if not K.IMPLS[impl].available():
        pytest.skip("needs Numba")
    c = SHAPES[1]
    N, C, H, W, O, KH, KW, s, p, d, g = c
    x, w, b, gy, _ = arrays(c)
    with kernels.use(conv=impl):
        xs = [tn.tensor(a, requires_grad=True) for a in (x, w, b)]
        y = conv2d(*xs, stride=s, padding=p, dilation=d, groups=g)
        y.backward(tn.tensor(gy))                           # the fused array path
        plain = [t.grad.numpy() for t in xs]
        xs2 = [tn.tensor(a, requires_grad=True) for a in (x, w, b)]
        y2 = conv2d(*xs2, stride=s, padding=p, dilation=d, groups=g)
        graph = tn.grad(y2, xs2, tn.tensor(gy), create_graph=True)   # the Function path
    for a, r in zip(plain, graph):
        np.testing.assert_allclose(a, r.numpy(), rtol=1e-12, atol=1e-12)


def test_self_check_reports_match_and_catches_a_wrong_version(monkeypatch, capsys):
    assert K.self_check(quick=True) == 0
    assert "conv2d: all versions match the reference" in capsys.readouterr().out
    real = K._kernels_v3()
    monkeypatch.setattr(K, "_v3", real[:1] + (lambda *a: None,) + real[2:])   # col2im lost
    assert K.self_check(quick=True) == 1
    out = capsys.readouterr().out
    assert "MISMATCH conv2d cpu_v3 gx" in out and "all versions match" not in out


def test_cpu_default_follows_the_blas_thread_count(monkeypatch):
    monkeypatch.delenv("TINYNET_CONV_IMPL", raising=False)
    x = np.zeros((1, 1, 3, 3), np.float32)
    for threads, want in ((1, "cpu_v6"), (2, "cpu_v6"), (3, "cpu_v1"), (16, "cpu_v1")):
        monkeypatch.setattr(blas_threads, "threads", lambda: threads)
        assert K.select(x).name == want
    monkeypatch.setattr(blas_threads, "threads", lambda: None)     # not controllable
    assert K.select(x).name == "cpu_v6"


def test_kernels_load_from_numbas_disk_cache_in_a_new_process():
    # a kernel that cannot be cached recompiles in every process (~1 s here)
    import subprocess
    import sys
    code = (
        "import numpy as np\n"
        "from tinynet.kernels import conv2d as K\n"
        "x = np.ones((2, 3, 5, 5), np.float32); w = np.ones((4, 3, 3, 3), np.float32)\n"
        "y, _ = K.conv2d_forward_cpu_v3(x, w, (1, 1), (0, 0), (1, 1), 1)\n"
        "K.conv2d_backward_cpu_v3(y, w, x, x.shape, (1, 1), (0, 0), (1, 1), 1, True, True, True)\n"
        "kernels = K._kernels_v3()\n"
        "print(sum(sum(k.stats.cache_misses.values()) for k in kernels),\n"
        "      sum(sum(k.stats.cache_hits.values()) for k in kernels))\n")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.split() for _ in range(2)]
    misses, hits = map(int, runs[1])
    assert misses == 0 and hits == 4, runs


def test_the_controlled_blas_is_numpys_even_with_scipys_loaded(monkeypatch):
    import scipy.linalg  # noqa: F401            # SciPy maps its own OpenBLAS copy
    import glob
    import os
    bundled = glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs",
                                     "*openblas*"))
    if not bundled:
        pytest.skip("this NumPy has no bundled OpenBLAS")
    monkeypatch.setattr(blas_threads, "_api", None)            # look it up again
    assert os.path.realpath(blas_threads._get_api()[2]) == os.path.realpath(bundled[0])
    # and setting it changes what NumPy's products use
    monkeypatch.setattr(blas_threads, "_switch_allowed", True)
    with blas_threads.single_threaded():
        assert blas_threads.actual() == 1
