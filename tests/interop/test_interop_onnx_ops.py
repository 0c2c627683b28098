"""ONNX op by op: every common op exports, runs in onnxruntime with tinynet's
results, and loads back; what cannot be exported is refused with its name."""
import numpy as np
import onnx
import onnx.helper as oh
import onnxruntime as ort
import pytest

import tinynet as tn
import tinynet.nn as nn
import tinynet.nn.functional as F
import tinynet.onnx as tox

RTOL, ATOL = 1e-5, 1e-5


class Fn(nn.Module):
    """A module around a function of the inputs, with optional sub-layers."""

    def __init__(self, fn, **layers):
        super().__init__()
        self.fn = fn
        for name, layer in layers.items():
            setattr(self, name, layer)

    def forward(self, *xs):
        return self.fn(self, *xs)


def _session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def check(tmp_path, model, *inputs, opset=17, rtol=RTOL, atol=ATOL):
    """Export ``model`` on ``inputs``; onnxruntime and the loaded model must
    give tinynet's outputs. Returns the ModelProto."""
    inputs = [np.asarray(x) for x in inputs]
    names = [f"in{k}" for k in range(len(inputs))]
    path = tmp_path / "op.onnx"
    proto = tox.export(model, tuple(tn.tensor(x) for x in inputs), path, input_names=names,
                       opset_version=opset)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    model.eval()
    with tn.no_grad():
        want = model(*[tn.tensor(x) for x in inputs])
    want = [w.numpy() for w in (want if isinstance(want, tuple) else (want,))]
    got = _session(path).run(None, dict(zip(names, inputs)))
    loaded = tox.load(path)
    back = loaded(*[tn.tensor(x) for x in inputs])
    back = [b.numpy() for b in (back if isinstance(back, tuple) else (back,))]
    assert len(got) == len(want) == len(back)
    for w, g, b in zip(want, got, back):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
        np.testing.assert_allclose(b, w, rtol=rtol, atol=atol)
    return proto


R = np.random.default_rng(0)


def rand(*shape, low=None):
    a = R.standard_normal(shape).astype(np.float32)
    return np.abs(a) + low if low is not None else a


X = rand(3, 4)
POS = rand(3, 4, low=0.1)
IMG = rand(2, 4, 6, 6)

