"""CosineAnnealingWarmRestarts, CyclicLR, ConstantLR, PolynomialLR and
MultiplicativeLR: lr (and momentum) sequences against PyTorch over many steps,
fractional and interleaved ``step(epoch)``, state_dict, errors."""
import numpy as np
import pytest
import torch

import tinynet as tn
import tinynet.optim as optim
from tinynet.optim import lr_scheduler


def _opt(lib, name="SGD", **kw):
    """Two parameter groups with different lrs, for tinynet or torch."""
    if lib is tn:
        ps = [tn.tensor(np.ones(2), requires_grad=True) for _ in range(2)]
        module = optim
    else:
        ps = [torch.ones(2, requires_grad=True) for _ in range(2)]
        module = torch.optim
    groups = [{"params": [p], "lr": 0.1 / 10 ** i} for i, p in enumerate(ps)]
    return getattr(module, name)(groups, **kw)


def _pair(name, opt_name="SGD", opt_kw=None, **kw):
    opt_kw = dict(momentum=0.9) if opt_kw is None and opt_name == "SGD" else (opt_kw or {})
    opt, topt = _opt(tn, opt_name, **opt_kw), _opt(torch, opt_name, **opt_kw)
    sched = getattr(lr_scheduler, name)(opt, **kw)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    return opt, topt, sched, tsched


def _assert_same(opt, topt, sched, tsched):
    np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose([g["lr"] for g in opt.param_groups],
                               [g["lr"] for g in topt.param_groups], rtol=1e-12, atol=1e-15)
    for key in ("momentum", "betas"):
        if key in opt.param_groups[0]:
            np.testing.assert_allclose([g[key] for g in opt.param_groups],
                                       [g[key] for g in topt.param_groups], rtol=1e-12)
    assert sched.last_epoch == tsched.last_epoch


def _double(epoch):
    return 0.97 if epoch % 3 else 1.01


SEQUENCES = [
    pytest.param("CosineAnnealingWarmRestarts", dict(T_0=7), 60, id="warm-restarts-T0-7"),
    pytest.param("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2, eta_min=1e-3), 100,
                 id="warm-restarts-Tmult2"),
    pytest.param("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=5), 200,
                 id="cyclic-triangular"),
    pytest.param("CyclicLR", dict(base_lr=[0.01, 0.001], max_lr=[0.2, 0.05], step_size_up=4,
                                  step_size_down=9, mode="triangular2"), 200,
                 id="cyclic-triangular2-asymmetric-per-group"),
    pytest.param("CyclicLR", dict(base_lr=0.001, max_lr=0.1, step_size_up=6, mode="exp_range",
                                  gamma=0.99), 200, id="cyclic-exp-range"),
    pytest.param("CyclicLR", dict(base_lr=0.001, max_lr=0.1, step_size_up=3,
                                  scale_fn=lambda x: 1 / (1 + x), scale_mode="iterations",
                                  base_momentum=0.7, max_momentum=0.95), 100,
                 id="cyclic-scale-fn-iterations"),
    pytest.param("CyclicLR", dict(base_lr=0.001, max_lr=0.1, step_size_up=3,
                                  scale_fn=lambda x: 0.5 ** x), 100, id="cyclic-scale-fn-cycle"),
    pytest.param("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4,
                                  cycle_momentum=False), 50, id="cyclic-no-momentum"),
    pytest.param("CyclicLR", dict(base_lr=0.01, max_lr=0.1), 5000, id="cyclic-defaults"),
    pytest.param("ConstantLR", dict(), 20, id="constant-default"),
    pytest.param("ConstantLR", dict(factor=0.5, total_iters=8), 20, id="constant"),
    pytest.param("PolynomialLR", dict(), 20, id="polynomial-default"),
    pytest.param("PolynomialLR", dict(total_iters=12, power=2.0), 30, id="polynomial-power2"),
    pytest.param("MultiplicativeLR", dict(lr_lambda=_double), 40, id="multiplicative"),
    pytest.param("MultiplicativeLR", dict(lr_lambda=[_double, lambda e: 0.9]), 40,
                 id="multiplicative-per-group"),
]


@pytest.mark.parametrize("name,kw,steps", SEQUENCES)
def test_lr_sequence_matches_torch(name, kw, steps):
    opt, topt, sched, tsched = _pair(name, **kw)
    for _ in range(steps):
        _assert_same(opt, topt, sched, tsched)
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    _assert_same(opt, topt, sched, tsched)
    assert [g["initial_lr"] for g in opt.param_groups] == \
        [g["initial_lr"] for g in topt.param_groups]


def test_cyclic_lr_cycles_adam_beta1_like_torch():
    opt, topt, sched, tsched = _pair("CyclicLR", "Adam", base_lr=1e-4, max_lr=1e-2,
                                     step_size_up=5, base_momentum=0.85, max_momentum=0.95)
    assert opt.param_groups[0]["betas"] == (0.95, 0.999)
    for _ in range(40):
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        _assert_same(opt, topt, sched, tsched)


def test_cyclic_lr_shape():
    opt = _opt(tn, "SGD", momentum=0.9)
    sched = lr_scheduler.CyclicLR(opt, base_lr=0.0, max_lr=1.0, step_size_up=2,
                                  step_size_down=4)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(12):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    np.testing.assert_allclose(lrs, [0, .5, 1, .75, .5, .25, 0, .5, 1, .75, .5, .25, 0],
                               atol=1e-15)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.9 - 0.1 * lrs[-1])


