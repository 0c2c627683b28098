"""MultiheadAttention (PyTorch's nn.MultiheadAttention)."""
import math

from tinynet.autograd import is_grad_enabled
from tinynet.backend import get_array_module
from tinynet.nn import init
from tinynet.nn.linear import Linear
from tinynet.nn.module import Module, Parameter
from tinynet.ops.attention import canonical_mask, multi_head_attention_forward
from tinynet.ops.elementwise import where
from tinynet.ops.shape import transpose
from tinynet.tensor import empty


def needs_no_grad(tensors):
    return not is_grad_enabled() or not any(t is not None and t.requires_grad for t in tensors)


def dead_queries(attn_mask, key_padding_mask, N, H, L, S):
    """(N, L) bool array: which queries see no key at all under the float
    masks (attn_mask (L, S) or (N*H, L, S), key_padding_mask (N, S)), in
    any head; None if no mask."""
    if attn_mask is None and key_padding_mask is None:
        return None
    xp = get_array_module((attn_mask if attn_mask is not None else key_padding_mask).array)
    total = xp.zeros((N, H, L, S))
    if attn_mask is not None:
        total = total + attn_mask.array.reshape((1, 1, L, S) if attn_mask.ndim == 2
                                                else (N, H, L, S))
    if key_padding_mask is not None:
        total = total + key_padding_mask.array.reshape(N, 1, 1, S)
    return xp.isneginf(total).all(axis=-1).any(axis=1)


def nan_rows(out, dead, batch_first):
    """``out`` (N, L, E) or (L, N, E) with NaN in the rows of ``dead`` (N, L)."""
    if dead is None or not bool(dead.any()):
        return out
    rows = dead[:, :, None] if batch_first else dead.T[:, :, None]
    return where(rows, math.nan, out)


