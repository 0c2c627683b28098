"""The GPT seed's training step, tinynet against the same architecture in PyTorch.

``gpt_step(lib)`` is a workload of ``benchmarks/run.py`` (it returns that
harness's ``Case``):

    python benchmarks/run.py --only gpt_step [--quick]

The step: the character-level GPT of ``tinynet/models/gpt.py`` with 4
layers, 4 heads, width 64, block 64 and a 65-character vocabulary, on a
batch of 32 sequences of 64 characters; cross-entropy over every position,
backward, one AdamW step. PyTorch runs the same architecture built from
``torch.nn.TransformerEncoderLayer`` (pre-norm, GELU, a causal mask; its
attention runs ``scaled_dot_product_attention``) with the same tied
embedding and head, loaded with the tinynet model's initial weights, so the loss and every
gradient of the first step must agree before anything is timed.
"""
import numpy as np

V, L, H, C, T, N = 65, 4, 4, 64, 64, 32


def _data(seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, (N, T + 1))
    return ids[:, :-1], ids[:, 1:].reshape(-1)


def _initial_weights():
    """The tinynet GPT's GPT-2 initialisation, as NumPy arrays by parameter name."""
    import tinynet as tn
    from tinynet.models.gpt import GPT
    tn.manual_seed(0)
    model = GPT(V, n_layer=L, n_head=H, n_embd=C, block_size=T)
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def torch_gpt():
    """The same architecture from torch.nn's own blocks (imported only when
    PyTorch is timed): ``nn.TransformerEncoderLayer(norm_first=True,
    activation="gelu")`` with a causal mask is the GPT block, its
    ``self_attn.in_proj_weight`` the fused q, k, v projection ``c_attn``."""
    import torch
    nn = torch.nn

    class TorchGPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
            self.h = nn.ModuleList([
                nn.TransformerEncoderLayer(C, H, dim_feedforward=4 * C, dropout=0.0,
                                           activation="gelu", batch_first=True,
                                           norm_first=True) for _ in range(L)])
            self.ln_f = nn.LayerNorm(C)
            self.lm_head = nn.Linear(C, V, bias=False)
            self.lm_head.weight = self.wte.weight
            self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(T))

        def forward(self, idx):
            S = idx.shape[1]
            x = self.wte(idx) + self.wpe(torch.arange(S, device=idx.device))
            for block in self.h:
                x = block(x, src_mask=self.causal[:S, :S], is_causal=True)
            return self.lm_head(self.ln_f(x))

    return TorchGPT()


# tinynet GPT names -> torch.nn.TransformerEncoderLayer names, per block
TORCH_NAMES = {"ln_1": "norm1", "ln_2": "norm2", "attn.c_attn.weight": "self_attn.in_proj_weight",
               "attn.c_attn.bias": "self_attn.in_proj_bias", "attn.c_proj": "self_attn.out_proj",
               "mlp.c_fc": "linear1", "mlp.c_proj": "linear2"}


def torch_name(name):
    """The torch_gpt() parameter name of a tinynet GPT parameter name."""
    if name.startswith("h."):
        _, i, rest = name.split(".", 2)
        for ours, theirs in TORCH_NAMES.items():
            if rest.startswith(ours):
                return f"h.{i}.{theirs}{rest[len(ours):]}"
    return name


def _tinynet_name(name):
    back = {torch_name(k): k for k in _initial_weights()}
    return back[name]


def gpt_step(lib):
    """Workload for benchmarks/run.py."""
    from workloads import DEVICE, Case, _libs, _np, _tensor
    mod, F = _libs(lib)
    weights = _initial_weights()
    if lib == "tinynet":
        from tinynet.models.gpt import GPT
        model = GPT(V, n_layer=L, n_head=H, n_embd=C, block_size=T)
        model.load_state_dict(weights)
    else:
        model = torch_gpt()
        state = {torch_name(k): mod.tensor(v) for k, v in weights.items()}
        state["causal"] = model.causal
        model.load_state_dict(state)
    model.to(DEVICE)
    opt = mod.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    x, y = _data()
    xt, yt = _tensor(lib, x), _tensor(lib, y)

    def loss_of():
        return F.cross_entropy(model(xt).reshape(-1, V), yt)

    def step():
        opt.zero_grad()
        loss = loss_of()
        loss.backward()
        opt.step()
        return loss

    def check():
        opt.zero_grad()
        loss = loss_of()
        loss.backward()
        out = {"loss": _np(loss)}
        for k, p in model.named_parameters():
            out["grad " + (k if lib == "tinynet" else _tinynet_name(k))] = _np(p.grad)
        opt.step()
        return out

    # multiply-adds per token: the Linear layers (12 C^2 per block) and the
    # head (V C), the attention products over the causal half (T C per block)
    macs = N * T * (L * (12 * C * C + T * C) + V * C)
    return Case(step, check, flops=3 * 2 * macs)
