"""nn.init and every module's default initialisation: distributions are
checked statistically (bounds and moments with a fixed seed), gains and fans
against PyTorch's formulas."""
import math

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
from tinynet.nn import init


def moments(t):
    a = t.numpy().astype(np.float64).ravel()
    return a.min(), a.max(), a.mean(), a.std()


def assert_uniform(t, bound):
    lo, hi, mean, std = moments(t)
    sigma = bound / math.sqrt(3)
    tol = 4 * sigma / math.sqrt(t.numel())      # 4 standard errors: no flaky seeds
    assert -bound <= lo and hi <= bound
    assert lo < -0.95 * bound and hi > 0.95 * bound         # the range is really used
    assert abs(mean) < tol
    assert abs(std - sigma) < tol


def assert_normal(t, mean, std):
    _, _, m, s = moments(t)
    tol = 4 * std / math.sqrt(t.numel())
    assert abs(m - mean) < tol
    assert abs(s - std) < tol


@pytest.fixture(autouse=True)
def seed():
    tn.manual_seed(1234)


def test_linear_default_init_matches_pytorch_distribution():
    m = nn.Linear(300, 200)
    assert_uniform(m.weight, 1 / math.sqrt(300))
    assert_uniform(m.bias, 1 / math.sqrt(300))
    assert m.weight.requires_grad and m.weight.grad_fn is None


def test_embedding_and_norm_default_init():
    assert_normal(nn.Embedding(500, 40).weight, 0.0, 1.0)
    for m in (nn.BatchNorm1d(7), nn.LayerNorm(7), nn.GroupNorm(1, 7)):
        np.testing.assert_array_equal(m.weight.numpy(), 1)
        np.testing.assert_array_equal(m.bias.numpy(), 0)
    bn = nn.BatchNorm2d(3)
    np.testing.assert_array_equal(bn.running_mean.numpy(), 0)
    np.testing.assert_array_equal(bn.running_var.numpy(), 1)


def test_init_is_reproducible_with_manual_seed():
    tn.manual_seed(5)
    a = nn.Linear(4, 3).weight.numpy().copy()
    tn.manual_seed(5)
    b = nn.Linear(4, 3).weight.numpy()
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape", [(30, 20), (16, 8, 3, 3), (5, 7, 2)])
def test_fan_in_and_fan_out_match_torch(shape):
    torch = pytest.importorskip("torch")
    ours = init._calculate_fan_in_and_fan_out(tn.zeros(*shape))
    theirs = torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(*shape))
    assert ours == theirs


def test_fan_needs_two_dims():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(tn.zeros(3))


@pytest.mark.parametrize("name,param", [("linear", None), ("conv2d", None), ("sigmoid", None),
                                        ("tanh", None), ("relu", None), ("leaky_relu", None),
                                        ("leaky_relu", 0.2), ("selu", None)])
def test_calculate_gain_matches_torch(name, param):
    torch = pytest.importorskip("torch")
    assert init.calculate_gain(name, param) == pytest.approx(
        torch.nn.init.calculate_gain(name, param))


def test_calculate_gain_rejects_unknown():
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")


def test_uniform_normal_constant():
    t = tn.empty(200, 100)
    assert_uniform(init.uniform_(t, -2, 2), 2)
    assert_normal(init.normal_(t, 3.0, 0.5), 3.0, 0.5)
    np.testing.assert_array_equal(init.constant_(t, 0.25).numpy(), 0.25)
    np.testing.assert_array_equal(init.zeros_(t).numpy(), 0)
    np.testing.assert_array_equal(init.ones_(t).numpy(), 1)
    assert t.dtype == tn.float32


def test_xavier():
    t = tn.empty(300, 200)
    assert_uniform(init.xavier_uniform_(t, gain=2.0), 2.0 * math.sqrt(6 / 500))
    assert_normal(init.xavier_normal_(t), 0.0, math.sqrt(2 / 500))


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming(mode):
    t = tn.empty(64, 32, 3, 3)
    fan = 32 * 9 if mode == "fan_in" else 64 * 9
    init.kaiming_uniform_(t, mode=mode, nonlinearity="relu")
    assert_uniform(t, math.sqrt(2) * math.sqrt(3 / fan))
    init.kaiming_normal_(t, a=0.1, mode=mode)
    assert_normal(t, 0.0, math.sqrt(2 / (1 + 0.01)) / math.sqrt(fan))


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (3, 2, 2)])
def test_orthogonal(shape):
    t = init.orthogonal_(tn.empty(*shape), gain=1.5)
    flat = t.numpy().reshape(shape[0], -1).astype(np.float64)
    small = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(small, 1.5 ** 2 * np.eye(small.shape[0]), atol=1e-5)


def test_trunc_normal_stays_in_bounds():
    t = init.trunc_normal_(tn.empty(1000), std=1.0, a=-0.5, b=0.5)
    assert t.numpy().min() >= -0.5 and t.numpy().max() <= 0.5


def test_init_works_on_parameters_and_records_no_graph():
    p = nn.Parameter(tn.zeros(3, 4))
    init.kaiming_uniform_(p)
    assert p.grad_fn is None and p.requires_grad
    assert np.any(p.numpy() != 0)
