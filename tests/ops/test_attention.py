"""F.scaled_dot_product_attention beyond the op table (tests/op_table_nn.py):
the fused node against the composed reference, which path runs when,
double backward, dropout, the PyTorch semantics of masks and fully masked
rows, larger problems against PyTorch, and the errors."""
import math

import numpy as np
import pytest
import torch

import tinynet as tn
import tinynet.nn.functional as F
from tinynet.ops.attention import ScaledDotProductAttention, scaled_dot_product_attention_simple

rng = np.random.default_rng(0)


def randn(*shape, dt=np.float64, grad=True):
    return tn.tensor(rng.standard_normal(shape).astype(dt), requires_grad=grad)


def nodes(t):
    """The names of every Function in ``t``'s graph."""
    seen, todo, names = set(), [t.grad_fn], []
    while todo:
        f = todo.pop()
        if f is None or id(f) in seen:
            continue
        seen.add(id(f))
        names.append(type(f).__name__)
        todo.extend(x.grad_fn for x in getattr(f, "inputs", ()))
    return names


def grads(out, inputs, w):
    return tn.grad((out * w).sum(), inputs, allow_unused=True)


CASES = [
    dict(shapes=[(2, 3, 4), (2, 5, 4), (2, 5, 2)]),
    dict(shapes=[(2, 3, 4), (2, 5, 4), (2, 5, 2)], is_causal=True),
    dict(shapes=[(2, 6, 4), (2, 3, 4), (2, 3, 2)], is_causal=True),
    dict(shapes=[(2, 2, 3, 4), (1, 2, 5, 4), (2, 5, 3)], scale=0.3),
    dict(shapes=[(2, 3, 4), (2, 5, 4), (2, 5, 2)], attn_mask=rng.random((3, 5)) < 0.6),
    dict(shapes=[(2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 2)],
         attn_mask=np.where(rng.random((2, 1, 3, 5)) < 0.3, -np.inf, rng.random((2, 1, 3, 5)))),
    dict(shapes=[(2, 4, 3, 2), (2, 2, 5, 2), (2, 2, 5, 3)], enable_gqa=True),
]


@pytest.mark.parametrize("dt", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(
    [str(len(c["shapes"][0]))] + [k for k in c if k != "shapes"]))
def test_fused_matches_composed_reference(case, dt):
    case = dict(case)
    qkv = [randn(*s, dt=dt) for s in case.pop("shapes")]
    if "attn_mask" in case:
        m = case["attn_mask"]
        case["attn_mask"] = tn.tensor(m if m.dtype == bool else m.astype(dt))
    out = F.scaled_dot_product_attention(*qkv, **case)
    ref = scaled_dot_product_attention_simple(*qkv, **case)
    assert "ScaledDotProductAttention" in nodes(out)
    assert "ScaledDotProductAttention" not in nodes(ref)
    assert out.dtype == dt and out.shape == ref.shape
    tol = 1e-12 if dt == np.float64 else 2e-6
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=tol, atol=tol)
    w = tn.tensor(rng.standard_normal(out.shape).astype(dt))
    for a, b in zip(grads(out, qkv, w), grads(ref, qkv, w)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=10 * tol, atol=10 * tol)


def test_paths():
    q, k, v = randn(2, 3, 4), randn(2, 5, 4), randn(2, 5, 2)
    fused = lambda **kw: "ScaledDotProductAttention" in nodes(  # noqa: E731
        F.scaled_dot_product_attention(q, k, v, **kw))
    assert fused() and fused(is_causal=True)
    assert fused(attn_mask=tn.ones(3, 5, dtype=bool))
    assert fused(attn_mask=tn.zeros(3, 5, dtype=np.float64))        # a constant float mask
    # dropout and a mask that wants its gradient take the composed reference
    assert not fused(dropout_p=0.5)
    assert not fused(attn_mask=randn(3, 5))
    with tn.no_grad():                          # (no gradient wanted: the fused node again)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=randn(3, 5))
    assert out.grad_fn is None


def test_fused_node_keeps_only_the_log_sum_exp():
    # the backward needs the inputs, the output and one number per query row
    q, k, v = randn(1, 70, 8), randn(1, 90, 8), randn(1, 90, 8)
    out = F.scaled_dot_product_attention(q, k, v)
    fn = out.grad_fn
    assert isinstance(fn, ScaledDotProductAttention)
    arrays = [x for x in vars(fn).values() if isinstance(x, np.ndarray)]
    assert [a.shape for a in arrays] == [(1, 70)]


