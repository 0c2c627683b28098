"""Module and Parameter: registration, iteration, modes, devices/dtypes,
state_dict round trips (incl. a PyTorch state_dict as NumPy), error listing,
repr equal to PyTorch's, and the containers."""
import copy
from collections import OrderedDict

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
import tinynet.nn.functional as F


def Block(lib):
    """A custom module class written once for both libraries."""
    class Block(lib.Module):
        def __init__(self):
            super().__init__()
            self.fc = lib.Linear(4, 6)
            self.norm = lib.BatchNorm1d(6)
            self.act = lib.GELU(approximate="tanh")
            self.heads = lib.ModuleList([lib.Linear(6, 2), lib.Linear(6, 3, bias=False)])
            self.extra = lib.ModuleDict({"drop": lib.Dropout(0.1), "id": lib.Identity()})
    return Block()


def build(lib):
    """The same nested model in tinynet (lib=nn) or PyTorch (lib=torch.nn)."""
    return lib.Sequential(OrderedDict([
        ("embed", lib.Linear(3, 4)),
        ("body", lib.Sequential(lib.ReLU(), lib.LayerNorm(4), lib.Dropout(0.2))),
        ("pool", lib.Flatten()),
        ("out", lib.Linear(4, 2)),
    ]))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)
        self.fc2 = nn.Linear(4, 2)
        self.register_buffer("scale", tn.ones(2))
        self.register_buffer("cache", tn.zeros(2), persistent=False)
        self.not_a_param = tn.ones(3)

    def forward(self, x):
        return self.fc2(F.relu(self.bn(self.fc1(x)))) * self.scale


# ---------------------------------------------------------------- Parameter
def test_parameter_is_a_tensor_requiring_grad():
    p = nn.Parameter(tn.ones(2))
    assert isinstance(p, tn.Tensor) and p.requires_grad
    assert not nn.Parameter(tn.ones(2), requires_grad=False).requires_grad
    assert repr(p) == "Parameter containing:\ntensor([1., 1.], requires_grad=True)"
    y = p * 2 + tn.ones(2)
    assert type(y) is tn.Tensor
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q.array is not p.array


def test_parameter_shares_data_with_its_tensor():
    t = tn.ones(3)
    p = nn.Parameter(t)
    assert p.array is t.array


# ---------------------------------------------------------------- registration
def test_registration_and_iteration():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "fc2.weight", "fc2.bias"]
    assert [n for n, _ in net.named_buffers()] == [
        "scale", "cache", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]
    assert [n for n, _ in net.named_children()] == ["fc1", "bn", "fc2"]
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "bn", "fc2"]
    assert len(list(net.parameters(recurse=False))) == 0
    assert "not_a_param" not in dict(net.named_parameters())
    assert list(net.state_dict()) == [
        "scale", "fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "bn.running_mean",
        "bn.running_var", "bn.num_batches_tracked", "fc2.weight", "fc2.bias"]


def test_parameter_and_module_order_match_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = Block(nn), Block(torch.nn)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [tuple(p.shape) for p in ours.parameters()] == \
        [tuple(p.shape) for p in theirs.parameters()]


def test_shared_parameter_listed_once():
    m = nn.Module()
    m.a = nn.Linear(2, 2)
    m.b = m.a
    assert len(list(m.parameters())) == 2
    assert [n for n, _ in m.named_modules()] == ["", "a"]


def test_reassign_and_delete():
    m = nn.Linear(2, 3)
    m.bias = None
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    with pytest.raises(TypeError, match="cannot assign a Tensor as parameter 'weight'"):
        m.weight = tn.ones(3, 2)
    m.extra = nn.Parameter(tn.ones(1))
    del m.extra
    assert "extra" not in dict(m.named_parameters())
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'nope'"):
        m.nope


def test_assigning_before_init_is_an_error():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(tn.ones(1))
    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Bad()


# ---------------------------------------------------------------- modes, grads, apply
def test_train_eval_propagate():
    m = build(nn)
    m.eval()
    assert all(not sub.training for sub in m.modules())
    m.train()
    assert all(sub.training for sub in m.modules())


def test_zero_grad_and_requires_grad_():
    m = nn.Linear(3, 2)
    m(tn.ones(4, 3)).sum().backward()
    m.zero_grad(set_to_none=False)
    assert np.all(m.weight.grad.numpy() == 0)
    m.zero_grad()
    assert m.weight.grad is None
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


def test_zero_grad_keeps_a_create_graph_gradient_intact():
    m = nn.Linear(2, 1)
    x = tn.ones(3, 2)
    (m(x) ** 2).sum().backward(create_graph=True)
    g = m.weight.grad
    before = g.numpy().copy()
    m.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(m.weight.grad.numpy(), 0)
    np.testing.assert_array_equal(g.numpy(), before)       # the graph's array untouched
    assert m.weight.grad.grad_fn is None


def test_apply_visits_children_first():
    m = build(nn)
    seen = []
    m.apply(lambda sub: seen.append(type(sub).__name__))
    assert seen[-1] == "Sequential" and seen[0] == "Linear"

    def init_fn(sub):
        if isinstance(sub, nn.Linear):
            nn.init.zeros_(sub.weight)
    m.apply(init_fn)
    assert np.all(m.out.weight.numpy() == 0)


