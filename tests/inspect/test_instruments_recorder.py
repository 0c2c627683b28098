"""tinynet.instruments.Recorder: the records' layout and values, hook
removal, the figures, and dead/saturated fractions on cases whose answer is
known exactly."""
import json

import matplotlib.image
import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
import tinynet.nn.functional as F
from tinynet.instruments import Recorder, figure_grid, savefig

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def small_model(seed=0):
    tn.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 6), nn.ReLU(),
                         nn.Linear(6, 3))


def batch(seed=0, n=16):
    rng = np.random.default_rng(seed)
    return (tn.tensor(rng.standard_normal((n, 5)).astype(np.float32)),
            tn.tensor(rng.integers(0, 3, n)))


def train(model, rec, steps, lr=0.1, use_callback=False):
    opt = tn.optim.SGD(model.parameters(), lr=lr)
    x, y = batch()
    for k in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        if use_callback:
            opt.step()
            rec.callback(None, k, model, opt, loss)
        else:
            rec.step(opt, loss)
    return opt


def no_hooks_left(model):
    return all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
               and not m._backward_pre_hooks for m in model.modules())


def test_records_layout():
    model = small_model()
    rec = Recorder(model, every=3, bins=20)
    train(model, rec, 7)
    assert rec.steps == 7
    assert [r["step"] for r in rec.records] == [0, 3, 6]
    names = ["0", "1", "2", "3", "4"]
    assert rec.layer_names == names
    for r in rec.records:
        assert set(r) == {"step", "loss", "layers", "params"}
        assert isinstance(r["loss"], float)
        assert list(r["layers"]) == names
        for name, e in r["layers"].items():
            assert set(e) == {"type", "shape", "mean", "std", "saturated", "dead", "hist",
                              "grad_mean", "grad_std", "grad_hist"}
            width = {"0": 8, "1": 8, "2": 6, "3": 6, "4": 3}[name]
            assert e["shape"] == [16, width]
            assert len(e["hist"]["counts"]) == 20 and len(e["hist"]["edges"]) == 21
            assert sum(e["hist"]["counts"]) == int(np.prod(e["shape"]))
            assert len(e["grad_hist"]["counts"]) == 20
            assert (e["saturated"] is not None) == (e["type"] == "Tanh")
            assert (e["dead"] is not None) == (e["type"] == "ReLU")
        assert list(r["params"]) == [n for n, _ in model.named_parameters()]
        for e in r["params"].values():
            assert set(e) == {"shape", "data_std", "grad_std", "update_std", "update_ratio"}
            assert e["update_ratio"] > 0
    json.loads(json.dumps(rec.records))        # plain data
    assert rec.activation_layers() == ["1", "3"]
    assert rec.weight_names() == ["0.weight", "2.weight", "4.weight"]
    rec.remove()


def test_record_values_equal_a_direct_computation():
    model = small_model()
    x, y = batch()
    # the outputs and their gradients, computed directly on a copy of the model
    import copy
    twin = copy.deepcopy(model)
    outs = {}
    for name, m in twin.named_modules():
        if name:
            m.register_forward_hook(lambda mod, a, out, name=name: outs.__setitem__(
                name, out.retain_grad()))
    F.cross_entropy(twin(x), y).backward()
    before = {n: p.numpy().copy() for n, p in model.named_parameters()}

    rec = Recorder(model, every=5)
    train(model, rec, 1, lr=0.1)
    r = rec.records[0]
    for name, out in outs.items():
        e = r["layers"][name]
        a = out.numpy().astype(np.float64)
        g = out.grad.numpy().astype(np.float64)
        np.testing.assert_allclose([e["mean"], e["std"]], [a.mean(), a.std()], rtol=1e-12)
        np.testing.assert_allclose([e["grad_mean"], e["grad_std"]], [g.mean(), g.std()],
                                   rtol=1e-12, atol=1e-15)
    for name, p in twin.named_parameters():
        e = r["params"][name]
        g = p.grad.numpy().astype(np.float64)
        data = before[name].astype(np.float64)
        # plain SGD: the update is -lr * grad
        np.testing.assert_allclose(e["data_std"], data.std(), rtol=1e-12)
        np.testing.assert_allclose(e["grad_std"], g.std(), rtol=1e-12)
        np.testing.assert_allclose(e["update_ratio"], 0.1 * g.std() / data.std(), rtol=1e-3)
    rec.remove()


def test_dead_relu_units_known_exactly():
    lin = nn.Linear(3, 4)
    with tn.no_grad():
        lin.weight.copy_(tn.tensor([[0.0, 0, 0], [1, 0, 0], [0, 0, 0], [-1, 0, 0]]))
        lin.bias.copy_(tn.tensor([-1.0, 0, 1, -10]))
    model = nn.Sequential(lin, nn.ReLU())
    x = tn.tensor([[-1.0, 5, 5], [2, 5, 5], [-3, 5, 5], [4, 5, 5]])
    rec = Recorder(model, every=1)
    model(x).sum().backward()
    rec.step()
    e = rec.records[0]["layers"]["1"]
    # unit 0: bias -1, always 0; unit 1: x0, positive for two samples; unit 2:
    # bias +1, always 1; unit 3: -x0 - 10, always 0 -> 2 dead units of 4
    assert e["dead"] == 0.5
    assert e["saturated"] is None
    # a unit that is zero for one sample only is alive
    rec2 = Recorder(model, every=1)
    model(x[:1]).sum().backward()
    rec2.step()
    assert rec2.records[0]["layers"]["1"]["dead"] == 0.75      # with one sample x0 < 0


