"""PyTorch's semantics where a from-scratch framework most often slips:
gradients at ties, dtype promotion with scalars and 0-d tensors, numerical
stability, reductions of 0-d tensors, the dim/keepdim aliases, and
repeated indices accumulating in backward."""
import numpy as np
import pytest

import tinynet as tn

torch = pytest.importorskip("torch")   # every test here compares with PyTorch


def grad_of(fn, values, lib, dtype="float64"):
    """Gradient of fn(x).sum() at ``values`` in tinynet or torch."""
    if lib is tn:
        x = tn.tensor(np.array(values, dtype=dtype), requires_grad=True)
        fn(x).sum().backward()
        return x.grad.numpy()
    x = torch.tensor(np.array(values, dtype=dtype), requires_grad=True)
    fn(x).sum().backward()
    return x.grad.numpy()


TIES = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, -1.0]])
TIE_REDUCTIONS = {
    "max-all": (lambda x: tn.max(x), lambda x: torch.max(x)),
    "min-all": (lambda x: tn.min(x), lambda x: torch.min(x)),
    "max-dim": (lambda x: tn.max(x, dim=1).values, lambda x: torch.max(x, dim=1).values),
    "max-dim0": (lambda x: x.max(0).values, lambda x: x.max(0).values),
    "min-dim-keepdim": (lambda x: tn.min(x, dim=1, keepdim=True).values,
                        lambda x: torch.min(x, dim=1, keepdim=True).values),
    "max-tuple": (lambda x: tn.max(x, axis=(0, 1)), lambda x: torch.amax(x, dim=(0, 1))),
    "amax-dim": (lambda x: tn.amax(x, dim=1), lambda x: torch.amax(x, dim=1)),
    "amin-dim": (lambda x: tn.amin(x, dim=0), lambda x: torch.amin(x, dim=0)),
    "max-1d-all": (lambda x: tn.max(x[0]), lambda x: torch.max(x[0])),
    "maximum-ties": (lambda x: tn.maximum(x, tn.tensor(TIES[::-1].copy())),
                     lambda x: torch.maximum(x, torch.tensor(TIES[::-1].copy()))),
    "minimum-ties": (lambda x: tn.minimum(x, 2.0), lambda x: torch.minimum(
        x, torch.tensor(2.0, dtype=x.dtype))),
    "relu-at-0": (lambda x: tn.relu(x - 2), lambda x: torch.relu(x - 2)),
    "abs-at-0": (lambda x: tn.abs(x - 3), lambda x: torch.abs(x - 3)),
    "clamp-at-bounds": (lambda x: tn.clamp(x, 2.0, 3.0), lambda x: torch.clamp(x, 2.0, 3.0)),
    "leaky_relu-at-0": (lambda x: tn.leaky_relu(x - 2, 0.1),
                        lambda x: torch.nn.functional.leaky_relu(x - 2, 0.1)),
}


@pytest.mark.parametrize("name", list(TIE_REDUCTIONS))
def test_gradient_at_ties_and_kinks_matches_pytorch(name):
    ours, theirs = TIE_REDUCTIONS[name]
    np.testing.assert_allclose(grad_of(ours, TIES, tn), grad_of(theirs, TIES, torch),
                               err_msg=name)


def test_max_with_dim_sends_gradient_to_first_maximum():
    x = tn.tensor([[1.0, 3.0, 3.0]], requires_grad=True)
    x.max(dim=1).values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 1.0, 0.0]])


def test_max_over_all_shares_gradient_among_ties():
    x = tn.tensor([1.0, 3.0, 3.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.5, 0.5])


