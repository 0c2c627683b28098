"""nn.functional: gradcheck / gradgradcheck in float64 for every differentiable
functional, a live comparison with PyTorch (outputs and input gradients), and
float32 kept end to end."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.nn.functional as F


def arr(*shape, seed=0, low=None, high=None):
    rng = np.random.default_rng(seed)
    if low is not None:
        return rng.uniform(low, high, shape)
    return rng.standard_normal(shape)


def idx(high, *shape, seed=1):
    return np.random.default_rng(seed).integers(0, high, shape)


def dropout_fixed(x):
    tn.manual_seed(3)                 # the same mask on every call
    return F.dropout(x, 0.4, training=True)


def dropout2d_fixed(x):
    tn.manual_seed(3)
    return F.dropout2d(x, 0.5, training=True)


def bn_train(x, w, b):
    return F.batch_norm(x, None, None, w, b, training=True)


def bn_eval(x, w, b):
    rm = tn.tensor(np.linspace(-0.5, 0.5, x.shape[1]), dtype=x.dtype)
    rv = tn.tensor(np.linspace(0.5, 2.0, x.shape[1]), dtype=x.dtype)
    return F.batch_norm(x, rm, rv, w, b, training=False)


def ce_index(x):
    return F.cross_entropy(x, tn.tensor(idx(4, 5)))


def ce_all_options(x):
    t = idx(4, 5)
    t[1] = -1
    w = tn.tensor(np.array([.2, 1., 2., .5]), dtype=x.dtype)
    return F.cross_entropy(x, tn.tensor(t), weight=w,
                           ignore_index=-1, label_smoothing=0.1)


def ce_weight_ignore(x):
    t = idx(4, 5)
    t[2] = 3
    w = tn.tensor(np.array([.2, 1., 2., .5]), dtype=x.dtype)
    return F.cross_entropy(x, tn.tensor(t), weight=w, ignore_index=3, reduction="sum")


def ce_spatial(x):
    return F.cross_entropy(x, tn.tensor(idx(3, 2, 2, 3)), reduction="none")


# name -> (fn, list of inputs as (array, requires_grad)); ints pass through as constants
CASES = {
    "linear": (lambda x, w, b: F.linear(x, w, b),
               [arr(2, 3, 4), arr(5, 4, seed=1), arr(5, seed=2)]),
    "linear_nobias": (lambda x, w: F.linear(x, w), [arr(3, 4), arr(2, 4, seed=1)]),
    "linear_1d": (lambda x, w, b: F.linear(x, w, b), [arr(4), arr(3, 4, seed=1), arr(3, seed=2)]),
    "relu": (F.relu, [arr(3, 4) + 0.05]),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), [arr(3, 4) + 0.05]),
    "elu": (lambda x: F.elu(x, 0.7), [arr(3, 4) + 0.05]),
    "gelu": (F.gelu, [arr(3, 4)]),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), [arr(3, 4)]),
    "tanh": (F.tanh, [arr(3, 4)]),
    "sigmoid": (F.sigmoid, [arr(3, 4)]),
    "softplus": (lambda x: F.softplus(x, beta=2.0), [arr(3, 4)]),
    "softmax": (lambda x: F.softmax(x, dim=1), [arr(3, 4)]),
    "log_softmax": (lambda x: F.log_softmax(x, dim=0), [arr(3, 4)]),
    "dropout": (dropout_fixed, [arr(4, 5)]),
    "dropout2d": (dropout2d_fixed, [arr(2, 3, 2, 2)]),
    "embedding": (lambda w: F.embedding(tn.tensor(idx(5, 2, 3)), w), [arr(5, 3)]),
    "embedding_pad": (lambda w: F.embedding(tn.tensor(idx(5, 2, 3)), w, padding_idx=1),
                      [arr(5, 3)]),
    "normalize": (lambda x: F.normalize(x, dim=1), [arr(3, 4)]),
    "normalize_p3": (lambda x: F.normalize(x, p=3, dim=0), [arr(3, 4)]),
    "pad": (lambda x: F.pad(x, (1, 2)), [arr(2, 3)]),
    "batch_norm_2d": (bn_train, [arr(4, 3), arr(3, seed=1), arr(3, seed=2)]),
    "batch_norm_4d": (bn_train, [arr(2, 3, 2, 2), arr(3, seed=1), arr(3, seed=2)]),
    "batch_norm_eval": (bn_eval, [arr(2, 3, 2), arr(3, seed=1), arr(3, seed=2)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (4,), w, b),
                   [arr(3, 4), arr(4, seed=1), arr(4, seed=2)]),
    "layer_norm_2dims": (lambda x: F.layer_norm(x, (2, 3)), [arr(2, 2, 3)]),
    "group_norm": (lambda x, w, b: F.group_norm(x, 2, w, b),
                   [arr(2, 4, 3), arr(4, seed=1), arr(4, seed=2)]),
    "cross_entropy": (ce_index, [arr(5, 4)]),
    "cross_entropy_options": (ce_all_options, [arr(5, 4)]),
    "cross_entropy_weight_ignore": (ce_weight_ignore, [arr(5, 4)]),
    "cross_entropy_spatial": (ce_spatial, [arr(2, 3, 2, 3)]),
    "cross_entropy_probs": (lambda x, t: F.cross_entropy(x, t, label_smoothing=0.2),
                            [arr(3, 4), arr(3, 4, seed=1, low=0, high=1)]),
    "nll_loss": (lambda x: F.nll_loss(x, tn.tensor(idx(4, 5)), reduction="sum"), [arr(5, 4)]),
    "mse_loss": (F.mse_loss, [arr(3, 4), arr(3, 4, seed=1)]),
    "l1_loss": (F.l1_loss, [arr(3, 4), arr(3, 4, seed=1)]),
    "smooth_l1_loss": (lambda x, t: F.smooth_l1_loss(x, t, beta=0.5),
                       [arr(3, 4), arr(3, 4, seed=1)]),
    "huber_loss": (lambda x, t: F.huber_loss(x, t, delta=0.7), [arr(3, 4), arr(3, 4, seed=1)]),
    "binary_cross_entropy": (lambda p, t, w: F.binary_cross_entropy(p, t, w),
                             [arr(3, 4, low=0.1, high=0.9), arr(3, 4, seed=1, low=0, high=1),
                              arr(3, 4, seed=2, low=0.5, high=2)]),
    "bce_with_logits": (lambda x, t, pw: F.binary_cross_entropy_with_logits(
        x, t, pos_weight=pw), [arr(3, 4), arr(3, 4, seed=1, low=0, high=1),
                               arr(4, seed=2, low=0.5, high=2)]),
    "kl_div": (lambda x, t: F.kl_div(x, t, reduction="batchmean"),
               [arr(3, 4), arr(3, 4, seed=1, low=0.1, high=1)]),
    "kl_div_log_target": (lambda x, t: F.kl_div(x, t, reduction="sum", log_target=True),
                          [arr(3, 4), arr(3, 4, seed=1)]),
}


def _inputs(specs, dtype=np.float64):
    return [tn.tensor(a.astype(dtype), requires_grad=True) for a in specs]


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name):
    fn, specs = CASES[name]
    assert tn.gradcheck(fn, _inputs(specs))


# every backward here is written in tinynet ops, so every case is checked to
# second order (create_graph)
@pytest.mark.parametrize("name", list(CASES))
def test_gradgradcheck(name):
    fn, specs = CASES[name]
    assert tn.gradgradcheck(fn, _inputs(specs))


@pytest.mark.parametrize("name", list(CASES))
def test_float32_kept(name):
    fn, specs = CASES[name]
    inputs = _inputs(specs, np.float32)
    out = fn(*inputs)
    assert out.dtype == tn.float32
    out.sum().backward()
    for x in inputs:
        assert x.grad is not None and x.grad.dtype == tn.float32, name


# ---------------------------------------------------------------- live PyTorch comparison
torch = pytest.importorskip("torch")
TF = torch.nn.functional


def t_bn_train(x, w, b):
    return TF.batch_norm(x, None, None, w, b, training=True)


def t_bn_eval(x, w, b):
    rm = torch.tensor(np.linspace(-0.5, 0.5, x.shape[1]))
    rv = torch.tensor(np.linspace(0.5, 2.0, x.shape[1]))
    return TF.batch_norm(x, rm, rv, w, b, training=False)


def t_ce_all_options(x):
    t = idx(4, 5)
    t[1] = -1
    return TF.cross_entropy(x, torch.tensor(t), weight=torch.tensor([.2, 1., 2., .5],
                                                                     dtype=torch.float64),
                            ignore_index=-1, label_smoothing=0.1)


TORCH = {
    "linear": lambda x, w, b: TF.linear(x, w, b),
    "linear_nobias": lambda x, w: TF.linear(x, w),
    "linear_1d": lambda x, w, b: TF.linear(x, w, b),
    "relu": TF.relu,
    "leaky_relu": lambda x: TF.leaky_relu(x, 0.2),
    "elu": lambda x: TF.elu(x, 0.7),
    "gelu": TF.gelu,
    "gelu_tanh": lambda x: TF.gelu(x, approximate="tanh"),
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softplus": lambda x: TF.softplus(x, beta=2.0),
    "softmax": lambda x: TF.softmax(x, dim=1),
    "log_softmax": lambda x: TF.log_softmax(x, dim=0),
    "embedding": lambda w: TF.embedding(torch.tensor(idx(5, 2, 3)), w),
    "embedding_pad": lambda w: TF.embedding(torch.tensor(idx(5, 2, 3)), w, padding_idx=1),
    "normalize": lambda x: TF.normalize(x, dim=1),
    "normalize_p3": lambda x: TF.normalize(x, p=3, dim=0),
    "pad": lambda x: TF.pad(x, (1, 2)),
    "batch_norm_2d": t_bn_train,
    "batch_norm_4d": t_bn_train,
    "batch_norm_eval": t_bn_eval,
    "layer_norm": lambda x, w, b: TF.layer_norm(x, (4,), w, b),
    "layer_norm_2dims": lambda x: TF.layer_norm(x, (2, 3)),
    "group_norm": lambda x, w, b: TF.group_norm(x, 2, w, b),
    "cross_entropy": lambda x: TF.cross_entropy(x, torch.tensor(idx(4, 5))),
    "cross_entropy_options": t_ce_all_options,
    "cross_entropy_weight_ignore": lambda x: TF.cross_entropy(
        x, torch.tensor(np.where(np.arange(5) == 2, 3, idx(4, 5))),
        weight=torch.tensor([.2, 1., 2., .5], dtype=torch.float64), ignore_index=3,
        reduction="sum"),
    "cross_entropy_spatial": lambda x: TF.cross_entropy(x, torch.tensor(idx(3, 2, 2, 3)),
                                                        reduction="none"),
    "cross_entropy_probs": lambda x, t: TF.cross_entropy(x, t, label_smoothing=0.2),
    "nll_loss": lambda x: TF.nll_loss(x, torch.tensor(idx(4, 5)), reduction="sum"),
    "mse_loss": TF.mse_loss,
    "l1_loss": TF.l1_loss,
    "smooth_l1_loss": lambda x, t: TF.smooth_l1_loss(x, t, beta=0.5),
    "huber_loss": lambda x, t: TF.huber_loss(x, t, delta=0.7),
    "binary_cross_entropy": lambda p, t, w: TF.binary_cross_entropy(p, t, w),
    "bce_with_logits": lambda x, t, pw: TF.binary_cross_entropy_with_logits(x, t, pos_weight=pw),
    "kl_div": lambda x, t: TF.kl_div(x, t, reduction="batchmean"),
    "kl_div_log_target": lambda x, t: TF.kl_div(x, t, reduction="sum", log_target=True),
}


# PyTorch does not differentiate these weight arguments (tinynet does, and
# gradchecks them above)
NO_TORCH_GRAD = {"binary_cross_entropy": {2}, "bce_with_logits": {2}}


@pytest.mark.parametrize("name", list(TORCH))
def test_matches_torch(name):
    fn, specs = CASES[name]
    skip = NO_TORCH_GRAD.get(name, set())
    ours = _inputs(specs)
    theirs = [torch.tensor(a, requires_grad=k not in skip) for k, a in enumerate(specs)]
    y, ty = fn(*ours), TORCH[name](*theirs)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    gy = arr(*y.shape, seed=9) if y.ndim else np.array(1.7)
    y.backward(tn.tensor(gy))
    ty.backward(torch.tensor(gy))
    for k, (a, b) in enumerate(zip(ours, theirs)):
        if k in skip:
            continue
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=f"{name}: gradient of input {k}")


def test_dropout_matches_torch_statistics_and_scaling():
    # masks differ between generators; the kept values are exactly x / (1 - p)
    x = tn.ones(200, 100)
    tn.manual_seed(0)
    y = F.dropout(x, 0.3).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    assert abs(kept.mean() - 0.7) < 0.01
    assert F.dropout(x, 0.3, training=False) is x
    assert np.all(F.dropout(x, 1.0).numpy() == 0)


def test_dropout_is_reproducible_with_manual_seed():
    x = tn.randn(10, 10)
    tn.manual_seed(7)
    a = F.dropout(x, 0.5).numpy()
    tn.manual_seed(7)
    b = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)


def test_dropout2d_zeroes_whole_channels():
    tn.manual_seed(0)
    y = F.dropout2d(tn.ones(8, 16, 3, 3), 0.5).numpy()
    per_channel = y.reshape(8, 16, -1)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
    assert 0 < (per_channel == 0).all(-1).sum() < 8 * 16
    # a 3-D input is (N, C, L) as in PyTorch 2.x: one draw per (n, c)
    y3 = F.dropout2d(tn.ones(6, 5, 4), 0.5).numpy()
    assert np.all((y3 == 0).all(-1) | (y3 == 2).all(-1))
    assert 0 < (y3 == 0).all(-1).sum() < 30


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match="dropout probability"):
        F.dropout(tn.ones(2), p)


def test_one_hot_matches_torch():
    t = idx(5, 3, 4)
    np.testing.assert_array_equal(F.one_hot(tn.tensor(t)).numpy(),
                                  TF.one_hot(torch.tensor(t)).numpy())
    out = F.one_hot(tn.tensor(t), num_classes=7)
    assert out.shape == (3, 4, 7) and out.dtype == tn.int64
    with pytest.raises(ValueError, match="one_hot"):
        F.one_hot(tn.tensor([0, 5]), num_classes=3)


def test_normalize_zero_row_is_finite():
    x = tn.tensor(np.zeros((2, 3)), requires_grad=True)
    y = F.normalize(x, dim=1)
    y.sum().backward()
    assert np.all(y.numpy() == 0) and np.all(np.isfinite(x.grad.numpy()))


def test_embedding_padding_row_gets_no_gradient():
    w = tn.tensor(arr(4, 3), requires_grad=True)
    F.embedding(tn.tensor([[0, 2, 2], [2, 1, 0]]), w, padding_idx=2).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy()[2], 0)
    np.testing.assert_array_equal(w.grad.numpy()[0], 2)


def test_embedding_errors():
    w = tn.tensor(arr(4, 3))
    with pytest.raises(IndexError, match="embedding"):
        F.embedding(tn.tensor([4]), w)
    with pytest.raises(TypeError, match="integer"):
        F.embedding(tn.tensor([1.0]), w)


def test_linear_errors_name_shapes():
    with pytest.raises(ValueError, match=r"linear: .*\(2, 3\).*\(4, 5\)"):
        F.linear(tn.ones(2, 3), tn.ones(4, 5))
    with pytest.raises(TypeError, match="dtype"):
        F.linear(tn.ones(2, 3), tn.ones(4, 3, dtype=tn.float64))


def test_norm_errors():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(tn.ones(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match="layer_norm"):
        F.layer_norm(tn.ones(2, 3), (4,))
    with pytest.raises(ValueError, match="divisible"):
        F.group_norm(tn.ones(2, 3, 4), 2)
