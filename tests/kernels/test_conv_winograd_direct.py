"""The CPU convolution versions with fewer products: ``cpu_v4`` (Winograd
F(2x2, 3x3)), ``cpu_v5`` (direct loops) and ``cpu_v6`` (the per-shape choice
among them and ``cpu_v3``), each against the float64 reference: outputs and
the input, weight and bias gradients, in float32 and float64, on odd shapes
and on the shapes each hands to ``cpu_v3``.

Accuracy bound: every result is within ``BOUND[dtype] * max|ref|`` of the
float64 reference (the same bound the im2col versions meet; the Winograd
transforms multiply values by at most 2.25 per side, so its float32 rounding
stays of the order of the direct sum's)."""
import numpy as np
import pytest

import tinynet as tn
from tinynet import kernels
from tinynet.kernels import blas_threads
from tinynet.kernels import conv2d as K
from tinynet.ops.conv import conv2d

pytestmark = pytest.mark.skipif(not K.IMPLS["cpu_v4"].available(), reason="needs Numba")

REF = K.IMPLS["ref"]
VERSIONS = ["cpu_v4", "cpu_v5", "cpu_v6"]
BOUND = {np.float32: 1e-5, np.float64: 1e-12}

# (N, C, H, W, O, KH, KW, stride, padding, dilation, groups)
COVERED = [                                    # 3x3 stride 1: Winograd's (and direct's)
    (1, 1, 5, 5, 1, 3, 3, (1, 1), (0, 0), (1, 1), 1),      # batch 1, one tile row
    (2, 3, 7, 6, 5, 3, 3, (1, 1), (1, 1), (1, 1), 1),      # odd output (7x6 -> 7x6)
    (3, 5, 9, 8, 7, 3, 3, (1, 1), (0, 0), (1, 1), 1),      # odd tiles cut at the edge
    (2, 2, 4, 6, 3, 3, 3, (1, 1), (2, 1), (1, 1), 1),      # padding 2 and 1
    (1, 1, 28, 28, 4, 3, 3, (1, 1), (0, 0), (1, 1), 1),    # conv A's kind (direct)
    (4, 7, 13, 13, 6, 3, 3, (1, 1), (0, 0), (1, 1), 1),    # conv B's kind (Winograd)
    (2, 1, 6, 5, 3, 3, 3, (1, 1), (1, 1), (1, 1), 1),      # one channel, padding 1
]
OTHERS = [                                     # handed to cpu_v3 (or direct's general loops)
    (2, 4, 9, 9, 6, 3, 3, (2, 2), (1, 1), (1, 1), 2),      # stride 2, groups
    (2, 3, 9, 8, 4, 2, 3, (2, 1), (1, 0), (2, 1), 1),      # 2x3, stride, dilation
    (1, 2, 7, 7, 3, 3, 3, (1, 1), (1, 1), (2, 2), 1),      # dilation 2
    (2, 1, 8, 7, 3, 5, 5, (1, 1), (2, 2), (1, 1), 1),      # 5x5
    (3, 4, 6, 6, 4, 3, 3, (1, 1), (1, 1), (1, 1), 4),      # depthwise
]


def shape_id(c):
    return "N{}-C{}-{}x{}-O{}-k{}x{}-s{}-p{}-d{}-g{}".format(*c).replace(" ", "")