# ---------------------------------------------------------------- dtypes
def _dtype_pairs():
    i64 = np.array([1, 2, 3])
    f32 = np.array([1.5, 2.0, -1.0], np.float32)
    f64 = np.array([1.5, 2.0, -1.0])
    b = np.array([True, False, True])
    return [
        ("int/int", lambda m, t: t(i64) / t(i64)),
        ("int/2", lambda m, t: t(i64) / 2),
        ("int*2.5", lambda m, t: t(i64) * 2.5),
        ("2.5*int", lambda m, t: 2.5 * t(i64)),
        ("int+1", lambda m, t: t(i64) + 1),
        ("int**2", lambda m, t: t(i64) ** 2),
        ("int**0.5", lambda m, t: t(i64) ** 0.5),
        ("bool+1", lambda m, t: t(b) + 1),
        ("bool*2.5", lambda m, t: t(b) * 2.5),
        ("f32*np.float64", lambda m, t: t(f32) * np.float64(2.0)),
        ("np.float64*f32", lambda m, t: np.float64(2.0) * t(f32)),
        ("f32-np.float64", lambda m, t: t(f32) - np.float64(2.0)),
        ("f32/np.float64", lambda m, t: t(f32) / np.float64(2.0)),
        ("f32**np.float64", lambda m, t: t(f32) ** np.float64(2.0)),
        ("f32*int", lambda m, t: t(f32) * 3),
        ("f32*0d-f64", lambda m, t: t(f32) * t(np.array(2.0))),
        ("int*0d-f64", lambda m, t: t(i64) * t(np.array(2.5))),
        ("f32+f64", lambda m, t: t(f32) + t(f64)),
        ("f32+int", lambda m, t: t(f32) + t(i64)),
        ("f32>0.5", lambda m, t: t(f32) > 0.5),
        ("sum-int", lambda m, t: m.sum(t(i64))),
        ("sum-bool", lambda m, t: m.sum(t(b))),
        ("sum-uint8", lambda m, t: m.sum(t(np.array([200, 100], np.uint8)))),
        ("mean-f32", lambda m, t: m.mean(t(f32))),
        ("var-f32", lambda m, t: m.var(t(f32))),
        ("argmax", lambda m, t: m.argmax(t(f32))),
        ("where-f32-scalar", lambda m, t: m.where(t(f32) > 0, t(f32), 0.0)),
        ("maximum-f32-scalar", lambda m, t: m.maximum(t(f32), t(np.array(0.5)))),
        ("matmul-f32", lambda m, t: t(f32) @ t(f32)),
        ("cat-f32-f64", lambda m, t: m.cat([t(f32), t(f64)])),
        ("exp-int", lambda m, t: m.exp(t(i64))),
        ("log-int", lambda m, t: m.log(t(i64))),
        ("sqrt-int", lambda m, t: m.sqrt(t(i64))),
        ("sigmoid-int", lambda m, t: m.sigmoid(t(i64))),
        ("erf-int", lambda m, t: m.erf(t(i64))),
        ("tanh-bool", lambda m, t: m.tanh(t(b))),
        ("abs-int", lambda m, t: m.abs(t(-i64))),
        ("relu-int", lambda m, t: m.relu(t(i64 - 2))),
        ("logsumexp-int", lambda m, t: m.logsumexp(t(i64), 0)),
        ("clamp-int-float-bounds", lambda m, t: m.clamp(t(i64), 1.5, 2.5)),
        ("clamp-int-int-bounds", lambda m, t: m.clamp(t(i64), 2, 3)),
        ("max-int", lambda m, t: m.max(t(i64))),
        ("amax-int-dim", lambda m, t: m.amax(t(i64), 0)),
        ("prod-int", lambda m, t: m.prod(t(i64))),
        ("cumsum-int", lambda m, t: m.cumsum(t(i64), 0)),
        ("cumsum-bool", lambda m, t: m.cumsum(t(b), 0)),
    ]


@pytest.mark.parametrize("name, fn", _dtype_pairs(), ids=[n for n, _ in _dtype_pairs()])
def test_result_dtype_and_value_match_pytorch(name, fn):
    ours = fn(tn, tn.tensor)
    theirs = fn(torch, lambda a: torch.tensor(a))
    assert ours.dtype == np.dtype(str(theirs.dtype).replace("torch.", "")), name
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_float32_stays_float32_through_a_small_network_step():
    tn.manual_seed(0)
    x = tn.randn(4, 3)
    w = tn.randn(3, 2, requires_grad=True)
    loss = ((x @ w).tanh() * np.float64(0.5) + 1).log_softmax(-1).mean() ** 2
    loss.backward()
    assert loss.dtype == tn.float32 and w.grad.dtype == tn.float32


# ---------------------------------------------------------------- stability
BIG = np.array([[1000.0, 0.0, -1000.0], [-1e4, -1e4, -1e4]], np.float32)


@pytest.mark.parametrize("name, ours, theirs", [
    ("softmax", lambda x: tn.softmax(x, -1), lambda x: torch.softmax(x, -1)),
    ("log_softmax", lambda x: tn.log_softmax(x, -1), lambda x: torch.log_softmax(x, -1)),
    ("logsumexp", lambda x: tn.logsumexp(x, -1), lambda x: torch.logsumexp(x, -1)),
    ("sigmoid", tn.sigmoid, torch.sigmoid),
    ("softplus", tn.softplus, torch.nn.functional.softplus),
    ("tanh", tn.tanh, torch.tanh),
    ("gelu", tn.gelu, torch.nn.functional.gelu),
    ("elu", tn.elu, torch.nn.functional.elu),
], ids=lambda v: v if isinstance(v, str) else "")
def test_large_inputs_stay_finite_and_match_pytorch(name, ours, theirs):
    x = tn.tensor(BIG, requires_grad=True)
    y = ours(x)
    (y * tn.tensor(np.linspace(-1, 1, y.numel()).reshape(y.shape).astype(np.float32))
     ).sum().backward()
    tx = torch.tensor(BIG, requires_grad=True)
    ty = theirs(tx)
    (ty * torch.tensor(np.linspace(-1, 1, ty.numel()).reshape(ty.shape).astype(np.float32))
     ).sum().backward()
    assert np.isfinite(y.numpy()).all() and np.isfinite(x.grad.numpy()).all(), name
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- axes
@pytest.mark.parametrize("op", ["sum", "mean", "max", "min", "amax", "logsumexp", "prod"])
@pytest.mark.parametrize("dim", [0, -1, (0,), (-1,)], ids=str)
def test_zero_d_tensor_reduces_over_dim_0(op, dim):
    x = tn.tensor(2.5, requires_grad=True)
    y = getattr(tn, op)(x, dim=dim)
    y = y[0] if isinstance(y, tuple) else y        # max/min(int dim): (values, indices)
    y.backward()
    tdim, top = dim, op
    if isinstance(dim, tuple) and op in ("max", "min", "prod"):
        # torch.max/min/prod take one int dim only
        tdim, top = (dim, "a" + op) if op != "prod" else (dim[0], op)
    ty = getattr(torch, top)(torch.tensor(2.5), dim=tdim)
    ty = ty[0] if isinstance(ty, tuple) else ty
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-6)
    assert x.grad is not None


