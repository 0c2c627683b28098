"""Bad input to modules and ops gets a clear error naming the module or op,
and the corner cases the fuzz suite (test_hardening_fuzz.py) found behave
as in PyTorch. Each test here pins one of those findings exactly, so it does
not depend on Hypothesis drawing it again."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
import tinynet.nn.functional as F
from tinynet.models import cnn

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _int(*values):
    return tn.tensor(np.array(values, dtype=np.int64))


# ---------------------------------------------------------------- modules
MODULE_ERRORS = [
    ("Linear width", lambda: nn.Linear(4, 3)(tn.ones(2, 5)), ValueError,
     r"linear: input of shape \(2, 5\) does not match weight of shape \(3, 4\)"),
    ("Linear int input", lambda: nn.Linear(4, 3)(tn.ones(2, 4, dtype=tn.int64)), TypeError,
     "linear: input dtype int64 does not match weight dtype float32"),
    ("Conv2d rank", lambda: nn.Conv2d(1, 2, 3)(tn.ones(8, 8)), ValueError,
     r"conv2d: expected a 4-D input \(N, C, H, W\), got \(8, 8\)"),
    ("Conv2d channels", lambda: nn.Conv2d(1, 2, 3)(tn.ones(2, 3, 8, 8)), ValueError,
     "conv2d: input has 3 channels but weight expects 1"),
    ("Conv2d image too small", lambda: nn.Conv2d(1, 2, 3)(tn.ones(1, 1, 2, 2)), ValueError,
     "conv2d: output size would be 0x0"),
    ("seed CNN image size", lambda: cnn()(tn.ones(2, 1, 12, 12)), ValueError,
     r"linear: input of shape \(2, 576\) does not match weight of shape \(512, 256\)"),
    ("MaxPool2d rank", lambda: nn.MaxPool2d(2)(tn.ones(8, 8)), ValueError,
     r"max_pool2d: expected a 3-D \(C, H, W\) or 4-D"),
    ("BatchNorm1d width", lambda: nn.BatchNorm1d(4)(tn.ones(3, 5)), ValueError,
     r"BatchNorm1d: expected 4 channels \(dim 1\), got input of shape \(3, 5\)"),
    ("BatchNorm1d empty batch", lambda: nn.BatchNorm1d(4)(tn.ones(0, 4)), ValueError,
     r"batch_norm: expected more than 1 value per channel when training, got input of "
     r"shape \(0, 4\)"),
    ("LayerNorm width", lambda: nn.LayerNorm(4)(tn.ones(3, 5)), ValueError,
     r"layer_norm: expected input with shape \(\*, 4\), got \(3, 5\)"),
    ("Embedding index >= rows", lambda: nn.Embedding(5, 3)(_int(1, 5)), IndexError,
     "embedding: index out of range: indices span"),
    ("Embedding float index", lambda: nn.Embedding(5, 3)(tn.tensor([1.0])), TypeError,
     "embedding: indices must be an integer tensor, got float32"),
    ("LSTM width", lambda: nn.LSTM(4, 3)(tn.ones(5, 2, 6)), ValueError,
     "LSTM: input.size.-1. must be equal to input_size. Expected 4, got 6"),
    ("GRU width", lambda: nn.GRU(4, 3)(tn.ones(5, 2, 6)), ValueError,
     "GRU: input.size.-1. must be equal to input_size"),
    ("LSTM empty sequence", lambda: nn.LSTM(4, 3)(tn.ones(0, 2, 4)), ValueError,
     r"LSTM: expected a sequence length above 0, got input \(0, 2, 4\)"),
    ("LSTM empty batch", lambda: nn.LSTM(4, 3)(tn.ones(5, 0, 4)), ValueError,
     r"LSTM: empty batch: the batch size is 0 in input \(5, 0, 4\)"),
    ("LSTM empty batch, batch_first", lambda: nn.LSTM(4, 3, batch_first=True)(tn.ones(0, 5, 4)),
     ValueError, r"LSTM: empty batch: the batch size is 0 in input \(0, 5, 4\)"),
    ("RNN empty unbatched sequence", lambda: nn.RNN(4, 3)(tn.ones(0, 4)), ValueError,
     r"RNN: expected a sequence length above 0"),
    ("LSTMCell width", lambda: nn.LSTMCell(4, 3)(tn.ones(2, 6)), ValueError,
     "LSTMCell: input has 6 features, expected input_size=4"),
    # losses: target dtype and range
    ("CrossEntropyLoss class index >= C", lambda: nn.CrossEntropyLoss()(tn.ones(2, 3),
                                                                        _int(0, 3)),
     IndexError, "cross_entropy: target value 3 is out of bounds for 3 classes"),
    ("CrossEntropyLoss negative class", lambda: nn.CrossEntropyLoss()(tn.ones(2, 3),
                                                                      _int(0, -2)),
     IndexError, "cross_entropy: target value -2 is out of bounds"),
    ("NLLLoss class index >= C", lambda: nn.NLLLoss()(tn.ones(2, 3), _int(4, 0)), IndexError,
     "nll_loss: target value 4 is out of bounds for 3 classes"),
    ("CrossEntropyLoss bool target", lambda: nn.CrossEntropyLoss()(tn.ones(2, 3),
                                                                   tn.tensor([True, False])),
     TypeError, "nll_loss: expected class-index target of integer dtype"),
    ("CrossEntropyLoss batch mismatch", lambda: nn.CrossEntropyLoss()(tn.ones(2, 3),
                                                                      _int(0, 1, 2)),
     ValueError, r"cross_entropy: expected target of shape \(2,\)"),
    ("CrossEntropyLoss int logits", lambda: nn.CrossEntropyLoss()(_int(1, 2), _int(0)),
     TypeError, "cross_entropy: expected a floating point tensor, got"),
    ("MSELoss int target", lambda: nn.MSELoss()(tn.ones(2), _int(1, 2)), TypeError,
     "mse_loss: expected a floating point target, got int64"),
    ("BCELoss input above 1", lambda: nn.BCELoss()(tn.tensor([0.5, 1.5]), tn.ones(2)),
     ValueError, "binary_cross_entropy: all elements of input should be between 0 and 1"),
]


@pytest.mark.parametrize("name, fn, exc, message", MODULE_ERRORS,
                         ids=[m[0] for m in MODULE_ERRORS])
def test_module_bad_input_raises_a_clear_error(name, fn, exc, message):
    with pytest.raises(exc, match=message):
        fn()


@pytest.mark.parametrize("make", [
    lambda: tn.tensor([1, 2], requires_grad=True),
    lambda: tn.ones(2, dtype=tn.int32, requires_grad=True),
    lambda: tn.arange(3, requires_grad=True),
    lambda: tn.zeros(2, dtype=tn.bool, requires_grad=True),
    lambda: tn.tensor([1, 2]).requires_grad_(),
])
def test_integer_and_bool_tensors_cannot_require_grad(make):
    with pytest.raises(RuntimeError, match="requires_grad: only floating point tensors can "
                                           "require gradients, got dtype (int|bool)"):
        make()


@pytest.mark.parametrize("module, x", [
    (nn.Linear(4, 3), np.zeros((0, 4), np.float32)),
    (nn.Conv2d(1, 2, 3, padding=1), np.zeros((0, 1, 5, 5), np.float32)),
    (nn.MaxPool2d(2), np.zeros((0, 1, 4, 4), np.float32)),
])
def test_empty_batches_give_empty_outputs_like_pytorch(module, x):
    tm = {nn.Linear: lambda: torch.nn.Linear(4, 3), nn.Conv2d: lambda: torch.nn.Conv2d(
        1, 2, 3, padding=1), nn.MaxPool2d: lambda: torch.nn.MaxPool2d(2)}[type(module)]()
    xt = tn.tensor(x, requires_grad=True)
    y = module(xt)
    assert y.shape == tuple(tm(torch.tensor(x)).shape)
    y.sum().backward()
    assert xt.grad.shape == x.shape


def test_batch_norm_without_channels_is_refused_by_name():
    # used to be a ZeroDivisionError
    with pytest.raises(ValueError, match=r"batch_norm: expected more than 1 value per channel "
                                         r"when training, got input of shape \(4, 0\)"):
        F.batch_norm(tn.ones(4, 0), None, None, tn.ones(0), tn.ones(0), training=True)


def test_cross_entropy_of_an_empty_batch_is_nan_like_pytorch():
    y = F.cross_entropy(tn.ones(0, 3), tn.zeros(0, dtype=tn.int64))
    assert np.isnan(y.item())
    assert np.isnan(TF.cross_entropy(torch.ones(0, 3), torch.zeros(0, dtype=torch.long)).item())
    assert F.cross_entropy(tn.ones(0, 3), tn.zeros(0, dtype=tn.int64),
                           reduction="sum").item() == 0.0


# ---------------------------------------------------------------- fuzz findings, pinned
def test_masked_fill_keeps_an_integer_tensor_integer():
    # the fill value used to promote an int tensor to float32
    x = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32)
    m = x % 2 == 0
    got = tn.tensor(x).masked_fill(tn.tensor(m), -1.5)
    want = torch.tensor(x).masked_fill(torch.tensor(m), -1.5)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_bool_tensor_powers_and_sign_follow_pytorch():
    b = np.array([True, False, True])
    p = tn.tensor(b) ** 2                  # was int8 (NumPy's bool ** int)
    assert p.dtype == np.int64
    np.testing.assert_array_equal(p.numpy(), (torch.tensor(b) ** 2).numpy())
    s = tn.sign(tn.tensor(b))              # was a NumPy UFuncTypeError
    assert s.dtype == np.bool_
    np.testing.assert_array_equal(s.numpy(), torch.sign(torch.tensor(b)).numpy())


def test_chunk_of_an_empty_dim_gives_chunks_empty_pieces():
    got = tn.zeros(2, 0).chunk(3, dim=-1)
    want = torch.zeros(2, 0).chunk(3, dim=-1)
    assert [p.shape for p in got] == [tuple(p.shape) for p in want] == [(2, 0)] * 3


@pytest.mark.parametrize("dtype", [np.float16, np.int64, np.bool_])
@pytest.mark.parametrize("name, fn", [
    ("conv2d", lambda x: F.conv2d(x, x)),
    ("conv_transpose2d", lambda x: F.conv_transpose2d(x, x)),
    ("unfold", lambda x: F.unfold(x, 2)),
    ("max_pool2d", lambda x: F.max_pool2d(x, 2)),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, 2)),
    ("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, 1)),
])
def test_compiled_kernels_refuse_other_dtypes_by_name(name, fn, dtype):
    # float16 used to reach the compiled kernels and fail inside numba
    x = tn.tensor(np.ones((2, 2, 4, 4), dtype=dtype))
    with pytest.raises(TypeError, match=f"{name}: expected a float32 or float64 tensor, got "
                                        rf"\(2, 2, 4, 4\) {np.dtype(dtype)}"):
        fn(x)


def test_fold_refuses_float16():
    with pytest.raises(TypeError, match="fold: expected a float32 or float64 tensor"):
        F.fold(tn.ones(1, 4, 4, dtype=tn.float16), (3, 3), 2)


@pytest.mark.parametrize("x, w, what", [
    ((1, 3, 5, 5), (2, 3, 3, 0), "kernel"),
    ((1, 3, 5, 0), (2, 3, 1, 1), "input"),
    ((1, 0, 5, 5), (2, 0, 1, 1), "channels"),
])
def test_conv_refuses_zero_size_kernels_and_images(x, w, what):
    with pytest.raises(ValueError, match="conv2d: kernel and input channels, height and "
                                         "width must be positive"):
        F.conv2d(tn.ones(*x), tn.ones(*w), padding=1)


@pytest.mark.parametrize("op", ["max_pool1d", "avg_pool1d"])
def test_1d_pooling_of_an_unbatched_input_pools_the_length(op):
    # a (C, L) input used to be pooled along C (it came back unchanged)
    x = np.random.default_rng(0).standard_normal((3, 7)).astype(np.float32)
    xt = tn.tensor(x, requires_grad=True)
    xr = torch.tensor(x, requires_grad=True)
    y, yr = getattr(F, op)(xt, 3, 2, 1), getattr(TF, op)(xr, 3, 2, 1)
    assert y.shape == tuple(yr.shape) == (3, 4)
    np.testing.assert_allclose(y.numpy(), yr.detach().numpy(), rtol=1e-6)
    y.sum().backward()
    yr.sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match=rf"{op}: expected a 2-D \(C, L\) or 3-D \(N, C, L\) "
                                         r"input, got \(1, 2, 3, 7\)"):
        getattr(F, op)(tn.ones(1, 2, 3, 7), 2)


def test_kl_div_propagates_nan_and_negative_targets_like_pytorch():
    # a NaN (or negative) target used to be treated as 0 and vanish from the loss
    x = np.log(np.full((2, 3), 1 / 3))
    t = np.array([[0.2, np.nan, 0.8], [0.0, 0.5, 0.5]])
    got = F.kl_div(tn.tensor(x), tn.tensor(t), reduction="none").numpy()
    want = TF.kl_div(torch.tensor(x), torch.tensor(t), reduction="none").numpy()
    np.testing.assert_allclose(got, want, equal_nan=True)
    assert np.isnan(got[0, 1]) and got[1, 0] == 0.0
    t[0, 1] = -0.5
    got = F.kl_div(tn.tensor(x), tn.tensor(t), reduction="none").numpy()
    want = TF.kl_div(torch.tensor(x), torch.tensor(t), reduction="none").numpy()
    np.testing.assert_allclose(got, want, equal_nan=True)


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_softmax_family_over_an_empty_dim_matches_pytorch(name):
    # used to fail inside NumPy: "zero-size array to reduction operation maximum"
    x = np.zeros((2, 0, 3), np.float32)
    xt = tn.tensor(x, requires_grad=True)
    y = getattr(tn, name)(xt, 1)
    want = getattr(torch, name)(torch.tensor(x), 1)
    assert y.shape == tuple(want.shape) and y.dtype == np.float32
    np.testing.assert_array_equal(y.numpy(), want.numpy())
    y.sum().backward()
    assert xt.grad.shape == x.shape


def test_boolean_mask_must_match_the_dims_it_indexes():
    # a (3,) mask on 4 rows used to pick rows 0 and 2 silently
    x = tn.arange(12.0).reshape(4, 3)
    with pytest.raises(IndexError, match=r"getitem: boolean mask of shape \(3,\) does not "
                                         r"match the shape \(4,\) of the dims 0\.\."):
        x[np.array([True, False, True])]
    with pytest.raises(IndexError, match=r"boolean mask of shape \(3, 4\) does not match "
                                         r"the shape \(4, 3\)"):
        x[tn.ones(3, 4) > 0]
    with pytest.raises(IndexError):                 # PyTorch refuses it too
        torch.arange(12.0).reshape(4, 3)[torch.tensor([True, False, True])]
    # matching masks, also after an Ellipsis or None, still work
    assert x[..., np.array([True, False, True])].shape == (4, 2)
    assert x[None, np.array([True, False, True, True])].shape == (1, 3, 3)
    assert x[x > 5].shape == (6,)


def test_integer_alpha_and_bool_subtraction_follow_pytorch():
    a, b = _int(1, 2), _int(3, 4)
    with pytest.raises(TypeError, match="add: alpha must be an integer for integer tensors, "
                                        "got alpha=0.5"):
        tn.add(a, b, alpha=0.5)
    with pytest.raises(TypeError, match="sub: alpha must be an integer"):
        tn.sub(a, b, alpha=1.5)
    with pytest.raises(RuntimeError):
        torch.add(torch.tensor([1, 2]), torch.tensor([3, 4]), alpha=0.5)
    np.testing.assert_array_equal(tn.add(a, b, alpha=2).numpy(), [7, 10])
    assert tn.add(tn.ones(2), 1, alpha=0.5).dtype == np.float32
    mask = tn.tensor([True, False])
    for fn in (lambda: 1 - mask, lambda: mask - mask, lambda: tn.ones(2) - True):
        with pytest.raises(TypeError, match="sub: subtraction with a bool tensor is not "
                                            "supported .* use ~mask or tn.logical_not"):
            fn()
    with pytest.raises(RuntimeError):
        1 - torch.tensor([True, False])


def test_outer_needs_two_vectors():
    with pytest.raises(ValueError, match=r"outer: expects two 1-D tensors, got \(\) and \(2,\)"):
        tn.outer(tn.tensor(1.0), tn.ones(2))


@pytest.mark.parametrize("name, fn", [
    ("batch_norm", lambda x: F.batch_norm(x, None, None, training=True)),
    ("layer_norm", lambda x: F.layer_norm(x, (3,))),
    ("group_norm", lambda x: F.group_norm(x, 1)),
    ("normalize", lambda x: F.normalize(x)),
    ("cross_entropy", lambda x: F.cross_entropy(x, _int(0, 1))),
])
def test_normalizations_and_cross_entropy_refuse_integer_input(name, fn):
    with pytest.raises(TypeError, match=f"{name}: expected a floating point tensor, got "
                                        r"\(2, 3\) int64"):
        fn(tn.tensor(np.ones((2, 3), np.int64)))


def test_linear_and_embedding_with_zero_features_backpropagate():
    # reshape(-1, 0) cannot infer -1: backward used to fail inside NumPy
    x = tn.ones(2, 2, 3, requires_grad=True)
    w, b = tn.ones(0, 3, requires_grad=True), tn.ones(0, requires_grad=True)
    y = F.linear(x, w, b)
    assert y.shape == (2, 2, 0)
    y.sum().backward()
    assert x.grad.shape == (2, 2, 3) and not x.grad.numpy().any()
    assert w.grad.shape == (0, 3) and b.grad.shape == (0,)
    (g,) = tn.grad(F.linear(x, w, b).sum(), [w], create_graph=True)
    assert g.shape == (0, 3)
    e = tn.ones(6, 0, requires_grad=True)
    F.embedding(_int(1, 2, 5), e).sum().backward()
    assert e.grad.shape == (6, 0)


def test_cross_entropy_ignores_a_minus_inf_logit_of_another_class():
    # a masked-out class (-inf logit) used to make the fused loss nan (0 * -inf)
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    x[1, 2] = -np.inf
    y = np.array([0, 0, 1, 3])
    xt, xr = tn.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    got, want = F.cross_entropy(xt, tn.tensor(y)), TF.cross_entropy(xr, torch.tensor(y))
    np.testing.assert_allclose(got.item(), want.item(), rtol=1e-6)
    got.backward()
    want.backward()
    np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_pow_exponent_gradient_at_a_zero_base_with_a_negative_exponent():
    # 0 ** b log 0 is -inf for b < 0 in PyTorch; it used to be nan (inf * log 1)
    a = np.array([[0.0, 0.0, 0.0], [0.7, 1.3, 0.0]])
    b = np.array([[-1.0, 0.0, 2.0]])
    at, bt = tn.tensor(a, requires_grad=True), tn.tensor(b, requires_grad=True)
    ar, br = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (at ** bt).sum().backward()
    (ar ** br).sum().backward()
    np.testing.assert_allclose(bt.grad.numpy(), br.grad.numpy(), rtol=1e-12)
    assert bt.grad.numpy()[0, 0] == -np.inf


def test_bool_to_a_bool_power_stays_bool():
    t = np.array([True, False])
    got = tn.tensor(t) ** True
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got.numpy(), (torch.tensor(t) ** True).numpy())
    np.testing.assert_array_equal((tn.tensor(t) ** tn.tensor([[True], [False]])).numpy(),
                                  [[True, False], [True, True]])
