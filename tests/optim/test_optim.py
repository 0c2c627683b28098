"""Optimizers: trajectories against PyTorch, param groups, state_dict, errors.

The gradients come from a fixed quadratic, g(x) = c * x - d (the gradient of
sum(c * x**2 / 2 - d * x)), computed with NumPy from each library's own
current parameters, so the two trajectories only agree if every update does.
"""
import itertools

import numpy as np
import pytest

import tinynet as tn
import tinynet.optim as optim

SHAPES = [(3, 4), (5,)]


def _problem(dtype, seed=0):
    rng = np.random.default_rng(seed)
    x0 = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    c = [rng.uniform(0.5, 2.0, s).astype(dtype) for s in SHAPES]
    d = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    return x0, c, d


def _grad(x, c, d):
    return c * x - d


def _tn_params(x0):
    return [tn.tensor(x.copy(), requires_grad=True) for x in x0]


def _tn_steps(opt, params, c, d, steps):
    for _ in range(steps):
        for p, ci, di in zip(params, c, d):
            p.grad = tn.tensor(_grad(p.array, ci, di))
        opt.step()


def _torch_steps(torch, opt, params, c, d, steps):
    for _ in range(steps):
        for q, ci, di in zip(params, c, d):
            q.grad = torch.from_numpy(_grad(q.detach().numpy(), ci, di))
        opt.step()


def _cases():
    """(optimizer name, kwargs) for every option combination, with readable ids."""
    cases = []
    for mom, damp, nest, wd, maxi in itertools.product(
            [0, 0.9], [0, 0.5], [False, True], [0, 0.1], [False, True]):
        if nest and (mom == 0 or damp != 0):
            continue
        cases.append(("SGD", dict(lr=0.05, momentum=mom, dampening=damp, nesterov=nest,
                                  weight_decay=wd, maximize=maxi)))
    for name, ams, wd, maxi in itertools.product(
            ["Adam", "AdamW"], [False, True], [0, 0.1], [False, True]):
        cases.append((name, dict(lr=0.05, betas=(0.8, 0.95), amsgrad=ams,
                                 weight_decay=wd, maximize=maxi)))
    for cen, mom, wd, maxi in itertools.product([False, True], [0, 0.9], [0, 0.1],
                                                [False, True]):
        cases.append(("RMSprop", dict(lr=0.01, alpha=0.9, centered=cen, momentum=mom,
                                      weight_decay=wd, maximize=maxi)))
    for decay, wd, acc, maxi in itertools.product([0, 0.1], [0, 0.1], [0, 0.1],
                                                  [False, True]):
        cases.append(("Adagrad", dict(lr=0.1, lr_decay=decay, weight_decay=wd,
                                      initial_accumulator_value=acc, maximize=maxi)))
    # PyTorch's defaults, lr included (AdamW's weight_decay=1e-2 among them).
    cases += [(name, {}) for name in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad")]
    return [pytest.param(name, kw, id=_case_id(name, kw)) for name, kw in cases]


def _case_id(name, kw):
    parts = [name]
    for k, v in kw.items():
        if k in ("lr", "betas", "alpha") or v in (0, False):
            continue
        parts.append(k if v is True else f"{k}{v}")
    return "-".join(parts) if kw else f"{name}-defaults"


TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-12)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name,kw", _cases())
def test_trajectory_matches_torch(name, kw, dtype):
    torch = pytest.importorskip("torch")
    x0, c, d = _problem(dtype)
    params = _tn_params(x0)
    frozen = tn.tensor(np.ones(3, dtype), requires_grad=True)   # never gets a grad
    opt = getattr(optim, name)(params + [frozen], **kw)
    qs = [torch.tensor(x.copy(), requires_grad=True) for x in x0]
    qopt = getattr(torch.optim, name)(qs, **kw)

    _tn_steps(opt, params, c, d, 10)
    _torch_steps(torch, qopt, qs, c, d, 10)
    for p, q in zip(params, qs):
        assert p.array.dtype == dtype
        np.testing.assert_allclose(p.array, q.detach().numpy(), **TOL[dtype])
    # Every state buffer keeps the parameter's dtype.
    for state in opt.state.values():
        for k, v in state.items():
            if k != "step":
                assert v.dtype == dtype, k
    np.testing.assert_array_equal(frozen.array, np.ones(3, dtype))