CASES = {
    # elementwise, with broadcasting and Python scalars
    "add": (lambda m, a, b: a + b * 2.0 - 1, [X, rand(4)]),
    "sub_div": (lambda m, a, b: (a - b) / (b * b + 1), [X, rand(3, 1)]),
    "pow": (lambda m, a, b: a ** 2 + a ** 3 + b ** a, [X, POS]),
    "unary": (lambda m, a: a.neg().exp() + a.abs().sqrt() + a.sin() * a.cos() + a.erf(), [X]),
    "log": (lambda m, a: a.log() + tn.log1p(a) + tn.rsqrt(a), [POS]),
    "activations": (lambda m, a: a.relu() + a.tanh() + a.sigmoid() + F.gelu(a)
                    + F.gelu(a, approximate="tanh") + F.silu(a), [X]),
    "activations2": (lambda m, a: F.leaky_relu(a, 0.2) + F.elu(a, 0.7) + F.selu(a)
                     + F.celu(a, 1.3) + F.softplus(a) + F.softplus(a, beta=2.0), [X]),
    "activations3": (lambda m, a: F.hardtanh(a, -0.5, 0.5) + F.relu6(a * 4)
                     + F.hardsigmoid(a * 4) + F.hardswish(a * 4) + F.mish(a)
                     + F.logsigmoid(a), [X]),
    "clamp_max_min": (lambda m, a, b: a.clamp(-0.5, 0.5) + a.clamp(min=0.1)
                      + tn.maximum(a, b) + tn.minimum(a, b), [X, rand(3, 4)]),
    # matrix products
    "matmul": (lambda m, a, b: a @ b, [rand(2, 3, 4), rand(4, 5)]),
    "matmul_1d": (lambda m, a, b: a @ b, [rand(3, 4), rand(4)]),
    "linear": (lambda m, a: m.lin(a) + F.linear(a, m.lin.weight), [rand(2, 3, 4)],
               {"lin": nn.Linear(4, 4)}),
    "einsum": (lambda m, a, b: tn.einsum("bij,jk->bik", a, b), [rand(2, 3, 4), rand(4, 5)]),
    # shapes
    "reshape_permute": (lambda m, a: a.reshape(2, 12).permute(1, 0).transpose(0, 1).view(4, 6)
                        .flatten().unsqueeze(0).squeeze(0), [rand(2, 3, 4)]),
    "expand": (lambda m, a: a.expand(3, 2, 4) * 1.0, [rand(2, 1)]),
    "cat_stack": (lambda m, a, b: tn.cat([tn.stack([a, b], 1).reshape(3, 8), a], 1), [X, X]),
    "split_chunk": (lambda m, a: tuple(a.split([1, 3], 1)) + tuple(a.chunk(3, 0)), [X]),
    "getitem": (lambda m, a: a[:, 1:3] * 2 + a[..., -1:] + a[1, :2] + a[None, -1, ::2].sum(), [X]),
    "getitem_negative_step": (lambda m, a: a[::-1, 3:0:-2], [X]),
    "getitem_index_array": (lambda m, a: a[:, [0, 2, 2]] + a[[1, 0, 2]][:, :3], [X]),
    "flip_repeat_pad": (lambda m, a: a.flip(1).repeat(2, 1) + 0 * F.pad(a, (1, 1))[:, 2:]
                        .repeat(2, 1), [X]),
    "tril_triu": (lambda m, a: a.tril() + a.triu(1) * 2, [rand(4, 4)]),
    "cast": (lambda m, a: (a * 3).astype(tn.int64).astype(tn.float32) + a.double().float(),
             [X]),
    "clone": (lambda m, a: a.clone() + a.contiguous(), [X]),
    # reductions and softmax
    "reductions": (lambda m, a: a.sum(1, keepdim=True) + a.mean(0) + a.amax(1, keepdim=True)
                   + a.amin(0) + a.max(1, keepdim=True).values + a.min(1).values[:, None]
                   + a.logsumexp(1, keepdim=True) + a.prod(1, keepdim=True), [X]),
    "var_std": (lambda m, a: a.var(1, keepdim=True) + a.std(0), [X]),
    "softmax": (lambda m, a: F.softmax(a, 1) + F.log_softmax(a, 0) + a.softmax(-1), [X]),
    "cumsum": (lambda m, a: a.cumsum(1), [X]),
    "sum_all": (lambda m, a: a.sum() + a.mean(), [X]),
    # convolution, pooling, normalization, embedding
    "conv": (lambda m, x: m.c1(x) + m.c2(x), [IMG],
             {"c1": nn.Conv2d(4, 6, 3, padding=1), "c2": nn.Conv2d(4, 6, 3, padding=2,
                                                                   dilation=2, groups=2)}),
    "conv_strided": (lambda m, x: m.c(x), [IMG], {"c": nn.Conv2d(4, 3, (3, 2), stride=2)}),
    "conv1d": (lambda m, x: m.c(x), [rand(2, 3, 9)], {"c": nn.Conv1d(3, 4, 3, stride=2)}),
    "conv_transpose": (lambda m, x: m.c(x), [IMG],
                       {"c": nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1,
                                                output_padding=1)}),
    "pools": (lambda m, x: F.max_pool2d(x, 2) + F.avg_pool2d(x, 2), [IMG]),
    "pools_padded": (lambda m, x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True)
                     + F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
                     + F.avg_pool2d(x, 3, 2, 1), [rand(1, 2, 7, 7)]),
    "adaptive_pools": (lambda m, x: F.adaptive_avg_pool2d(x, 1).flatten(1)
                       + F.adaptive_max_pool2d(x, (1, 1)).flatten(1)
                       + F.adaptive_avg_pool2d(x, (4, 5)).sum((2, 3)), [IMG]),
    "layer_norm": (lambda m, x: m.ln(x), [rand(2, 3, 5)], {"ln": nn.LayerNorm(5)}),
    "group_instance_norm": (lambda m, x: m.gn(x) + F.instance_norm(x), [IMG],
                            {"gn": nn.GroupNorm(2, 4)}),
    "batch_norm": (lambda m, x, y: m.bn2(x).sum((2, 3)) + m.bn1(y), [IMG, rand(2, 4)],
                   {"bn2": nn.BatchNorm2d(4), "bn1": nn.BatchNorm1d(4, affine=False)}),
    "dropout_is_identity": (lambda m, x: m.drop(x) + F.dropout(x, 0.5, m.training), [X],
                            {"drop": nn.Dropout(0.5)}),
    # recurrent layers and cells
    "gru": (lambda m, x: m.gru(x)[0], [rand(3, 5, 4)],
            {"gru": nn.GRU(4, 6, num_layers=2, batch_first=True, bidirectional=True)}),
    "gru_state": (lambda m, x, h: m.gru(x, h)[1], [rand(5, 2, 4), rand(1, 2, 6)],
                  {"gru": nn.GRU(4, 6)}),
    "lstm_state": (lambda m, x, h, c: m.lstm(x, (h, c))[1][1], [rand(5, 2, 4), rand(1, 2, 6),
                                                                rand(1, 2, 6)],
                   {"lstm": nn.LSTM(4, 6)}),
    "rnn": (lambda m, x: m.rnn(x)[0] + m.relu_rnn(x)[0], [rand(5, 2, 4)],
            {"rnn": nn.RNN(4, 6), "relu_rnn": nn.RNN(4, 6, nonlinearity="relu")}),
    "cells": (lambda m, x, h: m.lstm(x, (h, h))[1] + m.gru(x, h) + m.rnn(x, h),
              [rand(3, 4), rand(3, 6)],
              {"lstm": nn.LSTMCell(4, 6), "gru": nn.GRUCell(4, 6), "rnn": nn.RNNCell(4, 6)}),
}


