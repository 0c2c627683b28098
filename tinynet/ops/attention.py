"""Attention: ``scaled_dot_product_attention`` and ``multi_head_attention_forward``.

Shapes: ``...`` batch dims (batch, heads), L queries, S keys, E the query/key
size, Ev the value size. query (..., L, E), key (..., S, E), value (..., S, Ev)
-> (..., L, Ev); the batch dims of the three broadcast together.

    scores  = query @ key^T * scale          (..., L, S)
    weights = softmax(scores + mask) over S, then dropout
    output  = weights @ value

Masks follow PyTorch's ``scaled_dot_product_attention``: a boolean mask says
which keys *take part* (True = attend), a float mask is added to the scores,
both broadcast to (..., L, S); ``is_causal`` lets query i see keys j <= i
(aligned at the upper left when L != S). A query that sees no key at all gets
a zero output and zero gradients (PyTorch's behaviour, not the NaN a plain
softmax gives).

Two paths give the same result:

- ``scaled_dot_product_attention_simple``: the readable reference, built from
  tinynet ops (matmul, where, softmax, dropout, matmul); it holds the (L, S)
  weights. It runs when there is dropout and when a float mask needs a
  gradient.
- ``ScaledDotProductAttention``: one graph node whose array work lives in
  ``tinynet.kernels.attention`` behind one ``select()``: on the CPU a tiled
  Numba kernel with the online softmax (FlashAttention's recurrence) that
  never holds the (L, S) matrix, for no mask, ``is_causal`` and constant
  masks of either kind. Its backward recomputes the probabilities from the
  forward's per-row log-sum-exp; under ``create_graph=True`` it is written
  with tinynet ops instead, so that it can be differentiated again.
"""
import math
import warnings

import numpy as np

from tinynet.autograd import Function, is_grad_enabled
from tinynet.backend import get_array_module
from tinynet.kernels import attention as K
from tinynet.ops.elementwise import where
from tinynet.ops.linalg import matmul
from tinynet.ops.nn_ops import dropout, linear
from tinynet.ops.reduce import mean, softmax, sum as sum_
from tinynet.ops.shape import (
    broadcast_to, cat, chunk, pad, repeat, repeat_interleave, reshape, squeeze, transpose,
    unsqueeze)
from tinynet.tensor import Tensor, as_tensor, describe

OP = "scaled_dot_product_attention"


# ---------------------------------------------------------------- the readable reference
def _causal_keep(L, S, like):
    """(L, S) bool array on ``like``'s device: may query i see key j (j <= i)?"""
    xp = get_array_module(like.array)
    return xp.tri(L, S, dtype=bool)


def _masked_scores(scores, attn_mask, is_causal):
    """The scores with the causal and explicit masks applied (-inf or added)."""
    if is_causal:
        scores = where(_causal_keep(scores.shape[-2], scores.shape[-1], scores), scores,
                       -math.inf)
    if attn_mask is not None:
        if attn_mask.dtype == bool:
            scores = where(attn_mask.array, scores, -math.inf)
        else:
            scores = scores + attn_mask.astype(scores.dtype)
    return scores


def _safe_softmax(scores):
    """softmax over the last dim, with 0 for a row whose scores are all -inf
    (softmax alone gives NaN there, and NaN gradients with it)."""
    xp = get_array_module(scores.array)
    dead = xp.isneginf(scores.array).all(axis=-1, keepdims=True)
    if xp is np and not dead.any():     # (on a GPU the test would wait for the scores)
        return softmax(scores, -1)
    # a finite stand-in for the dead rows keeps their (unused) gradient finite
    weights = softmax(where(dead, 0.0, scores), -1)
    return where(dead, 0.0, weights)


def scaled_dot_product_attention_simple(query, key, value, attn_mask=None, dropout_p=0.0,
                                        is_causal=False, scale=None, enable_gqa=False):
    """``scaled_dot_product_attention`` written only with tinynet ops: the
    readable reference (and the path for dropout and for masks that need a
    gradient). Takes checked arguments: Tensors, a scale, a valid mask."""
    if enable_gqa:
        key, value = _repeat_heads(query, key, value)
    scale = _default_scale(query) if scale is None else scale
    scores = matmul(query, transpose(key, -2, -1)) * scale
    weights = _safe_softmax(_masked_scores(scores, attn_mask, is_causal))
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, training=True)
    return matmul(weights, value)


