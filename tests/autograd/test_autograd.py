"""The autograd engine: accumulation, graph freeing, create_graph, hooks,
tn.grad, grad mode, deep graphs and memory."""
import gc
import threading
import weakref

import numpy as np
import pytest

import tinynet as tn


def f64(*shape, requires_grad=True, seed=0):
    rng = np.random.default_rng(seed)
    return tn.tensor(rng.standard_normal(shape), requires_grad=requires_grad)


def test_backward_simple_chain_matches_hand_derivative():
    x = tn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x * 3 + x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy() + 1)
    assert x.grad.dtype == tn.float32


def test_gradients_accumulate_until_zeroed():
    x = tn.tensor([2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    assert x.grad.item() == 6.0
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.item() == 3.0


def test_tensor_used_twice_gets_both_paths():
    x = tn.tensor([3.0], requires_grad=True)
    y = x * x + x           # dy/dx = 2x + 1
    y.backward(tn.ones_like(y))
    assert x.grad.item() == 7.0


def test_diamond_graph():
    x = tn.tensor(2.0, requires_grad=True)
    a = x * 2
    b = a.exp()
    c = a.sin()
    (b + c).backward()
    expected = 2 * np.exp(4.0) + 2 * np.cos(4.0)
    assert np.isclose(x.grad.item(), expected, rtol=1e-6)


def test_second_backward_through_freed_graph_raises():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward(retain_graph=True)
    g1 = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * g1)


def test_backward_on_non_scalar_needs_gradient():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="only for scalar outputs.*shape \\(2,\\)"):
        (x * 2).backward()


def test_backward_on_tensor_without_grad_explains():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tn.tensor([1.0]).sum().backward()


def test_no_grad_records_nothing_and_enable_grad_restores():
    x = tn.tensor([1.0], requires_grad=True)
    with tn.no_grad():
        y = x * 2
        with tn.enable_grad():
            z = x * 2
    assert y.grad_fn is None and not y.requires_grad
    assert z.grad_fn is not None
    assert tn.is_grad_enabled()


def test_no_grad_as_decorator():
    @tn.no_grad()
    def f(x):
        return x * 2
    assert f(tn.tensor([1.0], requires_grad=True)).grad_fn is None


def test_grad_mode_is_thread_local():
    seen = {}
    inside = threading.Event()
    done = threading.Event()

    def worker():
        with tn.no_grad():
            inside.set()
            done.wait(5)

    t = threading.Thread(target=worker)
    t.start()
    inside.wait(5)
    seen["main"] = tn.is_grad_enabled()
    done.set()
    t.join()
    assert seen["main"] is True


def test_tn_grad_returns_gradients_without_touching_dot_grad():
    x = f64(3)
    w = f64(3, seed=1)
    y = (x * w).sum()
    gx, gw = tn.grad(y, [x, w])
    np.testing.assert_allclose(gx.numpy(), w.numpy())
    np.testing.assert_allclose(gw.numpy(), x.numpy())
    assert x.grad is None and w.grad is None


def test_tn_grad_of_intermediate_tensor():
    x = f64(3)
    h = x * 2
    y = (h * h).sum()
    gh, = tn.grad(y, h)
    np.testing.assert_allclose(gh.numpy(), 2 * h.numpy())


def test_tn_grad_unused_input():
    x, z = f64(2), f64(2, seed=3)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        tn.grad(y, [x, z], retain_graph=True)
    gx, gz = tn.grad(y, [x, z], allow_unused=True)
    assert gz is None and np.allclose(gx.numpy(), 2)


def test_create_graph_gives_second_derivative():
    x = tn.tensor([0.5, -1.0, 2.0], dtype=tn.float64, requires_grad=True)
    y = (x ** 3).sum()
    gx, = tn.grad(y, x, create_graph=True)
    ggx, = tn.grad(gx.sum(), x)
    np.testing.assert_allclose(gx.numpy(), 3 * x.numpy() ** 2)
    np.testing.assert_allclose(ggx.numpy(), 6 * x.numpy())


def test_third_derivative_of_tanh():
    x = tn.tensor([0.3], dtype=tn.float64, requires_grad=True)
    g = x.tanh()
    for _ in range(3):
        g, = tn.grad(g.sum(), x, create_graph=True)
    t = np.tanh(0.3)
    np.testing.assert_allclose(g.numpy(), [-2 * (1 - t * t) * (1 - 3 * t * t)], rtol=1e-10)


def test_backward_create_graph_makes_differentiable_grad():
    x = tn.tensor([1.5], dtype=tn.float64, requires_grad=True)
    (x ** 2).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    g2, = tn.grad(x.grad.sum(), x)
    assert g2.item() == 2.0


def test_hooks_see_and_replace_gradient():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    handle = x.register_hook(lambda g: g * 10)
    (h * 2).sum().backward()
    np.testing.assert_allclose(seen[0], [2, 2])
    np.testing.assert_allclose(x.grad.numpy(), [60, 60])
    handle.remove()
    x.grad = None
    (x * 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1, 1])


