"""Every layer against PyTorch live: the torch module's state_dict (as NumPy)
is loaded into the tinynet module, then outputs, input gradients and
parameter gradients must agree. BatchNorm running statistics are followed
over several training steps and in eval mode."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn

torch = pytest.importorskip("torch")
tnn = torch.nn


def arr(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def load_from_torch(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def check_same(ours, theirs, x, rtol=1e-5, atol=1e-5, grad_input=True):
    """Forward and backward both with the same input and output weights."""
    a = tn.tensor(x, requires_grad=grad_input)
    b = torch.tensor(x, requires_grad=grad_input)
    y, ty = ours(a), theirs(b)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=rtol, atol=atol)
    assert y.dtype == a.dtype
    gy = arr(*y.shape, seed=7, dtype=y.dtype)
    y.backward(tn.tensor(gy))
    ty.backward(torch.tensor(gy))
    if grad_input:
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=atol)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        tg = theirs_params[name].grad
        np.testing.assert_allclose(p.grad.numpy(), tg.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"gradient of {name}")


LAYERS = {
    "Linear": (lambda m: m.Linear(4, 3), (5, 4)),
    "Linear_nobias_3d": (lambda m: m.Linear(4, 3, bias=False), (2, 5, 4)),
    "Identity": (lambda m: m.Identity(7, foo=1), (2, 3)),
    "Flatten": (lambda m: m.Flatten(), (2, 3, 4)),
    "Flatten_dims": (lambda m: m.Flatten(0, 1), (2, 3, 4)),
    "Unflatten": (lambda m: m.Unflatten(1, (2, 3)), (4, 6, 2)),
    "Dropout_eval": (lambda m: m.Dropout(0.5).eval(), (3, 4)),
    "Dropout2d_eval": (lambda m: m.Dropout2d(0.5).eval(), (2, 3, 2, 2)),
    "BatchNorm1d_NC": (lambda m: m.BatchNorm1d(4), (6, 4)),
    "BatchNorm1d_NCL": (lambda m: m.BatchNorm1d(3), (4, 3, 5)),
    "BatchNorm2d": (lambda m: m.BatchNorm2d(3), (2, 3, 4, 5)),
    "BatchNorm2d_eval": (lambda m: m.BatchNorm2d(3).eval(), (2, 3, 4, 5)),
    "BatchNorm2d_noaffine": (lambda m: m.BatchNorm2d(3, affine=False), (2, 3, 4, 5)),
    "BatchNorm1d_nobias": (lambda m: m.BatchNorm1d(3, bias=False), (4, 3)),
    "BatchNorm1d_untracked": (lambda m: m.BatchNorm1d(3, track_running_stats=False).eval(),
                              (4, 3)),
    "LayerNorm": (lambda m: m.LayerNorm(5), (3, 5)),
    "LayerNorm_2d": (lambda m: m.LayerNorm((3, 4), eps=1e-3), (2, 3, 4)),
    "LayerNorm_noaffine": (lambda m: m.LayerNorm(4, elementwise_affine=False), (3, 4)),
    "LayerNorm_nobias": (lambda m: m.LayerNorm(4, bias=False), (3, 4)),
    "GroupNorm": (lambda m: m.GroupNorm(2, 6), (3, 6, 4)),
    "GroupNorm_4d": (lambda m: m.GroupNorm(3, 3, eps=1e-3), (2, 3, 2, 2)),
    "ReLU": (lambda m: m.ReLU(), (3, 4)),
    "LeakyReLU": (lambda m: m.LeakyReLU(0.2), (3, 4)),
    "ELU": (lambda m: m.ELU(0.5), (3, 4)),
    "GELU": (lambda m: m.GELU(), (3, 4)),
    "GELU_tanh": (lambda m: m.GELU("tanh"), (3, 4)),
    "Tanh": (lambda m: m.Tanh(), (3, 4)),
    "Sigmoid": (lambda m: m.Sigmoid(), (3, 4)),
    "Softplus": (lambda m: m.Softplus(beta=2, threshold=3), (3, 4)),
    "Softmax": (lambda m: m.Softmax(dim=1), (3, 4)),
    "Softmax_implicit": (lambda m: m.Softmax(), (2, 3, 4)),
    "LogSoftmax": (lambda m: m.LogSoftmax(dim=-1), (3, 4)),
}


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.filterwarnings("ignore:Implicit dimension")
def test_layer_matches_torch(name):
    make, shape = LAYERS[name]
    torch.manual_seed(0)
    theirs = make(tnn)
    ours = make(nn)
    ours.train(theirs.training)
    load_from_torch(ours, theirs)
    check_same(ours, theirs, arr(*shape))
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_matches_torch(padding_idx):
    torch.manual_seed(0)
    theirs = tnn.Embedding(6, 3, padding_idx=padding_idx)
    ours = nn.Embedding(6, 3, padding_idx=padding_idx)
    load_from_torch(ours, theirs)
    ids = np.array([[0, 2, 5], [2, 1, 5]])
    y, ty = ours(tn.tensor(ids)), theirs(torch.tensor(ids))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy())
    gy = arr(2, 3, 3)
    y.backward(tn.tensor(gy))
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-6)
    assert repr(ours) == repr(theirs)


def test_embedding_init_zeroes_padding_row():
    tn.manual_seed(0)
    m = nn.Embedding(5, 4, padding_idx=3)
    np.testing.assert_array_equal(m.weight.numpy()[3], 0)
    frozen = nn.Embedding.from_pretrained(tn.ones(3, 2))
    assert not frozen.weight.requires_grad


@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (8, 3)), ("BatchNorm1d", (4, 3, 5)),
                                       ("BatchNorm2d", (4, 3, 2, 3))])
def test_batchnorm_running_stats_over_steps(cls, shape, momentum):
    torch.manual_seed(0)
    theirs = getattr(tnn, cls)(3, momentum=momentum)
    ours = getattr(nn, cls)(3, momentum=momentum)
    load_from_torch(ours, theirs)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.1)
    for step in range(4):
        x = arr(*shape, seed=step) * (step + 1) + step
        y, ty = ours(tn.tensor(x)), theirs(torch.tensor(x))
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-5)
        # a tiny hand-made SGD step keeps the affine parameters moving on both sides
        g = arr(*shape, seed=100 + step)
        (y * tn.tensor(g)).sum().backward()
        (ty * torch.tensor(g)).sum().backward()
        opt_t.step()
        opt_t.zero_grad()
        with tn.no_grad():
            for p in ours.parameters():
                p.sub_(p.grad * 0.1)
        ours.zero_grad()
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=key)
    assert ours.num_batches_tracked.item() == 4 and ours.num_batches_tracked.dtype == tn.int64
    ours.eval()
    theirs.eval()
    x = arr(*shape, seed=11)
    check_same(ours, theirs, x)
    np.testing.assert_allclose(ours.running_mean.numpy(), theirs.running_mean.numpy(), rtol=1e-5)


def test_batchnorm_eval_does_not_touch_running_stats():
    m = nn.BatchNorm1d(3).eval()
    m(tn.tensor(arr(4, 3)))
    np.testing.assert_array_equal(m.running_mean.numpy(), 0)
    assert m.num_batches_tracked.item() == 0


def test_batchnorm_rejects_wrong_rank_and_channels():
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4D input, got 2D"):
        nn.BatchNorm2d(3)(tn.ones(2, 3))
    with pytest.raises(ValueError, match="expected 3 channels"):
        nn.BatchNorm1d(3)(tn.ones(2, 4))


def test_float64_model_stays_float64():
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.GELU(), nn.LayerNorm(4)).double()
    x = tn.tensor(arr(5, 3, dtype=np.float64), requires_grad=True)
    y = m(x)
    y.sum().backward()
    assert y.dtype == tn.float64 and x.grad.dtype == tn.float64
    assert all(p.grad.dtype == tn.float64 for p in m.parameters())
    assert m[1].num_batches_tracked.dtype == tn.int64


def test_dropout_module_train_and_eval():
    m = nn.Dropout(0.25)
    x = tn.ones(50, 40)
    tn.manual_seed(1)
    y = m(x).numpy()
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert m.eval()(x) is x
    with pytest.raises(ValueError, match="Dropout: dropout probability"):
        nn.Dropout(1.2)


def test_module_constructors_take_dtype():
    m = nn.Linear(2, 3, dtype=tn.float64)
    assert m.weight.dtype == tn.float64 and m.bias.dtype == tn.float64
    assert nn.LayerNorm(3, dtype=tn.float64).weight.dtype == tn.float64
