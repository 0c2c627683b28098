"""Adadelta, Adamax, NAdam, RAdam and LBFGS: trajectories against PyTorch step by
step, state_dict round trips, errors.

As in test_optim.py, gradients come from a fixed quadratic computed with NumPy
from each library's own current parameters, so the trajectories only agree if
every update does. LBFGS closures likewise compute loss and gradient with
NumPy (least squares, Rosenbrock), plus one run through tinynet's autograd.
"""
import itertools

import numpy as np
import pytest
import torch

import tinynet as tn
import tinynet.optim as optim

SHAPES = [(3, 4), (5,)]
STEPS = 20
TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-11, atol=1e-12)}


@pytest.fixture
def torch_float64_scalars():
    # NAdam keeps its running product of momentum factors in a tensor of the
    # default dtype; tinynet keeps a Python float, which float64 matches.
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _problem(dtype, seed=0):
    rng = np.random.default_rng(seed)
    x0 = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    c = [rng.uniform(0.5, 2.0, s).astype(dtype) for s in SHAPES]
    d = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    return x0, c, d


def _set_tn_grads(params, c, d):
    for p, ci, di in zip(params, c, d):
        p.grad = tn.tensor(ci * p.array - di)


def _set_torch_grads(params, c, d):
    for q, ci, di in zip(params, c, d):
        q.grad = torch.from_numpy(ci * q.detach().numpy() - di)


def _cases():
    cases = []
    for rho, wd, maxi in itertools.product([0.9, 0.5], [0, 0.1], [False, True]):
        cases.append(("Adadelta", dict(lr=0.5, rho=rho, weight_decay=wd, maximize=maxi)))
    for wd, maxi in itertools.product([0, 0.1], [False, True]):
        cases.append(("Adamax", dict(lr=0.05, betas=(0.8, 0.95), weight_decay=wd,
                                     maximize=maxi)))
    for name, wd, dec, maxi in itertools.product(["NAdam", "RAdam"], [0, 0.1], [False, True],
                                                 [False, True]):
        if dec and wd == 0:
            continue
        cases.append((name, dict(lr=0.05, betas=(0.8, 0.9), weight_decay=wd,
                                 decoupled_weight_decay=dec, maximize=maxi)))
    cases.append(("NAdam", dict(lr=0.01, momentum_decay=0.02)))
    # RAdam with beta2 = 0.999 stays in its SGD branch (rho_t <= 5) for 5 steps
    cases.append(("RAdam", dict(lr=0.05, weight_decay=0.05)))
    cases += [(name, {}) for name in ("Adadelta", "Adamax", "NAdam", "RAdam")]
    ids = [f"{name}-" + ("-".join(f"{k}{v}" for k, v in kw.items() if k != "betas")
                         or "defaults") for name, kw in cases]
    return [pytest.param(name, kw, id=i) for (name, kw), i in zip(cases, ids)]


@pytest.mark.usefixtures("torch_float64_scalars")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name,kw", _cases())
def test_trajectory_matches_torch_step_by_step(name, kw, dtype):
    x0, c, d = _problem(dtype)
    params = [tn.tensor(x.copy(), requires_grad=True) for x in x0]
    frozen = tn.tensor(np.ones(3, dtype), requires_grad=True)   # never gets a grad
    opt = getattr(optim, name)(params + [frozen], **kw)
    qs = [torch.tensor(x.copy(), requires_grad=True) for x in x0]
    qopt = getattr(torch.optim, name)(qs, **kw)
    for _ in range(STEPS):
        _set_tn_grads(params, c, d)
        _set_torch_grads(qs, c, d)
        opt.step()
        qopt.step()
        for p, q in zip(params, qs):
            assert p.array.dtype == dtype
            np.testing.assert_allclose(p.array, q.detach().numpy(), **TOL[dtype])
    for p, q in zip(params, qs):
        tstate = qopt.state[q]
        for key, value in opt.state[p].items():
            if key == "step":
                assert value == int(tstate["step"]) == STEPS
            elif key == "mu_product":
                assert value == pytest.approx(float(tstate[key]), rel=1e-12)
            else:
                assert value.dtype == dtype, key
                np.testing.assert_allclose(value, tstate[key].numpy(), **TOL[dtype])
    np.testing.assert_array_equal(frozen.array, np.ones(3, dtype))
    assert frozen not in opt.state


