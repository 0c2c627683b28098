"""tinynet.interop.from_torch_module: the same model from torch.nn layers, same outputs."""
import numpy as np
import pytest
import torch
import torch.nn as T

import tinynet as tn
import tinynet.nn as nn
from tinynet.interop import from_torch_module
from tinynet.models import ResidualBlock, SentimentLSTM, SmallResNet

import interop_torch_models as torch_models
from interop_torch_models import TorchBlock, TorchResNet, TorchSentiment


def _same_outputs(tm, model, *inputs, rtol=1e-5, atol=1e-5):
    with torch.no_grad():
        want = tm(*[torch.from_numpy(np.asarray(x)) for x in inputs])
    got = model(*[tn.tensor(np.asarray(x)) for x in inputs])
    want = want if isinstance(want, tuple) else (want,)
    got = got if isinstance(got, tuple) else (got,)
    for w, g in zip(want, got):
        w = w[0] if isinstance(w, tuple) else w
        g = g[0] if isinstance(g, tuple) else g
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=rtol, atol=atol)


def _randomize_stats(tm):
    for m in tm.modules():
        if isinstance(m, (T.BatchNorm1d, T.BatchNorm2d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- the seed-like models
def test_seed_mlp():
    torch.manual_seed(0)
    tm = torch_models.mlp()
    model = from_torch_module(tm)
    assert isinstance(model, nn.Sequential) and isinstance(model[1], nn.Linear)
    assert list(model.state_dict()) == list(tm.state_dict())
    _same_outputs(tm, model, _x(5, 1, 8, 8))


def test_seed_cnn():
    torch.manual_seed(0)
    tm = torch_models.cnn()
    _same_outputs(tm, from_torch_module(tm), _x(3, 1, 8, 8))


def test_residual_cnn_is_refused_naming_the_custom_class_and_its_path():
    with pytest.raises(TypeError, match=r"the top-level module is a .*TorchResNet.*custom="):
        from_torch_module(TorchResNet())
    # a Sequential converts until it meets the custom block, whose path is named
    with pytest.raises(TypeError, match=r"'1' is a .*TorchBlock, whose forward is Python code"):
        from_torch_module(T.Sequential(T.ReLU(), TorchBlock(4, 4)))


def test_residual_cnn_with_custom_builders():
    torch.manual_seed(0)
    tm = TorchResNet(8).eval()
    _randomize_stats(tm)
    model = from_torch_module(tm, custom={TorchResNet: lambda m: SmallResNet(1, 10, 8)})
    assert not model.training and not model.blocks[1].bn1.training
    _same_outputs(tm, model, _x(4, 1, 8, 8))
    # or one block at a time, inside converted containers
    seq = T.Sequential(TorchBlock(4, 8, 2), T.Flatten()).eval()
    _randomize_stats(seq)
    model = from_torch_module(seq, custom={
        TorchBlock: lambda m: ResidualBlock(m.conv1.in_channels, m.conv1.out_channels,
                                            m.conv1.stride[0])})
    _same_outputs(seq, model, _x(2, 4, 6, 6))


def test_lstm_classifier_with_a_custom_builder():
    torch.manual_seed(0)
    tm = TorchSentiment(30, 3)
    model = from_torch_module(tm, custom={TorchSentiment: lambda m: SentimentLSTM(
        m.embed.num_embeddings, m.head.out_features, m.embed.embedding_dim,
        m.lstm.hidden_size)})
    ids = np.random.default_rng(0).integers(1, 30, (4, 6))
    lengths = np.array([6, 2, 4, 1])
    _same_outputs(tm, model, ids, lengths)


# ---------------------------------------------------------------- the layer types
LAYERS = [
    (lambda: T.Linear(6, 4, bias=False), (3, 6)),
    (lambda: T.Conv2d(3, 4, 3, stride=2, padding=1, dilation=1, groups=1), (2, 3, 7, 7)),
    (lambda: T.Conv2d(4, 4, 3, padding="same", groups=2, dilation=2), (2, 4, 7, 7)),
    (lambda: T.Conv1d(3, 5, 2, stride=2), (2, 3, 9)),
    (lambda: T.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1), (1, 3, 4, 4)),
    (lambda: T.BatchNorm1d(6), (4, 6)),
    (lambda: T.BatchNorm2d(3, eps=1e-3, affine=False), (2, 3, 4, 4)),
    (lambda: T.LayerNorm((4, 5), eps=1e-4), (2, 3, 4, 5)),
    (lambda: T.LayerNorm(5, elementwise_affine=False), (2, 5)),
    (lambda: T.GroupNorm(2, 4), (2, 4, 3, 3)),
    (lambda: T.GRU(5, 7, num_layers=2, batch_first=True, bidirectional=True), (3, 4, 5)),
    (lambda: T.RNN(5, 6, nonlinearity="relu"), (4, 2, 5)),
    (lambda: T.LSTM(5, 6, num_layers=2, bias=False), (4, 2, 5)),
    (lambda: T.LSTMCell(5, 6), (3, 5)),
    (lambda: T.GRUCell(5, 6), (3, 5)),
    (lambda: T.Dropout(0.3), (4, 5)),
    (lambda: T.GELU(approximate="tanh"), (4, 5)),
    (lambda: T.LeakyReLU(0.2), (4, 5)),
    (lambda: T.ELU(0.5), (4, 5)),
    (lambda: T.Softplus(beta=2.0, threshold=5.0), (4, 5)),
    (lambda: T.Softmax(dim=1), (4, 5)),
    (lambda: T.LogSoftmax(dim=-1), (4, 5)),
    (lambda: T.Hardtanh(-0.5, 0.5), (4, 5)),
    (lambda: T.Sigmoid(), (4, 5)),
    (lambda: T.Tanh(), (4, 5)),
    (lambda: T.SiLU(), (4, 5)),
    (lambda: T.PReLU(3, init=0.1), (2, 3, 4)),
    (lambda: T.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), (1, 2, 7, 7)),
    (lambda: T.AvgPool2d(2, count_include_pad=False, padding=1), (1, 2, 5, 5)),
    (lambda: T.AdaptiveAvgPool2d((2, 3)), (1, 2, 6, 7)),
    (lambda: T.Flatten(0, 1), (2, 3, 4)),
    (lambda: T.Unflatten(1, (2, 3)), (4, 6)),
    (lambda: T.Identity(), (2, 2)),
]