# ---------------------------------------------------------------- the fused node
class ScaledDotProductAttention(Function):
    """o = softmax(q @ k^T * scale + mask) @ v over 3-D (B, L, E), (B, S, E),
    (B, S, Ev) arrays, as one node. ``mask`` is a constant additive array
    (Bm, Lm, S) (Bm in {1, B}, Lm in {1, L}) or None; ``causal`` hides keys
    j > i. The forward saves the per-row log-sum-exp, from which the
    backward recomputes the probabilities."""
    keep_outputs = True

    def __init__(self, scale, causal, mask):
        self.scale, self.causal, self.mask = scale, causal, mask

    def forward(self, q, k, v):
        self.impl = K.select(q)
        o, self.lse = self.impl.forward(q, k, v, self.scale, self.causal, self.mask)
        return o

    def backward(self, go):
        q, k, v = self.inputs
        if is_grad_enabled():
            # create_graph=True: the same gradients built from tinynet ops, so
            # that they can be differentiated again
            grads = _attention_grads(q, k, v, go, self.scale, self.causal, self.mask)
        else:
            grads = self.impl.backward(q.array, k.array, v.array, self.output().array, self.lse,
                                       go.array, self.scale, self.causal, self.mask)
            grads = [Tensor._wrap(g) for g in grads]
        return tuple(g if x.requires_grad else None for g, x in zip(grads, self.inputs))


def _attention_grads(q, k, v, go, scale, causal, mask):
    """dq, dk, dv of the fused node from tinynet ops (differentiable): the
    probabilities recomputed, then the softmax's backward written out."""
    mask_t = None if mask is None else Tensor._wrap(mask)
    scores = matmul(q, transpose(k, 1, 2)) * scale
    p = _safe_softmax(_masked_scores(scores, mask_t, causal))
    dv = matmul(transpose(p, 1, 2), go)
    dp = matmul(go, transpose(v, 1, 2))
    ds = p * (dp - sum_(p * dp, -1, keepdims=True)) * scale
    return matmul(ds, k), matmul(transpose(ds, 1, 2), q), dv


# ---------------------------------------------------------------- argument checks
def _default_scale(query):
    E = query.shape[-1]
    if E == 0:
        raise ValueError(f"{OP}: the query's last dim (E) is 0, so the default scale "
                         f"1/sqrt(E) is undefined; pass scale=; query {describe(query)}")
    return 1.0 / math.sqrt(E)


