"""Learning-rate schedulers: lr sequences against PyTorch, state_dict, errors."""
import math

import numpy as np
import pytest

import tinynet as tn
import tinynet.optim as optim
from tinynet.optim import lr_scheduler

STEPS = 30


def _groups(lib, n=2):
    """Two parameter groups with different lrs, for tinynet or torch."""
    if lib is tn:
        ps = [tn.tensor(np.ones(2), requires_grad=True) for _ in range(n)]
    else:
        ps = [lib.ones(2, requires_grad=True) for _ in range(n)]
    return [{"params": [p], "lr": 0.1 / 10 ** i} for i, p in enumerate(ps)]


def _make_opt(lib, name, **kw):
    module = optim if lib is tn else lib.optim
    return getattr(module, name)(_groups(lib), **kw)


def _lambda_epoch(epoch):
    return 0.9 ** epoch


SCHEDULERS = [
    pytest.param("StepLR", dict(step_size=7, gamma=0.5), id="StepLR"),
    pytest.param("MultiStepLR", dict(milestones=[3, 8, 8, 20], gamma=0.3), id="MultiStepLR"),
    pytest.param("ExponentialLR", dict(gamma=0.9), id="ExponentialLR"),
    pytest.param("CosineAnnealingLR", dict(T_max=10), id="Cosine-Tmax10-restart-shape"),
    pytest.param("CosineAnnealingLR", dict(T_max=40, eta_min=1e-3), id="Cosine-etamin"),
    pytest.param("LambdaLR", dict(lr_lambda=_lambda_epoch), id="LambdaLR"),
    pytest.param("LambdaLR", dict(lr_lambda=[_lambda_epoch, lambda e: 1.0 / (e + 1)]),
                 id="LambdaLR-per-group"),
    pytest.param("LinearLR", dict(), id="LinearLR-default"),
    pytest.param("LinearLR", dict(start_factor=1.0, end_factor=0.1, total_iters=12),
                 id="LinearLR-decay"),
    pytest.param("OneCycleLR", dict(max_lr=1.0, total_steps=STEPS), id="OneCycle"),
    pytest.param("OneCycleLR", dict(max_lr=[1.0, 0.5], epochs=3, steps_per_epoch=10,
                                    anneal_strategy="linear", pct_start=0.2),
                 id="OneCycle-linear-per-group"),
    pytest.param("OneCycleLR", dict(max_lr=0.3, total_steps=STEPS, three_phase=True,
                                    div_factor=10.0, final_div_factor=100.0),
                 id="OneCycle-three-phase"),
    pytest.param("OneCycleLR", dict(max_lr=0.3, total_steps=STEPS, cycle_momentum=False),
                 id="OneCycle-no-momentum"),
]


def _momenta(opt):
    return [g["momentum"] for g in opt.param_groups]


@pytest.mark.parametrize("name,kw", SCHEDULERS)
def test_lr_sequence_matches_torch(name, kw):
    torch = pytest.importorskip("torch")
    opt = _make_opt(tn, "SGD", momentum=0.9)
    topt = _make_opt(torch, "SGD", momentum=0.9)
    sched = getattr(lr_scheduler, name)(opt, **kw)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    steps = STEPS - 1 if name == "OneCycleLR" else STEPS
    for _ in range(steps):
        np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12)
        np.testing.assert_allclose(_momenta(opt), _momenta(topt), rtol=1e-12)
        assert sched.last_epoch == tsched.last_epoch
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    np.testing.assert_allclose([g["lr"] for g in opt.param_groups],
                               [g["lr"] for g in topt.param_groups], rtol=1e-12)
    assert [g["initial_lr"] for g in opt.param_groups] == \
        [g["initial_lr"] for g in topt.param_groups]


def test_one_cycle_cycles_adam_beta1_like_torch():
    torch = pytest.importorskip("torch")
    opt, topt = _make_opt(tn, "Adam"), _make_opt(torch, "Adam")
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.01, total_steps=20)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.01, total_steps=20)
    for _ in range(19):
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12)
        for g, tg in zip(opt.param_groups, topt.param_groups):
            np.testing.assert_allclose(g["betas"], tg["betas"], rtol=1e-12)


