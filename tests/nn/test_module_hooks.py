"""Module hooks against PyTorch: the same tiny models in both libraries, hooks
that record what they see (and sometimes replace it), and the records,
outputs and gradients compared."""
import warnings
from collections import OrderedDict

import numpy as np
import pytest
import torch

import tinynet as tn
import tinynet.nn as nn
from tinynet.nn import module as tn_module
from tinynet.utils.hooks import RemovableHandle


def build(lib):
    """Linear -> Tanh -> (Linear -> ReLU) -> Linear, in tinynet (lib=nn) or torch.nn."""
    return lib.Sequential(OrderedDict([
        ("fc1", lib.Linear(4, 5)),
        ("act", lib.Tanh()),
        ("block", lib.Sequential(lib.Linear(5, 3), lib.ReLU())),
        ("head", lib.Linear(3, 2)),
    ]))


def twins(seed=0):
    tn.manual_seed(seed)
    ours = build(nn)
    theirs = build(torch.nn)
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    return ours, theirs


def arr(x):
    """A hook argument as plain data: arrays, None, or nested tuples of them."""
    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        return x.detach().numpy().copy()
    if isinstance(x, tn.Tensor):
        return x.numpy().copy()
    if isinstance(x, (tuple, list)):
        return tuple(arr(v) for v in x)
    if isinstance(x, dict):
        return {k: arr(v) for k, v in x.items()}
    return x


def assert_same(a, b, path="value"):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), f"{path}: {a!r} vs {b!r}"
        assert a.shape == b.shape, f"{path}: shape {a.shape} vs {b.shape}"
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=path)
    elif isinstance(a, (tuple, list)):
        assert type(b) is type(a) and len(a) == len(b), f"{path}: {a!r} vs {b!r}"
        for k, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{k}]")
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{path}: {a!r} vs {b!r}"
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


def names_of(model):
    return {id(m): name or "model" for name, m in model.named_modules()}


def x_pair(requires_grad=False):
    x = np.random.default_rng(1).standard_normal((6, 4)).astype(np.float32)
    return (tn.tensor(x, requires_grad=requires_grad),
            torch.tensor(x, requires_grad=requires_grad))


# ---------------------------------------------------------------- forward hooks
def test_forward_pre_and_forward_hooks_see_the_same_values_in_the_same_order():
    records = {}
    for lib, model, x in (("tn", twins()[0], x_pair()[0]), ("torch", twins()[1], x_pair()[1])):
        log, names = [], names_of(model)
        for m in model.modules():
            m.register_forward_pre_hook(lambda mod, args: log.append(("pre", names[id(mod)],
                                                                      arr(args))))
            m.register_forward_hook(lambda mod, args, out: log.append(("fwd", names[id(mod)],
                                                                       arr(args), arr(out))))
        out = model(x)
        records[lib] = (log, arr(out))
    assert [r[:2] for r in records["tn"][0]] == [r[:2] for r in records["torch"][0]]
    assert records["tn"][0][0][:2] == ("pre", "model")
    assert_same(records["tn"], records["torch"])


def test_hooks_replace_inputs_and_outputs_as_pytorch():
    results = {}
    for lib, model, x in (("tn", twins()[0], x_pair()[0]), ("torch", twins()[1], x_pair()[1])):
        model.fc1.register_forward_pre_hook(lambda m, args: args[0] * 2)    # single value
        model.act.register_forward_pre_hook(lambda m, args: (args[0] + 1,))  # tuple
        model.block.register_forward_hook(lambda m, args, out: out * -3)
        # the second forward hook sees the first one's replacement
        seen = []
        model.block.register_forward_hook(lambda m, args, out: seen.append(arr(out)))
        results[lib] = (arr(model(x)), seen)
    assert_same(results["tn"], results["torch"])