def _repeat_heads(query, key, value):
    """enable_gqa: key and value heads (dim -3) repeated to the query's."""
    Hq = query.shape[-3]
    out = []
    for name, t in (("key", key), ("value", value)):
        H = t.shape[-3]
        if H != Hq:
            if H == 0 or Hq % H:
                raise ValueError(f"{OP}: with enable_gqa=True the number of {name} heads "
                                 f"(dim -3) must divide the query's; query "
                                 f"{describe(query)}, {name} {describe(t)}")
            t = repeat_interleave(t, Hq // H, dim=-3)
        out.append(t)
    return out


def _broadcast_shape(op, shapes, what):
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(f"{op}: the batch dims do not broadcast: {what}") from None


def _check_sdpa(query, key, value, attn_mask, dropout_p, is_causal, enable_gqa):
    tensors = (("query", query), ("key", key), ("value", value))
    what = ", ".join(f"{n} {describe(t)}" for n, t in tensors)
    if min(t.ndim for _, t in tensors) < 2:
        raise ValueError(f"{OP}: expected query, key and value to be at least 2-D "
                         f"(..., L, E), (..., S, E), (..., S, Ev); got {what}")
    if len({t.dtype for _, t in tensors}) > 1:
        raise TypeError(f"{OP}: query, key and value must have one dtype; got {what}")
    if query.dtype.kind != "f":
        raise TypeError(f"{OP}: expected floating point tensors, got {what}")
    if len({t.device for _, t in tensors}) > 1:
        raise RuntimeError(f"{OP}: query, key and value are on different devices: {what}")
    if key.shape[-1] != query.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{OP}: expected key (..., S, E) to match query (..., L, E) in E "
                         f"and value (..., S, Ev) in S; got {what}")
    if enable_gqa and min(t.ndim for _, t in tensors) < 3:
        raise ValueError(f"{OP}: enable_gqa=True needs a heads dim (-3); got {what}")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{OP}: dropout probability has to be between 0 and 1, got "
                         f"{dropout_p}")
    if is_causal and attn_mask is not None:
        raise ValueError(f"{OP}: explicit attn_mask should not be set when is_causal=True "
                         "(PyTorch refuses it too); pass one or the other")
    if attn_mask is not None:
        if attn_mask.dtype != bool and attn_mask.dtype not in (np.float32, query.dtype):
            raise TypeError(f"{OP}: expected attn_mask of dtype bool, float32 or the "
                            f"query's dtype {query.dtype}; got attn_mask {describe(attn_mask)}")
        if attn_mask.device != query.device:
            raise RuntimeError(f"{OP}: attn_mask is on another device than query: "
                               f"attn_mask {describe(attn_mask)}, query {describe(query)}")


def _kernel_mask(attn_mask, batch, L, S, dtype):
    """The mask as the kernels take it: an additive array (Bm, Lm, S), Bm 1 or
    prod(batch), Lm 1 or L; a copy over the batch only if it varies there."""
    m = attn_mask.array
    xp = get_array_module(m)
    if m.dtype == bool:
        m = xp.where(m, xp.zeros((), dtype), xp.full((), -xp.inf, dtype))
    else:
        m = m.astype(dtype, copy=False)
    Lm = m.shape[-2] if m.ndim >= 2 and m.shape[-2] != 1 else 1
    if m.ndim > 2 and any(d != 1 for d in m.shape[:-2]):       # one mask per batch entry
        m = xp.broadcast_to(m, batch + (Lm, S)).reshape(-1, Lm, S)
    else:                                                       # one mask for the batch
        m = xp.broadcast_to(m.reshape(m.shape[-2:]) if m.ndim > 2 else m, (Lm, S))[None]
    return xp.ascontiguousarray(m)


# ---------------------------------------------------------------- the op
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """softmax(query @ key^T * scale + mask) @ value, PyTorch's
    ``F.scaled_dot_product_attention``.

    Shape: query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev),
    batch dims broadcast. ``attn_mask`` broadcasts to (..., L, S): bool (True:
    the key takes part) or float (added to the scores). ``is_causal``: query
    i sees keys j <= i. ``scale`` defaults to 1/sqrt(E). ``dropout_p`` drops
    attention weights whenever it is above 0 (as PyTorch's functional does:
    pass ``dropout_p if training else 0.0``). ``enable_gqa``: key and value
    may have fewer heads (dim -3), repeated to the query's.
    """
    query, key, value = as_tensor(query), as_tensor(key), as_tensor(value)
    if attn_mask is not None:
        attn_mask = as_tensor(attn_mask)
    _check_sdpa(query, key, value, attn_mask, dropout_p, is_causal, enable_gqa)
    if scale is None:
        scale = _default_scale(query)
    if enable_gqa:
        key, value = _repeat_heads(query, key, value)
    L, E = query.shape[-2:]
    S, Ev = value.shape[-2:]
    batch = _broadcast_shape(OP, (query.shape[:-2], key.shape[:-2], value.shape[:-2]),
                             f"query {describe(query)}, key {describe(key)}, value "
                             f"{describe(value)}")
    if attn_mask is not None:
        full = batch + (L, S)
        try:
            fits = tuple(np.broadcast_shapes(attn_mask.shape, full)) == full
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"{OP}: attn_mask {describe(attn_mask)} does not broadcast to "
                             f"the scores' shape {full}")
    mask_grad = (attn_mask is not None and attn_mask.requires_grad and is_grad_enabled())
    if dropout_p > 0.0 or mask_grad:
        return scaled_dot_product_attention_simple(query, key, value, attn_mask, dropout_p,
                                                   is_causal, scale)
    # the fused node takes (B, L, E) arrays: broadcast the batch, then fold it
    q, k, v = (t if t.shape[:-2] == batch else broadcast_to(t, batch + t.shape[-2:])
               for t in (query, key, value))
    B = int(np.prod(batch))
    mask = None if attn_mask is None else _kernel_mask(attn_mask, batch, L, S, query.dtype)
    o = ScaledDotProductAttention(scale, bool(is_causal), mask)(
        reshape(q, (B, L, E)), reshape(k, (B, S, E)), reshape(v, (B, S, Ev)))
    return reshape(o, batch + (L, Ev))