@pytest.mark.parametrize("make, shape", LAYERS,
                         ids=[f"{k}-{type(make()).__name__}" for k, (make, _) in enumerate(LAYERS)])
def test_each_layer_type_gives_the_same_outputs(make, shape):
    torch.manual_seed(0)
    tm = make().eval()
    _randomize_stats(tm)
    model = from_torch_module(tm)
    assert type(model).__name__ == type(tm).__name__
    assert not model.training
    _same_outputs(tm, model, _x(*shape))


def test_embedding():
    torch.manual_seed(0)
    tm = T.Embedding(10, 4, padding_idx=2)
    model = from_torch_module(tm)
    assert model.padding_idx == 2
    _same_outputs(tm, model, np.array([[1, 2, 9], [0, 3, 3]]))


def test_nested_containers_keep_names_and_modes():
    torch.manual_seed(0)
    tm = T.Sequential()
    tm.add_module("features", T.Sequential(T.Conv2d(1, 4, 3), T.BatchNorm2d(4), T.ReLU()))
    tm.add_module("heads", T.ModuleList([T.Linear(36, 5), T.Sequential(T.Dropout(0.5))]))
    tm.add_module("extra", T.ModuleDict({"act": T.Tanh(), "norm": T.LayerNorm(5)}))
    tm.train()
    tm.extra.eval()
    model = from_torch_module(tm)
    assert list(model.state_dict()) == list(tm.state_dict())
    assert isinstance(model.heads, nn.ModuleList) and isinstance(model.extra, nn.ModuleDict)
    assert model.training and model.features[1].training and not model.extra.norm.training
    for key, value in tm.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[key].numpy(), value.numpy())


def test_weights_are_copies_and_keep_their_dtype():
    tm = T.Linear(3, 2).double()
    model = from_torch_module(tm)
    assert model.weight.dtype == tn.float64
    with torch.no_grad():
        tm.weight.zero_()
    assert np.abs(model.weight.numpy()).sum() > 0        # torch's change did not reach it
    x = np.random.default_rng(0).standard_normal((4, 3))
    tm2 = T.Linear(3, 2).double()
    _same_outputs(tm2, from_torch_module(tm2), x, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- refusals
class MyLinear(T.Linear):
    def forward(self, x):
        return super().forward(x) * 2


def test_unsupported_modules_are_refused_with_type_and_path():
    seq = T.Sequential()
    seq.add_module("body", T.Sequential(T.ReLU(), T.Conv3d(1, 1, 1)))
    with pytest.raises(TypeError, match=r"'body.1' is a torch.nn.Conv3d, which tinynet.nn "
                                        r"does not have"):
        from_torch_module(seq)
    with pytest.raises(TypeError, match=r"'0' is a .*MyLinear, whose forward is Python code"):
        from_torch_module(T.Sequential(MyLinear(2, 2)))
    with pytest.raises(TypeError, match=r"'0' \(torch.nn.Conv2d\) uses a setting tinynet does "
                                        r"not support.*padding_mode 'reflect'"):
        from_torch_module(T.Sequential(T.Conv2d(1, 1, 3, padding_mode="reflect")))
    with pytest.raises(TypeError, match="max_norm"):
        from_torch_module(T.Embedding(5, 2, max_norm=1.0))
    hooked = T.Linear(2, 2)
    hooked.register_forward_hook(lambda m, i, o: o * 2)
    with pytest.raises(TypeError, match="forward hooks"):
        from_torch_module(T.Sequential(hooked))
    with pytest.raises(TypeError, match="bfloat16"):
        from_torch_module(T.Linear(2, 2).to(torch.bfloat16))
    with pytest.raises(TypeError, match="expected a torch.nn.Module"):
        from_torch_module(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="state_dict keys differ"):
        from_torch_module(TorchSentiment(5, 2), custom={TorchSentiment: lambda m: nn.Linear(2, 2)})