@pytest.mark.parametrize("name", ["Adadelta", "Adamax", "NAdam", "RAdam"])
def test_defaults_match_torch(name):
    p = tn.tensor(np.ones(2), requires_grad=True)
    q = torch.ones(2, requires_grad=True)
    ours = getattr(optim, name)([p]).param_groups[0]
    theirs = getattr(torch.optim, name)([q]).param_groups[0]
    for key, value in ours.items():
        if key != "params":
            assert theirs[key] == value, key


def test_param_groups_with_their_own_options_match_torch(torch_float64_scalars):
    x0, c, d = _problem(np.float64, seed=1)
    params = [tn.tensor(x.copy(), requires_grad=True) for x in x0]
    qs = [torch.tensor(x.copy(), requires_grad=True) for x in x0]
    opt = optim.NAdam([{"params": params[:1]}, {"params": params[1:], "lr": 0.1,
                                                "weight_decay": 0.2}], lr=0.03)
    qopt = torch.optim.NAdam([{"params": qs[:1]}, {"params": qs[1:], "lr": 0.1,
                                                   "weight_decay": 0.2}], lr=0.03)
    for _ in range(STEPS):
        _set_tn_grads(params, c, d)
        _set_torch_grads(qs, c, d)
        opt.step()
        qopt.step()
    for p, q in zip(params, qs):
        np.testing.assert_allclose(p.array, q.detach().numpy(), **TOL[np.float64])


