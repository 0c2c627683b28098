"""In-place ops, version counters, ``.data`` and grad mode behave as in PyTorch.

Each test writes the same few lines twice, once for tinynet and once for
PyTorch, and compares what a user would see: values, gradients, identity of
the objects, or that both raise. These are the idioms that once ran on
tinynet and silently gave another result than PyTorch.
"""
import numpy as np
import pytest
import torch

import tinynet as tn
import tinynet.nn as nn
import tinynet.nn.functional as F

LIBS = {"tinynet": tn, "torch": torch}


def both(fn):
    """``fn(lib)`` for tinynet and PyTorch, results as NumPy where possible."""
    out = {}
    for name, lib in LIBS.items():
        out[name] = fn(lib)
    return out["tinynet"], out["torch"]


def arr(t):
    if t is None:
        return None
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def assert_same(a, b):
    np.testing.assert_allclose(arr(a), arr(b), rtol=1e-6, atol=1e-7)


def raises(fn):
    """The message if ``fn()`` raises a RuntimeError, else None."""
    try:
        fn()
    except RuntimeError as e:
        return str(e)
    return None


# ---------------------------------------------------------------- augmented assignment
@pytest.mark.parametrize("op", ["+=", "-=", "*=", "/=", "**="])
def test_augmented_assignment_is_in_place(op):
    def run(lib):
        x = lib.tensor([1.0, 2.0, 3.0])
        alias, view = x, x[1:]
        y = lib.tensor([2.0, 0.5, 4.0])
        ns = {"x": x, "y": y}
        exec(f"x {op} y", ns)
        return ns["x"] is alias, arr(alias), arr(view)
    (same_t, val_t, view_t), (same_p, val_p, view_p) = both(run)
    assert same_t and same_p
    assert_same(val_t, val_p)
    assert_same(view_t, view_p)


def test_matmul_assignment_rebinds_as_in_pytorch():
    # PyTorch has no in-place matmul: `x @= y` makes a new tensor, the alias keeps the old
    def run(lib):
        x = lib.ones(2, 2)
        alias = x
        x @= lib.eye(2) * 2
        return x is alias, arr(alias), arr(x)
    (same_t, alias_t, x_t), (same_p, alias_p, x_p) = both(run)
    assert same_t is same_p is False
    assert_same(alias_t, alias_p)
    assert_same(x_t, x_p)


def test_manual_sgd_update_changes_the_model():
    def run(lib):
        model = (nn if lib is tn else torch.nn).Linear(3, 1)
        with lib.no_grad():
            model.weight.copy_(lib.tensor([[0.1, -0.2, 0.3]]))
            model.bias.fill_(0.5)
        x = lib.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
        losses = []
        for _ in range(3):
            loss = ((model(x) - 1.0) ** 2).mean()
            model.zero_grad()
            loss.backward()
            with lib.no_grad():
                for p in model.parameters():
                    p -= 0.1 * p.grad
            losses.append(loss.item())
        return losses, arr(model.weight)
    (loss_t, w_t), (loss_p, w_p) = both(run)
    np.testing.assert_allclose(loss_t, loss_p, rtol=1e-6)
    assert loss_t[0] != loss_t[-1]
    assert_same(w_t, w_p)


def test_in_place_dtype_and_shape_errors_as_in_pytorch():
    for lib in LIBS.values():
        x = lib.tensor([1, 2, 3])
        with pytest.raises(RuntimeError):
            x += 1.5                       # a float result cannot go into an int64 tensor
        x = lib.ones(3)
        with pytest.raises(RuntimeError):
            x += lib.ones(2, 3)            # the result would be bigger than x


# ---------------------------------------------------------------- in-place ops in the graph
def _grads(lib, body, *values):
    xs = [lib.tensor(v, requires_grad=True) for v in values]
    out = body(lib, *xs)
    out.sum().backward()
    return [arr(x.grad) for x in xs]