# ---------------------------------------------------------------- multi-head attention
def canonical_mask(mask, name, other, other_name, dtype):
    """A bool mask (True: masked out, MultiheadAttention's convention) as a
    float one, 0 / -inf, of ``dtype``; a float mask as it is."""
    if mask is None:
        return None
    mask = as_tensor(mask)
    if mask.dtype != bool and mask.dtype.kind != "f":
        raise TypeError(f"multi_head_attention_forward: only bool and floating {name} are "
                        f"supported, got {describe(mask)}")
    if other is not None and as_tensor(other).dtype != mask.dtype:
        warnings.warn(f"Support for mismatched {name} and {other_name} is deprecated. "
                      "Use same type for both instead.", stacklevel=3)
    if mask.dtype == bool:
        xp = get_array_module(mask.array)
        return Tensor._wrap(xp.where(mask.array, xp.full((), -xp.inf, dtype),
                                     xp.zeros((), dtype)))
    return mask


def _in_projection_packed(q, k, v, w, b):
    """The three input projections with one (3E, E) weight: one matmul when
    query, key and value are one tensor (self-attention), two when key and
    value are, three otherwise (the same values each way)."""
    E = q.shape[-1]
    if k is v:
        if q is k:
            return chunk(linear(q, w, b), 3, -1)
        w_q, w_kv = w[:E], w[E:]
        b_q, b_kv = (None, None) if b is None else (b[:E], b[E:])
        return (linear(q, w_q, b_q),) + tuple(chunk(linear(k, w_kv, b_kv), 2, -1))
    w_q, w_k, w_v = chunk(w, 3)
    b_q, b_k, b_v = (None, None, None) if b is None else chunk(b, 3)
    return linear(q, w_q, b_q), linear(k, w_k, b_k), linear(v, w_v, b_v)