def test_double_backward_through_the_fused_node():
    q, k, v = randn(2, 4, 3), randn(2, 6, 3), randn(2, 6, 2)
    for kw in ({}, {"is_causal": True}, {"attn_mask": tn.tensor(rng.random((4, 6)) < 0.5)}):
        f = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **kw)  # noqa: E731
        assert "ScaledDotProductAttention" in nodes(f(q, k, v))
        assert tn.gradgradcheck(f, (q, k, v))
        # and the second derivatives equal PyTorch's
        tq, tk, tv = (torch.tensor(x.numpy(), requires_grad=True) for x in (q, k, v))
        tkw = {n: torch.tensor(m.numpy()) if isinstance(m, tn.Tensor) else m
               for n, m in kw.items()}
        g = tn.grad((f(q, k, v) ** 2).sum(), [q, k, v], create_graph=True)
        tg = torch.autograd.grad((torch.nn.functional.scaled_dot_product_attention(
            tq, tk, tv, **tkw) ** 2).sum(), [tq, tk, tv], create_graph=True)
        gg = tn.grad(sum((x * x).sum() for x in g), [q, k, v])
        tgg = torch.autograd.grad(sum((x * x).sum() for x in tg), [tq, tk, tv])
        for a, b in zip(gg, tgg):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("mask_kind", ["bool", "float"])
def test_query_that_sees_no_key_gets_zeros_as_in_pytorch(mask_kind):
    q, k, v = randn(2, 3, 4), randn(2, 5, 4), randn(2, 5, 2)
    keep = rng.random((3, 5)) < 0.7
    keep[:, 0] = True
    keep[1] = False
    mask = keep if mask_kind == "bool" else np.where(keep, 0.0, -np.inf)
    for fn in (F.scaled_dot_product_attention, scaled_dot_product_attention_simple):
        for x in (q, k, v):
            x.grad = None
        out = fn(q, k, v, attn_mask=tn.tensor(mask))
        out.backward(tn.ones(*out.shape, dtype=np.float64))
        tq, tk, tv = (torch.tensor(x.numpy(), requires_grad=True) for x in (q, k, v))
        t_out = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv,
                                                                 attn_mask=torch.tensor(mask))
        t_out.backward(torch.ones_like(t_out))
        assert not out.numpy()[:, 1].any() and not q.grad.numpy()[:, 1].any()
        np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), atol=1e-12)
        for a, b in zip((q, k, v), (tq, tk, tv)):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-12)


def test_no_key_at_all():
    q, k, v = randn(2, 3, 4), randn(2, 0, 4), randn(2, 0, 2)
    out = F.scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 3, 2) and not out.numpy().any()
    assert F.scaled_dot_product_attention(randn(2, 0, 4), randn(2, 5, 4), randn(2, 5, 2)).shape \
        == (2, 0, 2)


@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_larger_problem_matches_pytorch(causal, dt):
    # several query blocks and key tiles, L != S, non-contiguous inputs
    q = tn.tensor(rng.standard_normal((2, 3, 8, 130)).astype(dt)).transpose(2, 3)
    k = tn.tensor(rng.standard_normal((2, 3, 150, 8)).astype(dt))
    v = tn.tensor(rng.standard_normal((2, 3, 150, 5)).astype(dt))
    for x in (q, k, v):
        x.requires_grad_()
    out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    tq, tk, tv = (torch.tensor(x.numpy(), requires_grad=True) for x in (q, k, v))
    t_out = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=causal)
    w = rng.standard_normal(out.shape).astype(dt)
    (out * tn.tensor(w)).sum().backward()
    (t_out * torch.tensor(w)).sum().backward()
    tol = 1e-10 if dt == np.float64 else 2e-5
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=tol, atol=tol)
    for a, b in zip((q, k, v), (tq, tk, tv)):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=tol, atol=tol)