def _layers(case):
    return case[2] if len(case) > 2 else {}


@pytest.mark.parametrize("name", list(CASES))
def test_op_exports_and_runs(tmp_path, name):
    tn.manual_seed(0)
    case = CASES[name]
    model = Fn(case[0], **_layers(case))
    for m in model.modules():
        if type(m).__name__.startswith("BatchNorm"):
            m.running_mean.array[...] = np.linspace(-0.5, 0.5, m.num_features)
            m.running_var.array[...] = np.linspace(0.5, 1.5, m.num_features)
    check(tmp_path, model, *case[1])


def test_embedding_indices_come_from_the_input(tmp_path):
    tn.manual_seed(0)
    model = Fn(lambda m, ids: m.emb(ids) + m.emb(ids + 1), emb=nn.Embedding(10, 3, padding_idx=0))
    proto = check(tmp_path, model, np.array([[1, 2, 8], [0, 5, 5]]))
    gathers = [n for n in proto.graph.node if n.op_type == "Gather"]
    assert len(gathers) == 2 and gathers[0].input[1] == "in0"


@pytest.mark.parametrize("opset", [18, 20])
def test_other_opsets(tmp_path, opset):
    tn.manual_seed(0)
    model = Fn(lambda m, a: F.gelu(m.ln(a)).mean(1) + a.amax(1), ln=nn.LayerNorm(4))
    proto = check(tmp_path, model, X, opset=opset)
    assert proto.opset_import[0].version == opset
    assert ("Gelu" in {n.op_type for n in proto.graph.node}) == (opset >= 20)