@pytest.mark.parametrize("name, body, values", [
    ("mul_ on an op output", lambda lib, x: x.mul(1).mul_(3), ([1.0, 2.0, 3.0],)),
    ("add_ then mul_", lambda lib, x: (x * x).add_(1).mul_(x), ([1.0, -2.0],)),
    ("setitem on an op output", lambda lib, x: _setitem(x * 2, 0, 5.0), ([1.0, 2.0],)),
    ("setitem of a graph value into a plain buffer",
     lambda lib, w: _setitem(lib.zeros(3, 2), 0, w * 3), ([1.0, 2.0],)),
    ("masked setitem", lambda lib, x: _setitem(x * 1, x > 0, 0.0), ([1.0, -2.0, 3.0],)),
    ("slice setitem from another input", lambda lib, x, w: _setitem(x * 1, slice(0, 2), w),
     ([1.0, 2.0, 3.0], [4.0, 5.0])),
    ("copy_ into an op output", lambda lib, x, w: (x * 2).copy_(w), ([1.0, 2.0], [3.0, 4.0])),
    ("relu_ and tanh_", lambda lib, x: (x * 1).relu_().mul(3).tanh_(), ([0.5, -1.0, 2.0],)),
    ("sigmoid_ then exp", lambda lib, x: (x * 1).sigmoid_().exp(), ([0.5, -1.0],)),
    ("fill_ then add", lambda lib, x: (x * 1).fill_(2.0) + x, ([1.0, 2.0],)),
])
def test_in_place_op_joins_the_graph(name, body, values):
    g_t, g_p = both(lambda lib: _grads(lib, body, *values))
    for a, b in zip(g_t, g_p):
        assert_same(a, b)


def _setitem(t, index, value):
    t[index] = value
    return t


@pytest.mark.parametrize("op", ["sigmoid", "exp", "tanh", "softmax"])
def test_changing_a_saved_output_in_place_makes_backward_raise(op):
    def run(lib):
        x = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
        y = x.softmax(0) if op == "softmax" else getattr(x, op)()
        y.mul_(2)
        return raises(lambda: y.sum().backward())
    msg_t, msg_p = both(run)
    assert msg_p is not None and "modified by an inplace operation" in msg_p
    assert msg_t is not None and "modified in place" in msg_t


def test_changing_a_saved_input_in_place_makes_backward_raise():
    def run(lib):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        x = a * 1
        y = (x * x).sum()
        x.add_(1)
        return raises(y.backward)
    msg_t, msg_p = both(run)
    assert msg_t is not None and msg_p is not None


def test_tinynet_is_stricter_for_any_input_changed_after_use():
    # PyTorch checks only the tensors an op saved (Add saves none); tinynet
    # checks every input of an op, so it raises here instead of running
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    z = y + 1
    y.mul_(2)
    with pytest.raises(RuntimeError, match="modified in place"):
        z.sum().backward()
    xp = torch.tensor([1.0, 2.0], requires_grad=True)
    yp = xp * 3
    zp = yp + 1
    yp.mul_(2)
    zp.sum().backward()
    assert_same(xp.grad, [3.0, 3.0])