@pytest.mark.usefixtures("torch_float64_scalars")
@pytest.mark.parametrize("name,kw", [
    ("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.1)), ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
    ("Adagrad", dict(lr=0.1)), ("Adadelta", dict()), ("Adamax", dict(lr=0.1)),
    ("NAdam", dict(lr=0.1, weight_decay=0.1)), ("RAdam", dict(lr=0.1, maximize=True)),
])
def test_zero_dim_parameters_match_torch(name, kw):
    # 0-d arrays turn into NumPy scalars under most ufuncs: in-place updates
    # and scratch buffers must still work on them
    p = tn.tensor(np.float64(1.5), requires_grad=True)
    q = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    opt, qopt = getattr(optim, name)([p], **kw), getattr(torch.optim, name)([q], **kw)
    for _ in range(5):
        p.grad = tn.tensor(np.float64(2.0) * p.array - 1.0)
        q.grad = 2.0 * q.detach() - 1.0
        opt.step()
        qopt.step()
        assert p.shape == () and isinstance(p.array, np.ndarray)
        np.testing.assert_allclose(p.array, q.detach().numpy(), rtol=1e-12)


def _to_numpy(obj):
    if isinstance(obj, dict):
        return {k: _to_numpy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_numpy(v) for v in obj)
    return obj.numpy() if isinstance(obj, tn.Tensor) else obj


@pytest.mark.parametrize("as_numpy", [False, True], ids=["tensors", "numpy"])
@pytest.mark.parametrize("name,kw", [
    ("Adadelta", dict(rho=0.8, weight_decay=0.1)),
    ("Adamax", dict(lr=0.05)),
    ("NAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.05, betas=(0.8, 0.9))),
])
def test_state_dict_round_trip_is_bit_identical(name, kw, as_numpy):
    x0, c, d = _problem(np.float32, seed=3)
    params = [tn.tensor(x.copy(), requires_grad=True) for x in x0]
    opt = getattr(optim, name)([{"params": params[:1]}, {"params": params[1:], "lr": 0.02}],
                               **kw)
    for _ in range(5):
        _set_tn_grads(params, c, d)
        opt.step()
    saved = opt.state_dict()
    if as_numpy:
        saved = _to_numpy(saved)
    copies = [tn.tensor(p.array.copy(), requires_grad=True) for p in params]
    other = getattr(optim, name)([{"params": copies[:1]}, {"params": copies[1:]}], lr=0.7)
    other.load_state_dict(saved)
    assert [g["lr"] for g in other.param_groups] == [g["lr"] for g in opt.param_groups]
    for _ in range(5):
        _set_tn_grads(params, c, d)
        _set_tn_grads(copies, c, d)
        opt.step()
        other.step()
    for p, q in zip(params, copies):
        np.testing.assert_array_equal(p.array, q.array)
        assert q.array.dtype == np.float32


def test_load_torch_nadam_state_dict_continues_like_torch(torch_float64_scalars):
    # PyTorch saves 'step' and 'mu_product' as 0-d tensors: they load as numbers.
    x0, c, d = _problem(np.float64, seed=4)
    qs = [torch.tensor(x.copy(), requires_grad=True) for x in x0]
    qopt = torch.optim.NAdam(qs, lr=0.05)
    for _ in range(5):
        _set_torch_grads(qs, c, d)
        qopt.step()
    sd = qopt.state_dict()
    converted = {"state": {k: {n: v.numpy().copy() for n, v in s.items()}
                           for k, s in sd["state"].items()},
                 "param_groups": sd["param_groups"]}
    params = [tn.tensor(q.detach().numpy().copy(), requires_grad=True) for q in qs]
    opt = optim.NAdam(params, lr=0.05)
    opt.load_state_dict(converted)
    assert isinstance(opt.state[params[0]]["mu_product"], float)
    assert opt.state[params[0]]["step"] == 5
    for _ in range(5):
        _set_torch_grads(qs, c, d)
        _set_tn_grads(params, c, d)
        qopt.step()
        opt.step()
    for p, q in zip(params, qs):
        np.testing.assert_allclose(p.array, q.detach().numpy(), **TOL[np.float64])


def _p():
    return tn.tensor(np.ones(2), requires_grad=True)


@pytest.mark.parametrize("make,match", [
    (lambda: optim.Adadelta([_p()], lr=-1), "Adadelta: invalid learning rate: -1"),
    (lambda: optim.Adadelta([_p()], rho=1.5), "Adadelta: invalid rho value: 1.5"),
    (lambda: optim.Adadelta([_p()], eps=-1), "Adadelta: invalid epsilon value"),
    (lambda: optim.Adamax([_p()], betas=(0.9, 1.0)), "Adamax: invalid beta parameter at index 1"),
    (lambda: optim.Adamax([_p()], weight_decay=-0.1), "Adamax: invalid weight_decay value"),
    (lambda: optim.NAdam([_p()], momentum_decay=-1), "NAdam: invalid momentum_decay value"),
    (lambda: optim.NAdam([_p()], lr=float("nan")), "NAdam: invalid learning rate: nan"),
    (lambda: optim.RAdam([_p()], betas=(-0.1, 0.9)), "RAdam: invalid beta parameter at index 0"),
    (lambda: optim.RAdam([_p()], eps=-1e-8), "RAdam: invalid epsilon value"),
    (lambda: optim.LBFGS([_p()], lr=-1), "LBFGS: invalid learning rate"),
    (lambda: optim.LBFGS([_p()], line_search_fn="armijo"), "None or 'strong_wolfe'"),
    (lambda: optim.LBFGS([{"params": [_p()]}, {"params": [_p()]}]),
     "doesn't support per-parameter options"),
])
def test_invalid_arguments_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_new_optimizers_skip_parameters_without_grad_and_bump_versions():
    for name in ("Adadelta", "Adamax", "NAdam", "RAdam"):
        a, b = _p(), _p()
        opt = getattr(optim, name)([a, b])
        a.grad = tn.tensor(np.ones(2))
        before = a._vc[0]
        opt.step()
        assert a._vc[0] == before + 1 and not np.array_equal(a.array, np.ones(2))
        np.testing.assert_array_equal(b.array, np.ones(2))
        assert b not in opt.state


# ---------------------------------------------------------------- LBFGS
def _least_squares(seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((12, 5))
    b = rng.standard_normal(12)

    def loss_grad(x):
        r = A @ x - b
        return 0.5 * float(r @ r), A.T @ r
    return loss_grad, rng.standard_normal(5)


def _rosenbrock():
    def loss_grad(x):
        a, b = x[:-1], x[1:]
        loss = float(np.sum((1 - a) ** 2) + 100 * np.sum((b - a ** 2) ** 2))
        g = np.zeros_like(x)
        g[:-1] += -2 * (1 - a) - 400 * a * (b - a ** 2)
        g[1:] += 200 * (b - a ** 2)
        return loss, g
    return loss_grad, np.array([-1.2, 1.0, -0.5, 0.8])


def _lbfgs_pair(problem, **kw):
    """tinynet and PyTorch LBFGS on the same NumPy objective; two parameters
    (the vector split in two) to exercise the flattening."""
    loss_grad, x0 = problem
    split = 2
    ps = [tn.tensor(x0[:split].copy(), requires_grad=True),
          tn.tensor(x0[split:].copy(), requires_grad=True)]
    qs = [torch.tensor(x0[:split].copy(), requires_grad=True),
          torch.tensor(x0[split:].copy(), requires_grad=True)]
    opt, qopt = optim.LBFGS(ps, **kw), torch.optim.LBFGS(qs, **kw)

    def closure():
        loss, g = loss_grad(np.concatenate([p.array for p in ps]))
        ps[0].grad, ps[1].grad = tn.tensor(g[:split]), tn.tensor(g[split:])
        return tn.tensor(loss, dtype=tn.float64)

    def tclosure():
        loss, g = loss_grad(np.concatenate([q.detach().numpy() for q in qs]))
        qs[0].grad, qs[1].grad = torch.from_numpy(g[:split]), torch.from_numpy(g[split:])
        return torch.tensor(loss, dtype=torch.float64)
    return (opt, ps, closure), (qopt, qs, tclosure)


def _run_and_compare(problem, steps, tol, **kw):
    (opt, ps, closure), (qopt, qs, tclosure) = _lbfgs_pair(problem, **kw)
    for _ in range(steps):
        loss, tloss = opt.step(closure), qopt.step(tclosure)
        assert float(loss) == pytest.approx(float(tloss), rel=tol, abs=tol ** 2)
        for p, q in zip(ps, qs):
            np.testing.assert_allclose(p.array, q.detach().numpy(), rtol=tol, atol=tol)
        state, tstate = opt.state[ps[0]], qopt.state[qs[0]]
        assert state["func_evals"] == tstate["func_evals"]
        assert state["n_iter"] == tstate["n_iter"]
    return opt, ps


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
@pytest.mark.parametrize("kw", [dict(), dict(lr=0.3, max_iter=3), dict(history_size=2, max_iter=4)],
                         ids=["defaults", "lr0.3-iter3", "history2-iter4"])
def test_lbfgs_least_squares_matches_torch(kw, line_search_fn):
    _run_and_compare(_least_squares(), 20, 1e-12, line_search_fn=line_search_fn, **kw)


@pytest.mark.parametrize("line_search_fn,kw,converges", [
    (None, dict(lr=0.5, max_iter=7), True),
    (None, dict(lr=0.2, max_iter=5), False),
    ("strong_wolfe", dict(), True),
    ("strong_wolfe", dict(max_iter=4), True),
    ("strong_wolfe", dict(history_size=3, max_iter=5), True),
    ("strong_wolfe", dict(max_iter=1), False),
], ids=["fixed-lr0.5", "fixed-lr0.2-iter5", "wolfe", "wolfe-iter4", "wolfe-history3",
        "wolfe-iter1"])
def test_lbfgs_rosenbrock_matches_torch(line_search_fn, kw, converges):
    # Rosenbrock's curved valley amplifies rounding differences (the order of
    # summation in dot products) from 1e-16 to about 1e-7 over 20 steps; a
    # wrong branch anywhere (line search, history, stopping rule) shows as O(0.1).
    opt, ps = _run_and_compare(_rosenbrock(), 20, 1e-6, line_search_fn=line_search_fn, **kw)
    x = np.concatenate([p.array for p in ps])
    if converges:
        np.testing.assert_allclose(x, np.ones(4), atol=1e-4)     # reached the minimum


def test_lbfgs_with_autograd_closure_matches_torch():
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal((20, 1))
    w0, b0 = rng.standard_normal((3, 1)), np.zeros(1)
    w, b = tn.tensor(w0.copy(), requires_grad=True), tn.tensor(b0.copy(), requires_grad=True)
    tw, tb = torch.tensor(w0.copy(), requires_grad=True), torch.tensor(b0.copy(),
                                                                          requires_grad=True)
    opt = optim.LBFGS([w, b], line_search_fn="strong_wolfe", max_iter=5)
    topt = torch.optim.LBFGS([tw, tb], line_search_fn="strong_wolfe", max_iter=5)
    Xt, yt = tn.tensor(X), tn.tensor(y)

    def closure():
        opt.zero_grad()
        loss = ((tn.tanh(Xt @ w + b) - yt) ** 2).mean()
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = ((torch.tanh(torch.from_numpy(X) @ tw + tb) - torch.from_numpy(y)) ** 2).mean()
        loss.backward()
        return loss
    with tn.no_grad():                     # step() turns gradients on for the closure
        for _ in range(6):
            loss = opt.step(closure)
            tloss = topt.step(tclosure)
            assert isinstance(loss, tn.Tensor)
            assert float(loss) == pytest.approx(float(tloss.detach()), rel=1e-9)
            np.testing.assert_allclose(w.array, tw.detach().numpy(), rtol=1e-8, atol=1e-12)
            np.testing.assert_allclose(b.array, tb.detach().numpy(), rtol=1e-8, atol=1e-12)


def test_lbfgs_stops_at_max_eval_and_tolerance_grad():
    problem = _least_squares(1)
    (opt, ps, closure), _ = _lbfgs_pair(problem, max_iter=50, max_eval=7)
    opt.step(closure)
    assert opt.state[ps[0]]["func_evals"] == 7
    # the first evaluation's gradient is below tolerance_grad: no move
    (opt, ps, closure), _ = _lbfgs_pair(problem, tolerance_grad=1e10)
    before = [p.array.copy() for p in ps]
    opt.step(closure)
    assert opt.state[ps[0]]["n_iter"] == 0 and opt.state[ps[0]]["func_evals"] == 1
    for p, x in zip(ps, before):
        np.testing.assert_array_equal(p.array, x)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_state_dict_round_trip_is_bit_identical(line_search_fn, tmp_path):
    problem = _rosenbrock()
    (opt, ps, closure), _ = _lbfgs_pair(problem, line_search_fn=line_search_fn, max_iter=3)
    for _ in range(2):
        opt.step(closure)
    tn.save(opt.state_dict(), tmp_path / "lbfgs.tn")
    saved = tn.load(tmp_path / "lbfgs.tn")
    assert set(saved["state"][0]) >= {"d", "t", "old_dirs", "old_stps", "ro", "H_diag",
                                      "prev_flat_grad", "prev_loss", "n_iter", "func_evals"}

    (other, copies, other_closure), _ = _lbfgs_pair(problem, line_search_fn=line_search_fn,
                                                     max_iter=3)
    for p, q in zip(ps, copies):
        q.array[...] = p.array
    other.load_state_dict(saved)
    for _ in range(3):
        opt.step(closure)
        other.step(other_closure)
    for p, q in zip(ps, copies):
        np.testing.assert_array_equal(p.array, q.array)


def test_lbfgs_step_needs_a_closure():
    opt = optim.LBFGS([_p()])
    with pytest.raises(RuntimeError, match="needs a closure"):
        opt.step(None)


def _line_function(rng):
    """A random 1-D function phi(t) -> (phi, phi') with phi'(0) usually < 0:
    Rosenbrock along a line, steep walls, kinks, oscillations, plateaus."""
    kind = rng.integers(6)
    if kind == 0:
        loss_grad, _ = _rosenbrock()
        x = rng.uniform(-1.5, 1.5, 4)
        u = -loss_grad(x)[1] * 10 ** rng.uniform(-4, -2) + 0.05 * rng.standard_normal(4)

        def phi(t):
            loss, grad = loss_grad(x + t * u)
            return loss, float(grad @ u)
        return phi
    if kind == 1:
        a, b, k = rng.uniform(0.1, 10), rng.uniform(0.01, 10), int(rng.choice([3, 4, 8, 16]))
        return lambda t: (-a * t + b * abs(t) ** k, -a + b * k * abs(t) ** (k - 1) * np.sign(t))
    if kind == 2:
        c, m = rng.uniform(1, 50), rng.uniform(0.1, 5)
        return lambda t: (-t + 2 * np.logaddexp(0, c * (t - m)) / c,
                          -1 + 2 / (1 + np.exp(-c * (t - m))))
    if kind == 3:
        w, a = rng.uniform(0.5, 20), rng.uniform(0, 2)
        return lambda t: (-np.sin(w * t) - a * t + 0.1 * a * t * t,
                          -w * np.cos(w * t) - a + 0.2 * a * t)
    if kind == 4:
        m, e = rng.uniform(0.1, 5), 10 ** rng.uniform(-6, 0)
        return lambda t: (np.sqrt((t - m) ** 2 + e), (t - m) / np.sqrt((t - m) ** 2 + e))
    c, m = rng.uniform(1, 20), rng.uniform(0.1, 3)
    return lambda t: (-t + np.exp(min(c * (t - m), 50.0)), -1 + c * np.exp(min(c * (t - m), 50.0)))


def test_strong_wolfe_line_search_matches_torch_on_many_functions():
    # The line search alone, on 1-D functions with initial steps from 1e-3
    # (extrapolation) to 100 (long zooms), evaluation budgets down to 1
    # (running out) and a coarse tolerance_change (the bracket-too-small
    # exit). The search runs along d = [1.0] with the slope as the "gradient",
    # so both libraries get bitwise the same slopes and must try the same
    # steps in the same order.
    from torch.optim.lbfgs import _strong_wolfe as torch_strong_wolfe

    from tinynet.optim.lbfgs import _strong_wolfe
    rng = np.random.default_rng(2)
    one, searches, long_searches = np.ones(1), 0, 0
    t64 = dict(dtype=torch.float64)
    while searches < 1000:
        phi = _line_function(rng)
        f, gtd = phi(0.0)
        t0 = 10 ** rng.uniform(-3, 2)
        kw = dict(max_ls=int(rng.choice([25, 25, 4, 1])),
                  tolerance_change=float(rng.choice([1e-9, 1e-9, 0.5])))
        if gtd >= 0:
            continue
        ours, theirs = [], []

        def probe(t):
            ours.append(t)
            loss, slope = phi(t)
            return float(loss), np.array([slope])

        def obj_func(_, t, __):
            theirs.append(float(t))
            loss, slope = phi(float(t))
            return float(loss), torch.tensor([slope], **t64)
        loss, slope, t, evals = _strong_wolfe(probe, t0, one, f, np.array([gtd]), gtd, **kw)
        tloss, tslope, tt, tevals = torch_strong_wolfe(
            obj_func, torch.zeros(1, **t64), t0, torch.ones(1, **t64), f,
            torch.tensor([gtd], **t64), torch.tensor(gtd, **t64), **kw)
        np.testing.assert_allclose(ours, theirs, rtol=1e-13)
        assert evals == tevals == len(ours)
        # (steps agree to the last bit or so: tensor and float arithmetic round alike)
        assert t == pytest.approx(float(tt), rel=1e-13)
        assert loss == pytest.approx(tloss, rel=1e-12)
        np.testing.assert_allclose(slope, tslope.numpy(), rtol=1e-9)
        searches += 1
        long_searches += evals >= 4
    assert long_searches >= 100


def test_cubic_step_and_end_guard():
    from torch.optim.lbfgs import _cubic_interpolate

    from tinynet.optim.lbfgs import _cubic_min, _keep_off_the_ends
    rng = np.random.default_rng(3)
    for _ in range(300):
        x1, x2 = rng.uniform(-2, 2, 2)
        f1, g1, f2, g2 = rng.standard_normal(4) * 10
        bounds = tuple(sorted(rng.uniform(-3, 3, 2))) if rng.random() < 0.5 else None
        ours = _cubic_min(x1, f1, g1, x2, f2, g2, *(bounds or ()))
        theirs = float(_cubic_interpolate(x1, f1, torch.tensor(g1, dtype=torch.float64), x2, f2,
                                          torch.tensor(g2, dtype=torch.float64), bounds))
        assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-14)
    # within 10% of an end: allowed once, then moved to 10% inside; outside: moved at once
    assert _keep_off_the_ends(0.5, 0.0, 2.0, True) == (0.5, False)
    assert _keep_off_the_ends(1.9, 0.0, 2.0, False) == (1.9, True)
    assert _keep_off_the_ends(1.9, 0.0, 2.0, True) == (1.8, False)
    assert _keep_off_the_ends(0.05, 0.0, 2.0, True) == (0.2, False)
    assert _keep_off_the_ends(2.5, 0.0, 2.0, False) == (1.8, False)
    assert _keep_off_the_ends(-1.0, 0.0, 2.0, False) == (0.2, False)
    # a collapsed bracket gives nan (IEEE), not a Python exception
    assert np.isnan(_cubic_min(1.0, 2.0, -1.0, 1.0, 2.0, -1.0))


def test_lbfgs_short_initial_steps_extrapolate_like_torch():
    # lr=1e-3: the first trial step is far too short, so the search extrapolates
    _run_and_compare(_rosenbrock(), 10, 1e-6, line_search_fn="strong_wolfe", lr=1e-3,
                     max_iter=4)