def test_float16_matches_pytorch():
    q, k, v = (randn(2, 5, 4, dt=np.float16, grad=False) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    want = torch.nn.functional.scaled_dot_product_attention(
        *(torch.tensor(x.numpy()) for x in (q, k, v)), is_causal=True)
    assert out.dtype == np.float16
    np.testing.assert_allclose(out.numpy(), want.numpy(), rtol=5e-3, atol=5e-3)


def test_dropout_drops_attention_weights_with_tinynets_generator():
    q, k, v = randn(2, 4, 3), randn(2, 6, 3), randn(2, 6, 5)
    tn.manual_seed(7)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)
    # the same draws, spelled out: softmax weights, dropout, matmul
    tn.manual_seed(7)
    weights = F.softmax(q @ k.transpose(-2, -1) / math.sqrt(3), dim=-1)
    want = F.dropout(weights, 0.4, training=True) @ v
    np.testing.assert_allclose(out.numpy(), want.numpy(), rtol=1e-13, atol=1e-13)
    again = F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)
    assert not np.array_equal(out.numpy(), again.numpy())
    # p = 1 drops every weight, as in PyTorch (a functional: no training flag)
    assert not F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).numpy().any()
    f = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)  # noqa: E731

    def seeded(*xs):
        tn.manual_seed(3)
        return f(*xs)
    assert tn.gradcheck(seeded, (q, k, v))


def test_dropout_keeps_the_expected_value():
    q, k, v = randn(1, 1, 2, grad=False), randn(1, 4000, 2, grad=False), \
        randn(1, 4000, 1, grad=False)
    plain = F.scaled_dot_product_attention(q, k, v).item()
    tn.manual_seed(0)
    dropped = np.mean([F.scaled_dot_product_attention(q, k, v, dropout_p=0.3).item()
                       for _ in range(200)])
    assert abs(dropped - plain) < 0.05 * max(1.0, abs(plain)) + 0.02


def test_errors_name_the_problem():
    q, k, v = randn(2, 3, 4), randn(2, 5, 4), randn(2, 5, 2)
    sdpa = F.scaled_dot_product_attention
    with pytest.raises(ValueError, match="is_causal"):
        sdpa(q, k, v, attn_mask=tn.ones(3, 5, dtype=bool), is_causal=True)
    with pytest.raises(ValueError, match="at least 2-D"):
        sdpa(randn(4), k, v)
    with pytest.raises(TypeError, match="one dtype"):
        sdpa(q, k.float(), v)
    with pytest.raises(TypeError, match="floating point"):
        sdpa(*(tn.ones(2, 3, dtype=np.int64) for _ in range(3)))
    with pytest.raises(ValueError, match="match query"):
        sdpa(q, randn(2, 5, 3), v)
    with pytest.raises(ValueError, match="match query"):
        sdpa(q, k, randn(2, 4, 2))
    with pytest.raises(ValueError, match="batch dims do not broadcast"):
        sdpa(randn(3, 3, 4), k, v)
    with pytest.raises(ValueError, match="does not broadcast"):
        sdpa(q, k, v, attn_mask=tn.ones(4, 5, dtype=bool))
    with pytest.raises(TypeError, match="attn_mask of dtype"):
        sdpa(q.float(), k.float(), v.float(), attn_mask=tn.zeros(3, 5, dtype=np.float64))
    with pytest.raises(TypeError, match="attn_mask of dtype"):
        sdpa(q, k, v, attn_mask=tn.zeros(3, 5, dtype=np.int64))
    with pytest.raises(ValueError, match="dropout probability"):
        sdpa(q, k, v, dropout_p=1.5)
    with pytest.raises(ValueError, match="enable_gqa"):
        sdpa(randn(1, 3, 2, 4), randn(1, 2, 5, 4), randn(1, 2, 5, 2), enable_gqa=True)
    with pytest.raises(ValueError, match="scale"):
        sdpa(randn(2, 3, 0), randn(2, 5, 0), v)


def test_float32_mask_with_float64_query_as_pytorch():
    # PyTorch accepts a float32 mask for any query dtype, and the result keeps the query's
    q, k, v = randn(2, 3, 4), randn(2, 5, 4), randn(2, 5, 2)
    mask = rng.standard_normal((3, 5)).astype(np.float32)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=tn.tensor(mask))
    want = torch.nn.functional.scaled_dot_product_attention(
        *(torch.tensor(x.numpy()) for x in (q, k, v)), attn_mask=torch.tensor(mask))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)
