"""Ops on tensors with a dim of size 0, against PyTorch: what PyTorch computes
tinynet computes (same shape, values and gradient), and what PyTorch refuses
tinynet refuses with an error naming the op."""
import math

import numpy as np
import pytest
import torch

import tinynet as tn
import tinynet.nn.functional as F


def both(fn_tn, fn_torch, *shapes, grad=True):
    """Run the two functions on the same float64 inputs; compare the outputs
    and, when ``grad``, the gradients of a weighted sum of the output."""
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in shapes]
    xs = [tn.tensor(a, requires_grad=grad) for a in arrays]
    ts = [torch.tensor(a, requires_grad=grad) for a in arrays]
    y, r = fn_tn(*xs), fn_torch(*ts)
    assert y.shape == tuple(r.shape)
    np.testing.assert_allclose(y.numpy(), r.detach().numpy(), rtol=1e-12, atol=1e-12)
    if grad:
        w = rng.standard_normal(y.shape)
        got = tn.grad([y], xs, grad_outputs=[tn.tensor(w)], allow_unused=True)
        want = torch.autograd.grad([r], ts, [torch.tensor(w)], allow_unused=True)
        for g, v in zip(got, want):
            g = np.zeros(0) if g is None else g.numpy()
            v = np.zeros(0) if v is None else v.numpy()
            assert g.shape == v.shape or not (g.any() or v.any())
            np.testing.assert_allclose(g, v, rtol=1e-12, atol=1e-12)
    return y


def refused_by_both(fn_tn, fn_torch, shape, match):
    with pytest.raises(Exception):
        fn_torch(torch.zeros(shape, dtype=torch.float64))
    with pytest.raises((ValueError, TypeError), match=match):
        fn_tn(tn.zeros(shape, dtype=tn.float64))


# ---------------------------------------------------------------- max / min
@pytest.mark.parametrize("name, fn_tn, fn_torch", [
    ("amax", lambda x: tn.amax(x, (0, 2)), lambda x: torch.amax(x, (0, 2))),
    ("amin-keepdim", lambda x: tn.amin(x, 2, keepdims=True),
     lambda x: torch.amin(x, 2, keepdim=True)),
    ("max-tuple", lambda x: tn.max(x, axis=(0, 2)), lambda x: torch.amax(x, (0, 2))),
    ("max-dim", lambda x: tn.max(x, 0).values, lambda x: torch.max(x, 0).values),
    ("min-dim-indices", lambda x: tn.min(x, 2).indices.float(),
     lambda x: torch.min(x, 2).indices.double()),
])
def test_max_min_of_an_empty_tensor_over_non_empty_dims_is_empty(name, fn_tn, fn_torch):
    y = both(fn_tn, fn_torch, (2, 0, 3), grad="indices" not in name)
    assert y.numel() == 0


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_of_an_empty_tensor_over_a_non_empty_dim_is_empty(name):
    y = getattr(tn, name)(tn.zeros(2, 0, 3), dim=2, keepdim=True)
    r = getattr(torch, name)(torch.zeros(2, 0, 3), dim=2, keepdim=True)
    assert y.shape == tuple(r.shape) == (2, 0, 1) and y.dtype == np.int64


@pytest.mark.parametrize("name, fn_tn, fn_torch", [
    ("amax", lambda x: tn.amax(x, 1), lambda x: torch.amax(x, 1)),
    ("amin-all", lambda x: tn.amin(x), lambda x: torch.amin(x)),
    ("max-all", lambda x: tn.max(x), lambda x: torch.max(x)),
    ("argmax-dim", lambda x: tn.argmax(x, 1), lambda x: torch.argmax(x, 1)),
    ("argmin-all", lambda x: tn.argmin(x), lambda x: torch.argmin(x)),
])
def test_max_min_over_a_dim_of_size_0_is_refused(name, fn_tn, fn_torch):
    refused_by_both(fn_tn, fn_torch, (2, 0, 3),
                    rf"^{name.split('-')[0]}: cannot reduce an empty tensor of shape \(2, 0, 3\) "
                    "over dim 1 of size 0")


# ---------------------------------------------------------------- norms
def test_inf_norms_of_an_empty_tensor_over_non_empty_dims_are_empty():
    for p in (math.inf, -math.inf):
        both(lambda x: x.norm(p, 0), lambda x: x.norm(p, 0), (3, 0))
    both(lambda x, y: F.pairwise_distance(x, y, math.inf),
         lambda x, y: torch.nn.functional.pairwise_distance(x, y, math.inf), (0, 4), (0, 4))


