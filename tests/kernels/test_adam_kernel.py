"""kernels/adam.py: the fused Adam update gives the reference's bits, and the
optimizers (Adam, AdamW, with weight decay, maximize, AMSGrad) take the same
steps whichever version runs."""
import math

import numpy as np
import pytest

import tinynet as tn
from tinynet import kernels
from tinynet.kernels import adam as KA


def _arrays(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    r = lambda: rng.standard_normal(shape).astype(dtype)  # noqa: E731
    return r(), r(), 0.1 * r(), 0.01 * np.abs(r())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (1,), (7,), (5, 3), (64, 785)])
@pytest.mark.parametrize("t", [1, 2, 1000])
def test_cpu_v1_gives_the_reference_bits(dtype, shape, t):
    beta1, beta2, lr, eps = 0.9, 0.999, 1e-3, 1e-8
    args = (beta1, beta2, eps, lr / (1 - beta1 ** t), math.sqrt(1 - beta2 ** t))
    x, g, m, v = _arrays(shape, dtype)
    want = [a.copy() for a in (x, m, v)]
    KA.update_ref(want[0], g, want[1], want[2], *args)
    got = [a.copy() for a in (x, m, v)]
    KA.update_cpu_v1(got[0], g, got[1], got[2], *args)
    for a, b in zip(got, want):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(want[0], x)          # the update did change x


def test_zero_gradient_and_zero_denominator_follow_numpy():
    x, g = np.ones(4, np.float32), np.zeros(4, np.float32)
    m, v = np.zeros(4, np.float32), np.zeros(4, np.float32)
    with np.errstate(all="ignore"):
        for fn in (KA.update_ref, KA.update_cpu_v1):
            xs, ms, vs = x.copy(), m.copy(), v.copy()
            fn(xs, g, ms, vs, 0.9, 0.999, 0.0, 1e-2, 0.05)       # eps 0: 0 / 0
            assert np.isnan(xs).all()


def test_non_contiguous_and_mixed_arrays_take_the_reference():
    x, g, m, v = _arrays((6, 8), np.float32)
    g_strided = np.asfortranarray(g)
    a = [x.copy(), m.copy(), v.copy()]
    b = [x.copy(), m.copy(), v.copy()]
    KA.update_ref(a[0], g_strided, a[1], a[2], 0.9, 0.999, 1e-8, 1e-3, 0.03)
    KA.update_cpu_v1(b[0], g_strided, b[1], b[2], 0.9, 0.999, 1e-8, 1e-3, 0.03)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)


def _train(opt_cls, version, steps=5, **kw):
    tn.manual_seed(0)
    model = tn.nn.Sequential(tn.nn.Linear(7, 5), tn.nn.Tanh(), tn.nn.Linear(5, 3))
    opt = opt_cls(model.parameters(), lr=1e-2, **kw)
    x, y = tn.randn(16, 7), tn.randn(16, 3)
    with kernels.use(adam=version):
        for _ in range(steps):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()
    return [p.detach().numpy().copy() for p in model.parameters()], opt


@pytest.mark.parametrize("opt_cls,kw", [
    (tn.optim.Adam, {}), (tn.optim.Adam, {"weight_decay": 0.1}),
    (tn.optim.Adam, {"maximize": True}), (tn.optim.Adam, {"amsgrad": True}),
    (tn.optim.AdamW, {"weight_decay": 0.1}), (tn.optim.AdamW, {"amsgrad": True})])
def test_optimizers_take_the_same_steps_on_either_version(opt_cls, kw):
    ref, _ = _train(opt_cls, "ref", **kw)
    fast, opt = _train(opt_cls, "cpu_v1", **kw)
    for a, b in zip(fast, ref):
        np.testing.assert_array_equal(a, b)
    assert all(s["step"] == 5 for s in opt.state.values())


def test_the_default_on_numpy_arrays_is_cpu_v1(monkeypatch):
    monkeypatch.delenv("TINYNET_ADAM_IMPL", raising=False)
    assert KA.select(np.zeros(2, np.float32)).name == "cpu_v1"
    monkeypatch.setenv("TINYNET_ADAM_IMPL", "ref")
    assert KA.select(np.zeros(2, np.float32)).name == "ref"


def test_self_check_passes(capsys):
    assert KA.self_check(quick=True) == 0
    assert "adam: all versions match the reference" in capsys.readouterr().out
