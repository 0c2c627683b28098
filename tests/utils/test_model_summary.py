"""tinynet.utils.summary: hand-computed figures for the seed models, the same
counts as torchinfo for the same architectures written in PyTorch, no side
effects on the model, and the text and HTML tables."""
import numpy as np
import pytest
import torch
import torchinfo

import tinynet as tn
import tinynet.nn as nn
from tinynet import models
from tinynet.utils import ModelSummary, summary


def seed_mlp():
    return models.mlp()


def seed_cnn():
    return models.cnn()


def torch_mlp():
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 128), torch.nn.ReLU(),
                               torch.nn.Linear(128, 10))


def torch_cnn():
    T = torch.nn
    return T.Sequential(T.Conv2d(1, 32, 3, padding=1), T.ReLU(), T.MaxPool2d(2),
                        T.Conv2d(32, 64, 3, padding=1), T.ReLU(), T.MaxPool2d(2),
                        T.Flatten(), T.Linear(256, 512), T.ReLU(), T.Linear(512, 10))


def test_seed_mlp_hand_computed():
    s = summary(seed_mlp(), input_size=(64, 1, 8, 8))
    fc1, fc2 = 64 * 128 + 128, 128 * 10 + 10
    assert s.total_params == s.trainable_params == fc1 + fc2 == 9610
    assert s.non_trainable_params == 0
    # each weight and bias element once per sample
    assert s.total_mult_adds == 64 * fc1 + 64 * fc2
    assert s.param_bytes == 4 * (fc1 + fc2)
    assert s.input_bytes == 64 * 64 * 4
    # Flatten's view of the input, the two Linear outputs and ReLU's, float32
    assert s.activation_bytes == 4 * (64 * 64 + 64 * 128 + 64 * 128 + 64 * 10)
    rows = {r["name"]: r for r in s.rows}
    assert rows[""]["type"] == "Sequential" and rows[""]["output_shape"] == [64, 10]
    assert rows["1"]["output_shape"] == [64, 128] and rows["1"]["params"] == fc1
    assert rows["2"]["params"] == 0 and rows["2"]["trainable"] == "--"
    assert rows["3"]["mult_adds"] == 64 * fc2


def test_seed_cnn_hand_computed():
    s = summary(seed_cnn(), input_size=(64, 1, 8, 8))
    conv1, conv2 = 1 * 32 * 9 + 32, 32 * 64 * 9 + 64
    fc1, fc2 = 64 * 2 * 2 * 512 + 512, 512 * 10 + 10
    assert s.total_params == conv1 + conv2 + fc1 + fc2 == 155_530
    # a convolution applies its weights and bias at every output position
    assert s.total_mult_adds == (conv1 * 64 * 8 * 8 + conv2 * 64 * 4 * 4
                                 + 64 * fc1 + 64 * fc2)
    shapes = [r["output_shape"] for r in s.rows[1:]]
    assert shapes == [[64, 32, 8, 8], [64, 32, 8, 8], [64, 32, 4, 4], [64, 64, 4, 4],
                      [64, 64, 4, 4], [64, 64, 2, 2], [64, 256], [64, 512], [64, 512],
                      [64, 10]]
    outputs = [32 * 64, 32 * 64, 32 * 16, 64 * 16, 64 * 16, 64 * 4, 0, 512, 512, 10]
    # Flatten returns a view of the pooled output: no new memory
    assert s.activation_bytes == 4 * 64 * sum(outputs)


def _torchinfo_layers(stats):
    return [(type(layer.module).__name__, list(layer.output_size), layer.num_params, layer.macs)
            for layer in stats.summary_list if layer.is_leaf_layer]


def _first_shape(shape):
    # torchinfo's output_size is the shape of the first tensor of an output
    return _first_shape(shape[0]) if isinstance(shape, tuple) else shape


def _our_layers(s):
    return [(r["type"], _first_shape(r["output_shape"]), r["params"], r["mult_adds"])
            for r in s.rows if r["depth"] > 0 and not r["folded"]]


def _copy_frozen(ours, theirs):
    for (_, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        q.requires_grad_(p.requires_grad)


@pytest.mark.parametrize("name", ["mlp", "cnn", "batchnorm_frozen", "lstm"])
def test_counts_equal_torchinfo(name):
    if name == "mlp":
        ours, theirs, size = seed_mlp(), torch_mlp(), (64, 1, 8, 8)
    elif name == "cnn":
        ours, theirs, size = seed_cnn(), torch_cnn(), (64, 1, 8, 8)
    elif name == "batchnorm_frozen":
        def build(lib):
            return lib.Sequential(lib.Linear(20, 30), lib.BatchNorm1d(30), lib.Tanh(),
                                  lib.Linear(30, 5))
        ours, theirs, size = build(nn), build(torch.nn), (16, 20)
        ours[0].requires_grad_(False)
        ours[1].bias.requires_grad_(False)
    else:
        class Net:
            def __init__(self, lib):
                class M(lib.Module):
                    def __init__(self):
                        super().__init__()
                        self.lstm = lib.LSTM(6, 8, num_layers=2, batch_first=True)
                        self.head = lib.Linear(8, 3)

                    def forward(self, x):
                        out, _ = self.lstm(x)
                        return self.head(out[:, -1])
                self.m = M()
        ours, theirs, size = Net(nn).m, Net(torch.nn).m, (4, 9, 6)
    _copy_frozen(ours, theirs)
    s = summary(ours, input_size=size)
    stats = torchinfo.summary(theirs, input_size=size, verbose=0)
    assert (s.total_params, s.trainable_params, s.total_mult_adds) == \
        (stats.total_params, stats.trainable_params, stats.total_mult_adds)
    assert _our_layers(s) == _torchinfo_layers(stats)
    assert s.param_bytes == stats.total_param_bytes


def test_the_model_is_left_as_it_was():
    tn.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.Dropout(0.5), nn.Linear(6, 2))
    x = tn.randn(8, 5)
    state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    rng = tn.get_rng_state()
    s = summary(model, input_size=(8, 5))
    assert s.rows[0]["output_shape"] == [8, 2]
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), state[k], err_msg=k)
    np.testing.assert_array_equal(np.asarray(tn.get_rng_state()), np.asarray(rng))
    assert model.training
    assert not any(m._forward_hooks for m in model.modules())
    model.eval()
    before = model(x).numpy().copy()
    summary(model, input_data=x)
    np.testing.assert_array_equal(model(x).numpy(), before)


