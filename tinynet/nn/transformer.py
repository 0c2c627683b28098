"""The Transformer layers (PyTorch's nn.Transformer and its parts).

``TransformerEncoderLayer`` is self-attention then a feed-forward block,
each wrapped in dropout, a residual connection and a LayerNorm (after the
residual by default, before the block with ``norm_first=True``);
``TransformerDecoderLayer`` adds attention over the encoder's output
(``memory``) between the two. ``TransformerEncoder`` / ``TransformerDecoder``
stack copies of a layer; ``Transformer`` is an encoder and a decoder.

Masks follow ``nn.MultiheadAttention``: a bool True masks a position out, a
float is added to the scores. Submodule and parameter names are PyTorch's,
so a PyTorch state_dict loads and gives the same outputs.
"""
import copy

from tinynet.nn import functional as F
from tinynet.nn.activation import GELU, ReLU
from tinynet.nn.attention import MultiheadAttention, needs_no_grad, dead_queries, nan_rows
from tinynet.nn.container import ModuleList
from tinynet.nn.dropout import Dropout
from tinynet.nn.init import xavier_uniform_
from tinynet.nn.linear import Linear
from tinynet.nn.module import Module
from tinynet.nn.normalization import LayerNorm
from tinynet.ops.attention import canonical_mask
from tinynet.ops.elementwise import where
from tinynet.ops.shape import triu
from tinynet.tensor import full


def _generate_square_subsequent_mask(sz, device=None, dtype=None):
    return triu(full((sz, sz), float("-inf"), dtype=dtype, device=device), diagonal=1)


def _get_clones(module, N):
    return ModuleList([copy.deepcopy(module) for _ in range(N)])


def _get_activation_fn(activation):
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise ValueError(f"Transformer layer: activation should be 'relu', 'gelu' or a callable, "
                     f"not {activation!r}")


def _get_seq_len(src, batch_first):
    if src.ndim == 2:
        return src.shape[0]
    return src.shape[1 if batch_first else 0]


def _detect_is_causal_mask(mask, is_causal=None, size=None):
    """``is_causal`` if given; if None, whether ``mask`` is exactly the causal
    mask ``generate_square_subsequent_mask`` makes (as PyTorch decides)."""
    make_causal = is_causal is True
    if is_causal is None and mask is not None:
        sz = size if size is not None else mask.shape[-2]
        causal = _generate_square_subsequent_mask(sz, device=mask.device, dtype=mask.dtype)
        make_causal = (tuple(mask.shape) == tuple(causal.shape)
                       and bool((mask.array == causal.array).all()))
    return make_causal


