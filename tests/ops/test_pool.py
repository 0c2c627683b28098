"""Pooling: kernel versions against the reference, gradcheck and
gradgradcheck, PyTorch's outputs, gradients and indices, errors."""
import numpy as np
import pytest

import tinynet as tn
from tinynet import kernels
from tinynet.kernels import pool2d as K
from tinynet.ops.pool import (adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool1d, avg_pool2d,
                              max_pool1d, max_pool2d)

# (N, C, H, W), kwargs
MAX_CASES = [
    ((2, 3, 6, 6), dict(kernel_size=2)),
    ((1, 2, 7, 5), dict(kernel_size=2, ceil_mode=True)),     # the 2x2 fast path must not apply
    ((1, 2, 7, 5), dict(kernel_size=2)),
    ((1, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1)),
    ((1, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((2, 1, 9, 8), dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 0), dilation=(2, 1))),
    ((1, 2, 5, 5), dict(kernel_size=2, stride=3)),          # stride > kernel
    ((1, 1, 4, 5), dict(kernel_size=1)),
]
AVG_CASES = [
    ((2, 3, 6, 6), dict(kernel_size=2)),
    ((1, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1)),
    ((1, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((1, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                        count_include_pad=False)),
    ((1, 2, 5, 6), dict(kernel_size=(2, 3), stride=(3, 1), divisor_override=5)),
]


def ids(case):
    shape, kw = case
    return "x".join(map(str, shape)) + "-" + "-".join(f"{k}{v}" for k, v in kw.items()).replace(
        " ", "").replace("kernel_size", "k").replace("stride", "s").replace("padding", "p")


def distinct(shape, seed=0):
    # a permutation of spread-out values: no ties, so gradients are well defined
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    return rng.permutation(n).reshape(shape) * 0.1 + rng.uniform(-0.01, 0.01, shape)


AVAILABLE = [n for n, impl in K.IMPLS.items() if impl.available() and impl.device != "cuda"]


@pytest.mark.parametrize("impl", AVAILABLE)
@pytest.mark.parametrize("case", MAX_CASES, ids=ids)
def test_max_pool_gradcheck_per_implementation(case, impl):
    shape, kw = case
    x = tn.tensor(distinct(shape), requires_grad=True)
    with kernels.use(pool=impl):
        assert tn.gradcheck(lambda a: max_pool2d(a, **kw), (x,))
        assert tn.gradgradcheck(lambda a: max_pool2d(a, **kw), (x,))


@pytest.mark.parametrize("impl", AVAILABLE)
@pytest.mark.parametrize("case", AVG_CASES, ids=ids)
def test_avg_pool_gradcheck_per_implementation(case, impl):
    shape, kw = case
    x = tn.tensor(np.random.default_rng(1).standard_normal(shape), requires_grad=True)
    with kernels.use(pool=impl):
        assert tn.gradcheck(lambda a: avg_pool2d(a, **kw), (x,))
        assert tn.gradgradcheck(lambda a: avg_pool2d(a, **kw), (x,))


@pytest.mark.parametrize("impl", AVAILABLE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", MAX_CASES, ids=ids)
def test_max_pool_matches_pytorch(case, dtype, impl):
    torch = pytest.importorskip("torch")
    shape, kw = case
    x = tn.tensor(distinct(shape).astype(dtype), requires_grad=True)
    with kernels.use(pool=impl):
        y, idx = max_pool2d(x, **kw, return_indices=True)
    gy = np.random.default_rng(2).standard_normal(y.shape).astype(dtype)
    y.backward(tn.tensor(gy))
    xt = torch.tensor(x.numpy(), requires_grad=True)
    yt, it = torch.nn.functional.max_pool2d(xt, **kw, return_indices=True)
    yt.backward(torch.tensor(gy))
    assert y.dtype == dtype and x.grad.dtype == dtype
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(idx.numpy(), it.numpy())
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("impl", AVAILABLE)
@pytest.mark.parametrize("case", AVG_CASES, ids=ids)
def test_avg_pool_matches_pytorch(case, impl):
    torch = pytest.importorskip("torch")
    shape, kw = case
    x = tn.tensor(np.random.default_rng(3).standard_normal(shape).astype(np.float32),
                  requires_grad=True)
    with kernels.use(pool=impl):
        y = avg_pool2d(x, **kw)
    y.sum().backward()
    xt = torch.tensor(x.numpy(), requires_grad=True)
    yt = torch.nn.functional.avg_pool2d(xt, **kw)
    yt.sum().backward()
    assert y.dtype == tn.float32
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("out", [1, 2, 3, (2, 4), (None, 2)])
def test_adaptive_pools_match_pytorch(out):
    torch = pytest.importorskip("torch")
    x = tn.tensor(distinct((2, 3, 7, 6)), requires_grad=True)
    for ours, theirs in ((adaptive_avg_pool2d, torch.nn.functional.adaptive_avg_pool2d),
                         (adaptive_max_pool2d, torch.nn.functional.adaptive_max_pool2d)):
        y = ours(x, out)
        yt = theirs(torch.tensor(x.numpy()), out)
        np.testing.assert_allclose(y.numpy(), yt.numpy(), atol=1e-12)
        assert tn.gradcheck(lambda a: ours(a, out), (x,))


def test_pool1d_and_unbatched_inputs():
    torch = pytest.importorskip("torch")
    x = distinct((2, 3, 11))
    np.testing.assert_allclose(max_pool1d(tn.tensor(x), 3, 2, 1).numpy(),
                               torch.nn.functional.max_pool1d(torch.tensor(x), 3, 2, 1).numpy())
    np.testing.assert_allclose(avg_pool1d(tn.tensor(x), 3, 2, 1).numpy(),
                               torch.nn.functional.avg_pool1d(torch.tensor(x), 3, 2, 1).numpy())
    x3 = distinct((3, 6, 6))
    assert max_pool2d(tn.tensor(x3), 2).shape == (3, 3, 3)
    np.testing.assert_allclose(avg_pool2d(tn.tensor(x3), 2).numpy(),
                               torch.nn.functional.avg_pool2d(torch.tensor(x3), 2).numpy())


def test_max_pool_propagates_nan_like_pytorch():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    x[0, 0, 1, 0] = np.nan
    for impl in AVAILABLE:
        with kernels.use(pool=impl):
            y = max_pool2d(tn.tensor(x), 2).numpy()
        assert np.isnan(y[0, 0, 0, 0]) and y[0, 0, 1, 1] == 15


def test_padding_never_wins_a_max():
    x = -np.ones((1, 1, 3, 3), np.float32) * 5
    for impl in AVAILABLE:
        with kernels.use(pool=impl):
            y = max_pool2d(tn.tensor(x), 3, stride=1, padding=1)
        assert (y.numpy() == -5).all()


def test_float32_preserved_through_backward():
    x = tn.tensor(distinct((1, 2, 4, 4)).astype(np.float32), requires_grad=True)
    (max_pool2d(x, 2).sum() + avg_pool2d(x, 2).sum()).backward()
    assert x.grad.dtype == tn.float32


@pytest.mark.parametrize("kw,match", [
    (dict(kernel_size=2, padding=2), "at most half"),
    (dict(kernel_size=0), ">= 1"),
    (dict(kernel_size=7), "below 1"),
])
def test_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        max_pool2d(tn.zeros(1, 1, 5, 5), **kw)
    with pytest.raises(ValueError, match="3-D .* or 4-D"):
        avg_pool2d(tn.zeros(5, 5), 2)
