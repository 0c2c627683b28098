"""kernels/rmsprop.py: the fused RMSprop update gives the reference's bits,
and the optimizer (plain, momentum, centered, weight decay, maximize) takes
the same steps whichever version runs."""
import numpy as np
import pytest

import tinynet as tn
from tinynet import kernels
from tinynet.kernels import rmsprop as KR


def _arrays(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    r = lambda: rng.standard_normal(shape).astype(dtype)  # noqa: E731
    return r(), r(), 0.01 * np.abs(r()), 0.1 * r()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (1,), (7,), (5, 3), (64, 785)])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_cpu_v1_gives_the_reference_bits(dtype, shape, momentum):
    x, g, v, b = _arrays(shape, dtype)
    want = [a.copy() for a in (x, v, b)]
    got = [a.copy() for a in (x, v, b)]
    KR.update_ref(want[0], g, want[1], 0.99, 1e-8, 1e-2, want[2] if momentum else None,
                  momentum)
    KR.update_cpu_v1(got[0], g, got[1], 0.99, 1e-8, 1e-2, got[2] if momentum else None,
                     momentum)
    for a, w in zip(got, want):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, w)
    assert not np.array_equal(want[0], x)          # the update did change x


def test_centered_and_strided_arrays_take_the_reference():
    x, g, v, b = _arrays((6, 8), np.float32)
    gbar = np.zeros_like(x)
    a = [x.copy(), v.copy(), gbar.copy()]
    c = [x.copy(), v.copy(), gbar.copy()]
    KR.update_ref(a[0], g, a[1], 0.99, 1e-8, 1e-2, gbar=a[2])
    KR.update_cpu_v1(c[0], g, c[1], 0.99, 1e-8, 1e-2, gbar=c[2])
    for p, q in zip(a, c):
        np.testing.assert_array_equal(p, q)
    assert np.abs(a[2]).max() > 0                   # the mean gradient was updated
    gf = np.asfortranarray(g)
    a, c = [x.copy(), v.copy()], [x.copy(), v.copy()]
    KR.update_ref(a[0], gf, a[1], 0.99, 1e-8, 1e-2)
    KR.update_cpu_v1(c[0], gf, c[1], 0.99, 1e-8, 1e-2)
    for p, q in zip(a, c):
        np.testing.assert_array_equal(p, q)


def _train(version, steps=5, **kw):
    tn.manual_seed(0)
    model = tn.nn.Sequential(tn.nn.Linear(7, 5), tn.nn.Tanh(), tn.nn.Linear(5, 3))
    opt = tn.optim.RMSprop(model.parameters(), lr=1e-2, **kw)
    x, y = tn.randn(16, 7), tn.randn(16, 3)
    with kernels.use(rmsprop=version):
        for _ in range(steps):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()
    return [p.detach().numpy().copy() for p in model.parameters()]


@pytest.mark.parametrize("kw", [{}, {"momentum": 0.9}, {"centered": True},
                                {"centered": True, "momentum": 0.5}, {"weight_decay": 0.1},
                                {"maximize": True}])
def test_the_optimizer_takes_the_same_steps_on_either_version(kw):
    for a, b in zip(_train("cpu_v1", **kw), _train("ref", **kw)):
        np.testing.assert_array_equal(a, b)


def test_the_default_on_numpy_arrays_is_cpu_v1(monkeypatch):
    monkeypatch.delenv("TINYNET_RMSPROP_IMPL", raising=False)
    assert KR.select(np.zeros(2, np.float32)).name == "cpu_v1"
    monkeypatch.setenv("TINYNET_RMSPROP_IMPL", "ref")
    assert KR.select(np.zeros(2, np.float32)).name == "ref"


def test_self_check_passes(capsys):
    assert KR.self_check(quick=True) == 0
    assert "rmsprop: all versions match the reference" in capsys.readouterr().out