class Transformer(Module):
    """An encoder-decoder Transformer ("Attention Is All You Need").

    Args:
        d_model: the feature size. Default: 512.
        nhead: attention heads. Default: 8.
        num_encoder_layers, num_decoder_layers: Default: 6 each.
        dim_feedforward: the feed-forward block's hidden size. Default: 2048.
        dropout: Default: 0.1.
        activation: ``"relu"``, ``"gelu"`` or a callable. Default: relu.
        custom_encoder, custom_decoder: modules used instead of the stacks.
        layer_norm_eps: Default: 1e-5.
        batch_first: (N, S, E) instead of (S, N, E). Default: False.
        norm_first: LayerNorm before each block instead of after. Default: False.
        bias: biases in the Linear and LayerNorm layers. Default: True.
        device, dtype: where and of which dtype the parameters are made.

    Every parameter with more than one dim is Xavier-uniform initialised.

    Shape:
        - src (S, N, E), tgt (T, N, E) (N first with ``batch_first``; or
          unbatched (S, E), (T, E)).
        - src_mask (S, S), tgt_mask (T, T), memory_mask (T, S) (or with
          N*nhead in front); the key padding masks (N, S), (N, T), (N, S).
        - Output (T, N, E).

    Example::

        >>> model = nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1,
        ...                        num_decoder_layers=1, dim_feedforward=32)
        >>> src, tgt = tn.randn(7, 3, 16), tn.randn(5, 3, 16)
        >>> model(src, tgt).shape
        (5, 3, 16)
    """

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                 dim_feedforward=2048, dropout=0.1, activation=F.relu, custom_encoder=None,
                 custom_decoder=None, layer_norm_eps=1e-5, batch_first=False, norm_first=False,
                 bias=True, device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                            layer_norm_eps, batch_first, norm_first, bias, **kw)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
            self.encoder = TransformerEncoder(layer, num_encoder_layers, norm)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                            layer_norm_eps, batch_first, norm_first, bias, **kw)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
            self.decoder = TransformerDecoder(layer, num_decoder_layers, norm)
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        batched = src.ndim == 3
        if batched and src.shape[0 if self.batch_first else 1] != \
                tgt.shape[0 if self.batch_first else 1]:
            raise ValueError(f"Transformer: the batch sizes of src and tgt must be equal, got "
                             f"src {tuple(src.shape)}, tgt {tuple(tgt.shape)} "
                             f"(batch_first={self.batch_first})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ValueError(f"Transformer: the feature sizes of src and tgt must be d_model="
                             f"{self.d_model}, got src {tuple(src.shape)}, tgt "
                             f"{tuple(tgt.shape)}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        """The causal mask (sz, sz): 0 on and below the diagonal, -inf above
        (float32 unless ``dtype`` says otherwise)."""
        return _generate_square_subsequent_mask(sz, device=device, dtype=dtype)

    def _reset_parameters(self):
        for p in self.parameters():
            if p.ndim > 1:
                xavier_uniform_(p)


class TransformerEncoder(Module):
    """A stack of ``num_layers`` copies of ``encoder_layer``, then ``norm``.

    Args:
        encoder_layer: the layer to copy (each copy starts with its weights).
        num_layers: how many.
        norm: a module applied to the output (a LayerNorm), or None.
        enable_nested_tensor, mask_check: PyTorch's switches for its
            padded-sequence fast path; kept for its one visible effect (see
            below).

    Shape:
        - src (S, N, E) ((N, S, E) with the layers' ``batch_first``), mask
          (S, S), src_key_padding_mask (N, S).
        - Output: like src.

    PyTorch runs a padded batch as a nested tensor when it can (evaluation
    mode, no gradient needed, ``batch_first`` layers, a key padding mask
    whose padding is at the end of each row, no ``mask``, ...), and then
    returns zeros at the padded positions (before ``norm``). tinynet computes
    the same thing with the padding masked, and writes those zeros under the
    same conditions, so the outputs agree.

    Example::

        >>> layer = nn.TransformerEncoderLayer(d_model=16, nhead=4, dim_feedforward=32)
        >>> encoder = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(16))
        >>> encoder(tn.randn(5, 2, 16)).shape
        (5, 2, 16)
    """

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
                 mask_check=True):
        super().__init__()
        self.layers = _get_clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = enable_nested_tensor and _nested_layer_ok(encoder_layer)
        self.mask_check = mask_check

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        src_key_padding_mask = canonical_mask(src_key_padding_mask, "src_key_padding_mask",
                                               mask, "mask", src.dtype)
        mask = canonical_mask(mask, "mask", None, "", src.dtype)
        first = self.layers[0]
        padded = self._nested_padding(src, mask, src_key_padding_mask, first)
        seq_len = _get_seq_len(src, first.self_attn.batch_first)
        is_causal = _detect_is_causal_mask(mask, is_causal, seq_len)
        output = src
        for layer in self.layers:
            output = layer(output, src_mask=mask, is_causal=is_causal,
                           src_key_padding_mask=src_key_padding_mask)
        if padded is not None:
            output = where(padded[:, :, None], 0.0, output)
        if self.norm is not None:
            output = self.norm(output)
        return output

    def _nested_padding(self, src, mask, key_padding_mask, first):
        """The (N, S) bool array of padded positions when PyTorch would take
        its nested-tensor path (whose output is zero there), else None."""
        if (not self.use_nested_tensor or first.training or src.ndim != 3
                or key_padding_mask is None or mask is not None):
            return None
        from tinynet.autograd import is_grad_enabled
        tensors = [src] + [p for p in (
            first.self_attn.in_proj_weight, first.self_attn.in_proj_bias,
            first.self_attn.out_proj.weight, first.self_attn.out_proj.bias,
            first.norm1.weight, first.norm1.bias, first.norm2.weight, first.norm2.bias,
            first.linear1.weight, first.linear1.bias, first.linear2.weight,
            first.linear2.bias) if p is not None]
        if is_grad_enabled() and any(t.requires_grad for t in tensors):
            return None
        padded = key_padding_mask.array != 0
        if self.mask_check:
            # every row's padding must be at its end ("left aligned" content)
            kept = ~padded
            if bool((kept[:, 1:] & ~kept[:, :-1]).any()):
                return None
        return padded


def _nested_layer_ok(layer):
    """Could PyTorch's TransformerEncoder use nested tensors with this layer?"""
    return (isinstance(layer, TransformerEncoderLayer) and not layer.norm_first
            and layer.self_attn.batch_first and layer.self_attn._qkv_same_embed_dim
            and layer.self_attn.in_proj_bias is not None
            and bool(layer.activation_relu_or_gelu)
            and layer.norm1.eps == layer.norm2.eps and layer.self_attn.num_heads % 2 == 0)


class TransformerDecoder(Module):
    """A stack of ``num_layers`` copies of ``decoder_layer``, then ``norm``.

    Args:
        decoder_layer: the layer to copy (each copy starts with its weights).
        num_layers: how many.
        norm: a module applied to the output (a LayerNorm), or None.

    Shape:
        - tgt (T, N, E), memory (S, N, E) (N first with the layers'
          ``batch_first``), tgt_mask (T, T), memory_mask (T, S), key padding
          masks (N, T) and (N, S).
        - Output: like tgt.

    Example::

        >>> layer = nn.TransformerDecoderLayer(d_model=16, nhead=4, dim_feedforward=32)
        >>> decoder = nn.TransformerDecoder(layer, num_layers=2)
        >>> decoder(tn.randn(5, 2, 16), tn.randn(7, 2, 16)).shape
        (5, 2, 16)
    """

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = _get_clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        output = tgt
        seq_len = _get_seq_len(tgt, self.layers[0].self_attn.batch_first)
        tgt_is_causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal, seq_len)
        for layer in self.layers:
            output = layer(output, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                           tgt_key_padding_mask=tgt_key_padding_mask,
                           memory_key_padding_mask=memory_key_padding_mask,
                           tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        if self.norm is not None:
            output = self.norm(output)
        return output


def _activation(activation):
    """(the callable, 1 for relu / 2 for gelu / 0 for anything else)."""
    if isinstance(activation, str):
        activation = _get_activation_fn(activation)
    if activation is F.relu or isinstance(activation, ReLU):
        return activation, 1
    if activation is F.gelu or isinstance(activation, GELU):
        return activation, 2
    return activation, 0


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward block, each with a residual connection.

    Each block's output goes through dropout, is added to its input and
    normalised by a LayerNorm (``norm(x + block(x))``), or the LayerNorm
    comes first with ``norm_first`` (``x + block(norm(x))``).

    Args:
        d_model: the feature size E.
        nhead: attention heads.
        dim_feedforward: the feed-forward hidden size. Default: 2048.
        dropout: Default: 0.1.
        activation: ``"relu"``, ``"gelu"`` or a callable. Default: relu.
        layer_norm_eps: Default: 1e-5.
        batch_first: (N, S, E) instead of (S, N, E). Default: False.
        norm_first: ``x + block(norm(x))`` instead of ``norm(x + block(x))``.
            Default: False.
        bias: biases in the Linear and LayerNorm layers. Default: True.
        device, dtype: where and of which dtype the parameters are made.

    Shape:
        - src (S, N, E) (or (N, S, E) with ``batch_first``, or unbatched
          (S, E)), src_mask (S, S) or (N*nhead, S, S), src_key_padding_mask
          (N, S).
        - Output: like src.

    A query whose keys are all masked gets a finite output row, except where
    PyTorch runs the layer on its inference fast path (evaluation mode, no
    gradient needed, ``batch_first``, biases, relu or gelu, an even number of
    heads, no hooks), which gives NaN in that row: tinynet gives the same.

    Example::

        >>> layer = nn.TransformerEncoderLayer(d_model=16, nhead=4, dim_feedforward=32,
        ...                                    batch_first=True)
        >>> layer(tn.randn(2, 5, 16)).shape
        (2, 5, 16)
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation=F.relu,
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
                 device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation, self.activation_relu_or_gelu = _activation(activation)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        src_key_padding_mask = canonical_mask(src_key_padding_mask, "src_key_padding_mask",
                                               src_mask, "src_mask", src.dtype)
        src_mask = canonical_mask(src_mask, "src_mask", None, "", src.dtype)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        if self._pytorch_fast_path(src):
            N, L = x.shape[:2]
            x = nan_rows(x, dead_queries(src_mask, src_key_padding_mask, N,
                                         self.self_attn.num_heads, L, L), True)
        return x

    def _pytorch_fast_path(self, src):
        """Would PyTorch run this call on its native inference kernel (whose
        one visible difference is NaN, not zeros, in the rows of a query
        that sees no key)?"""
        attn = self.self_attn
        if (src.ndim != 3 or self.training or not attn.batch_first or attn.in_proj_bias is None
                or not attn._qkv_same_embed_dim or not self.activation_relu_or_gelu
                or self.norm1.eps != self.norm2.eps or attn.num_heads % 2):
            return False
        if any(len(getattr(m, "_forward_hooks", {})) + len(getattr(m, "_forward_pre_hooks", {}))
               for m in self.modules()):
            return False
        return needs_no_grad((src, attn.in_proj_weight, attn.in_proj_bias,
                               attn.out_proj.weight, attn.out_proj.bias, self.norm1.weight,
                               self.norm1.bias, self.norm2.weight, self.norm2.bias,
                               self.linear1.weight, self.linear1.bias, self.linear2.weight,
                               self.linear2.bias))

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout2(x)


class TransformerDecoderLayer(Module):
    """Self-attention, attention over the encoder's output, and a feed-forward block.

    Each block has dropout, a residual connection and a LayerNorm, as in
    ``TransformerEncoderLayer``; ``memory`` is the encoder's output.

    Args:
        d_model: the feature size E.
        nhead: attention heads.
        dim_feedforward: the feed-forward hidden size. Default: 2048.
        dropout: Default: 0.1.
        activation: ``"relu"``, ``"gelu"`` or a callable. Default: relu.
        layer_norm_eps: Default: 1e-5.
        batch_first: (N, T, E) instead of (T, N, E). Default: False.
        norm_first: LayerNorm before each block instead of after. Default: False.
        bias: biases in the Linear and LayerNorm layers. Default: True.
        device, dtype: where and of which dtype the parameters are made.

    Shape:
        - tgt (T, N, E), memory (S, N, E) (N first with ``batch_first``),
          tgt_mask (T, T), memory_mask (T, S), tgt_key_padding_mask (N, T),
          memory_key_padding_mask (N, S).
        - Output: like tgt.

    Example::

        >>> layer = nn.TransformerDecoderLayer(d_model=16, nhead=4, dim_feedforward=32)
        >>> layer(tn.randn(5, 2, 16), tn.randn(7, 2, 16)).shape
        (5, 2, 16)
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation=F.relu,
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
                 device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout,
                                            batch_first=batch_first, bias=bias, **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout,
                                                 batch_first=batch_first, bias=bias, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(activation)[0]

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                                    memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                               memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           is_causal=is_causal, need_weights=False)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal=False):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask,
                                key_padding_mask=key_padding_mask, is_causal=is_causal,
                                need_weights=False)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout3(x)