class MultiheadAttention(Module):
    """Multi-head attention: project, attend in each head, concatenate, project back.

    Each of the ``num_heads`` heads has size ``embed_dim // num_heads`` and
    runs scaled dot-product attention on its slice of the projected query,
    key and value.

    Args:
        embed_dim: E, the query's feature size (and the output's).
        num_heads: the number of heads; must divide ``embed_dim``.
        dropout: dropout on the attention weights while training. Default: 0.0.
        bias: biases on the input and output projections. Default: True.
        add_bias_kv: learned biases ``bias_k``, ``bias_v`` (1, 1, E) appended
            to the keys and values as one more position. Default: False.
        add_zero_attn: append a zero key and value. Default: False.
        kdim, vdim: the key's and value's feature sizes. Default: ``embed_dim``.
        batch_first: inputs and output are (N, L, E) instead of (L, N, E).
            Default: False.
        device, dtype: where and of which dtype the parameters are made.

    Parameters are PyTorch's, under its names, so a PyTorch state_dict loads:
    ``in_proj_weight`` (3E, E) and ``in_proj_bias`` (3E,) (the query, key and
    value projections stacked), or ``q_proj_weight`` (E, E),
    ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim) when kdim or vdim
    differs from E; ``out_proj`` is a Linear(E, E); ``bias_k``, ``bias_v``.
    Initialised as in PyTorch: Xavier-uniform projections, zero biases.

    Shape:
        - query (L, N, E), key (S, N, kdim), value (S, N, vdim) (N first with
          ``batch_first``), or unbatched (L, E), (S, kdim), (S, vdim).
        - ``key_padding_mask`` (N, S) and ``attn_mask`` (L, S) or
          (N*num_heads, L, S): a bool True *masks out* the key (the opposite
          of ``F.scaled_dot_product_attention``'s convention, as in PyTorch),
          a float is added to the scores.
        - Output (L, N, E), and the weights (N, L, S) averaged over heads, or
          (N, num_heads, L, S) with ``average_attn_weights=False``, or None
          with ``need_weights=False``.

    ``need_weights=True`` (the default) computes the weights explicitly;
    ``need_weights=False`` runs ``F.scaled_dot_product_attention`` (the fused
    kernel when there is no dropout), as the Transformer layers do.
    ``is_causal=True`` is a hint that ``attn_mask`` is the causal mask.

    A query whose keys are all masked gets NaN with ``need_weights=True``
    and zeros with ``need_weights=False``, except where PyTorch takes its
    inference fast path (evaluation mode, no gradient needed, batched
    ``batch_first`` self-attention with one tensor as query, key and value,
    biases, an even number of heads, no ``bias_k``/``add_zero_attn``, masks
    boolean or absent), which gives NaN there too: tinynet gives the same.

    Example::

        >>> mha = nn.MultiheadAttention(16, 4, batch_first=True)
        >>> x = tn.randn(2, 5, 16)
        >>> out, weights = mha(x, x, x)
        >>> out.shape, weights.shape
        ((2, 5, 16), (2, 5, 5))
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None,
                 dtype=None):
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be greater "
                             f"than 0, got embed_dim={embed_dim} and num_heads={num_heads}")
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible "
                             f"by num_heads ({num_heads})")
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(empty(3 * embed_dim, embed_dim, **kw))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = Parameter(empty(embed_dim, embed_dim, **kw))
            self.k_proj_weight = Parameter(empty(embed_dim, self.kdim, **kw))
            self.v_proj_weight = Parameter(empty(embed_dim, self.vdim, **kw))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(empty(3 * embed_dim, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, **kw)
        if add_bias_kv:
            self.bias_k = Parameter(empty(1, 1, embed_dim, **kw))
            self.bias_v = Parameter(empty(1, 1, embed_dim, **kw))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        batched = query.ndim == 3
        fast = self._pytorch_fast_path(query, key, value, key_padding_mask, attn_mask)
        key_padding_mask = canonical_mask(key_padding_mask, "key_padding_mask", attn_mask,
                                           "attn_mask", query.dtype)
        attn_mask = canonical_mask(attn_mask, "attn_mask", None, "", query.dtype)
        if self.batch_first and batched:
            # (N, L, E) -> (L, N, E), keeping "key is value" / "query is key"
            # true where it was: the projections take one matmul then
            if key is value:
                if query is key:
                    query = key = value = transpose(query, 0, 1)
                else:
                    query, key = transpose(query, 0, 1), transpose(key, 0, 1)
                    value = key
            else:
                query, key, value = (transpose(x, 0, 1) for x in (query, key, value))
        out, weights = multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight,
            self.in_proj_bias, self.bias_k, self.bias_v, self.add_zero_attn, self.dropout,
            self.out_proj.weight, self.out_proj.bias, training=self.training,
            key_padding_mask=key_padding_mask, need_weights=need_weights, attn_mask=attn_mask,
            use_separate_proj_weight=not self._qkv_same_embed_dim,
            q_proj_weight=self.q_proj_weight, k_proj_weight=self.k_proj_weight,
            v_proj_weight=self.v_proj_weight, average_attn_weights=average_attn_weights,
            is_causal=is_causal)
        if self.batch_first and batched:
            out = transpose(out, 0, 1)
        if fast and not need_weights:
            N, L = out.shape[:2]
            out = nan_rows(out, dead_queries(attn_mask, key_padding_mask, N, self.num_heads, L,
                                             L), True)
        return out, weights

    def _pytorch_fast_path(self, query, key, value, key_padding_mask, attn_mask):
        """Would PyTorch run this call on its native inference kernel (whose
        one visible difference is NaN, not zeros, for a query that sees no key)?"""
        floats = any(m is not None and m.dtype.kind == "f" for m in (key_padding_mask, attn_mask))
        if (floats or query.ndim != 3 or query is not key or key is not value or self.training
                or self.num_heads % 2 or not self.batch_first or self.bias_k is not None
                or self.add_zero_attn or not self._qkv_same_embed_dim
                or self.in_proj_bias is None or query.dtype != self.in_proj_weight.dtype):
            return False
        return needs_no_grad((query, self.in_proj_weight, self.in_proj_bias,
                               self.out_proj.weight, self.out_proj.bias))
