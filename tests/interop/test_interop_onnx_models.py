"""ONNX with whole models: the seed models exported by tinynet and run in
onnxruntime, models exported by PyTorch (and a ResNet-18) loaded into
tinynet, round trips, fine-tuning and gradcheck of a loaded model."""
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import tinynet as tn
import tinynet.nn.functional as F
import tinynet.onnx as tox
from tinynet.models import GPT, SentimentLSTM, SmallResNet, cnn, mlp

import interop_torch_models as torch_models

RTOL, ATOL = 1e-5, 1e-5          # float32 rounding of differently ordered sums


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def run_ort(path, names, inputs):
    return session(path).run(None, {n: np.asarray(x) for n, x in zip(names, inputs)})


def tinynet_outputs(model, inputs):
    model.eval()
    with tn.no_grad():
        out = model(*[tn.tensor(np.asarray(x)) for x in inputs])
    out = out if isinstance(out, tuple) else (out,)
    return [o.numpy() for o in out]


def check_export(model, inputs, path, names, more_inputs=(), **kwargs):
    """Export, check the file, run it in onnxruntime and load it back into
    tinynet: every result must match tinynet's, on the example inputs and on
    ``more_inputs`` (other values, other sizes of the dynamic axes)."""
    proto = tox.export(model, tuple(tn.tensor(np.asarray(x)) for x in inputs), path,
                       input_names=names, **kwargs)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    loaded = tox.load(path)
    for xs in (inputs,) + tuple(more_inputs):
        want = tinynet_outputs(model, xs)
        got = run_ort(path, names, xs)
        for w, g in zip(want, got):
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)
        for w, g in zip(want, tinynet_outputs(loaded, xs)):
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)
    return proto, loaded


def randomize_batchnorm(model, seed=0):
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if type(m).__name__.startswith("BatchNorm"):
            m.running_mean.array[...] = rng.uniform(-0.5, 0.5, m.running_mean.shape)
            m.running_var.array[...] = rng.uniform(0.5, 1.5, m.running_var.shape)
            m.weight.array[...] = rng.uniform(0.5, 1.5, m.weight.shape)
            m.bias.array[...] = rng.uniform(-0.5, 0.5, m.bias.shape)
    return model


def images(n, seed=0, channels=1, size=8):
    return np.random.default_rng(seed).standard_normal((n, channels, size, size)).astype(
        np.float32)


def op_types(proto):
    return {n.op_type for n in proto.graph.node}


# ---------------------------------------------------------------- tinynet -> ONNX
@pytest.mark.parametrize("build", [mlp, cnn], ids=["mlp", "cnn"])
def test_seed_image_models_export_and_run_in_onnxruntime(tmp_path, build):
    tn.manual_seed(0)
    model = build()
    proto, loaded = check_export(
        model, [images(4)], tmp_path / "m.onnx", ["x"], output_names=["logits"],
        dynamic_axes={"x": {0: "batch"}}, more_inputs=([images(1, 1)], [images(9, 2)]))
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert "Gemm" in op_types(proto)
    # parameters are initializers under their state_dict names
    assert {i.name for i in proto.graph.initializer} >= set(model.state_dict())
    assert list(loaded.state_dict()) == list(model.state_dict())


def test_residual_cnn_exports_batchnorm_as_batchnormalization(tmp_path):
    tn.manual_seed(0)
    model = randomize_batchnorm(SmallResNet(1, 10, 8))
    model.train()                               # export uses eval mode, then restores this
    proto, loaded = check_export(model, [images(4)], tmp_path / "res.onnx", ["x"],
                                 dynamic_axes={"x": [0]}, more_inputs=([images(7, 3)],))
    model.train()
    assert op_types(proto) == {"Conv", "BatchNormalization", "Relu", "Add", "AveragePool",
                               "Reshape", "Gemm"}
    assert sum(n.op_type == "BatchNormalization" for n in proto.graph.node) == 9
    # the loaded model has the original keys (num_batches_tracked is not in the graph)
    want = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    assert set(loaded.state_dict()) == want
    assert "blocks.1.bn1.running_var" in dict(loaded.named_buffers())
    model.eval()
    assert model.training is False


