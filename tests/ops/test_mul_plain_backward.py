"""Mul's plain backward (no graph: the arrays multiplied directly) gives the
same gradients as its composed backward (``create_graph=True``, tinynet
ops), with broadcasting, 0-d operands, scalars and mixed dtypes."""
import numpy as np
import pytest

import tinynet as tn

CASES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 5), (3, 1)), ((), (3,)), ((), ())]


def _grads(a_arr, b, create_graph):
    a = tn.tensor(a_arr, requires_grad=True)
    y = a * b
    gy = tn.tensor(np.linspace(-1, 1, max(y.numel(), 1)).reshape(y.shape).astype(y.dtype))
    wrt = [a] + ([b] if isinstance(b, tn.Tensor) and b.requires_grad else [])
    return y, tn.grad(y, wrt, grad_outputs=gy, create_graph=create_graph)


@pytest.mark.parametrize("sa,sb", CASES, ids=[f"{a}x{b}" for a, b in CASES])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_plain_backward_equals_composed(sa, sb, dt):
    rng = np.random.default_rng(0)
    a_arr = rng.standard_normal(sa).astype(dt)
    b_arr = rng.standard_normal(sb).astype(dt)
    results = []
    for create_graph in (False, True):
        b = tn.tensor(b_arr, requires_grad=True)
        y, gs = _grads(a_arr, b, create_graph)
        results.append((y, gs))
    (y0, g0), (y1, g1) = results
    for p, q in zip(g0, g1):
        assert p.dtype == q.dtype and p.shape == q.shape
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    assert g1[0].requires_grad and not g0[0].requires_grad


def test_plain_backward_with_a_scalar_and_a_mixed_dtype_gradient():
    a = tn.tensor([1.0, -2.0, 3.0], requires_grad=True)
    (a * 2.5).backward(tn.tensor([1.0, 1.0, 1.0], dtype=tn.float64))
    assert a.grad.dtype == tn.float32          # the gradient takes the input's dtype
    np.testing.assert_array_equal(a.grad.numpy(), np.float32([2.5, 2.5, 2.5]))
    b = tn.tensor([2.0, 4.0], dtype=tn.float64, requires_grad=True)
    (b * 3).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), [3.0, 3.0])