def test_in_place_on_a_leaf_that_requires_grad_raises_outside_no_grad():
    for lib in LIBS.values():
        p = lib.tensor([1.0, 2.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf"):
            p.add_(1)
        with pytest.raises(RuntimeError, match="leaf"):
            p[0] = 3.0
        with lib.no_grad():
            p.add_(1)
        assert_same(p, [2.0, 3.0])


def test_in_place_on_a_view_while_recording_is_refused_loudly():
    # PyTorch rewrites the base's graph (CopySlices); tinynet refuses rather
    # than compute a different gradient.
    x = tn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    with pytest.raises(RuntimeError, match="view"):
        y[0:2].mul_(2)
    # without autograd recording, the view writes through as in PyTorch
    base = tn.zeros(4)
    base[1:3].add_(1)
    assert_same(base, [0.0, 1.0, 1.0, 0.0])


# ---------------------------------------------------------------- version counters
def test_version_counter_shared_by_detach_and_views():
    def run(lib):
        x = lib.ones(4)
        d, v = x.detach(), x[1:3]
        versions = [x._version]
        d.add_(1)
        versions.append(x._version)
        v.mul_(2)
        versions.append(x._version)
        return versions, d._version == x._version == v._version
    (vt, shared_t), (vp, shared_p) = both(run)
    assert shared_t and shared_p
    assert vt[0] < vt[1] < vt[2] and vp[0] < vp[1] < vp[2]


def test_detached_in_place_change_of_a_saved_tensor_makes_backward_raise():
    def run(lib):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        y = a.exp()
        y.detach().zero_()
        return raises(lambda: y.sum().backward())
    msg_t, msg_p = both(run)
    assert msg_t is not None and msg_p is not None


# ---------------------------------------------------------------- .data
def test_data_is_a_tensor_sharing_memory_without_history():
    def run(lib):
        p = lib.tensor([1.0, 2.0], requires_grad=True)
        d = p.data
        out = [type(d).__name__ == "Tensor", d.requires_grad, d.grad_fn is None]
        d.add_(1)
        d.mul_(2)
        out.append(arr(p).tolist())
        p.data.fill_(0.5)
        out.append(arr(p).tolist())
        p.data.copy_(lib.tensor([3.0, 4.0]))
        out.append(arr(p).tolist())
        p.data = lib.tensor([7.0, 8.0, 9.0])         # replaces the array, keeps the object
        out.append((arr(p).tolist(), p.requires_grad))
        return out
    got_t, got_p = both(run)
    assert got_t == got_p


def test_data_changes_are_not_seen_by_autograd_as_in_pytorch():
    # .data has its own version counter in PyTorch: changing it does not make
    # backward raise, and both libraries use the changed value
    def run(lib):
        a = lib.tensor([0.3, -0.7], requires_grad=True)
        y = a.sigmoid()
        y.data.mul_(2)
        y.sum().backward()
        return arr(a.grad)
    g_t, g_p = both(run)
    assert_same(g_t, g_p)


def test_normal_init_through_data_changes_the_parameter():
    tn.manual_seed(0)
    lin = nn.Linear(4, 3)
    before = lin.weight.array.copy()
    lin.weight.data.normal_(0.0, 0.02)
    lin.bias.data.zero_()
    assert not np.allclose(lin.weight.array, before)
    assert abs(float(lin.weight.array.std()) - 0.02) < 0.015
    assert np.all(lin.bias.array == 0)
    assert lin.weight.requires_grad and lin.weight.grad_fn is None


# ---------------------------------------------------------------- grad mode
def test_set_grad_enabled_as_a_call_context_and_decorator():
    def run(lib):
        seen = []
        x = lib.ones(2, requires_grad=True)
        lib.set_grad_enabled(False)
        seen.append((x * 2).requires_grad)
        lib.set_grad_enabled(True)
        seen.append((x * 2).requires_grad)
        with lib.set_grad_enabled(False):
            seen.append((x * 2).requires_grad)
        seen.append((x * 2).requires_grad)

        @lib.set_grad_enabled(False)
        def f():
            return (x * 2).requires_grad
        seen.append(lib.is_grad_enabled())
        seen.append(f())
        seen.append(lib.is_grad_enabled())
        return seen
    s_t, s_p = both(run)
    assert s_t == s_p == [False, True, False, True, True, False, True]


def test_inference_mode_and_no_grad_as_context_and_decorators():
    def run(lib):
        x = lib.ones(2, requires_grad=True)
        seen = []
        with lib.inference_mode():
            seen.append((x * 2).requires_grad)

        @lib.inference_mode()
        def f():
            return (x * 2).requires_grad

        @lib.no_grad()
        def g():
            return (x * 2).requires_grad

        @lib.no_grad
        def h():
            return (x * 2).requires_grad
        seen += [f(), g(), h(), (x * 2).requires_grad]
        return seen
    s_t, s_p = both(run)
    assert s_t == s_p == [False, False, False, False, True]


def test_no_grad_is_per_thread():
    import threading
    seen = []
    with tn.no_grad():
        t = threading.Thread(target=lambda: seen.append(tn.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


# ---------------------------------------------------------------- inplace=True
@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "dropout"])
def test_inplace_flag_changes_the_input_and_keeps_gradients(name):
    def run(lib):
        F_ = F if lib is tn else torch.nn.functional
        x = lib.tensor([[0.5, -1.0, 2.0], [-0.2, 0.3, -3.0]], requires_grad=True)
        h = x * 1
        if name == "dropout":
            y = F_.dropout(h, p=0.0, training=True, inplace=True) * 1
            y = F_.dropout(y, p=0.5, training=False, inplace=True)
        else:
            y = getattr(F_, name)(h, inplace=True)
        same = y is h
        (y * lib.tensor([1.0, 2.0, 3.0])).sum().backward()
        return same, arr(h), arr(x.grad)
    (same_t, h_t, g_t), (same_p, h_p, g_p) = both(run)
    assert same_t == same_p
    assert_same(h_t, h_p)
    assert_same(g_t, g_p)


@pytest.mark.parametrize("module", ["ReLU", "LeakyReLU", "ELU"])
def test_inplace_activation_modules_change_their_input(module):
    def run(lib):
        nn_ = nn if lib is tn else torch.nn
        x = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
        h = x * 2
        y = getattr(nn_, module)(inplace=True)(h)
        y.sum().backward()
        return y is h, arr(h), arr(x.grad)
    (same_t, h_t, g_t), (same_p, h_p, g_p) = both(run)
    assert same_t and same_p
    assert_same(h_t, h_p)
    assert_same(g_t, g_p)


def test_dropout_inplace_multiplies_the_input():
    tn.manual_seed(3)
    x = tn.ones(1000)
    y = F.dropout(x, p=0.5, training=True, inplace=True)
    assert y is x
    kept = x.array != 0
    assert 400 < kept.sum() < 600 and np.all(x.array[kept] == 2.0)


# ---------------------------------------------------------------- modules
def test_reassigned_child_and_parameter_keep_their_position():
    def run(lib):
        nn_ = nn if lib is tn else torch.nn

        class Net(nn_.Module):
            def __init__(self):
                super().__init__()
                self.a = nn_.Linear(2, 2)
                self.b = nn_.Linear(2, 2)
                self.c = nn_.Linear(2, 2)
                self.p = nn_.Parameter(lib.zeros(1))
                self.q = nn_.Parameter(lib.zeros(1))

        net = Net()
        net.a = nn_.Linear(2, 2)
        net.p = nn_.Parameter(lib.ones(1))
        return ([n for n, _ in net.named_children()], [n for n, _ in net.named_parameters()],
                list(net.state_dict()))
    assert both(run)[0] == both(run)[1]


# ---------------------------------------------------------------- constructors, printing
def test_legacy_constructors():
    def run(lib):
        out = []
        out.append((tuple(lib.Tensor(2, 3).shape), str(lib.Tensor(2, 3).dtype).split(".")[-1]))
        out.append((arr(lib.Tensor([1, 2])).tolist(), str(lib.Tensor([1, 2]).dtype).split(".")[-1]))
        for name in ("FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "ByteTensor",
                     "BoolTensor"):
            t = getattr(lib, name)([1, 0])
            out.append((name, str(t.dtype).split(".")[-1], isinstance(t, getattr(lib, name))))
        out.append(tuple(lib.Tensor().shape))
        out.append(isinstance(lib.tensor([1.0]), lib.LongTensor))
        return out
    got_t, got_p = both(run)
    got_t = [tuple(s.replace("bool_", "bool") if isinstance(s, str) else s for s in item)
             if isinstance(item, tuple) else item for item in got_t]
    assert got_t == got_p


def test_legacy_float_tensor_shares_a_float32_array():
    a = np.ones(3, np.float32)
    t = tn.Tensor(a)
    a[0] = 5
    assert t.array[0] == 5                       # as torch.Tensor(float32 ndarray)
    assert tn.Tensor(np.ones(3)).dtype == tn.float32


def test_formatting_a_0d_tensor_prints_the_number():
    def run(lib):
        t = lib.tensor(1.25)
        return format(t, ".3f"), "{}".format(t), f"{t:>8.2f}", f"{lib.tensor(3)}"
    assert both(run)[0] == both(run)[1]
    with pytest.raises(TypeError):
        format(tn.ones(2), ".2f")                # as PyTorch: only 0-d tensors take a spec


def test_size_is_a_tuple_with_a_size_repr():
    s = tn.ones(2, 3).size()
    assert isinstance(s, tuple) and s == (2, 3) and s.numel() == 6
    assert repr(s) == "tinynet.Size([2, 3])"
    assert repr(torch.ones(2, 3).size()) == "torch.Size([2, 3])"
    assert tn.ones(2, 3).size(1) == 3 and tn.ones(2, 3).size(-1) == 3
