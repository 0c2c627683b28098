"""The GPT seed (tinynet/models/gpt.py): shapes, causality, weight tying,
GPT-2 initialisation, learning, generation, gradients against finite
differences, and the same architecture in PyTorch giving the same logits and
gradients from the same weights."""
import contextlib
import math

import numpy as np
import pytest
import torch

import tinynet as tn
import tinynet.nn.functional as F
import tinynet.optim as optim
from tinynet.models.gpt import GPT

V = 11


def tiny(n_layer=2, n_head=2, n_embd=8, block_size=6, dropout=0.0, seed=0):
    tn.manual_seed(seed)
    return GPT(V, n_layer, n_head, n_embd, block_size, dropout)


def ids(B, T, seed=0):
    return tn.tensor(np.random.default_rng(seed).integers(0, V, (B, T)))


# ---------------------------------------------------------------- shapes and structure
@pytest.mark.parametrize("B,T", [(1, 1), (3, 5), (2, 6)])
def test_forward_shape(B, T):
    assert tiny()(ids(B, T)).shape == (B, T, V)


def test_bad_input_is_refused_with_the_sizes():
    model = tiny()
    with pytest.raises(ValueError, match="7 tokens is longer than block_size 6"):
        model(ids(1, 7))
    with pytest.raises(ValueError, match=r"shape \(B, T\), got shape \(5,\)"):
        model(tn.tensor(np.arange(5)))
    with pytest.raises(ValueError, match=r"n_embd \(10\) must be divisible by n_head \(4\)"):
        GPT(V, 1, 4, 10, 8)
    with pytest.raises(ValueError, match="block_size must be a positive int"):
        GPT(V, 1, 2, 8, 0)


def test_causal_a_future_token_leaves_earlier_logits_unchanged():
    model = tiny(n_layer=3)
    x = ids(2, 6).numpy()
    for t in range(6):
        y = x.copy()
        y[:, t] = (y[:, t] + 1) % V
        a, b = model(tn.tensor(x)).numpy(), model(tn.tensor(y)).numpy()
        np.testing.assert_allclose(a[:, :t], b[:, :t], rtol=0, atol=1e-6)
        assert np.abs(a[:, t:] - b[:, t:]).max() > 1e-4      # and it does change the rest


def test_weight_tying_one_parameter_for_embedding_and_head():
    model = tiny()
    assert model.lm_head.weight is model.wte.weight
    params = list(model.parameters())
    assert sum(p is model.wte.weight for p in params) == 1
    assert len(params) == len({id(p) for p in params})
    state = model.state_dict()
    assert "lm_head.weight" in state and "wte.weight" in state       # PyTorch lists both names
    # the gradient holds both uses: embedding rows and the output projection
    loss = F.cross_entropy(model(ids(2, 6)).reshape(-1, V), ids(2, 6, seed=1).reshape(-1))
    loss.backward()
    g = model.wte.weight.grad.numpy()
    assert np.count_nonzero(np.abs(g).sum(1)) == V       # every row: all are logits
    # a copy loads and stays tied
    other = tiny(seed=1)
    other.load_state_dict(state)
    assert other.lm_head.weight is other.wte.weight
    np.testing.assert_array_equal(other.wte.weight.numpy(), model.wte.weight.numpy())


def test_gpt2_initialisation():
    tn.manual_seed(0)
    model = GPT(V, n_layer=4, n_head=4, n_embd=64, block_size=32)
    std = lambda p: float(p.numpy().std())          # noqa: E731
    assert abs(std(model.h[0].attn.c_attn.weight) - 0.02) < 0.002
    assert abs(std(model.h[0].mlp.c_fc.weight) - 0.02) < 0.002
    assert abs(std(model.wte.weight) - 0.02) < 0.004
    scaled = 0.02 / math.sqrt(2 * 4)
    for block in model.h:
        assert abs(std(block.attn.c_proj.weight) - scaled) < 0.1 * scaled
        assert abs(std(block.mlp.c_proj.weight) - scaled) < 0.1 * scaled
        assert not block.attn.c_attn.bias.numpy().any() and not block.mlp.c_fc.bias.numpy().any()
        np.testing.assert_array_equal(block.ln_1.weight.numpy(), 1)