def _check_mha(query, key, value, key_padding_mask, attn_mask, num_heads):
    """Is the input batched? (PyTorch's shape rules for the unbatched 2-D form.)"""
    op = "multi_head_attention_forward"
    if query.ndim not in (2, 3):
        raise ValueError(f"{op}: query should be an unbatched 2-D (L, E) or a batched 3-D "
                         f"tensor, got {describe(query)}")
    batched = query.ndim == 3
    if key.ndim != query.ndim or value.ndim != query.ndim:
        raise ValueError(f"{op}: for a {query.ndim}-D query expected {query.ndim}-D key and "
                         f"value, got key {describe(key)}, value {describe(value)}")
    if key_padding_mask is not None and key_padding_mask.ndim != query.ndim - 1:
        raise ValueError(f"{op}: expected key_padding_mask {'(N, S)' if batched else '(S,)'}, "
                         f"got {describe(key_padding_mask)}")
    if attn_mask is not None:
        if attn_mask.ndim not in (2, 3):
            raise ValueError(f"{op}: expected attn_mask to be 2-D or 3-D, got "
                             f"{describe(attn_mask)}")
        want = (num_heads, query.shape[0], key.shape[0])
        if not batched and attn_mask.ndim == 3 and tuple(attn_mask.shape) != want:
            raise ValueError(f"{op}: expected attn_mask of shape {want}, got "
                             f"{describe(attn_mask)}")
    return batched


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads,
                                 in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
                                 dropout_p, out_proj_weight, out_proj_bias, training=True,
                                 key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights=True, is_causal=False):
    """PyTorch's ``F.multi_head_attention_forward``, the computation behind
    ``nn.MultiheadAttention``.

    Shape: query (L, N, E), key (S, N, kdim), value (S, N, vdim), or the
    unbatched (L, E), (S, kdim), (S, vdim). ``key_padding_mask`` (N, S) and
    ``attn_mask`` (L, S) or (N*num_heads, L, S) follow MultiheadAttention's
    convention: a bool True *masks out*, a float is added. Returns the output
    (L, N, E) and, with ``need_weights``, the attention weights (N, L, S)
    averaged over heads (or (N, num_heads, L, S)), else None.

    With ``need_weights`` the weights are computed explicitly (a query whose
    keys are all masked gets NaN, as in PyTorch); without, the heads go to
    ``scaled_dot_product_attention`` (such a query gets 0). ``is_causal`` is a
    hint that ``attn_mask`` is the causal mask: it needs the mask, and is used
    instead of it when there is no key padding mask and no weights are asked.
    """
    op = "multi_head_attention_forward"
    query, key, value = as_tensor(query), as_tensor(key), as_tensor(value)
    key_padding_mask = None if key_padding_mask is None else as_tensor(key_padding_mask)
    attn_mask = None if attn_mask is None else as_tensor(attn_mask)
    batched = _check_mha(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:
        query, key, value = unsqueeze(query, 1), unsqueeze(key, 1), unsqueeze(value, 1)
        if key_padding_mask is not None:
            key_padding_mask = unsqueeze(key_padding_mask, 0)
    L, N, E = query.shape
    S = key.shape[0]
    key_padding_mask = canonical_mask(key_padding_mask, "key_padding_mask", attn_mask,
                                       "attn_mask", query.dtype)
    if is_causal and attn_mask is None:
        raise ValueError(f"{op}: is_causal=True is a hint that attn_mask is the causal mask, "
                         "so it needs attn_mask too; nn.Transformer."
                         "generate_square_subsequent_mask(L) makes one")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None                   # the hint alone: the kernels' causal path
    else:
        attn_mask = canonical_mask(attn_mask, "attn_mask", None, "", query.dtype)
        if key_padding_mask is not None:
            is_causal = False              # the merged mask below is no longer causal
    if E != embed_dim_to_check:
        raise ValueError(f"{op}: expected embedding dim {embed_dim_to_check}, got query "
                         f"{describe(query)}")
    head_dim = E // num_heads
    if head_dim * num_heads != E:
        raise ValueError(f"{op}: embed_dim {E} is not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if key.shape[:2] != value.shape[:2]:
            raise ValueError(f"{op}: key's sequence and batch dims {tuple(key.shape[:2])} do "
                             f"not match value's {tuple(value.shape[:2])}")
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise ValueError(f"{op}: use_separate_proj_weight=True needs q_proj_weight, "
                             "k_proj_weight and v_proj_weight")
        b_q, b_k, b_v = (None, None, None) if in_proj_bias is None else chunk(in_proj_bias, 3)
        q = linear(query, q_proj_weight, b_q)
        k = linear(key, k_proj_weight, b_k)
        v = linear(value, v_proj_weight, b_v)
    else:
        if key.shape != value.shape:
            raise ValueError(f"{op}: key {describe(key)} does not match value "
                             f"{describe(value)}")
        if in_proj_weight is None:
            raise ValueError(f"{op}: use_separate_proj_weight is False but in_proj_weight is "
                             "None")
        q, k, v = _in_projection_packed(query, key, value, in_proj_weight, in_proj_bias)

    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (L, S):
                raise ValueError(f"{op}: the 2-D attn_mask is {describe(attn_mask)}, but "
                                 f"should be {(L, S)}")
            attn_mask = unsqueeze(attn_mask, 0)
        elif tuple(attn_mask.shape) != (N * num_heads, L, S):
            raise ValueError(f"{op}: the 3-D attn_mask is {describe(attn_mask)}, but should "
                             f"be {(N * num_heads, L, S)}")

    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise ValueError(f"{op}: bias_k and bias_v cannot be added to a static key or "
                             "value")
        k = cat([k, repeat(bias_k, 1, N, 1)])
        v = cat([v, repeat(bias_v, 1, N, 1)])
        if attn_mask is not None:
            attn_mask = pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = pad(key_padding_mask, (0, 1))
    elif bias_k is not None or bias_v is not None:
        raise ValueError(f"{op}: bias_k and bias_v must be given together")

    # (L, N, E) -> (N * heads, L, head_dim)
    q = transpose(reshape(q, (L, N * num_heads, head_dim)), 0, 1)
    k = _heads(op, k, static_k, "static_k", N, num_heads, head_dim)
    v = _heads(op, v, static_v, "static_v", N, num_heads, head_dim)

    if add_zero_attn:
        xp = get_array_module(k.array)
        k = cat([k, Tensor._wrap(xp.zeros((N * num_heads, 1, head_dim), k.dtype))], 1)
        v = cat([v, Tensor._wrap(xp.zeros((N * num_heads, 1, head_dim), v.dtype))], 1)
        if attn_mask is not None:
            attn_mask = pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = pad(key_padding_mask, (0, 1))

    S = k.shape[1]
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (N, S):
            raise ValueError(f"{op}: expected key_padding_mask of shape {(N, S)}, got "
                             f"{describe(key_padding_mask)}")
        kpm = reshape(broadcast_to(reshape(key_padding_mask, (N, 1, 1, S)),
                                   (N, num_heads, 1, S)), (N * num_heads, 1, S))
        attn_mask = kpm if attn_mask is None else attn_mask + kpm

    if not training:
        dropout_p = 0.0

    if need_weights:
        q_scaled = q * math.sqrt(1.0 / head_dim)
        if is_causal and attn_mask is None:
            raise ValueError(f"{op}: is_causal without attn_mask cannot give weights")
        scores = matmul(q_scaled, transpose(k, -2, -1))
        if attn_mask is not None:
            scores = attn_mask + scores
        weights = softmax(scores, -1)
        if dropout_p > 0.0:
            weights = dropout(weights, dropout_p)
        out = matmul(weights, v)                                    # (N*H, L, hd)
        out = reshape(transpose(out, 0, 1), (L * N, E))
        out = reshape(linear(out, out_proj_weight, out_proj_bias), (L, N, E))
        weights = reshape(weights, (N, num_heads, L, S))
        if average_attn_weights:
            weights = mean(weights, 1)
        if not batched:
            out, weights = squeeze(out, 1), squeeze(weights, 0)
        return out, weights

    if attn_mask is not None:
        if attn_mask.shape[0] == 1 and attn_mask.ndim == 3:
            attn_mask = unsqueeze(attn_mask, 0)
        else:
            attn_mask = reshape(attn_mask, (N, num_heads, -1, S))
    q = reshape(q, (N, num_heads, L, head_dim))
    k = reshape(k, (N, num_heads, S, head_dim))
    v = reshape(v, (N, num_heads, S, head_dim))
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    out = reshape(transpose(transpose(out, 1, 2), 0, 1), (L * N, E))    # (L, N, H, hd)
    out = reshape(linear(out, out_proj_weight, out_proj_bias), (L, N, E))
    if not batched:
        out = squeeze(out, 1)
    return out, None


def _heads(op, t, static, name, N, H, head_dim):
    """(S, N, E) -> (N * heads, S, head_dim), or the given static tensor."""
    if static is None:
        return transpose(reshape(t, (t.shape[0], N * H, head_dim)), 0, 1)
    static = as_tensor(static)
    if static.ndim != 3 or static.shape[0] != N * H or static.shape[2] != head_dim:
        raise ValueError(f"{op}: expected {name} of shape ({N * H}, S, {head_dim}), got "
                         f"{describe(static)}")
    return static


__all__ = ["multi_head_attention_forward", "scaled_dot_product_attention",
           "scaled_dot_product_attention_simple"]