def test_param_groups_match_torch():
    torch = pytest.importorskip("torch")
    x0, c, d = _problem(np.float32, seed=1)
    params = _tn_params(x0)
    opt = optim.Adam([{"params": [params[0]]},
                      {"params": [params[1]], "lr": 0.2, "amsgrad": True}], lr=0.05)
    qs = [torch.tensor(x.copy(), requires_grad=True) for x in x0]
    qopt = torch.optim.Adam([{"params": [qs[0]]},
                             {"params": [qs[1]], "lr": 0.2, "amsgrad": True}], lr=0.05)
    _tn_steps(opt, params, c, d, 10)
    _torch_steps(torch, qopt, qs, c, d, 10)
    for p, q in zip(params, qs):
        np.testing.assert_allclose(p.array, q.detach().numpy(), **TOL[np.float32])


def test_gradients_from_tinynet_autograd_match_torch():
    # The same quadratic loss differentiated by each library's autograd.
    torch = pytest.importorskip("torch")
    x0, c, d = _problem(np.float32, seed=2)
    p = tn.tensor(x0[0].copy(), requires_grad=True)
    q = torch.tensor(x0[0].copy(), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    qopt = torch.optim.SGD([q], lr=0.1, momentum=0.9, nesterov=True)
    ct, dt = tn.tensor(c[0]), tn.tensor(d[0])
    cq, dq = torch.from_numpy(c[0]), torch.from_numpy(d[0])
    for _ in range(10):
        opt.zero_grad()
        loss = (ct * p * p * 0.5 - dt * p).sum()
        loss.backward()
        opt.step()
        qopt.zero_grad()
        (cq * q * q * 0.5 - dq * q).sum().backward()
        qopt.step()
    np.testing.assert_allclose(p.array, q.detach().numpy(), **TOL[np.float32])


# ---------------------------------------------------------------- torch-free behaviour
def test_sgd_converges_on_quadratic():
    x0, c, d = _problem(np.float64)
    params = _tn_params(x0)
    opt = optim.SGD(params, lr=0.1, momentum=0.5)
    _tn_steps(opt, params, c, d, 300)
    for p, ci, di in zip(params, c, d):
        np.testing.assert_allclose(p.array, di / ci, rtol=1e-8)


def test_adam_first_step_by_hand():
    # After one step m_hat = g and v_hat = g**2, so the update is
    # lr * g / (|g| + eps * sqrt(1 - beta2)) / ... written out in float64.
    g = np.array([0.5, -2.0, 1e-3])
    x = np.array([1.0, 2.0, 3.0])
    p = tn.tensor(x.copy(), requires_grad=True)
    lr, (b1, b2), eps = 0.01, (0.9, 0.999), 1e-8
    opt = optim.Adam([p], lr=lr, betas=(b1, b2), eps=eps)
    p.grad = tn.tensor(g)
    opt.step()
    m, v = (1 - b1) * g, (1 - b2) * g * g
    expected = x - lr / (1 - b1) * m / (np.sqrt(v) / np.sqrt(1 - b2) + eps)
    np.testing.assert_allclose(p.array, expected, rtol=1e-14)
    np.testing.assert_allclose(p.array, x - lr * np.sign(g), rtol=1e-6)
    assert opt.state[p]["step"] == 1


def test_float32_kept_with_numpy_float64_hyperparameters():
    # NumPy 2 would promote float32 * np.float64 to float64: options are cast.
    p = tn.tensor(np.ones(4, np.float32), requires_grad=True)
    opt = optim.Adam([p], lr=np.float64(0.1), betas=(np.float64(0.9), np.float64(0.99)),
                     weight_decay=np.float64(0.01))
    for _ in range(3):
        p.grad = tn.tensor(np.full(4, 0.5, np.float32))
        opt.step()
    assert p.array.dtype == np.float32
    assert all(v.dtype == np.float32 for k, v in opt.state[p].items() if k != "step")


def test_grad_none_is_skipped():
    a = tn.tensor(np.ones(2), requires_grad=True)
    b = tn.tensor(np.ones(2), requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = tn.tensor(np.ones(2))
    opt.step()
    assert b not in opt.state
    np.testing.assert_array_equal(b.array, np.ones(2))
    assert not np.allclose(a.array, 1.0)


def test_update_keeps_array_and_leaves_grad_alone():
    p = tn.tensor(np.ones(3), requires_grad=True)
    array = p.array
    g = np.array([1.0, -1.0, 2.0])
    p.grad = tn.tensor(g.copy())
    opt = optim.SGD([p], lr=0.1, weight_decay=0.1, maximize=True, momentum=0.9)
    opt.step()
    assert p.array is array                         # updated in place
    np.testing.assert_array_equal(p.grad.array, g)  # gradient untouched


def test_step_marks_parameter_modified_for_autograd():
    # A graph that saved p before the step must refuse to backward after it.
    p = tn.tensor(np.ones(3), requires_grad=True)
    y = (p * p).sum()
    p.grad = tn.tensor(np.ones(3))
    optim.SGD([p], lr=0.1).step()
    with pytest.raises(RuntimeError):
        y.backward()


def test_zero_grad():
    p = tn.tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = tn.tensor(np.ones(3))
    grad = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad
    np.testing.assert_array_equal(p.grad.array, np.zeros(3))
    opt.zero_grad()
    assert p.grad is None


def test_zero_grad_detaches_a_create_graph_gradient():
    p = tn.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (p * p).sum().backward(create_graph=True)
    assert p.grad.grad_fn is not None
    optim.SGD([p], lr=0.1).zero_grad(set_to_none=False)
    assert p.grad.grad_fn is None and not p.grad.requires_grad
    np.testing.assert_array_equal(p.grad.array, np.zeros(2))


def test_step_closure_returns_loss_with_grad_enabled():
    p = tn.tensor(np.array([3.0]), requires_grad=True)
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with tn.no_grad():
        loss = opt.step(closure)
    assert float(loss.item()) == 9.0
    np.testing.assert_allclose(p.array, [3.0 - 0.25 * 6.0])
    assert opt.step() is None


def test_add_param_group_fills_defaults():
    a = tn.tensor(np.ones(2), requires_grad=True)
    b = tn.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": b, "lr": 0.5})
    group = opt.param_groups[1]
    assert len(group["params"]) == 1 and group["params"][0] is b
    assert group["lr"] == 0.5 and group["momentum"] == 0.9 and group["nesterov"] is False
    assert "SGD" in repr(opt) and "Parameter Group 1" in repr(opt)


# ---------------------------------------------------------------- state_dict
SD_CASES = [
    pytest.param("SGD", dict(lr=0.1, momentum=0.9, nesterov=True), id="SGD-nesterov"),
    pytest.param("SGD", dict(lr=0.1), id="SGD-plain"),
    pytest.param("Adam", dict(lr=0.05, amsgrad=True), id="Adam-amsgrad"),
    pytest.param("AdamW", dict(lr=0.05), id="AdamW"),
    pytest.param("RMSprop", dict(momentum=0.5, centered=True), id="RMSprop-centered-momentum"),
    pytest.param("Adagrad", dict(lr_decay=0.01, initial_accumulator_value=0.1), id="Adagrad"),
]


def _to_numpy(obj):
    """What tn.save/tn.load would hand back: Tensors become arrays."""
    if isinstance(obj, dict):
        return {k: _to_numpy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_numpy(v) for v in obj)
    return obj.numpy() if isinstance(obj, tn.Tensor) else obj


@pytest.mark.parametrize("as_numpy", [False, True], ids=["tensors", "numpy"])
@pytest.mark.parametrize("name,kw", SD_CASES)
def test_state_dict_round_trip_is_bit_identical(name, kw, as_numpy):
    x0, c, d = _problem(np.float32, seed=3)
    params = _tn_params(x0)
    opt = getattr(optim, name)([{"params": params[:1]}, {"params": params[1:], "lr": 0.02}],
                               **kw)
    _tn_steps(opt, params, c, d, 5)
    saved = opt.state_dict()
    if as_numpy:
        saved = _to_numpy(saved)

    copies = _tn_params([p.array for p in params])
    # Different options on purpose: loading must restore the saved ones.
    other = getattr(optim, name)([{"params": copies[:1]}, {"params": copies[1:]}], lr=0.7)
    other.load_state_dict(saved)
    assert [g["lr"] for g in other.param_groups] == [g["lr"] for g in opt.param_groups]

    _tn_steps(opt, params, c, d, 5)
    _tn_steps(other, copies, c, d, 5)
    for p, q in zip(params, copies):
        np.testing.assert_array_equal(p.array, q.array)
        assert q.array.dtype == np.float32


def test_state_dict_layout():
    a = tn.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    b = tn.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5}])
    a.grad = tn.tensor(np.ones((2, 3), np.float32))
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert list(sd["state"]) == [0]                     # b has no grad, no state yet
    st = sd["state"][0]
    assert st["step"] == 1 and isinstance(st["step"], int)
    assert isinstance(st["exp_avg"], tn.Tensor) and st["exp_avg"].shape == (2, 3)
    assert sorted(st) == ["exp_avg", "exp_avg_sq", "step"]
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert sd["param_groups"][1]["lr"] == 0.5
    assert sd["param_groups"][0]["betas"] == (0.9, 0.999)