def test_to_double_keeps_parameter_objects():
    m = Net()
    w = m.fc1.weight
    m(tn.ones(4, 3)).sum().backward()
    m.double()
    assert m.fc1.weight is w and w.dtype == tn.float64 and w.grad.dtype == tn.float64
    assert m.bn.num_batches_tracked.dtype == tn.int64
    assert m(tn.ones(4, 3, dtype=tn.float64)).dtype == tn.float64
    m.to(tn.float32)
    assert w.dtype == tn.float32
    assert m.to("cpu") is m


# ---------------------------------------------------------------- state_dict
def test_state_dict_shares_data_and_round_trips():
    tn.manual_seed(0)
    a = Net()
    sd = a.state_dict()
    assert sd["fc1.weight"].array is a.fc1.weight.array
    assert not sd["fc1.weight"].requires_grad
    a.train()
    a(tn.tensor(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)))
    b = Net()
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k].numpy(), v.numpy())
    assert b.fc1.weight.array is not a.fc1.weight.array
    x = tn.ones(2, 3)
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())


def test_load_state_dict_errors_list_missing_unexpected_and_shapes():
    m = Net()
    sd = {k: v.numpy() for k, v in m.state_dict().items()}
    del sd["fc1.bias"]
    sd["fc3.weight"] = np.ones(2)
    sd["fc2.weight"] = np.ones((5, 5), np.float32)
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict(sd)
    msg = str(e.value)
    assert msg.startswith("Error(s) in loading state_dict for Net:")
    assert 'Missing key(s) in state_dict: "fc1.bias"' in msg
    assert 'Unexpected key(s) in state_dict: "fc3.weight"' in msg
    assert "size mismatch for fc2.weight: copying a param with shape (5, 5) from " \
           "checkpoint, the shape in current model is (2, 4)" in msg
    del sd["fc2.weight"]
    result = m.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["fc1.bias", "fc2.weight"]
    assert result.unexpected_keys == ["fc3.weight"]


def test_load_state_dict_casts_to_parameter_dtype():
    m = nn.Linear(2, 2)
    m.load_state_dict({"weight": np.eye(2), "bias": np.zeros(2)})
    assert m.weight.dtype == tn.float32
    np.testing.assert_array_equal(m.weight.numpy(), np.eye(2))


def test_torch_state_dict_loads_and_gives_same_outputs():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.BatchNorm1d(8),
                                 torch.nn.ReLU(), torch.nn.LayerNorm(8),
                                 torch.nn.Linear(8, 2))
    theirs.train()
    theirs(torch.randn(16, 3))              # move the running statistics
    theirs.eval()
    ours = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.LayerNorm(8),
                         nn.Linear(8, 2)).eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(ours(tn.tensor(x)).numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert ours[1].num_batches_tracked.item() == 1


def test_deepcopy_gives_an_independent_model():
    a = Net()
    b = copy.deepcopy(a)
    assert [n for n, _ in b.named_parameters()] == [n for n, _ in a.named_parameters()]
    assert all(isinstance(p, nn.Parameter) for p in b.parameters())
    with tn.no_grad():
        b.fc1.weight.add_(1.0)
    assert not np.allclose(a.fc1.weight.numpy(), b.fc1.weight.numpy())
    x = tn.ones(2, 3)
    a.eval(), b.eval()
    assert a(x).shape == b(x).shape


# ---------------------------------------------------------------- repr
def test_nested_repr_equals_torch():
    torch = pytest.importorskip("torch")
    assert repr(build(nn)) == repr(build(torch.nn))
    assert repr(Block(nn)) == repr(Block(torch.nn))
    assert repr(nn.Linear(3, 4)) == "Linear(in_features=3, out_features=4, bias=True)"
    assert repr(nn.ReLU(inplace=True)) == repr(torch.nn.ReLU(inplace=True))
    assert repr(nn.LeakyReLU(0.1, inplace=True)) == repr(torch.nn.LeakyReLU(0.1, inplace=True))


# ---------------------------------------------------------------- containers
def test_sequential_indexing_slicing_append():
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert len(m) == 3 and isinstance(m[-1], nn.Linear) and m[0] is list(m)[0]
    head = m[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2
    assert head[0] is m[0]
    m.append(nn.Tanh())
    assert [n for n, _ in m.named_children()] == ["0", "1", "2", "3"]
    out = m(tn.ones(5, 3))
    assert out.shape == (5, 2) and np.all(np.abs(out.numpy()) <= 1)
    del m[1]
    assert [type(x).__name__ for x in m] == ["Linear", "Linear", "Tanh"]
    assert list(m.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    with pytest.raises(IndexError, match="index 5 is out of range for length 3"):
        m[5]


def test_sequential_slice_keeps_names_like_torch():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))[1:]
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(),
                                 torch.nn.Linear(2, 2))[1:]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    layers.append(nn.ReLU())
    layers += [nn.Tanh()]
    assert len(layers) == 5 and isinstance(layers[-1], nn.Tanh)
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    assert len(list(layers.parameters())) == 6
    d = nn.ModuleDict({"a": nn.Linear(2, 3)})
    d["b"] = nn.ReLU()
    assert list(d.keys()) == ["a", "b"] and "a" in d and len(d) == 2
    assert list(d.state_dict()) == ["a.weight", "a.bias"]
    assert d.pop("b").__class__ is nn.ReLU and len(d) == 1
    with pytest.raises(NotImplementedError):
        layers(tn.ones(2))


def test_module_without_forward_raises():
    with pytest.raises(NotImplementedError, match="Module has no forward"):
        nn.Module()(tn.ones(1))
