"""nn.Conv1d/Conv2d/ConvTranspose2d and the pooling modules: PyTorch's
parameter shapes, state_dict keys, init, repr and outputs."""
import math

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn

CONFIGS = [
    ("Conv2d", (3, 8, 3), dict(padding=1, bias=False)),
    ("Conv2d", (4, 6, (3, 2)), dict(stride=(2, 1), padding=(1, 0), dilation=2, groups=2)),
    ("Conv2d", (2, 4, 3), dict(padding="same")),
    ("Conv1d", (2, 4, 3), dict(stride=2, padding=1)),
    ("ConvTranspose2d", (4, 2, 3), dict(stride=2, output_padding=1, groups=2)),
]
POOLS = [("MaxPool2d", (2,), {}), ("MaxPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True)),
         ("AvgPool2d", (2,), {}), ("AvgPool2d", (3,), dict(stride=1, padding=1,
                                                          count_include_pad=False)),
         ("AdaptiveAvgPool2d", (1,), {}), ("AdaptiveMaxPool2d", ((2, 3),), {})]


def ids(c):
    return f"{c[0]}{c[1]}{c[2]}".replace(" ", "").replace("'", "")


def _input(name, c_in, seed=0):
    shape = (2, c_in, 9) if name == "Conv1d" else (2, c_in, 7, 6)
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("cfg", CONFIGS + POOLS, ids=ids)
def test_repr_state_dict_and_outputs_match_pytorch(cfg):
    torch = pytest.importorskip("torch")
    name, args, kwargs = cfg
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    ref = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == \
        {k: v.shape for k, v in ref.items()}
    ours.load_state_dict(ref)
    c_in = args[0] if name.startswith("Conv") else 3
    x = _input(name, c_in)
    xt = torch.tensor(x, requires_grad=True)
    xo = tn.tensor(x, requires_grad=True)
    y, yt = ours(xo), theirs(xt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    y.backward(tn.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    for (k, p), (_, pt) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), pt.grad.numpy(), rtol=1e-4, atol=1e-4,
                                   err_msg=k)


@pytest.mark.parametrize("cfg", CONFIGS, ids=ids)
def test_default_init_follows_pytorchs_bounds(cfg):
    name, args, kwargs = cfg
    tn.manual_seed(0)
    m = getattr(nn, name)(*args, **kwargs)
    w = m.weight.numpy()
    fan_in = w.shape[1] * int(np.prod(w.shape[2:]))
    bound = 1 / math.sqrt(fan_in)     # kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), ..)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert abs(w.mean()) < bound / 2
    if m.bias is not None:
        assert np.abs(m.bias.numpy()).max() <= bound
    assert m.weight.dtype == tn.float32


def test_validation_in_init():
    with pytest.raises(ValueError, match="in_channels \\(3\\) must be divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels \\(3\\) must be divisible"):
        nn.Conv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(4, 4, 3, stride=2, padding="same")
    with pytest.raises(NotImplementedError, match="padding_mode"):
        nn.Conv2d(4, 4, 3, padding_mode="reflect")


def test_seed_cnn_forward_shapes_on_digits_and_mnist_sizes():
    from tinynet import models
    for size, flat in ((8, 256), (28, 3136)):
        m = models.cnn(image_size=size)
        assert m[7].in_features == flat
        assert m(tn.zeros(2, 1, size, size)).shape == (2, 10)


def test_module_to_float64_and_gradcheck_of_a_small_cnn():
    tn.manual_seed(1)
    m = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Flatten(), nn.Linear(8, 3)).double()
    x = tn.tensor(np.random.default_rng(2).standard_normal((2, 1, 4, 4)), requires_grad=True)
    assert tn.gradcheck(lambda a: m(a), (x,))