def test_with_kwargs_hooks():
    def make(lib):
        class M(lib.Module):
            def forward(self, x, scale=1.0):
                return x * scale
        return M()

    out = {}
    for lib, mod, x in ((nn, make(nn), tn.ones(3)), (torch.nn, make(torch.nn), torch.ones(3))):
        seen = []
        mod.register_forward_pre_hook(
            lambda m, args, kwargs: (args, {**kwargs, "scale": kwargs["scale"] * 10}),
            with_kwargs=True)
        mod.register_forward_hook(lambda m, args, kwargs, o: seen.append((arr(args), kwargs)),
                                  with_kwargs=True)
        mod.register_forward_hook(lambda m, args, kwargs, o: o + 1, with_kwargs=True)
        out[lib.__name__.split(".")[0]] = (arr(mod(x, scale=2.0)), seen)
    assert_same(out["tinynet"], out["torch"])
    assert out["tinynet"][1][0][1] == {"scale": 20.0}


def test_bad_pre_hook_return_with_kwargs_raises_like_pytorch():
    for lib, x in ((nn, tn.ones(2)), (torch.nn, torch.ones(2))):
        m = lib.Identity()
        m.register_forward_pre_hook(lambda mod, args, kwargs: args, with_kwargs=True)
        with pytest.raises(RuntimeError, match="forward pre-hook must return None or a tuple"):
            m(x)


def test_prepend_and_global_hooks_order():
    orders = {}
    for lib, reg, x in ((nn, tn.nn.modules.module.register_module_forward_hook,
                         tn.ones(1, 4)),
                        (torch.nn, torch.nn.modules.module.register_module_forward_hook,
                         torch.ones(1, 4))):
        m = lib.Linear(4, 2)
        order = []
        h1 = m.register_forward_hook(lambda *a: order.append("first"))
        h2 = m.register_forward_hook(lambda *a: order.append("prepended"), prepend=True)
        g = reg(lambda mod, args, out: order.append("global " + type(mod).__name__))
        try:
            m(x)
        finally:
            g.remove()
        m(x)        # the global hook is gone
        h1.remove(), h2.remove()
        m(x)
        orders[lib.__name__] = order
    assert orders["tinynet.nn"] == orders["torch.nn"] == [
        "global Linear", "prepended", "first", "prepended", "first"]


def test_global_pre_hook_backward_hooks_and_their_removal():
    model, _ = twins()
    x, _ = x_pair(requires_grad=True)
    seen = []
    handles = [
        tn_module.register_module_forward_pre_hook(lambda m, a: seen.append(("pre", type(m)))),
        tn_module.register_module_full_backward_pre_hook(
            lambda m, go: seen.append(("bpre", type(m)))),
        tn_module.register_module_full_backward_hook(
            lambda m, gi, go: seen.append(("bwd", type(m)))),
    ]
    try:
        model(x).sum().backward()
    finally:
        for h in handles:
            h.remove()
    kinds = [k for k, _ in seen]
    assert kinds.count("pre") == kinds.count("bpre") == kinds.count("bwd") == 7
    assert seen[-1] == ("bwd", nn.Sequential)           # the model's inputs come last
    seen.clear()
    model(x).sum().backward()
    assert seen == []
    for d in (tn_module._global_forward_pre_hooks, tn_module._global_forward_hooks,
              tn_module._global_backward_pre_hooks, tn_module._global_backward_hooks):
        assert not d


def test_always_call_hooks_run_when_forward_raises():
    class Boom:
        def __init__(self, lib):
            class M(lib.Module):
                def forward(self, x):
                    raise ValueError("boom")
            self.m = M()

    logs = {}
    for lib, x in ((nn, tn.ones(2)), (torch.nn, torch.ones(2))):
        m = Boom(lib).m
        log = []
        m.register_forward_hook(lambda mod, a, out: log.append(("always", out)), always_call=True)
        m.register_forward_hook(lambda mod, a, out: log.append(("normal", out)))

        def broken(mod, a, out):
            raise KeyError("hook")
        m.register_forward_hook(broken, always_call=True)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            with pytest.raises(ValueError, match="boom"):
                m(x)
        assert any("always_call=True" in str(x.message) for x in w)
        logs[lib.__name__] = log
    assert logs["tinynet.nn"] == logs["torch.nn"] == [("always", None)]