def test_retain_grad_on_non_leaf():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    h = (x * 3).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.numpy())


def test_detach_and_requires_grad_():
    x = tn.tensor([1.0], requires_grad=True)
    d = (x * 2).detach()
    assert d.grad_fn is None and not d.requires_grad
    with pytest.raises(RuntimeError, match="only floating point"):
        tn.tensor([1, 2]).requires_grad_()


def test_leaf_grads_never_share_memory():
    # Add hands the same gradient array to both inputs; an in-place change of
    # one .grad (as optimizers and clip_grad_norm_ do) must not change another.
    a = tn.tensor([1.0, 2.0], requires_grad=True)
    b = tn.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.array *= 5
    np.testing.assert_allclose(b.grad.numpy(), [1, 1])


def test_user_grad_output_is_not_aliased_into_grad():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    g = tn.tensor([1.0, 1.0])
    x.backward(g)          # backward of a leaf itself
    x.grad.array += 1
    np.testing.assert_allclose(g.numpy(), [1, 1])


def test_inplace_change_of_saved_input_is_detected():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    y = (h * h).sum()
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_inplace_on_leaf_requiring_grad_is_refused():
    x = tn.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        x.add_(1)
    with tn.no_grad():
        x.add_(1)
    assert x.item() == 2.0


def test_deep_chain_backward_is_iterative():
    x = tn.tensor([1.0], dtype=tn.float64, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad.item() == 1.0


def test_graph_is_freed_without_garbage_collector():
    # no reference cycles: the graph dies by reference counting alone
    gc.disable()
    try:
        x = tn.tensor(np.ones(1000), requires_grad=True)
        y = (x.exp() * 2).tanh().sum()
        fn_ref = weakref.ref(y.grad_fn)
        y.backward()
        del y
        assert fn_ref() is None
        h = x * 2
        ref = weakref.ref(h.grad_fn)
        del h
        assert ref() is None
    finally:
        gc.enable()


def test_no_memory_growth_across_training_iterations():
    import tracemalloc
    w = tn.tensor(np.random.default_rng(0).standard_normal((64, 64)), requires_grad=True)
    x = tn.tensor(np.random.default_rng(1).standard_normal((32, 64)))

    def step():
        loss = ((x @ w).tanh() ** 2).mean()
        loss.backward()
        w.grad = None

    for _ in range(5):
        step()
    tracemalloc.start()
    step()
    first, _ = tracemalloc.get_traced_memory()
    for _ in range(50):
        step()
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert after - first < 64 * 1024


def test_custom_function_as_in_design():
    class Square(tn.Function):
        def forward(self, x):
            return x * x

        def backward(self, gy):
            x, = self.inputs
            return 2 * x * gy

    x = f64(4)
    assert tn.gradcheck(lambda t: Square()(t), (x,))
    assert tn.gradgradcheck(lambda t: Square()(t), (x,))


def test_custom_function_wrong_gradient_shape_is_reported():
    class Broken(tn.Function):
        def forward(self, a, b):
            return a + b

        def backward(self, gy):
            return gy, gy            # forgot sum_to for the broadcast input

    a, b = f64(2, 3), f64(3)
    with pytest.raises(RuntimeError, match="Broken.backward returned a gradient of shape"):
        Broken()(a, b).sum().backward()


def test_multi_output_function_with_unused_output():
    x = f64(6)
    a, b, c = tn.split(x, 2)
    (b * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, 0, 3, 3, 0, 0])


def test_detect_anomaly_names_the_forward_op_and_user_line():
    x = tn.tensor([1.0, 0.0], requires_grad=True)
    with tn.autograd.detect_anomaly():
        with pytest.raises(RuntimeError, match=r"Log produced NaN or Inf .*test_autograd.py"):
            with np.errstate(divide="ignore"):
                x.log()


def test_detect_anomaly_names_the_backward_op():
    x = tn.tensor([1.0, 0.0], requires_grad=True)
    with tn.autograd.detect_anomaly():
        y = x.sqrt().sum()
        with np.errstate(divide="ignore"):
            with pytest.raises(RuntimeError, match=r"backward of Sqrt returned NaN or Inf.*"
                                                   r"input 0.*test_autograd.py"):
                y.backward()


def test_detect_anomaly_is_off_by_default_and_restored():
    x = tn.tensor([0.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        assert np.isinf(x.log().item())
    with tn.autograd.detect_anomaly():
        pass
    with np.errstate(divide="ignore"):
        assert np.isinf(x.log().item())


def test_graph_summary_counts_saved_bytes():
    x = tn.tensor(np.ones(1000, np.float32), requires_grad=True)
    y = (x * 2).exp().sum()
    s = tn.autograd.graph_summary(y)
    names = [op["op"] for op in s.ops]
    assert names == ["Sum", "Exp", "Mul"]
    # x (4000 B) and the Mul output (4000 B), and Exp's saved output (4000 B)
    assert s.total_bytes == 12000 + 4       # + the float32 scalar 2
    assert "3 ops" in str(s)
