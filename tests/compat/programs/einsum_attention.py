"""A one-block causal transformer trained to copy the previous token.

Idioms: ``torch.einsum('bqd,bkd->bqk', ...)`` and ``'bqk,bkd->bqd'``,
``torch.triu(torch.ones(T, T), diagonal=1).bool()`` with ``masked_fill(mask,
float('-inf'))``, ``F.softmax(dim=-1)``, ``nn.LayerNorm``, learned positions
as an ``nn.Parameter``, heads split with ``view(...).transpose(1, 2)`` and
merged with ``.contiguous().view(...)``, residual ``x = x + ...``,
``nn.GELU``, ``nn.utils.clip_grad_norm_``, ``optim.AdamW``.
Randomness: token sequences from NumPy; dropout 0.
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class SelfAttention(nn.Module):
    def __init__(self, d_model, n_head):
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.qkv(x).split(C, dim=2)
        hs = C // self.n_head
        q = q.view(B, T, self.n_head, hs).transpose(1, 2).reshape(B * self.n_head, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2).reshape(B * self.n_head, T, hs)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2).reshape(B * self.n_head, T, hs)
        att = torch.einsum('bqd,bkd->bqk', q, k) / math.sqrt(k.size(-1))
        mask = torch.triu(torch.ones(T, T), diagonal=1).bool()
        att = att.masked_fill(mask, float('-inf'))
        att = F.softmax(att, dim=-1)
        y = torch.einsum('bqk,bkd->bqd', att, v)
        y = y.view(B, self.n_head, T, -1).transpose(1, 2).contiguous().view(B, T, C)
        return self.proj(y)


class TinyTransformer(nn.Module):
    def __init__(self, vocab=8, d_model=16, n_head=2, block=6):
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(torch.zeros(1, block, d_model))
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, n_head)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(),
                                 nn.Linear(4 * d_model, d_model))
        self.head = nn.Linear(d_model, vocab)

    def forward(self, idx):
        x = self.tok(idx) + self.pos[:, :idx.size(1)]
        x = x + self.attn(self.ln1(x))
        x = x + self.mlp(self.ln2(x))
        return self.head(x)


def build():
    return TinyTransformer()


def train(model, steps=20):
    rng = np.random.default_rng(0)
    seqs = torch.from_numpy(rng.integers(0, 8, size=(16, 7)))
    x, y = seqs[:, 1:], seqs[:, :-1]      # predict the previous token
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    log = []
    for step in range(steps):
        logits = model(x)
        loss = F.cross_entropy(logits[:, 1:].reshape(-1, 8), y[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        log.append(loss.item())
    return log


if __name__ == "__main__":
    print(train(build()))