def problem(c, dtype, bias=True, seed=0):
    N, C, H, W, O, KH, KW, s, p, d, g = c
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((O, C // g, KH, KW))
    b = rng.standard_normal(O) if bias else None
    y, _ = K.conv2d_forward(x, w, s, p, d, g, REF, bias=b)
    gy = rng.standard_normal(y.shape)
    want = (y,) + K.conv2d_backward(gy, x, w, s, p, d, g, None, (True, True, True), REF)
    cast = (lambda a: None if a is None else a.astype(dtype))
    return (cast(x), cast(w), cast(b), cast(gy), (s, p, d, g)), want


def run(impl, x, w, b, gy, args):
    version = K.IMPLS[impl]
    y, _ = K.conv2d_forward(x, w, *args, version, bias=b)
    return (y,) + K.conv2d_backward(gy, x, w, *args, None, (True, True, True), version)


def assert_close(got, want, dtype):
    for name, g, r in zip(("y", "gx", "gw", "gb"), got, want):
        assert g.dtype == dtype and g.shape == r.shape, name
        err = np.abs(g.astype(np.float64) - r).max()
        assert err <= BOUND[dtype] * np.abs(r).max(), (name, err, np.abs(r).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("impl", VERSIONS)
@pytest.mark.parametrize("c", COVERED + OTHERS, ids=shape_id)
def test_version_matches_the_float64_reference(c, impl, dtype):
    inputs, want = problem(c, dtype)
    assert_close(run(impl, *inputs), want, dtype)


@pytest.mark.parametrize("impl", VERSIONS)
def test_without_bias_and_each_product_alone(impl):
    c = COVERED[2]
    (x, w, _, gy, args), want = problem(c, np.float64, bias=False)
    version = K.IMPLS[impl]
    y, _ = K.conv2d_forward(x, w, *args, version)
    gx = K.conv2d_backward_input(gy, w, x.shape, *args, version)
    gw = K.conv2d_backward_weight(x, gy, w.shape, *args, None, version)
    gb = gy.sum(axis=(0, 2, 3))
    assert_close((y, gx, gw, gb), want, np.float64)
    # only what is asked for
    assert K.conv2d_backward(gy, x, w, *args, None, (False, True, False), version)[::2] == \
        (None, None)


@pytest.mark.parametrize("impl", VERSIONS)
def test_conv2d_op_gradcheck_and_gradgradcheck_with_version(impl):
    rng = np.random.default_rng(1)
    x = tn.tensor(rng.standard_normal((2, 3, 5, 6)), requires_grad=True)
    w = tn.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    b = tn.tensor(rng.standard_normal(4), requires_grad=True)
    with kernels.use(conv=impl):
        assert tn.gradcheck(lambda x, w, b: conv2d(x, w, b, padding=1), (x, w, b))
        assert tn.gradgradcheck(lambda x, w, b: conv2d(x, w, b, padding=1), (x, w, b))


@pytest.mark.parametrize("winograd", [False, True])
def test_route_gives_each_shape_its_version(winograd, monkeypatch):
    monkeypatch.setattr(K, "ROUTE_WINOGRAD", winograd)
    assert K.cpu_route((32, 1, 3, 3), (1, 1), (1, 1), 1) == "cpu_v5"      # conv A
    assert K.cpu_route((64, 32, 3, 3), (1, 1), (1, 1), 1) == \
        ("cpu_v4" if winograd else "cpu_v3")                               # conv B
    assert K.cpu_route((8, 1, 3, 3), (2, 2), (1, 1), 1) == "cpu_v5"       # few taps, any stride
    assert K.cpu_route((8, 4, 3, 3), (2, 2), (1, 1), 1) == "cpu_v3"
    assert K.cpu_route((8, 4, 3, 3), (1, 1), (2, 2), 1) == "cpu_v3"
    assert K.cpu_route((8, 2, 3, 3), (1, 1), (1, 1), 2) == "cpu_v3"
    assert K.cpu_route((8, 4, 5, 5), (1, 1), (1, 1), 1) == "cpu_v3"


def test_cpu_v6_with_winograd_routed_matches_the_reference(monkeypatch):
    monkeypatch.setattr(K, "ROUTE_WINOGRAD", True)
    for c in COVERED:
        inputs, want = problem(c, np.float32)
        assert_close(run("cpu_v6", *inputs), want, np.float32)


def test_cpu_default_is_the_per_shape_choice_where_cpu_v3_was(monkeypatch):
    monkeypatch.delenv("TINYNET_CONV_IMPL", raising=False)
    x = np.zeros((1, 1, 3, 3), np.float32)
    for threads, want in ((1, "cpu_v6"), (2, "cpu_v6"), (3, "cpu_v1"), (None, "cpu_v6")):
        monkeypatch.setattr(blas_threads, "threads", lambda: threads)
        assert K.select(x).name == want


def test_results_do_not_depend_on_the_thread_count(monkeypatch):
    inputs, _ = problem(COVERED[5], np.float32)
    monkeypatch.setenv("TINYNET_NUM_THREADS", "1")
    one = {impl: run(impl, *inputs) for impl in ("cpu_v4", "cpu_v5")}
    monkeypatch.setenv("TINYNET_NUM_THREADS", "3")
    for impl, results in one.items():
        for a, b in zip(results, run(impl, *inputs)):
            assert np.array_equal(a, b), impl


def test_self_check_covers_the_new_versions(capsys):
    assert K.self_check(quick=True) == 0
    out = capsys.readouterr().out
    assert "all versions match the reference" in out
    for impl in VERSIONS:
        assert impl in out.split("all versions match the reference")[1].splitlines()[0]