def test_chained_schedulers_match_torch():
    torch = pytest.importorskip("torch")
    opt, topt = _make_opt(tn, "SGD"), _make_opt(torch, "SGD")
    scheds = [lr_scheduler.ExponentialLR(opt, gamma=0.95),
              lr_scheduler.StepLR(opt, step_size=4, gamma=0.5)]
    tscheds = [torch.optim.lr_scheduler.ExponentialLR(topt, gamma=0.95),
               torch.optim.lr_scheduler.StepLR(topt, step_size=4, gamma=0.5)]
    for _ in range(STEPS):
        opt.step()
        topt.step()
        for s, ts in zip(scheds, tscheds):
            s.step()
            ts.step()
        np.testing.assert_allclose([g["lr"] for g in opt.param_groups],
                                   [g["lr"] for g in topt.param_groups], rtol=1e-12)


def _warmup_then_cosine(module, opt):
    warm = module.LinearLR(opt, start_factor=0.1, total_iters=5)
    cos = module.CosineAnnealingLR(opt, T_max=20, eta_min=1e-4)
    decay = module.ExponentialLR(opt, gamma=0.9)
    return module.SequentialLR(opt, [warm, cos, decay], milestones=[5, 22])


def test_sequential_lr_matches_torch():
    torch = pytest.importorskip("torch")
    opt, topt = _make_opt(tn, "SGD"), _make_opt(torch, "SGD")
    sched = _warmup_then_cosine(lr_scheduler, opt)
    tsched = _warmup_then_cosine(torch.optim.lr_scheduler, topt)
    for _ in range(STEPS):
        np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12)
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    np.testing.assert_allclose([g["lr"] for g in opt.param_groups],
                               [g["lr"] for g in topt.param_groups], rtol=1e-12)


PLATEAU = [
    pytest.param(dict(patience=2), id="min-rel"),
    pytest.param(dict(mode="max", patience=1, factor=0.5, threshold=0.05), id="max-rel"),
    pytest.param(dict(threshold_mode="abs", threshold=0.1, patience=1, cooldown=3),
                 id="min-abs-cooldown"),
    pytest.param(dict(patience=0, factor=0.5, min_lr=[0.02, 1e-4]), id="min-lr-per-group"),
]


@pytest.mark.parametrize("kw", PLATEAU)
def test_reduce_on_plateau_matches_torch(kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    # A loss that improves, plateaus with noise, then improves again.
    metrics = np.concatenate([np.linspace(1.0, 0.5, 8), 0.5 + 0.05 * rng.random(14),
                              np.linspace(0.45, 0.3, 8)])
    opt, topt = _make_opt(tn, "SGD"), _make_opt(torch, "SGD")
    sched = lr_scheduler.ReduceLROnPlateau(opt, **kw)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    for m in metrics:
        opt.step()
        topt.step()
        sched.step(float(m))
        tsched.step(float(m))
        np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12)
        assert sched.num_bad_epochs == tsched.num_bad_epochs
    assert sched.get_last_lr() != [0.1, 0.01]       # the test did reduce something


# ---------------------------------------------------------------- torch-free behaviour
def test_construction_performs_first_step():
    opt = _make_opt(tn, "SGD")
    sched = lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters=2)
    assert sched.last_epoch == 0
    assert sched.get_last_lr() == [0.05, 0.005]
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.01]
    sched.step()
    sched.step()
    np.testing.assert_allclose(sched.get_last_lr(), [0.1, 0.01], rtol=1e-15)


def test_cosine_reaches_eta_min_at_t_max():
    opt = _make_opt(tn, "SGD")
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=8, eta_min=0.001)
    lrs = []
    for _ in range(8):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    assert math.isclose(lrs[-1], 0.001, rel_tol=1e-12)


def test_step_with_epoch_uses_closed_form():
    opt = _make_opt(tn, "SGD")
    sched = lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    sched.step(epoch=7)
    np.testing.assert_allclose(sched.get_last_lr(), [0.1 * 0.25, 0.01 * 0.25])


class _Warmup:
    """A callable object: its attributes go into LambdaLR's state_dict."""

    def __init__(self, n):
        self.n = n

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.n)


SD_SCHEDULERS = [
    pytest.param(lambda o: lr_scheduler.StepLR(o, step_size=3), id="StepLR"),
    pytest.param(lambda o: lr_scheduler.MultiStepLR(o, [2, 9]), id="MultiStepLR"),
    pytest.param(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=6), id="Cosine"),
    pytest.param(lambda o: lr_scheduler.LinearLR(o, total_iters=8), id="LinearLR"),
    pytest.param(lambda o: lr_scheduler.LambdaLR(o, lambda e: 0.8 ** e), id="LambdaLR"),
    pytest.param(lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=20),
                 id="OneCycle"),
    pytest.param(lambda o: _warmup_then_cosine(lr_scheduler, o), id="SequentialLR"),
]