@pytest.mark.parametrize("layers, bidirectional", [(1, False), (2, True)])
def test_lstm_classifier_exports_lstm_nodes_with_lengths(tmp_path, layers, bidirectional):
    tn.manual_seed(0)
    model = SentimentLSTM(40, 3, embed_size=8, hidden_size=16, num_layers=layers,
                          bidirectional=bidirectional)
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 40, (4, 7))
    lengths = np.array([7, 3, 5, 1])
    more = ([rng.integers(1, 40, (6, 7)), np.array([2, 7, 1, 4, 6, 3])],)
    proto, _ = check_export(model, [ids, lengths], tmp_path / "lstm.onnx", ["ids", "lengths"],
                            dynamic_axes={"ids": {0: "batch"}, "lengths": {0: "batch"}},
                            more_inputs=more)
    lstm_nodes = [n for n in proto.graph.node if n.op_type == "LSTM"]
    assert len(lstm_nodes) == layers * (2 if bidirectional else 1)
    assert all(n.input[4] for n in lstm_nodes)          # sequence_lens from the input
    assert "Gather" in op_types(proto)                   # the embedding


def test_gpt_seed_exports_its_causal_attention(tmp_path):
    tn.manual_seed(0)
    model = GPT(vocab_size=20, n_layer=2, n_head=2, n_embd=16, block_size=16)
    rng = np.random.default_rng(0)
    proto, loaded = check_export(model, [rng.integers(0, 20, (3, 10))], tmp_path / "gpt.onnx",
                                 ["ids"], dynamic_axes={"ids": {0: "batch"}},
                                 more_inputs=([rng.integers(0, 20, (1, 10))],))
    assert sum(n.op_type == "Softmax" for n in proto.graph.node) == 2     # one per block
    assert "Gather" in op_types(proto) and "LayerNormalization" in op_types(proto)
    # the tied weight is written once
    assert [i.name for i in proto.graph.initializer].count("wte.weight") == 1
    assert "lm_head.weight" not in {i.name for i in proto.graph.initializer}


class _CausalAttention(tn.nn.Module):
    def forward(self, x):
        return F.scaled_dot_product_attention(x, x, x, is_causal=True)


def test_causal_attention_over_a_dynamic_sequence_axis_is_refused(tmp_path):
    # the causal mask is a constant of the traced length: refused, not frozen
    with pytest.raises(tox.ExportError, match="dynamic sequence axis"):
        tox.export(_CausalAttention(), (tn.randn(2, 6, 4),), tmp_path / "c.onnx",
                   input_names=["x"], dynamic_axes={"x": {0: "batch", 1: "time"}})
    # a dynamic batch is fine
    check_export(_CausalAttention(), [np.ones((2, 6, 4), np.float32)], tmp_path / "c.onnx",
                 ["x"], dynamic_axes={"x": {0: "batch"}},
                 more_inputs=([np.random.default_rng(0).standard_normal((3, 6, 4))
                               .astype(np.float32)],))


class _MaskedAttention(tn.nn.Module):
    """Self-attention with a fixed additive or boolean mask of the model's own."""

    def __init__(self, mask):
        super().__init__()
        self.attn = tn.nn.MultiheadAttention(8, 2, batch_first=True)
        self.mask = mask

    def forward(self, x):
        return self.attn(x, x, x, attn_mask=self.mask, need_weights=False)[0]


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_attention_with_a_mask_exports(tmp_path, kind):
    tn.manual_seed(0)
    hide = np.triu(np.ones((5, 5), bool), 2)                 # each query sees two ahead at most
    mask = tn.tensor(hide) if kind == "bool" else tn.tensor(np.where(hide, -1e4, 0.5)
                                                            .astype(np.float32))
    x = np.random.default_rng(1).standard_normal((2, 5, 8)).astype(np.float32)
    check_export(_MaskedAttention(mask), [x], tmp_path / "mha.onnx", ["x"])