@pytest.mark.parametrize("p", [math.inf, -math.inf])
@pytest.mark.parametrize("dim", [1, None])
def test_inf_norm_over_a_dim_of_size_0_is_refused(p, dim):
    refused_by_both(lambda x: tn.linalg.vector_norm(x, p, dim),
                    lambda x: torch.linalg.vector_norm(x, p, dim), (3, 0),
                    rf"vector_norm: cannot take the -?inf norm over dim 1 of size 0")


@pytest.mark.parametrize("ord", [1, math.inf, -1, -math.inf])
@pytest.mark.parametrize("shape, dim", [((3, 0), (0, 1)), ((0, 3), (0, 1)),
                                        ((2, 3, 0), (-2, -1)), ((2, 0, 3), (1, 2)),
                                        ((0, 2, 3), (1, 2)), ((3, 0), (1, 0))])
def test_matrix_norm_of_an_empty_matrix_as_pytorch(ord, shape, dim):
    """1 and inf: 0 when there are no column (row) sums to take the largest of, a
    constant without gradient; -1 and -inf: refused then; else computed."""
    over = dim[1] if abs(ord) == 1 else dim[0]
    if shape[over] == 0 and ord < 0:
        refused_by_both(lambda x: tn.linalg.matrix_norm(x, ord, dim),
                        lambda x: torch.linalg.matrix_norm(x, ord, dim), shape,
                        r"matrix_norm: cannot take the -(1|inf) norm with dim \d of size 0")
        return
    for keepdim in (False, True):
        x, t = tn.zeros(*shape, requires_grad=True), torch.zeros(shape, requires_grad=True)
        y = tn.linalg.matrix_norm(x, ord, dim, keepdim)
        r = torch.linalg.matrix_norm(t, ord, dim, keepdim)
        assert y.shape == tuple(r.shape) and (y.numpy() == 0).all()
        assert y.requires_grad == r.requires_grad == (shape[over] != 0)
        if shape[over] != 0:
            both(lambda x: tn.linalg.matrix_norm(x, ord, dim, keepdim),
                 lambda x: torch.linalg.matrix_norm(x, ord, dim, keepdim), shape)


# ---------------------------------------------------------------- dot, conv
def test_dot_refuses_bool_tensors_as_pytorch():
    a = np.array([True, False, True])
    with pytest.raises(Exception):
        torch.dot(torch.tensor(a), torch.tensor(a))
    with pytest.raises(TypeError, match=r"dot: bool tensors are not supported .*\(3,\) bool"):
        tn.dot(tn.tensor(a), tn.tensor(a))
    assert int(tn.dot(tn.tensor(a.astype(np.int32)), tn.tensor(a.astype(np.int32)))) == 2


@pytest.mark.parametrize("op, x, w", [("conv1d", (2, 3, 9), (0, 3, 3)),
                                      ("conv2d", (2, 3, 5, 5), (0, 3, 3, 3)),
                                      ("conv2d", (0, 3, 5, 5), (0, 3, 3, 3))])
def test_conv_refuses_a_weight_with_0_output_channels_as_pytorch(op, x, w):
    with pytest.raises(RuntimeError, match="expected weight to be at least 1 at dimension 0"):
        getattr(torch.nn.functional, op)(torch.zeros(x), torch.zeros(w))
    with pytest.raises(ValueError, match=rf"^{op}: .*the weight's output channels too, got "
                                         rf"input \({x[0]}, 3"):
        getattr(F, op)(tn.zeros(*x), tn.zeros(*w))


# ---------------------------------------------------------------- instance_norm, pooling
@pytest.mark.parametrize("shape", [(2, 3, 0), (2, 3, 0, 5)])
def test_instance_norm_with_no_spatial_elements_is_empty_and_keeps_running_stats(shape):
    both(lambda x, w, b: F.instance_norm(x, weight=w, bias=b),
         lambda x, w, b: torch.nn.functional.instance_norm(x, weight=w, bias=b),
         shape, (3,), (3,))
    mean, var = tn.zeros(3), tn.ones(3)
    y = F.instance_norm(tn.ones(*shape), mean, var)
    assert y.shape == shape
    assert (mean.numpy() == 0).all() and (var.numpy() == 1).all()


def test_instance_norm_of_one_spatial_element_is_still_refused():
    refused_by_both(F.instance_norm, torch.nn.functional.instance_norm, (2, 3, 1),
                    "instance_norm: expected more than 1 spatial element")


@pytest.mark.parametrize("op", ["adaptive_max_pool2d", "adaptive_avg_pool2d"])
def test_adaptive_pooling_of_an_empty_batch_with_uneven_windows(op):
    y = both(lambda x: getattr(F, op)(x, (2, 3)),
             lambda x: getattr(torch.nn.functional, op)(x, (2, 3)), (0, 3, 5, 7))
    assert y.shape == (0, 3, 2, 3)