# ---------------------------------------------------------------- handles
def test_handles_remove_and_work_as_context_managers():
    m = nn.Linear(3, 2)
    calls = []
    with m.register_forward_hook(lambda *a: calls.append(1), with_kwargs=False,
                                 always_call=True) as h:
        assert isinstance(h, RemovableHandle)
        m(tn.ones(1, 3))
        assert h.id in m._forward_hooks and h.id in m._forward_hooks_always_called
    m(tn.ones(1, 3))
    assert calls == [1]
    assert not m._forward_hooks and not m._forward_hooks_always_called
    h = m.register_forward_pre_hook(lambda mod, a, k: None, with_kwargs=True)
    assert h.id in m._forward_pre_hooks_with_kwargs
    h.remove()
    h.remove()                         # twice is harmless
    assert not m._forward_pre_hooks and not m._forward_pre_hooks_with_kwargs
    for register in (m.register_full_backward_hook, m.register_full_backward_pre_hook):
        with register(lambda *a: None):
            pass
    assert not m._backward_hooks and not m._backward_pre_hooks
    assert "removed" in repr(h)


def test_handle_ids_are_unique_and_hooks_must_be_callable():
    m = nn.ReLU()
    handles = [m.register_forward_hook(print), m.register_forward_pre_hook(print),
               tn_module.register_module_forward_hook(print)]
    handles[2].remove()
    assert not tn_module._global_forward_hooks
    assert len({h.id for h in handles}) == 3
    with pytest.raises(TypeError, match="register_forward_hook: the hook must be callable"):
        m.register_forward_hook(42)


def test_a_module_without_hooks_calls_forward_directly():
    m = nn.Linear(2, 2)
    x = tn.ones(1, 2, requires_grad=True)
    y = m(x)
    assert y.grad_fn.name != "BackwardHookFunction"
    with m.register_full_backward_hook(lambda *a: None):
        assert m(x).grad_fn.name == "BackwardHookFunction"
    assert m(x).grad_fn.name != "BackwardHookFunction"


def test_deprecated_backward_hook_is_refused_with_the_alternative():
    with pytest.raises(NotImplementedError, match="register_full_backward_hook"):
        nn.Linear(2, 2).register_backward_hook(lambda *a: None)
    with pytest.raises(NotImplementedError, match="register_module_full_backward_hook"):
        tn_module.register_module_backward_hook(lambda *a: None)


# ---------------------------------------------------------------- backward hooks
@pytest.mark.parametrize("input_requires_grad", [False, True])
def test_full_backward_hooks_see_pytorchs_gradients_in_pytorchs_order(input_requires_grad):
    records = {}
    for lib, model, x in (("tn", twins()[0], x_pair(input_requires_grad)[0]),
                          ("torch", twins()[1], x_pair(input_requires_grad)[1])):
        log, names = [], names_of(model)
        for m in model.modules():
            m.register_full_backward_pre_hook(
                lambda mod, go: log.append(("pre", names[id(mod)], arr(go))))
            m.register_full_backward_hook(
                lambda mod, gi, go: log.append(("full", names[id(mod)], arr(gi), arr(go))))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")            # PyTorch's note on grad_input None
            (model(x) ** 2).sum().backward()
        grads = {n: arr(p.grad) for n, p in model.named_parameters()}
        records[lib] = (log, grads, arr(x.grad))
    assert [r[:2] for r in records["tn"][0]] == [r[:2] for r in records["torch"][0]]
    assert_same(records["tn"], records["torch"])


def test_backward_hooks_replace_gradients_as_pytorch():
    results = {}
    for lib, model, x in (("tn", twins()[0], x_pair(True)[0]),
                          ("torch", twins()[1], x_pair(True)[1])):
        # the pre-hook doubles what flows into `block`; the hook on `act`
        # replaces what flows out of it towards fc1
        model.block.register_full_backward_pre_hook(lambda m, go: (go[0] * 2,))
        model.act.register_full_backward_hook(lambda m, gi, go: (gi[0] + 0.5,))
        seen = []
        model.act.register_full_backward_hook(lambda m, gi, go: seen.append(arr(gi)))
        model(x).sum().backward()
        results[lib] = ({n: arr(p.grad) for n, p in model.named_parameters()}, arr(x.grad),
                        seen)
    assert_same(results["tn"], results["torch"])