def test_outputs_that_are_inputs_parameters_constants_or_repeated(tmp_path):
    model = Fn(lambda m, a: (a, m.lin.weight, a + 1, a + 1, tn.ones(2)), lin=nn.Linear(4, 2))
    proto = check(tmp_path, model, X)
    assert [o.name for o in proto.graph.output] == [f"output_{k}" for k in range(5)]
    y = Fn(lambda m, a: (lambda b: (b, b))(a * 2))
    check(tmp_path, y, X)


def test_in_place_ops_are_followed(tmp_path):
    tn.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(inplace=True), nn.Linear(6, 2))
    check(tmp_path, model, X)
    inplace_input = Fn(lambda m, a: (a.mul_(2).add_(1), a.relu_())[1] + m.lin(a).sum(),
                       lin=nn.Linear(4, 4))
    x = X.copy()
    proto = tox.export(inplace_input, tn.tensor(x), tmp_path / "ip.onnx", input_names=["a"])
    want = X * 2 + 1
    want = np.maximum(want, 0)
    want = want + inplace_input.lin(tn.tensor(want)).sum().item()
    got = _session(tmp_path / "ip.onnx").run(None, {"a": X})[0]
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-4)
    assert {"Mul", "Add", "Relu"} <= {n.op_type for n in proto.graph.node}


def test_dropout_module_in_training_mode_exports_eval_and_keeps_its_mode(tmp_path):
    model = Fn(lambda m, a: m.drop(a) * 2, drop=nn.Dropout(0.9))
    model.train()
    proto = tox.export(model, tn.tensor(X), tmp_path / "d.onnx")
    assert model.training and model.drop.training
    assert [n.op_type for n in proto.graph.node] == ["Mul"]


def test_dynamic_axes_give_symbolic_dims(tmp_path):
    tn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 5 * 5, 3), nn.Softmax(dim=1))
    path = tmp_path / "dyn.onnx"
    proto = tox.export(model, tn.randn(2, 1, 5, 5), path, input_names=["x"],
                       output_names=["p"], dynamic_axes={"x": {0: "n"}, "p": {0: "n"}})
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa
    assert dims(proto.graph.input[0]) == ["n", 1, 5, 5]
    assert dims(proto.graph.output[0]) == ["n", 3]
    sess = _session(path)
    for n in (1, 6):
        x = rand(n, 1, 5, 5)
        np.testing.assert_allclose(sess.run(None, {"x": x})[0], model(tn.tensor(x)).numpy(),
                                   rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------- what export refuses
class MyOp(tn.Function):
    def forward(self, x):
        return x * 2

    def backward(self, gy):
        return gy * 2


@pytest.mark.parametrize("fn, match", [
    (lambda m, a: MyOp()(a), "no ONNX mapping for op MyOp"),
    (lambda m, a: a.roll(1, 0), "no ONNX mapping for op Roll"),
    (lambda m, a: a.sort(1).values, "no ONNX mapping for TakeAlong .*sort, topk"),
    (lambda m, a: tn.where(a > 0, a, a * 0), "Where .* changes with the inputs .* comparison"),
    (lambda m, a: a * float(a[0, 0]), "Mul .* changes with the inputs"),
    (lambda m, a: a * 2 if float(a[0, 0]) > 0 else a - 1, "runs different ops"),
    (lambda m, a: (a * 2, a.argmax(1)), "output 'output_1' changes with the inputs"),
])
def test_refused_with_the_op_named(tmp_path, fn, match):
    x = np.array([[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]], np.float32)
    with pytest.raises(tox.ExportError, match=match):
        tox.export(Fn(fn), tn.tensor(x), tmp_path / "no.onnx")
    assert not (tmp_path / "no.onnx").exists()


def test_dynamic_axes_that_a_static_shape_cannot_follow_are_refused(tmp_path):
    lstm = nn.LSTM(3, 4, batch_first=True)
    with pytest.raises(tox.ExportError, match="more than one dim follows the dynamic axes"):
        tox.export(Fn(lambda m, x: m.lstm(x)[0], lstm=lstm), tn.randn(2, 5, 3), tmp_path / "l.onnx",
                   input_names=["x"], dynamic_axes={"x": {0: "batch", 1: "time"}})


def test_bad_arguments(tmp_path):
    model = nn.Linear(4, 2)
    x = tn.tensor(X)
    with pytest.raises(ValueError, match="opset_version must be one of"):
        tox.export(model, x, tmp_path / "a.onnx", opset_version=11)
    with pytest.raises(ValueError, match="1 inputs need as many distinct input_names"):
        tox.export(model, x, tmp_path / "a.onnx", input_names=["a", "b"])
    with pytest.raises(ValueError, match="neither input_names"):
        tox.export(model, x, tmp_path / "a.onnx", dynamic_axes={"nope": [0]})
    with pytest.raises(ValueError, match="dynamic axis 5 of input"):
        tox.export(model, x, tmp_path / "a.onnx", input_names=["x"], dynamic_axes={"x": [5]})
    with pytest.raises(TypeError, match="returns Tensors"):
        tox.export(Fn(lambda m, a: {"y": a}), x, tmp_path / "a.onnx")


# ---------------------------------------------------------------- what load refuses
def _model_with(node, inputs, outputs, opset=17):
    graph = oh.make_graph([node], "g", inputs, outputs)
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)])


