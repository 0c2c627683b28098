"""``tn.autograd.backward_simple``, the engine in a few lines that the tour
links, gives the same gradients as the real engine on graphs that exercise
what it has to get right: fan-out (a tensor used twice), broadcasting, a
multi-output op with an unused output, ops whose backward returns None for
an input, and a deep chain."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.nn.functional as F


def _mlp(x, w1, b1, w2):
    return (F.relu(x @ w1 + b1) @ w2).tanh().sum()


def _fan_out(x, w1, b1, w2):
    h = x * x + 3 * x                    # x used three times
    return (h @ w1).sum() + (h.exp() * b1.sum()).mean() + w2.sum() * 0.5


def _split_unused(x, w1, b1, w2):
    a, b = x.split(2, dim=1)             # b is never used
    return (a @ w1[:2] + b1).sum() * w2.mean()


def _index_and_where(x, w1, b1, w2):
    y = tn.where(x > 0, x, x * 0.1)      # where's condition gets no gradient
    return (y[:, 1:] @ w1[1:]).max() + F.softmax(b1, dim=0)[0] + w2.norm()


def _deep_chain(x, w1, b1, w2):
    y = x
    for _ in range(200):
        y = y * 0.99 + 0.01
    return y.sum() + w1.sum() + b1.sum() + w2.sum()


@pytest.mark.parametrize("graph", [_mlp, _fan_out, _split_unused, _index_and_where,
                                   _deep_chain])
@pytest.mark.parametrize("dtype", [tn.float32, tn.float64])
def test_backward_simple_equals_the_engine(graph, dtype):
    rng = np.random.default_rng(0)

    def leaves():
        return [tn.tensor(rng.standard_normal(s), dtype=dtype, requires_grad=True)
                for s in ((5, 4), (4, 3), (3,), (3, 2))]

    real = leaves()
    graph(*real).backward()
    rng = np.random.default_rng(0)
    simple = leaves()
    tn.autograd.backward_simple(graph(*simple))
    for a, b in zip(real, simple):
        assert b.grad is not None
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def test_backward_simple_accumulates_like_backward():
    x = tn.tensor([1.0, -2.0], requires_grad=True)
    tn.autograd.backward_simple((x * x).sum())
    tn.autograd.backward_simple((x * 3).sum())
    np.testing.assert_allclose(x.grad.numpy(), [2 + 3, -4 + 3])


def test_backward_simple_is_short():
    """The tour promises a few lines: keep it readable at a glance."""
    import inspect
    source = inspect.getsource(tn.autograd.backward_simple)
    code = [ln for ln in source.splitlines()
            if ln.strip() and not ln.strip().startswith(("#", '"""')) and '"""' not in ln]
    assert len(code) <= 30, len(code)


def test_a_none_gradient_reaching_a_single_output_op_stops_there():
    """A backward that returns None for an input produced by another op: that
    op gets no gradient and its backward is skipped (PyTorch treats None as
    zero), in both engines."""
    class FirstOnly(tn.Function):
        def forward(self, a, b):
            return a + b

        def backward(self, gy):
            return gy, None

    for run in (lambda y: y.backward(), tn.autograd.backward_simple):
        x = tn.tensor([1.0, 2.0], requires_grad=True)
        run(FirstOnly()(x, x * 3).sum())
        np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
