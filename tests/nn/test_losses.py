"""Loss modules and functions against PyTorch (every reduction and option),
numerical stability at +-1000 logits in float32, and input validation."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
import tinynet.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def arr(*shape, seed=0, low=None, high=None, dtype=np.float32):
    rng = np.random.default_rng(seed)
    a = rng.uniform(low, high, shape) if low is not None else rng.standard_normal(shape)
    return a.astype(dtype)


def idx(high, *shape, seed=1):
    return np.random.default_rng(seed).integers(0, high, shape)


def compare(ours_fn, torch_fn, x, *consts, rtol=1e-5, atol=1e-6):
    """Run both with the float array ``x`` as the differentiable input; compare
    the output and d(sum of output * fixed weights)/dx."""
    a = tn.tensor(x, requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    y = ours_fn(a, *[tn.tensor(c) if isinstance(c, np.ndarray) else c for c in consts])
    ty = torch_fn(b, *[torch.tensor(c) if isinstance(c, np.ndarray) else c for c in consts])
    assert y.dtype == np.dtype(str(ty.dtype).replace("torch.", ""))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=rtol, atol=atol)
    gy = arr(*y.shape, seed=5, dtype=x.dtype)
    y.backward(tn.tensor(gy))
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=atol)
    return y


REDUCTIONS = ["mean", "sum", "none"]


# ---------------------------------------------------------------- cross entropy / nll
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", [
    {}, {"ignore_index": 2}, {"label_smoothing": 0.15},
    {"weight": arr(5, seed=3, low=0.2, high=2)},
    {"weight": arr(5, seed=3, low=0.2, high=2), "ignore_index": 0, "label_smoothing": 0.3},
], ids=["plain", "ignore", "smooth", "weight", "all"])
@pytest.mark.parametrize("shape", [(6, 5), (2, 5, 3), (2, 5, 2, 3), (5,)],
                         ids=["NC", "NCd", "NCdd", "C"])
def test_cross_entropy_class_indices(shape, options, reduction):
    x = arr(*shape)
    t = idx(5, *((shape[0],) + shape[2:] if len(shape) > 1 else ()))
    ours = dict(options, reduction=reduction)
    theirs = dict(ours)
    if "weight" in options:
        theirs["weight"] = torch.tensor(options["weight"])
        ours["weight"] = tn.tensor(options["weight"])
    compare(lambda a, t_: F.cross_entropy(a, t_, **ours),
            lambda a, t_: TF.cross_entropy(a, t_, **theirs), x, t)
    module = nn.CrossEntropyLoss(**ours)
    np.testing.assert_allclose(module(tn.tensor(x), tn.tensor(t)).numpy(),
                               torch.nn.CrossEntropyLoss(**theirs)(
                                   torch.tensor(x), torch.tensor(t)).numpy(), rtol=1e-5)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2, 2)], ids=["NC", "NCdd"])
def test_cross_entropy_class_probabilities(shape, smoothing, reduction):
    x = arr(*shape)
    p = arr(*shape, seed=2, low=0, high=1)
    p /= p.sum(axis=1, keepdims=True)
    w = arr(shape[1], seed=4, low=0.5, high=1.5)
    compare(lambda a, t: F.cross_entropy(a, t, tn.tensor(w), reduction=reduction,
                                         label_smoothing=smoothing),
            lambda a, t: TF.cross_entropy(a, t, torch.tensor(w), reduction=reduction,
                                          label_smoothing=smoothing), x, p)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_module(reduction):
    x = arr(6, 4)
    t = idx(4, 6)
    t[0] = -100
    w = arr(4, seed=3, low=0.5, high=2)
    compare(lambda a, t_: nn.NLLLoss(tn.tensor(w), reduction=reduction)(a, t_),
            lambda a, t_: torch.nn.NLLLoss(torch.tensor(w), reduction=reduction)(a, t_), x, t)


def test_nll_loss_with_minus_inf_in_other_classes_is_finite():
    with np.errstate(divide="ignore"):
        logp = np.log(np.array([[0.0, 0.5, 0.5], [0.25, 0.75, 0.0]], dtype=np.float32))
    y = compare(lambda a, t_: F.nll_loss(a, t_), lambda a, t_: TF.nll_loss(a, t_), logp,
                np.array([1, 0]))
    assert np.isfinite(y.item())


def test_cross_entropy_all_ignored_is_nan_like_torch():
    t = np.full(3, -100)
    ours = F.cross_entropy(tn.tensor(arr(3, 4)), tn.tensor(t)).item()
    theirs = TF.cross_entropy(torch.tensor(arr(3, 4)), torch.tensor(t)).item()
    assert np.isnan(ours) and np.isnan(theirs)


# ---------------------------------------------------------------- regression losses
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,ours,theirs", [
    ("mse", nn.MSELoss, torch.nn.MSELoss),
    ("l1", nn.L1Loss, torch.nn.L1Loss),
    ("smooth_l1", nn.SmoothL1Loss, torch.nn.SmoothL1Loss),
    ("smooth_l1_beta", lambda **k: nn.SmoothL1Loss(beta=0.3, **k),
     lambda **k: torch.nn.SmoothL1Loss(beta=0.3, **k)),
    ("smooth_l1_beta0", lambda **k: nn.SmoothL1Loss(beta=0.0, **k),
     lambda **k: torch.nn.SmoothL1Loss(beta=0.0, **k)),
    ("huber", nn.HuberLoss, torch.nn.HuberLoss),
    ("huber_delta", lambda **k: nn.HuberLoss(delta=2.5, **k),
     lambda **k: torch.nn.HuberLoss(delta=2.5, **k)),
])
def test_regression_losses(name, ours, theirs, reduction):
    x, t = arr(4, 5) * 2, arr(4, 5, seed=1)
    compare(ours(reduction=reduction), theirs(reduction=reduction), x, t)


def test_huber_loss_weight():
    x, t, w = arr(3, 4), arr(3, 4, seed=1), arr(3, 4, seed=2, low=0.5, high=2)
    compare(lambda a, t_, w_: F.huber_loss(a, t_, delta=0.5, weight=w_),
            lambda a, t_, w_: TF.huber_loss(a, t_, delta=0.5, weight=w_), x, t, w)
    with pytest.raises(ValueError, match=r"huber_loss: weight shape \(4,\)"):
        F.huber_loss(tn.tensor(x), tn.tensor(t), weight=tn.ones(4))


# ---------------------------------------------------------------- binary losses
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce(weighted, reduction):
    p = arr(3, 4, low=0.01, high=0.99)
    t = arr(3, 4, seed=1, low=0, high=1)
    w = arr(3, 4, seed=2, low=0.5, high=2) if weighted else None
    compare(lambda a, t_: nn.BCELoss(tn.tensor(w) if weighted else None,
                                     reduction=reduction)(a, t_),
            lambda a, t_: torch.nn.BCELoss(torch.tensor(w) if weighted else None,
                                           reduction=reduction)(a, t_), p, t)


def test_bce_clamps_log_at_minus_100():
    p = np.array([0.0, 1.0, 0.5], dtype=np.float32)
    t = np.array([1.0, 0.0, 1.0], dtype=np.float32)
    y = compare(lambda a, t_: F.binary_cross_entropy(a, t_, reduction="none"),
                lambda a, t_: TF.binary_cross_entropy(a, t_, reduction="none"), p, t)
    assert np.all(np.isfinite(y.numpy()))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weight", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_with_logits(weighted, pos_weight, reduction):
    x = arr(3, 4) * 3
    t = arr(3, 4, seed=1, low=0, high=1)
    w = arr(1, 4, seed=2, low=0.5, high=2)
    pw = arr(4, seed=3, low=0.5, high=3)
    kw = lambda lib: dict(weight=lib.tensor(w) if weighted else None,  # noqa: E731
                          pos_weight=lib.tensor(pw) if pos_weight else None,
                          reduction=reduction)
    compare(lambda a, t_: nn.BCEWithLogitsLoss(**kw(tn))(a, t_),
            lambda a, t_: torch.nn.BCEWithLogitsLoss(**kw(torch))(a, t_), x, t)


# ---------------------------------------------------------------- kl_div
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
def test_kl_div(log_target, reduction):
    x = np.log(arr(3, 4, low=0.05, high=1))
    t = arr(3, 4, seed=1, low=0.0, high=1)
    t[0, 0] = 0.0                           # 0 * log 0 counts as 0
    if log_target:
        t = np.log(t + 0.1).astype(np.float32)
    compare(lambda a, t_: nn.KLDivLoss(reduction=reduction, log_target=log_target)(a, t_),
            lambda a, t_: torch.nn.KLDivLoss(reduction=reduction, log_target=log_target)(a, t_),
            x, t)


# ---------------------------------------------------------------- stability
@pytest.mark.parametrize("case", ["cross_entropy", "cross_entropy_smooth", "nll_log_softmax",
                                  "bce_with_logits", "bce_with_logits_pos_weight",
                                  "kl_div_log_softmax"])
def test_stable_at_extreme_logits_float32(case):
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]], dtype=np.float32)
    t_idx = np.array([1, 0])
    t_bin = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]], dtype=np.float32)
    t_prob = np.full((2, 3), 1 / 3, dtype=np.float32)
    fns = {
        "cross_entropy": (lambda m, a: m.cross_entropy(a, t(m, t_idx)),),
        "cross_entropy_smooth": (lambda m, a: m.cross_entropy(a, t(m, t_idx),
                                                              label_smoothing=0.1),),
        "nll_log_softmax": (lambda m, a: m.nll_loss(m.log_softmax(a, dim=1), t(m, t_idx)),),
        "bce_with_logits": (lambda m, a: m.binary_cross_entropy_with_logits(a, t(m, t_bin)),),
        "bce_with_logits_pos_weight": (lambda m, a: m.binary_cross_entropy_with_logits(
            a, t(m, t_bin), pos_weight=t(m, np.array([2.0, 0.5, 1.0], np.float32))),),
        "kl_div_log_softmax": (lambda m, a: m.kl_div(m.log_softmax(a, dim=1), t(m, t_prob),
                                                     reduction="batchmean"),),
    }
    fn = fns[case][0]
    a = tn.tensor(x, requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    y, ty = fn(F, a), fn(TF, b)
    y.backward()
    ty.backward()
    assert np.isfinite(y.item()) and np.all(np.isfinite(a.grad.numpy()))
    assert y.dtype == tn.float32 and a.grad.dtype == tn.float32
    np.testing.assert_allclose(y.item(), ty.item(), rtol=1e-5)
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-5, atol=1e-6)


def t(module, a):
    """A constant tensor of the right library for the stability table."""
    return tn.tensor(a) if module is F else torch.tensor(a)


# ---------------------------------------------------------------- errors
def test_cross_entropy_rejects_float_index_like_target_shape():
    with pytest.raises(ValueError, match=r"cross_entropy: target shape \(3,\)"):
        F.cross_entropy(tn.ones(3, 4), tn.tensor([0.0, 1.0, 2.0]))


def test_cross_entropy_rejects_wrong_index_target_shape():
    with pytest.raises(ValueError, match=r"expected target of shape \(3,\)"):
        F.cross_entropy(tn.ones(3, 4), tn.tensor([[0, 1, 2]]))


def test_cross_entropy_rejects_out_of_range_class():
    with pytest.raises(IndexError, match="target value 4 is out of bounds for 4 classes"):
        F.cross_entropy(tn.ones(3, 4), tn.tensor([0, 4, 1]))
    with pytest.raises(IndexError, match="out of bounds"):
        F.nll_loss(tn.ones(3, 4), tn.tensor([0, -2, 1]))


def test_nll_loss_rejects_float_target():
    with pytest.raises(TypeError, match="nll_loss: expected class-index target"):
        F.nll_loss(tn.ones(3, 4), tn.ones(3))


def test_regression_losses_reject_mismatch_and_int_targets():
    with pytest.raises(ValueError, match=r"mse_loss: target shape \(3,\) must match input "
                                         r"shape \(3, 1\)"):
        F.mse_loss(tn.ones(3, 1), tn.ones(3))
    with pytest.raises(TypeError, match="l1_loss: expected a floating point target"):
        F.l1_loss(tn.ones(3), tn.tensor([1, 2, 3]))


def test_bad_reduction_and_bce_range():
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.mse_loss(tn.ones(2), tn.ones(2), reduction="avg")
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.MSELoss(reduction="batchmean")
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(tn.tensor([1.5]), tn.tensor([1.0]))
    # a NaN probability is out of [0, 1] too, as PyTorch's check says
    with pytest.raises(RuntimeError, match="should be between 0 and 1"):
        TF.binary_cross_entropy(torch.tensor([float("nan"), 0.5]), torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(tn.tensor([float("nan"), 0.5]), tn.tensor([1.0, 0.0]))
    # and so is a target out of [0, 1]
    for bad in (1.5, -0.5, float("nan")):
        with pytest.raises(RuntimeError, match="all elements of target should be between"):
            TF.binary_cross_entropy(torch.tensor([0.5, 0.5]), torch.tensor([bad, 0.0]))
        with pytest.raises(ValueError, match="all elements of target should be between"):
            F.binary_cross_entropy(tn.tensor([0.5, 0.5]), tn.tensor([bad, 0.0]))


def test_loss_module_reprs_match_torch():
    pairs = [(nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()),
             (nn.MSELoss(), torch.nn.MSELoss()),
             (nn.BCEWithLogitsLoss(), torch.nn.BCEWithLogitsLoss()),
             (nn.KLDivLoss(reduction="batchmean"), torch.nn.KLDivLoss(reduction="batchmean"))]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