def test_backward_hooks_on_several_inputs_and_outputs():
    def make(lib):
        class M(lib.Module):
            def forward(self, x, k, w, y, bias=None):
                # outputs: used, unused, not requiring grad, not a tensor
                return x * k * w + y * bias, x * 3, w + 1, 7
        return M()

    results = {}
    for name, lib, T in (("tn", nn, tn), ("torch", torch.nn, torch)):
        m = make(lib)
        log = []
        m.register_full_backward_pre_hook(lambda mod, go: log.append(("pre", arr(go))))
        m.register_full_backward_hook(lambda mod, gi, go: log.append(("full", arr(gi),
                                                                      arr(go))))
        x = T.ones(2, requires_grad=True)
        y = T.ones(2, requires_grad=True)
        w = T.ones(2) * 2
        b = T.ones(2, requires_grad=True)
        a, unused, const, seven = m(x, 3.0, w, y, bias=b)
        assert seven == 7 and not const.requires_grad
        a.sum().backward()
        results[name] = (log, arr(x.grad), arr(y.grad), arr(b.grad))
    assert_same(results["tn"], results["torch"])
    log = results["tn"][0]
    assert log[1][1][1] is None            # the float argument
    assert log[0][1][1] is None            # the unused output


def test_backward_hook_wrong_number_of_gradients_raises():
    for lib, x in ((nn, tn.ones(1, 2, requires_grad=True)),
                   (torch.nn, torch.ones(1, 2, requires_grad=True))):
        m = lib.Linear(2, 2)
        m.register_full_backward_hook(lambda mod, gi, go: (gi[0], gi[0]))
        with pytest.raises(RuntimeError, match="invalid number of grad_input, got 2, but "
                                               "expected 1"):
            m(x).sum().backward()
        m = lib.Linear(2, 2)
        m.register_full_backward_pre_hook(lambda mod, go: (go[0], go[0]))
        with pytest.raises(RuntimeError, match="invalid number of grad_output, got 2"):
            m(x).sum().backward()
        m = lib.Linear(2, 2)
        m.register_full_backward_hook(lambda mod, gi, go: (tn.ones(1, 2),))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(RuntimeError, match="no input requires gradient"):
                m(x.detach()).sum().backward()


def test_backward_hooks_do_not_fire_without_a_graph_and_forbid_in_place_changes():
    m = nn.Linear(2, 2)
    fired = []
    m.register_full_backward_hook(lambda *a: fired.append(1))
    with tn.no_grad():
        y = m(tn.ones(1, 2, requires_grad=True))
    assert y.grad_fn is None and fired == []
    r = nn.ReLU(inplace=True)
    r.register_full_backward_hook(lambda *a: None)
    x = tn.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        r(x * 1)
    out = nn.Identity()
    out.register_full_backward_pre_hook(lambda *a: None)
    with pytest.raises(RuntimeError, match="in-place"):
        out(x * 1).add_(1)


def test_gradients_through_hooked_modules_stay_differentiable():
    tn.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    seen = []
    for m in model.modules():
        m.register_full_backward_hook(lambda mod, gi, go: seen.append(type(mod).__name__))
        m.register_forward_hook(lambda mod, a, out: None)
    x = tn.randn(2, 3, dtype=tn.float64, requires_grad=True)
    assert tn.gradcheck(lambda t: model(t), (x,))
    assert tn.gradgradcheck(lambda t: model(t), (x,))
    assert "Tanh" in seen


def test_retain_graph_second_backward_fires_again():
    m = nn.Linear(2, 1)
    calls = []
    m.register_full_backward_hook(lambda mod, gi, go: calls.append(arr(gi)))
    x = tn.ones(1, 2, requires_grad=True)
    y = m(x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert len(calls) == 2
    assert_same(calls[0], calls[1])