def test_attention_hiding_every_key_of_a_query_is_refused(tmp_path):
    tn.manual_seed(0)
    hide = np.zeros((5, 5), bool)
    hide[3] = True                                           # query 3 sees nothing: tinynet 0
    x = tn.randn(2, 5, 8)
    with pytest.raises(tox.ExportError, match="hides every key.*NaN"):
        tox.export(_MaskedAttention(tn.tensor(hide)), (x,), tmp_path / "dead.onnx")


def test_round_trip_tinynet_onnx_tinynet_onnx(tmp_path):
    tn.manual_seed(0)
    model = randomize_batchnorm(SmallResNet(1, 10, 4))
    x = images(3)
    _, loaded = check_export(model, [x], tmp_path / "a.onnx", ["x"])
    # the loaded model exports again, to a graph with the same results
    proto2, again = check_export(loaded, [x], tmp_path / "b.onnx", ["x"])
    assert op_types(proto2) == op_types(onnx.load(str(tmp_path / "a.onnx")))
    np.testing.assert_allclose(tinynet_outputs(again, [x])[0], tinynet_outputs(model, [x])[0],
                               rtol=RTOL, atol=ATOL)
    # and the original weights load into it by name
    fresh = tox.load(tmp_path / "a.onnx")
    for p in fresh.parameters():
        p.array[...] = 0
    fresh.load_state_dict({k: v for k, v in model.state_dict().items()
                           if not k.endswith("num_batches_tracked")})
    np.testing.assert_array_equal(tinynet_outputs(fresh, [x])[0],
                                  tinynet_outputs(loaded, [x])[0])


# ---------------------------------------------------------------- PyTorch -> ONNX -> tinynet
def torch_export(model, inputs, path, names, **kwargs):
    model.eval()
    with warnings.catch_warnings():
        # the TorchScript-based exporter (dynamo=False) works offline; it warns
        # that it is deprecated in favour of the dynamo exporter
        warnings.simplefilter("ignore")
        torch.onnx.export(model, tuple(torch.from_numpy(np.asarray(x)) for x in inputs),
                          str(path), input_names=names, dynamo=False, **kwargs)
    with torch.no_grad():
        return model(*[torch.from_numpy(np.asarray(x)) for x in inputs]).numpy()


@pytest.mark.parametrize("name", ["mlp", "cnn", "residual_cnn", "lstm_classifier"])
def test_pytorch_exports_load_into_tinynet(tmp_path, name):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model, x = {
        "mlp": (torch_models.mlp(), images(4)),
        "cnn": (torch_models.cnn(), images(4)),
        "residual_cnn": (torch_models.randomize_batchnorm(torch_models.TorchResNet(8)),
                         images(4)),
        "lstm_classifier": (torch_models.TorchLSTMClassifier(30, 3), rng.integers(1, 30, (4, 6))),
    }[name]
    want = torch_export(model, [x], tmp_path / "t.onnx", ["x"])
    loaded = tox.load(tmp_path / "t.onnx")
    np.testing.assert_allclose(tinynet_outputs(loaded, [x])[0], want, rtol=RTOL, atol=ATOL)
    # what tinynet loaded it exports again, for onnxruntime
    check_export(loaded, [x], tmp_path / "again.onnx", ["x"])