@pytest.mark.parametrize("op", ["sum", "mean", "var", "std", "max", "min", "logsumexp",
                                "argmax", "argmin"])
def test_dim_and_keepdim_aliases(op):
    x = tn.tensor(np.arange(24.0).reshape(2, 3, 4) % 7)
    a = getattr(tn, op)(x, dim=-2, keepdim=True)
    b = getattr(x, op)(axis=-2, keepdims=True)
    a, b = (r[0] if isinstance(r, tuple) else r for r in (a, b))   # max/min: (values, indices)
    tx = torch.tensor(x.numpy())
    t = getattr(torch, op)(tx, dim=-2, keepdim=True)
    t = t[0] if isinstance(t, tuple) else t
    np.testing.assert_allclose(a.numpy(), t.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_var_defaults_to_bessel_correction():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    assert np.isclose(tn.var(tn.tensor(x)).item(), torch.var(torch.tensor(x)).item())
    assert np.isclose(tn.var(tn.tensor(x), unbiased=False).item(), x.var())
    assert np.isclose(tn.std(tn.tensor(x), correction=0).item(), x.std())


# ---------------------------------------------------------------- indexing
def test_repeated_integer_indices_accumulate_in_backward():
    x = tn.tensor(np.arange(4.0), requires_grad=True)
    x[[1, 1, 1, 3]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 3.0, 0.0, 1.0])


def test_gather_with_repeats_matches_pytorch():
    idx = np.array([[0, 0, 0], [2, 1, 2]])
    w = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    x = tn.tensor(np.ones((2, 3)), requires_grad=True)
    (tn.gather(x, 1, tn.tensor(idx)) * tn.tensor(w)).sum().backward()
    tx = torch.ones(2, 3, dtype=torch.float64, requires_grad=True)
    (torch.gather(tx, 1, torch.tensor(idx)) * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_boolean_mask_from_comparison_selects_and_backprops():
    v = np.array([[0.5, -1.0], [2.0, -3.0]])
    x = tn.tensor(v, requires_grad=True)
    y = x[x > 0]
    (y * y).sum().backward()
    np.testing.assert_array_equal(y.numpy(), [0.5, 2.0])
    np.testing.assert_array_equal(x.grad.numpy(), np.where(v > 0, 2 * v, 0.0))


@pytest.mark.parametrize("name, fn", [
    ("sign", lambda x: tn.sign(x)), ("gt", lambda x: x > 0), ("eq", lambda x: x == x),
    ("argmax", lambda x: x.argmax(-1)), ("argmin", lambda x: tn.argmin(x)),
    ("isfinite", lambda x: tn.isfinite(x)),
])
def test_non_differentiable_ops_return_constants(name, fn):
    x = tn.tensor([[0.5, -1.0], [2.0, 0.0]], requires_grad=True)
    y = fn(x)
    assert not y.requires_grad and y.grad_fn is None
    t = torch.tensor(x.numpy())
    ty = {"sign": torch.sign, "gt": lambda v: v > 0, "eq": lambda v: v == v,
          "argmax": lambda v: v.argmax(-1), "argmin": torch.argmin,
          "isfinite": torch.isfinite}[name](t)
    np.testing.assert_array_equal(y.numpy(), ty.numpy())


@pytest.mark.parametrize("name, ours, theirs", [
    ("std", lambda x: tn.std(x, 1), lambda x: torch.std(x, 1)),
    ("std-all", lambda x: tn.std(x[0]), lambda x: torch.std(x[0])),
    ("std-correction0", lambda x: tn.std(x, 1, correction=0),
     lambda x: torch.std(x, 1, correction=0)),
], ids=lambda v: v if isinstance(v, str) else "")
def test_std_gradient_is_zero_for_constant_rows_like_pytorch(name, ours, theirs):
    rows = [[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]]
    np.testing.assert_allclose(grad_of(ours, rows, tn), grad_of(theirs, rows, torch))


def test_pow_gradients_at_zero_base_match_pytorch():
    base = np.array([0.0, 0.0, 0.0, 2.0])
    exps = np.array([0.0, 1.0, 2.0, 0.0])
    for lib in (tn, torch):
        a = lib.tensor(base, requires_grad=True)
        b = lib.tensor(exps, requires_grad=True)
        (a ** b).sum().backward()
        if lib is tn:
            ga, gb = a.grad.numpy(), b.grad.numpy()
        else:
            np.testing.assert_array_equal(ga, a.grad.numpy())
            np.testing.assert_allclose(gb, b.grad.numpy())
