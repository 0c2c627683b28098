"""kernels/gelu.py: every version of the exact GELU against a float64 oracle
built from ``math.erf``, and the op's dispatch (the fused loops in a plain
backward, the composed ops when the backward is itself differentiated)."""
import math

import numpy as np
import pytest
import torch

import tinynet as tn
import tinynet.nn.functional as F
from tinynet import kernels
from tinynet.kernels import gelu as G

VERSIONS = ["ref", "cpu_v1", "cpu_v2"]


def _oracle(x, tail=False):
    """GELU and its derivative of every element, in float64: Phi(x) as
    (1 + erf(x / sqrt 2)) / 2, PyTorch's float64 formula, or with ``tail`` as
    erfc(-x / sqrt 2) / 2, which keeps its relative precision for x < 0."""
    v = x.astype(np.float64).reshape(-1)
    if tail:
        cdf = np.array([0.5 * math.erfc(-a / math.sqrt(2)) for a in v])
    else:
        cdf = np.array([0.5 * (1 + math.erf(a / math.sqrt(2))) for a in v])
    pdf = np.exp(-0.5 * v * v) / math.sqrt(2 * math.pi)
    return (v * cdf).reshape(x.shape), (cdf + v * pdf).reshape(x.shape)


def _inputs(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = (4 * rng.standard_normal(shape)).astype(dtype)
    flat = x.reshape(-1)
    # the branch points and the tails: erf's series/fit switch at |x| = sqrt 2,
    # Phi rounding to 1 and underflowing to 0
    special = [0.0, -0.0, 1.41421356, -1.41421356, 1.4142137, -1.4142135, 5.0, -5.0,
               9.0, -9.0, 17.0, -17.0, 40.0, -40.0, 1e-30, -1e-30]
    flat[:len(special)] = special[:flat.size]
    return x, rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (17,), (5, 7), (2, 3, 4, 5), (64, 1000)])
def test_every_version_matches_the_float64_oracle(version, dtype, shape):
    x, gy = _inputs(shape, dtype)
    want_y, want_d = _oracle(x)
    impl = G.IMPLS[version]
    y, gx = impl.forward(x), impl.backward(x, gy)
    assert y.dtype == x.dtype and gx.dtype == x.dtype
    assert y.shape == x.shape and gx.shape == x.shape
    want_gx = gy.astype(np.float64) * want_d
    if dtype == np.float64:      # 1 + erf cancels in the tail, here and in PyTorch
        rtol, atol = 1e-13, 1e-15
    elif version == "ref":       # float32 1 + erf(x) cancels below x = -3, as in PyTorch's
        rtol, atol = 2e-6, 2e-7
    else:                        # rounded once from float64
        rtol, atol = 2e-6, 1e-15
    np.testing.assert_allclose(y, want_y, rtol=rtol, atol=atol)
    np.testing.assert_allclose(gx, want_gx, rtol=rtol, atol=atol)


def test_cpu_v2_keeps_relative_precision_in_the_negative_tail():
    # Phi(x) for x far below 0 is tiny: its error must stay relative there,
    # not absolute (gelu(-6) is about -6e-9)
    x = -np.linspace(1.5, 12.0, 4001).astype(np.float32)
    want, _ = _oracle(x, tail=True)
    got = G.forward_cpu_v2(x)
    nonzero = np.abs(want) > 1e-37
    rel = np.abs(got[nonzero] - want[nonzero]) / np.abs(want[nonzero])
    assert rel.max() < 2e-6, rel.max()


@pytest.mark.parametrize("version", VERSIONS)
def test_non_finite_and_non_contiguous_inputs(version):
    impl = G.IMPLS[version]
    x = np.array([np.inf, -np.inf, np.nan, 3.0, -3.0, 0.5], np.float32)
    ref = G.forward_ref(x)
    got = impl.forward(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got[np.isfinite(ref)], ref[np.isfinite(ref)], rtol=2e-6, atol=2e-7)
    assert got[0] == np.inf
    wide = np.random.default_rng(1).standard_normal((6, 8)).astype(np.float32)
    strided, gy = wide[:, ::2], np.ones((6, 4), np.float32)
    assert not strided.flags.c_contiguous
    np.testing.assert_allclose(impl.forward(strided), G.forward_ref(strided), rtol=2e-6,
                               atol=2e-7)
    np.testing.assert_allclose(impl.backward(strided, gy), G.backward_ref(strided, gy),
                               rtol=2e-6, atol=2e-7)


def test_versions_give_the_same_bits_on_one_thread_and_on_several(monkeypatch):
    x, gy = _inputs((256, 1024), np.float32)
    results = {}
    for threads in ("1", "2", "3"):
        monkeypatch.setenv("TINYNET_NUM_THREADS", threads)
        results[threads] = [(G.IMPLS[v].forward(x), G.IMPLS[v].backward(x, gy))
                            for v in ("cpu_v1", "cpu_v2")]
    for threads in ("2", "3"):
        for (y1, g1), (y, g) in zip(results["1"], results[threads]):
            np.testing.assert_array_equal(y, y1)
            np.testing.assert_array_equal(g, g1)


def test_select_defaults_and_forcing(monkeypatch):
    monkeypatch.delenv("TINYNET_GELU_IMPL", raising=False)
    x = np.zeros(3, np.float32)
    assert G.select(x).name == "cpu_v2"
    monkeypatch.setenv("TINYNET_GELU_IMPL", "ref")
    assert G.select(x).name == "ref"
    monkeypatch.delenv("TINYNET_GELU_IMPL")
    with kernels.use(gelu="cpu_v1"):
        assert G.select(x).name == "cpu_v1"
    with pytest.raises(ValueError, match="gelu"):
        with kernels.use(gelu="nope"):
            pass


def test_other_dtypes_take_the_reference():
    x = np.linspace(-3, 3, 7).astype(np.float16)
    for version in VERSIONS:
        y = G.IMPLS[version].forward(x)
        assert y.dtype == np.float16
        np.testing.assert_allclose(y, G.forward_ref(x), rtol=1e-3)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_op_matches_pytorch_on_every_version(version):
    x, gy = _inputs((8, 33), np.float32, seed=3)
    with kernels.use(gelu=version):
        xt = tn.tensor(x, requires_grad=True)
        y = F.gelu(xt)
        y.backward(tn.tensor(gy))
    ref = torch.tensor(x, requires_grad=True)
    want = torch.nn.functional.gelu(ref)
    want.backward(torch.tensor(gy))
    # float32 PyTorch loses Phi(x) to cancellation for x below about -3
    # (absolute error up to about 1e-7 * |x|); the Numba versions do not
    np.testing.assert_allclose(y.detach().numpy(), want.detach().numpy(),
                               rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(xt.grad.numpy(), ref.grad.numpy(), rtol=2e-6, atol=1e-6)


def test_a_differentiated_backward_takes_the_composed_ops():
    # create_graph: the gradient must itself have a graph (the fused loops
    # return plain arrays), and its derivative must match finite differences
    x = tn.randn(4, 5, dtype=tn.float64, requires_grad=True)
    g, = tn.grad(F.gelu(x).sum(), x, create_graph=True)
    assert g.requires_grad and g.grad_fn is not None
    assert tn.gradgradcheck(F.gelu, (x,))


def test_self_check_passes(capsys):
    assert G.self_check(quick=True) == 0
    assert "gelu: all versions match the reference" in capsys.readouterr().out