@pytest.mark.parametrize("make", SD_SCHEDULERS)
def test_state_dict_resume_continues_identically(make):
    opt = _make_opt(tn, "SGD", momentum=0.9)
    sched = make(opt)
    for _ in range(7):
        sched.step()
    sd_opt, sd_sched = opt.state_dict(), sched.state_dict()
    assert "optimizer" not in sd_sched

    opt2 = _make_opt(tn, "SGD", momentum=0.9)
    sched2 = make(opt2)
    opt2.load_state_dict(sd_opt)
    sched2.load_state_dict(sd_sched)
    for _ in range(10):
        sched.step()
        sched2.step()
        assert sched.get_last_lr() == sched2.get_last_lr()
        assert _momenta(opt) == _momenta(opt2)


def test_lambda_lr_state_dict_skips_functions_keeps_objects():
    opt = _make_opt(tn, "SGD")
    warm = _Warmup(4)
    sched = lr_scheduler.LambdaLR(opt, [lambda e: 1.0, warm])
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [None, {"n": 4}]
    warm.n = 100
    sched.load_state_dict(sd)
    assert warm.n == 4


def test_reduce_on_plateau_state_dict():
    opt = _make_opt(tn, "SGD")
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=1)
    for m in [1.0, 1.0, 1.0, 1.0]:
        sched.step(m)
    sd = sched.state_dict()
    assert sd["best"] == 1.0 and "optimizer" not in sd
    other = lr_scheduler.ReduceLROnPlateau(_make_opt(tn, "SGD"), patience=1)
    other.load_state_dict(sd)
    assert other.num_bad_epochs == sched.num_bad_epochs
    assert other.last_epoch == 4
    sched.step(tn.tensor(1.0))        # one-element Tensors are accepted as metrics
    assert sched.last_epoch == 5


# ---------------------------------------------------------------- errors
def test_resuming_without_initial_lr_is_a_key_error():
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(_make_opt(tn, "SGD"), step_size=2, last_epoch=3)


@pytest.mark.parametrize("make,match", [
    (lambda o: lr_scheduler.LinearLR(o, start_factor=0), "starting multiplicative factor"),
    (lambda o: lr_scheduler.LinearLR(o, end_factor=1.5), "ending multiplicative factor"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0), "total_steps OR"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=0), "total_steps"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=5, pct_start=2),
     "pct_start"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=5, anneal_strategy="x"),
     "anneal_strategy"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=[1.0], total_steps=5), "2 values for max_lr"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), "factor should be < 1.0"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="up"), "mode"),
    (lambda o: lr_scheduler.StepLR(o, step_size=0), "step_size"),
    (lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1.0]), "expected 2 lr_lambdas"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(o, 2)], [3]),
     "expected 0 milestones"),
    (lambda o: lr_scheduler.SequentialLR(
        o, [lr_scheduler.StepLR(_make_opt(tn, "SGD"), 2)], []), "different optimizer"),
], ids=["linear-start", "linear-end", "onecycle-no-steps", "onecycle-zero-steps",
        "onecycle-pct", "onecycle-anneal", "onecycle-max-lr-list", "plateau-factor",
        "plateau-mode", "steplr-size", "lambda-count", "sequential-milestones",
        "sequential-optimizer"])
def test_invalid_arguments_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make(_make_opt(tn, "SGD", momentum=0.9))


def test_one_cycle_needs_momentum_and_stops_at_total_steps():
    with pytest.raises(ValueError, match="momentum or beta1"):
        lr_scheduler.OneCycleLR(_make_opt(tn, "Adagrad"), max_lr=1.0, total_steps=5)
    sched = lr_scheduler.OneCycleLR(_make_opt(tn, "SGD", momentum=0.9), max_lr=1.0,
                                    total_steps=3)
    sched.step()
    sched.step()
    sched.step()        # the 4th lr (index 3) is one past the last planned one
    with pytest.raises(ValueError, match="tried to step 4 times"):
        sched.step()


def test_scheduler_needs_a_tinynet_optimizer():
    with pytest.raises(TypeError, match="expected a tinynet Optimizer"):
        lr_scheduler.StepLR(object(), step_size=1)
