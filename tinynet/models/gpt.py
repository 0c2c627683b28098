"""A character-level GPT: a decoder-only transformer, in the manner of nanoGPT.

    ids (B, T) -> token embedding + position embedding
               -> n_layer x Block:  x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))
               -> final LayerNorm -> LM head (the token embedding's weight) -> logits (B, T, V)

Each ``Block`` is pre-norm: the LayerNorm comes before the sub-layer and the
residual stream itself is never normalised. ``CausalSelfAttention`` projects
the stream to queries, keys and values with one Linear of 3 * n_embd
outputs, splits them into ``n_head`` heads and runs
``F.scaled_dot_product_attention(q, k, v, is_causal=True)`` (the fused
kernel: it never holds the T x T weights when there is no attention
dropout); an output projection maps the heads back. The MLP is Linear 4x,
GELU, Linear back.

The LM head shares its weight with the token embedding (weight tying: one
Parameter of shape (V, n_embd) reads the ids in and writes the logits out).
Initialisation is GPT-2's: every Linear and Embedding weight from
N(0, 0.02), biases zero, and the two projections that write into the
residual stream (attention output, MLP output) from N(0, 0.02 / sqrt(2 *
n_layer)), so that the stream's variance does not grow with depth.

``tinynet train gpt`` trains it with the ``char_lm`` recipe
(``tinynet/recipes/char_lm.py``).
"""
import math

import tinynet as tn
import tinynet.nn as nn
import tinynet.nn.functional as F


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with a fused qkv projection.

    Shape: x (B, T, n_embd) -> (B, T, n_embd); position t sees positions <= t.
    """

    def __init__(self, n_embd, n_head, dropout=0.0, bias=True):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"CausalSelfAttention: n_embd ({n_embd}) must be divisible by "
                             f"n_head ({n_head})")
        self.n_embd, self.n_head, self.dropout = n_embd, n_head, dropout
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)     # q, k, v side by side
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape
        H = self.n_head
        q, k, v = self.c_attn(x).split(C, dim=2)
        # (B, T, C) -> (B, H, T, C/H): each head attends over its own slice
        q, k, v = (t.reshape(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).reshape(B, T, C)       # the heads side by side again
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """Linear to 4 * n_embd, GELU, Linear back, dropout."""

    def __init__(self, n_embd, dropout=0.0, bias=True):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """One pre-norm transformer block: attention, then the MLP, each added to the stream."""

    def __init__(self, n_embd, n_head, dropout=0.0, bias=True):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, bias=bias)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout, bias)
        self.ln_2 = nn.LayerNorm(n_embd, bias=bias)
        self.mlp = MLP(n_embd, dropout, bias)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Token ids in, next-token logits out.

    Args:
        vocab_size: V, the number of distinct tokens (characters).
        n_layer: the number of blocks.
        n_head: attention heads per block; must divide ``n_embd``.
        n_embd: the width of the residual stream.
        block_size: the most positions the model takes (the length of the
            learned position table).
        dropout: dropout on the embeddings, the attention weights and each
            sub-layer's output while training (0: none, and the fused
            attention kernel runs).
        bias: biases in the Linear and LayerNorm layers.

    Shape: ids (B, T) int64 with T <= block_size -> logits (B, T, V).

    Submodules follow nanoGPT's names (``wte``, ``wpe``, ``h.0.attn.c_attn``,
    ``ln_f``, ``lm_head``); ``lm_head.weight`` is ``wte.weight``, so the
    state_dict holds both names for one array and ``parameters()`` yields it
    once.

    Example::

        >>> model = GPT(vocab_size=10, n_layer=1, n_head=2, n_embd=8, block_size=16)
        >>> model(tn.tensor([[1, 2, 3]])).shape
        (1, 3, 10)
    """

    def __init__(self, vocab_size, n_layer=4, n_head=4, n_embd=128, block_size=128, dropout=0.0,
                 bias=True):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("n_layer", n_layer),
                            ("n_head", n_head), ("n_embd", n_embd), ("block_size", block_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"GPT: {name} must be a positive int, got {value!r}")
        if n_embd % n_head:
            raise ValueError(f"GPT: n_embd ({n_embd}) must be divisible by n_head ({n_head})")
        self.vocab_size, self.n_layer, self.block_size = vocab_size, n_layer, block_size
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.h = nn.ModuleList([Block(n_embd, n_head, dropout, bias) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd, bias=bias)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight           # weight tying: one Parameter
        self._init_weights()

    def _init_weights(self):
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        # the projections that write into the residual stream, one pair per block
        for block in self.h:
            for proj in (block.attn.c_proj, block.mlp.c_proj):
                nn.init.normal_(proj.weight, 0.0, 0.02 / math.sqrt(2 * self.n_layer))

    def forward(self, idx):
        if idx.ndim != 2:
            raise ValueError(f"GPT: expects token ids of shape (B, T), got shape "
                             f"{tuple(idx.shape)}")
        B, T = idx.shape
        if T > self.block_size:
            raise ValueError(f"GPT: a sequence of {T} tokens is longer than block_size "
                             f"{self.block_size}; feed at most the last {self.block_size}")
        pos = tn.arange(T, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))      # (B, T, C) + (T, C)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))

    @tn.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None):
        """``idx`` (B, T) followed by ``max_new_tokens`` tokens drawn one at a time.

        Each step feeds the last ``block_size`` tokens, divides the last
        position's logits by ``temperature`` (0: take the most likely token),
        keeps the ``top_k`` largest (None: all) and draws from their softmax
        with ``tn.multinomial``, so ``tn.manual_seed`` makes it repeatable.
        Runs in eval mode (no dropout) and restores the mode after.
        """
        if temperature < 0:
            raise ValueError(f"GPT.generate: temperature must be >= 0, got {temperature}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"GPT.generate: top_k must be >= 1 or None, got {top_k}")
        was_training = self.training
        self.eval()
        for _ in range(max_new_tokens):
            logits = self(idx[:, -self.block_size:])[:, -1, :]        # (B, V)
            if temperature == 0:
                nxt = logits.argmax(dim=-1, keepdim=True)
            else:
                logits = logits / temperature
                if top_k is not None and top_k < logits.shape[-1]:
                    kth = tn.topk(logits, top_k, dim=-1).values[:, -1:]
                    logits = logits.masked_fill(logits < kth, -math.inf)
                nxt = tn.multinomial(F.softmax(logits, dim=-1), 1)
            idx = tn.cat([idx, nxt.to(idx.dtype)], dim=1)
        self.train(was_training)
        return idx