def test_saturated_tanh_and_sigmoid_known_exactly():
    class Shift(nn.Module):
        def __init__(self):
            super().__init__()
            self.offset = nn.Parameter(tn.zeros(1))

        def forward(self, x):
            return x + self.offset

    # tanh(2) = 0.964 is not saturated, tanh(2.1) = 0.970 4 is; sigmoid's 0.985
    # is at x = 4.18
    model = nn.Sequential(Shift(), nn.Tanh())
    sig = nn.Sequential(Shift(), nn.Sigmoid())
    x = tn.tensor([[-3.0, -2.0, 0.0, 0.5, 2.1, 10.0], [2.0, -2.1, 1.0, -1.0, 0.0, 0.0]])
    for m, want in ((model, 4 / 12), (sig, 1 / 12)):
        rec = Recorder(m, every=1)
        m(x).sum().backward()
        rec.step()
        assert rec.records[0]["layers"]["1"]["saturated"] == pytest.approx(want, abs=0)
        rec.remove()
    x2 = tn.tensor([[-5.0, 4.0, 4.3]])
    rec = Recorder(sig, every=1)
    sig(x2).sum().backward()
    rec.step()
    assert rec.records[0]["layers"]["1"]["saturated"] == 2 / 3   # -5 and 4.3; not 4.0


def test_remove_leaves_no_hook_and_the_output_unchanged():
    model = small_model()
    x, y = batch()
    before = model(x).numpy().copy()
    rec = Recorder(model, every=2)
    assert not no_hooks_left(model)
    with_hooks = model(x)          # a recorded forward: tensor hooks on the outputs
    np.testing.assert_array_equal(with_hooks.numpy(), before)
    assert rec._tensor_handles
    rec.remove()
    assert no_hooks_left(model)
    assert not rec._tensor_handles
    np.testing.assert_array_equal(model(x).numpy(), before)
    # the records made so far stay; stepping on records nothing more
    F.cross_entropy(model(x), y).backward()
    rec.step()
    assert rec.records == []
    with Recorder(model, every=1) as rec2:
        assert not no_hooks_left(model)
    assert no_hooks_left(model) and rec2._handles == []


def test_callback_gives_the_same_records_as_step():
    a, b = small_model(), small_model()
    ra, rb = Recorder(a, every=2), Recorder(b, every=2)
    train(a, ra, 5)
    train(b, rb, 5, use_callback=True)
    assert json.dumps(ra.records) == json.dumps(rb.records)


def test_only_recorded_training_forwards_count():
    model = small_model()
    x, y = batch()
    rec = Recorder(model, every=2)
    loss = F.cross_entropy(model(x), y)
    with tn.no_grad():
        model(x * 100)              # an evaluation pass in the same step is ignored
    loss.backward()
    rec.step()
    mean0 = rec.records[0]["layers"]["0"]["mean"]
    ref = (x @ model[0].weight.T + model[0].bias).numpy().astype(np.float64).mean()
    # the parameters moved by no optimizer: the record is of the training forward
    assert mean0 == pytest.approx(ref, rel=1e-6)
    model(x).sum().backward()
    rec.step()                      # step 1 is not recorded
    assert [r["step"] for r in rec.records] == [0]
    rec.remove()


def test_layers_argument_and_errors():
    model = small_model()
    rec = Recorder(model, every=1, layers=["1", model[3]])
    assert rec.layer_names == ["1", "3"]
    rec.remove()
    with pytest.raises(KeyError, match="no module named 'fc'"):
        Recorder(model, layers=["fc"])
    with pytest.raises(ValueError, match="not a module of this model"):
        Recorder(model, layers=[nn.ReLU()])
    with pytest.raises(ValueError, match="every must be an int >= 1"):
        Recorder(model, every=0)
    rec = Recorder(model)
    with pytest.raises(RuntimeError, match="nothing recorded yet"):
        rec.figure("activations")
    with pytest.raises(ValueError, match="unknown kind 'weights'"):
        rec.figure("weights")
    rec.remove()


def test_figures_are_written_as_valid_pictures(tmp_path):
    model = small_model()
    rec = Recorder(model, every=2)
    train(model, rec, 6)
    paths = rec.save_figures(tmp_path / "run")
    assert [p.split("/")[-1] for p in paths] == ["activations.png", "gradients.png",
                                                 "update_ratio.png", "saturation.png"]
    for p in paths:
        data = open(p, "rb").read()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5000
        image = matplotlib.image.imread(p)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
        assert image.std() > 0.01                     # not a blank picture
    svg = rec.save_figures(tmp_path / "svg", format="svg")
    text = open(svg[2], encoding="utf-8").read()
    assert text.lstrip().startswith("<?xml") and "update:data ratio" in text and "1e-3" in text
    other = small_model(seed=1)
    rec2 = Recorder(other, every=2)
    train(other, rec2, 6, lr=1.0)
    fig = figure_grid({"lr 0.1": rec, "lr 1": rec2}, "update_ratio")
    assert len(fig.axes) == 2 and fig.axes[1].get_title() == "lr 1"
    out = savefig(fig, str(tmp_path / "grid.png"))
    assert open(out, "rb").read().startswith(PNG_SIGNATURE)
    rec.remove(), rec2.remove()