def test_pytorch_resnet18_loads_into_tinynet(tmp_path):
    torch.manual_seed(0)
    model = torch_models.randomize_batchnorm(torch_models.ResNet18(classes=10))
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    # without constant folding the BatchNorms stay BatchNormalization nodes
    want = torch_export(model, [x], tmp_path / "r18.onnx", ["x"], do_constant_folding=False)
    proto = onnx.load(str(tmp_path / "r18.onnx"))
    assert op_types(proto) - {"Identity"} == {"Conv", "BatchNormalization", "Relu", "MaxPool",
                                              "Add", "GlobalAveragePool", "Flatten", "Gemm"}
    loaded = tox.load(tmp_path / "r18.onnx")
    got = tinynet_outputs(loaded, [x])[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # the weights are the torch model's, under its state_dict names
    np.testing.assert_array_equal(loaded.fc.weight.numpy(), model.fc.weight.detach().numpy())
    assert "layer3.1.bn2.running_mean" in dict(loaded.named_buffers())
    # with constant folding (PyTorch's default) the BatchNorms are folded into the convs
    want = torch_export(model, [x], tmp_path / "r18f.onnx", ["x"])
    assert "BatchNormalization" not in op_types(onnx.load(str(tmp_path / "r18f.onnx")))
    got = tinynet_outputs(tox.load(tmp_path / "r18f.onnx"), [x])[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- a loaded model trains
def test_a_loaded_model_fine_tunes(tmp_path):
    tn.manual_seed(0)
    model = mlp()
    tox.export(model, tn.tensor(images(2)), tmp_path / "m.onnx", input_names=["x"],
               dynamic_axes={"x": [0]})
    loaded = tox.load(tmp_path / "m.onnx")
    loaded.train()
    x, y = tn.tensor(images(32, 5)), tn.tensor(np.arange(32) % 10)
    opt = tn.optim.Adam(loaded.parameters(), lr=1e-2)
    first = None
    for _ in range(20):
        loss = F.cross_entropy(loaded(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < first / 2
    assert all(p.grad is not None for p in loaded.parameters())


def _with_parameters(model, names):
    """``fn(x, *values)``: ``model(x)`` with the named parameters replaced by ``values``."""
    def owner_of(name):
        *path, attr = name.split(".")
        m = model
        for p in path:
            m = getattr(m, p)
        return m, attr

    def fn(x, *values):
        saved = []
        for name, v in zip(names, values):
            m, attr = owner_of(name)
            saved.append((m, attr, m._parameters[attr]))
            m._parameters[attr] = v
        try:
            return model(x)
        finally:
            for m, attr, p in saved:
                m._parameters[attr] = p
    return fn


def test_gradcheck_of_a_loaded_model_in_float64(tmp_path):
    tn.manual_seed(0)
    small = tn.nn.Sequential(tn.nn.Linear(4, 5), tn.nn.Tanh(), tn.nn.LayerNorm(5),
                             tn.nn.Linear(5, 3), tn.nn.LogSoftmax(dim=1))
    tox.export(small, tn.randn(2, 4), tmp_path / "s.onnx")
    loaded = tox.load(tmp_path / "s.onnx").double()
    x = tn.randn(2, 4, dtype=tn.float64, requires_grad=True)
    names = ["0.weight", "3.bias"]
    params = [dict(loaded.named_parameters())[n].detach().requires_grad_() for n in names]
    fn = _with_parameters(loaded, names)
    assert tn.gradcheck(fn, (x, *params))
    assert tn.gradgradcheck(fn, (x, *params))


def test_gradcheck_of_a_loaded_pytorch_lstm_in_float64(tmp_path):
    torch.manual_seed(0)
    model = torch_models.TorchLSTMClassifier(12, 2, embed=3, hidden=4)
    ids = np.random.default_rng(0).integers(1, 12, (2, 3))
    torch_export(model, [ids], tmp_path / "l.onnx", ["ids"])
    loaded = tox.load(tmp_path / "l.onnx").double()
    assert [n for n, *_ in loaded._nodes].count("LSTM") == 1
    names = [n for n, p in loaded.named_parameters() if p.ndim >= 2][:3]
    params = [dict(loaded.named_parameters())[n].detach().requires_grad_() for n in names]
    fn = _with_parameters(loaded, names)
    assert tn.gradcheck(lambda *ps: fn(tn.tensor(ids), *ps), tuple(params))