def test_dropout_acts_in_training_only():
    model = tiny(dropout=0.5)
    x = ids(2, 6)
    model.eval()
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())
    model.train()
    assert not np.allclose(model(x).numpy(), model(x).numpy())


# ---------------------------------------------------------------- learning
def test_loss_decreases_on_a_tiny_corpus():
    text = "abcabcabdabcabcabd" * 4
    data = np.array([ord(c) - ord("a") for c in text])
    model = tiny(n_layer=1, n_embd=16, block_size=8)
    opt = optim.AdamW(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(100):
        starts = rng.integers(0, len(data) - 9, 8)
        rows = data[starts[:, None] + np.arange(9)]
        loss = F.cross_entropy(model(tn.tensor(rows[:, :-1])).reshape(-1, V),
                               tn.tensor(rows[:, 1:].reshape(-1)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # from the uniform guess (log 11) past the character frequencies (about 1.3)
    # to the next character given the current one (about 0.21)
    assert np.mean(losses[:5]) > 2.0
    assert np.mean(losses[-5:]) < 0.5


# ---------------------------------------------------------------- generation
def test_generate_shape_and_block_size():
    model = tiny(block_size=4)
    seen = []
    model.register_forward_hook(lambda m, inp, out: seen.append(tuple(inp[0].shape)))
    out = model.generate(ids(2, 6), 5)                     # a prompt longer than block_size
    assert out.shape == (2, 11) and out.dtype == np.int64
    np.testing.assert_array_equal(out.numpy()[:, :6], ids(2, 6).numpy())
    assert max(t for _, t in seen) == 4 and len(seen) == 5
    assert out.numpy().min() >= 0 and out.numpy().max() < V
    assert model.training                                  # the mode is restored


def test_generate_is_repeatable_under_manual_seed_and_greedy_at_temperature_0():
    model = tiny()
    prompt = ids(3, 2)
    tn.manual_seed(5)
    a = model.generate(prompt, 8, temperature=0.9).numpy()
    tn.manual_seed(5)
    b = model.generate(prompt, 8, temperature=0.9).numpy()
    np.testing.assert_array_equal(a, b)
    # temperature 0 and top_k=1 both take the most likely token
    greedy = model.generate(prompt, 8, temperature=0).numpy()
    np.testing.assert_array_equal(greedy, model.generate(prompt, 8, top_k=1).numpy())
    x = prompt
    for _ in range(8):
        nxt = model(x[:, -model.block_size:]).numpy()[:, -1].argmax(-1)
        x = tn.cat([x, tn.tensor(nxt[:, None])], dim=1)
    np.testing.assert_array_equal(greedy, x.numpy())


def test_generate_top_k_draws_only_among_the_k_most_likely():
    model = tiny()
    tn.manual_seed(0)
    out = model.generate(ids(4, 1), 6, temperature=2.0, top_k=3).numpy()
    model.eval()
    for t in range(1, out.shape[1]):
        logits = model(tn.tensor(out[:, max(0, t - model.block_size):t])).numpy()[:, -1]
        top3 = np.argsort(logits, -1)[:, -3:]
        assert all(out[n, t] in top3[n] for n in range(out.shape[0]))
    # a high temperature without top_k does leave the top 3 somewhere
    tn.manual_seed(0)
    free = model.generate(ids(4, 1), 6, temperature=50.0).numpy()
    outside = 0
    for t in range(1, free.shape[1]):
        logits = model(tn.tensor(free[:, max(0, t - model.block_size):t])).numpy()[:, -1]
        top3 = np.argsort(logits, -1)[:, -3:]
        outside += sum(free[n, t] not in top3[n] for n in range(free.shape[0]))
    assert outside > 0


def test_generate_refuses_bad_settings():
    model = tiny()
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        model.generate(ids(1, 2), 1, temperature=-1)
    with pytest.raises(ValueError, match="top_k must be >= 1"):
        model.generate(ids(1, 2), 1, top_k=0)


# ---------------------------------------------------------------- gradients
@contextlib.contextmanager
def parameters_replaced(pairs):
    """Run the model with the given tensors in place of some of its parameters
    (so that a function of those tensors is the model's loss)."""
    old = [(m, name, m._parameters[name]) for m, name, _ in pairs]
    for m, name, t in pairs:
        m._parameters[name] = t
    try:
        yield
    finally:
        for m, name, t in old:
            m._parameters[name] = t


def test_gradcheck_of_the_loss_wrt_a_few_parameters_float64():
    model = tiny(n_layer=2, n_embd=8, block_size=5).double()
    x, y = ids(2, 5), ids(2, 5, seed=1).reshape(-1)

    def loss(w_qkv, w_emb, w_pos, g_ln, b_fc):
        with parameters_replaced([(model.h[0].attn.c_attn, "weight", w_qkv),
                                  (model.wte, "weight", w_emb), (model.lm_head, "weight", w_emb),
                                  (model.wpe, "weight", w_pos), (model.h[1].ln_2, "weight", g_ln),
                                  (model.h[1].mlp.c_fc, "bias", b_fc)]):
            return F.cross_entropy(model(x).reshape(-1, V), y)

    params = (model.h[0].attn.c_attn.weight, model.wte.weight, model.wpe.weight,
              model.h[1].ln_2.weight, model.h[1].mlp.c_fc.bias)
    args = tuple(p.detach().clone().requires_grad_() for p in params)
    grads = tn.autograd.grad(loss(*args), args)
    assert all(np.abs(g.numpy()).max() > 0 for g in grads)     # each input matters
    assert tn.gradcheck(loss, args)


# ---------------------------------------------------------------- the same model in PyTorch
class TorchBlock(torch.nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.H = H
        self.ln_1 = torch.nn.LayerNorm(C)
        self.attn = torch.nn.Module()
        self.attn.c_attn = torch.nn.Linear(C, 3 * C)
        self.attn.c_proj = torch.nn.Linear(C, C)
        self.ln_2 = torch.nn.LayerNorm(C)
        self.mlp = torch.nn.Module()
        self.mlp.c_fc = torch.nn.Linear(C, 4 * C)
        self.mlp.c_proj = torch.nn.Linear(4 * C, C)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.attn.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.H, C // self.H).transpose(1, 2) for t in (q, k, v))
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attn.c_proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp.c_proj(torch.nn.functional.gelu(self.mlp.c_fc(self.ln_2(x))))


class TorchGPT(torch.nn.Module):
    def __init__(self, vocab, n_layer, n_head, n_embd, block_size):
        super().__init__()
        self.wte = torch.nn.Embedding(vocab, n_embd)
        self.wpe = torch.nn.Embedding(block_size, n_embd)
        self.h = torch.nn.ModuleList([TorchBlock(n_embd, n_head) for _ in range(n_layer)])
        self.ln_f = torch.nn.LayerNorm(n_embd)
        self.lm_head = torch.nn.Linear(n_embd, vocab, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 2e-5)])
def test_same_logits_and_gradients_as_pytorch(dtype, tol):
    tn.manual_seed(0)
    ours = GPT(V, n_layer=2, n_head=4, n_embd=16, block_size=12).to(getattr(tn, dtype))
    theirs = TorchGPT(V, 2, 4, 16, 12).to(getattr(torch, dtype))
    state = ours.state_dict()
    assert sorted(state) == sorted(theirs.state_dict())
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in state.items()})
    x, y = np.random.default_rng(0).integers(0, V, (3, 12)), \
        np.random.default_rng(1).integers(0, V, 36)
    logits = ours(tn.tensor(x))
    loss = F.cross_entropy(logits.reshape(-1, V), tn.tensor(y))
    loss.backward()
    t_logits = theirs(torch.tensor(x))
    t_loss = torch.nn.functional.cross_entropy(t_logits.reshape(-1, V), torch.tensor(y))
    t_loss.backward()
    scale = np.abs(t_logits.detach().numpy()).max()
    np.testing.assert_allclose(logits.numpy(), t_logits.detach().numpy(), rtol=0,
                               atol=tol * scale)
    t_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        g, tg = p.grad.numpy(), t_params[name].grad.numpy()
        np.testing.assert_allclose(g, tg, rtol=0, atol=tol * max(np.abs(tg).max(), 1e-12),
                                   err_msg=name)
    assert len(list(ours.named_parameters())) == len(t_params)