def test_input_data_several_inputs_dtypes_and_kwargs():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(50, 4)
            self.proj = nn.Linear(3, 4)

        def forward(self, tokens, features, scale=1.0):
            return (self.embed(tokens) + self.proj(features)) * scale

    m = TwoInputs()
    s = summary(m, input_size=[(2, 7), (2, 7, 3)], dtypes=[tn.int64, tn.float32])
    rows = {r["name"]: r for r in s.rows}
    assert rows["embed"]["output_shape"] == [2, 7, 4]
    assert rows["embed"]["mult_adds"] == 0              # a lookup
    assert rows["proj"]["mult_adds"] == 2 * 7 * (3 * 4 + 4)
    assert s.input_bytes == 2 * 7 * 8 + 2 * 7 * 3 * 4
    s2 = summary(m, input_data={"tokens": tn.zeros(1, 5, dtype=tn.int64),
                                "features": tn.zeros(1, 5, 3), "scale": 2.0})
    assert s2.rows[0]["output_shape"] == [1, 5, 4]
    s3 = summary(m, input_data=(tn.zeros(1, 2, dtype=tn.int64), tn.zeros(1, 2, 3)))
    assert s3.total_mult_adds == 2 * (3 * 4 + 4)


def test_depth_folds_submodules_into_their_ancestor():
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.Linear(4, 3), nn.Sequential(
        nn.ReLU(), nn.Linear(3, 2))))
    deep = summary(model, input_size=(5, 4), depth=3)
    shallow = summary(model, input_size=(5, 4), depth=1)
    assert [r["name"] for r in deep.rows] == ["", "0", "1", "1.0", "1.1", "1.1.0", "1.1.1"]
    assert [r["name"] for r in shallow.rows] == ["", "0", "1"]
    folded = shallow.rows[2]
    assert folded["folded"] and folded["params"] == 4 * 3 + 3 + 3 * 2 + 2
    assert folded["mult_adds"] == 5 * (4 * 3 + 3) + 5 * (3 * 2 + 2)
    for s in (deep, shallow):
        # each column adds up to its total
        assert sum(r["params"] for r in s.rows) == s.total_params
        assert sum(r["mult_adds"] for r in s.rows) == s.total_mult_adds
    assert [r["name"] for r in summary(model, depth=0).rows] == [""]


def test_shared_module_and_text_table():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.Tanh(), shared)
    s = summary(model, input_size=(2, 3))
    assert s.rows[1]["calls"] == 2
    assert s.total_params == 12 and s.total_mult_adds == 2 * 2 * 12
    text = str(s)
    assert "0: Linear (x2)" in text and "Total mult-adds: 48" in text
    assert text.splitlines()[0].split() == ["Layer", "(type)", "Output", "shape", "Param",
                                            "#", "Trainable", "Mult-adds", "Activations"]
    assert repr(s) == text


def test_html_and_module_repr_html():
    model = seed_mlp()
    model[1].requires_grad_(False)
    page = model._repr_html_()
    assert page.startswith("<div class='tinynet-summary'><table>")
    assert page.count("<tr>") == 1 + 5 + 4       # header, 5 modules, 4 totals
    assert "1: Linear" in page and "False" in page and "8,320" in page
    s = summary(model, input_size=(1, 1, 8, 8))
    assert isinstance(s, ModelSummary)
    assert "<code>[1, 128]</code>" in s._repr_html_()
    assert "&lt;" not in page    # nothing needed escaping here...
    odd = nn.ModuleDict({"a<b": nn.ReLU()})
    assert "a&lt;b: ReLU" in odd._repr_html_()      # ...but names are escaped


def test_bad_arguments_are_named():
    m = seed_mlp()
    with pytest.raises(ValueError, match="input_size or input_data, not both"):
        summary(m, input_size=(1, 64), input_data=tn.zeros(1, 64))
    with pytest.raises(ValueError, match="batch dimension included"):
        summary(m, input_size="64")
    with pytest.raises(ValueError, match="2 dtypes for 1 input sizes"):
        summary(m, input_size=(1, 64), dtypes=[tn.float32, tn.float32])
    with pytest.raises(TypeError, match="expected an nn.Module"):
        summary(torch_mlp())