def test_load_state_dict_copies_buffers():
    p = tn.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = tn.tensor(np.ones(2))
    opt.step()
    saved = _to_numpy(opt.state_dict())
    q = tn.tensor(np.ones(2), requires_grad=True)
    other = optim.SGD([q], lr=0.1, momentum=0.9)
    other.load_state_dict(saved)
    saved["state"][0]["momentum_buffer"][...] = 100.0
    np.testing.assert_array_equal(other.state[q]["momentum_buffer"], np.ones(2))


def test_load_torch_state_dict_continues_like_torch():
    # A PyTorch optimizer state_dict, converted to NumPy arrays, loads as is.
    torch = pytest.importorskip("torch")
    x0, c, d = _problem(np.float32, seed=4)
    qs = [torch.tensor(x.copy(), requires_grad=True) for x in x0]
    qopt = torch.optim.Adam(qs, lr=0.05, amsgrad=True)
    _torch_steps(torch, qopt, qs, c, d, 5)
    converted = {
        "state": {k: {n: v.numpy().copy() for n, v in s.items()}
                  for k, s in qopt.state_dict()["state"].items()},
        "param_groups": qopt.state_dict()["param_groups"]}
    params = _tn_params([q.detach().numpy() for q in qs])
    opt = optim.Adam(params, lr=0.05, amsgrad=True)
    opt.load_state_dict(converted)
    _torch_steps(torch, qopt, qs, c, d, 5)
    _tn_steps(opt, params, c, d, 5)
    for p, q in zip(params, qs):
        np.testing.assert_allclose(p.array, q.detach().numpy(), **TOL[np.float32])


