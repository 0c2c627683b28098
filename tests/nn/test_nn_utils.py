"""nn.utils: gradient clipping (any norm) and flat parameter vectors, against PyTorch."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
from tinynet.nn.utils import (clip_grad_norm_, clip_grad_value_, parameters_to_vector,
                              vector_to_parameters)


def grads_pair(seed=0):
    """The same parameters with the same gradients in tinynet and PyTorch."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (4,), (2, 2, 2)]
    ours, theirs = [], []
    for s in shapes:
        g = (rng.standard_normal(s) * 3).astype(np.float32)
        p = nn.Parameter(tn.zeros(*s))
        p.grad = tn.tensor(g)
        q = torch.nn.Parameter(torch.zeros(s))
        q.grad = torch.tensor(g)
        ours.append(p)
        theirs.append(q)
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    ours, theirs = grads_pair()
    total = clip_grad_norm_(ours, max_norm, norm_type)
    t_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    np.testing.assert_allclose(total.item(), t_total.item(), rtol=1e-5)
    assert total.dtype == tn.float32
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_norm_nonfinite_and_empty():
    p = nn.Parameter(tn.zeros(2))
    p.grad = tn.tensor([float("inf"), 1.0])
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert clip_grad_norm_([nn.Parameter(tn.zeros(2))], 1.0).item() == 0.0


def test_clip_grad_value_matches_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = grads_pair(1)
    clip_grad_value_(ours, 0.7)
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for p, q in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())


def test_clip_on_a_model_after_backward():
    m = nn.Linear(5, 3)
    (m(tn.ones(4, 5)) * 100).sum().backward()
    clip_grad_norm_(m.parameters(), 1.0)
    total = np.sqrt(sum((p.grad.numpy().astype(np.float64) ** 2).sum()
                        for p in m.parameters()))
    assert total == pytest.approx(1.0, rel=1e-4)


def test_parameters_vector_round_trip():
    m = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    vec = parameters_to_vector(m.parameters())
    assert vec.shape == (3 * 4 + 4 + 4 * 2 + 2,)
    np.testing.assert_array_equal(vec.numpy()[:12], m[0].weight.numpy().ravel())
    vector_to_parameters(vec * 2, m.parameters())
    np.testing.assert_array_equal(parameters_to_vector(m.parameters()).numpy(),
                                  vec.numpy() * 2)
    with pytest.raises(ValueError, match="has 3 elements"):
        vector_to_parameters(tn.ones(3), m.parameters())


def test_parameters_to_vector_is_differentiable():
    m = nn.Linear(2, 2)
    (parameters_to_vector(m.parameters()) ** 2).sum().backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), 2 * m.weight.numpy())