def test_warm_restarts_fractional_epochs_match_torch():
    # the documented use: step(epoch + i / iters) once per batch
    for T_mult in (1, 2, 3):
        opt, topt, sched, tsched = _pair("CosineAnnealingWarmRestarts", T_0=2, T_mult=T_mult,
                                         eta_min=0.005)
        iters = 7
        for epoch in range(12):
            for i in range(iters):
                opt.step()
                topt.step()
                sched.step(epoch + i / iters)
                tsched.step(epoch + i / iters)
                _assert_same(opt, topt, sched, tsched)
                assert sched.T_i == tsched.T_i
                assert sched.T_cur == pytest.approx(tsched.T_cur, rel=1e-12, abs=1e-12)


def test_warm_restarts_interleaved_and_backwards_jumps_match_torch():
    opt, topt, sched, tsched = _pair("CosineAnnealingWarmRestarts", T_0=3, T_mult=2)
    for epoch in [None, None, 26, None, None, 4.5, None, 0, None, 2.99, 3, 8.25, None, 100.5,
                  None]:
        sched.step(epoch)
        tsched.step(epoch)
        _assert_same(opt, topt, sched, tsched)


def test_warm_restarts_restart_to_initial_lr():
    opt = _opt(tn, "SGD")
    sched = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=4, T_mult=2, eta_min=0.01)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(12):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    restarts = [i for i, lr in enumerate(lrs) if lr == pytest.approx(0.1)]
    assert restarts == [0, 4, 12]                # periods of 4, then 8 epochs
    assert min(lrs) > 0.01


@pytest.mark.parametrize("make", [
    lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=1e-3),
    lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=3, mode="triangular2"),
    lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=3, mode="exp_range",
                                    gamma=0.9),
    lambda o: lr_scheduler.ConstantLR(o, factor=0.5, total_iters=9),
    lambda o: lr_scheduler.PolynomialLR(o, total_iters=12, power=0.5),
    lambda o: lr_scheduler.MultiplicativeLR(o, lambda e: 0.9),
], ids=["warm-restarts", "cyclic-triangular2", "cyclic-exp-range", "constant", "polynomial",
        "multiplicative"])
def test_state_dict_resume_continues_identically(make, tmp_path):
    opt = _opt(tn, "SGD", momentum=0.9)
    sched = make(opt)
    for _ in range(7):
        sched.step()
    sd = sched.state_dict()
    assert "optimizer" not in sd
    tn.save({"opt": opt.state_dict(), "sched": {k: v for k, v in sd.items()
                                                if k != "lr_lambdas"}}, tmp_path / "s.tn")
    ck = tn.load(tmp_path / "s.tn")
    opt2 = _opt(tn, "SGD", momentum=0.9)
    sched2 = make(opt2)
    opt2.load_state_dict(ck["opt"])
    sched2.load_state_dict(ck["sched"])
    for _ in range(10):
        sched.step()
        sched2.step()
        assert sched.get_last_lr() == sched2.get_last_lr()
        assert [g["momentum"] for g in opt.param_groups] == \
            [g["momentum"] for g in opt2.param_groups]


class _Halving:
    def __init__(self):
        self.base = 0.5

    def __call__(self, x):
        return self.base ** x


def test_cyclic_state_dict_keeps_scale_fn_objects_not_functions():
    opt = _opt(tn, "SGD", momentum=0.9)
    sched = lr_scheduler.CyclicLR(opt, 0.01, 0.1, scale_fn=lambda x: 1.0)
    assert sched.state_dict()["_scale_fn_custom"] is None
    fn = _Halving()
    sched = lr_scheduler.CyclicLR(opt, 0.01, 0.1, scale_fn=fn)
    sd = sched.state_dict()
    assert sd["_scale_fn_custom"] == {"base": 0.5}
    fn.base = 0.9
    sched.load_state_dict(sd)
    assert fn.base == 0.5


@pytest.mark.parametrize("make,match", [
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=0), "positive integer T_0"),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=2.5), "positive integer T_0"),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0), "T_mult >= 1"),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=2, eta_min="0"), "eta_min"),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=2).step(-1),
     "non-negative epoch"),
    (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, mode="sine"), "invalid and scale_fn is None"),
    (lambda o: lr_scheduler.CyclicLR(o, [0.01], 0.1), "same length as optimizer.param_groups"),
    (lambda o: lr_scheduler.CyclicLR(optim.Adagrad(o.param_groups[0]["params"]), 0.01, 0.1),
     "momentum or beta1"),
    (lambda o: lr_scheduler.ConstantLR(o, factor=1.5), "between 0 and 1"),
    (lambda o: lr_scheduler.MultiplicativeLR(o, [lambda e: 1.0]), "expected 2 lr_lambdas"),
], ids=["T0-zero", "T0-float", "Tmult", "eta-min", "negative-epoch", "cyclic-mode",
        "cyclic-list", "cyclic-momentum", "constant-factor", "multiplicative-count"])
def test_invalid_arguments_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make(_opt(tn, "SGD", momentum=0.9))


def test_closed_forms_match_the_recursive_forms():
    for make in (lambda o: lr_scheduler.ConstantLR(o, factor=0.25, total_iters=4),
                 lambda o: lr_scheduler.PolynomialLR(o, total_iters=6, power=1.5)):
        opt, jump = _opt(tn), _opt(tn)
        sched, jumped = make(opt), make(jump)
        for epoch in range(1, 10):
            sched.step()
            jumped.step(epoch)
            np.testing.assert_allclose(jumped.get_last_lr(), sched.get_last_lr(), rtol=1e-12)