def test_load_state_dict_rejects_other_layout():
    a = tn.tensor(np.ones(2), requires_grad=True)
    b = tn.tensor(np.ones(2), requires_grad=True)
    sd = optim.SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="parameter group 0 has 2 parameters"):
        optim.SGD([a], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="1 parameter groups, expected 2"):
        optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(sd)


# ---------------------------------------------------------------- errors
def _p():
    return tn.tensor(np.ones(2), requires_grad=True)


@pytest.mark.parametrize("make,match", [
    (lambda: optim.SGD([_p()], lr=-0.1), r"SGD: invalid learning rate: -0\.1"),
    (lambda: optim.SGD([_p()], lr=0.1, momentum=-1), "SGD: invalid momentum value: -1"),
    (lambda: optim.SGD([_p()], lr=0.1, nesterov=True), "Nesterov momentum requires"),
    (lambda: optim.SGD([_p()], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
     "dampening=0.1"),
    (lambda: optim.SGD([_p()], weight_decay=-1), "SGD: invalid weight_decay value"),
    (lambda: optim.Adam([_p()], betas=(1.0, 0.999)), "Adam: invalid beta parameter at index 0"),
    (lambda: optim.Adam([_p()], betas=(0.9, -0.1)), "Adam: invalid beta parameter at index 1"),
    (lambda: optim.AdamW([_p()], eps=-1e-8), "AdamW: invalid epsilon value"),
    (lambda: optim.Adam([_p()], lr=float("nan")), "Adam: invalid learning rate: nan"),
    (lambda: optim.RMSprop([_p()], alpha=-0.5), "RMSprop: invalid alpha value"),
    (lambda: optim.Adagrad([_p()], lr_decay=-1), "Adagrad: invalid lr_decay value"),
    (lambda: optim.SGD([], lr=0.1), "SGD got an empty parameter list"),
], ids=["sgd-lr", "sgd-momentum", "nesterov-no-momentum", "nesterov-dampening",
        "sgd-weight-decay", "adam-beta1", "adam-beta2", "adamw-eps", "adam-nan-lr",
        "rmsprop-alpha", "adagrad-lr-decay", "empty"])
def test_invalid_arguments_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_parameter_in_two_groups_is_an_error():
    p = _p()
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p], "lr": 0.5}], lr=0.1)
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [p]})


def test_bad_params_raise_type_error():
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        optim.SGD(_p(), lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.Adam([np.ones(2)])
    with pytest.raises(TypeError, match="ordered collection"):
        optim.Adam({_p()})
    with pytest.raises(ValueError, match="non-leaf"):
        optim.Adam([_p() * 2])