def test_load_refuses_unknown_operators_naming_them():
    x = oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])
    y = oh.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])
    proto = _model_with(oh.make_node("Hardmax", ["x"], ["y"], name="hm"), [x], [y])
    with pytest.raises(NotImplementedError, match=r"operator\(s\) Hardmax \(node 'hm'\)"):
        tox.load(proto)
    proto = _model_with(oh.make_node("Relu", ["x"], ["y"], domain="com.example"), [x], [y])
    proto.opset_import.append(oh.make_opsetid("com.example", 1))
    with pytest.raises(NotImplementedError, match="domain 'com.example'"):
        tox.load(proto)


def test_load_refuses_unsupported_settings_at_run_time():
    x = oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 3])
    y = oh.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 3])
    proto = _model_with(oh.make_node("CumSum", ["x", "axis"], ["y"], reverse=1, name="cs"),
                        [x], [y])
    proto.graph.initializer.append(onnx.numpy_helper.from_array(np.array(1, np.int64), "axis"))
    m = tox.load(proto)
    with pytest.raises(NotImplementedError, match="node 'cs' \\(CumSum\\).*reverse"):
        m(tn.tensor(X[:2, :3]))
    with pytest.raises(TypeError, match="takes 1 inputs"):
        m(tn.tensor(X), tn.tensor(X))


def test_loaded_batchnorm_is_differentiable_in_float64(tmp_path):
    tn.manual_seed(0)
    bn = nn.BatchNorm2d(3).eval()
    bn.running_mean.array[...] = [0.1, -0.2, 0.3]
    bn.running_var.array[...] = [0.5, 1.5, 2.0]
    tox.export(bn, tn.randn(2, 3, 2, 2), tmp_path / "bn.onnx")
    loaded = tox.load(tmp_path / "bn.onnx").double()
    from tinynet.onnx._ops import BatchNormEval
    x = tn.randn(2, 3, 2, 2, dtype=tn.float64, requires_grad=True)
    args = [tn.randn(3, dtype=tn.float64, requires_grad=True) for _ in range(3)]
    var = (tn.rand(3, dtype=tn.float64) + 0.5).requires_grad_()
    fn = lambda *a: BatchNormEval(1e-5)(*a)         # noqa: E731
    assert tn.gradcheck(fn, (x, *args, var))
    assert tn.gradgradcheck(fn, (x, *args, var))
    np.testing.assert_allclose(loaded(x.detach()).numpy(),
                               bn.double()(x.detach()).numpy(), rtol=1e-12, atol=1e-12)
