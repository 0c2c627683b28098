"""MultiheadAttention and the Transformer layers against PyTorch: each torch
module's state_dict (as NumPy arrays) is loaded into the tinynet module with
the same constructor arguments, then outputs, input gradients and every
parameter gradient must agree, in float64 and float32, in training and
evaluation mode, with every kind of mask."""
import math

import numpy as np
import pytest
import torch

import tinynet as tn
import tinynet.nn as nn
import tinynet.nn.functional as F

tnn = torch.nn
TOL = {np.float64: 1e-9, np.float32: 2e-5}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}
DTYPES = pytest.mark.parametrize("dt", [np.float64, np.float32], ids=["f64", "f32"])


def arr(*shape, seed=0, dt=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dt)


def pair(ours_cls, theirs_cls, *args, dt=np.float64, **kwargs):
    """The tinynet and torch modules built alike, tinynet's holding torch's weights."""
    torch.manual_seed(0)
    theirs = theirs_cls(*args, **kwargs, dtype=TORCH_DTYPE[dt])
    ours = ours_cls(*args, **kwargs, dtype=dt)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def _both(x):
    """A NumPy input as (tinynet tensor, torch tensor); float ones require grad."""
    if x is None:
        return None, None
    grad = x.dtype.kind == "f"
    return tn.tensor(x, requires_grad=grad), torch.tensor(x, requires_grad=grad)


def assert_close(a, b, tol, what, nan=False):
    a = a.detach().numpy() if hasattr(a, "detach") else a.numpy()
    b = b.detach().numpy()
    assert a.shape == b.shape and a.dtype == b.dtype, f"{what}: {a.shape} {a.dtype} vs " \
                                                      f"{b.shape} {b.dtype}"
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol, equal_nan=nan, err_msg=what)


def compare(ours, theirs, inputs, kwargs=None, dt=np.float64, grad=True, nan=False,
            tuple_out=False):
    """Run both modules on the same inputs (NumPy arrays; float ones require
    grad) and keyword arguments (NumPy masks become tensors), then compare
    outputs, input gradients and every parameter gradient."""
    kwargs = dict(kwargs or {})
    pairs = [_both(x) for x in inputs]
    tn_kw, t_kw = {}, {}
    for k, v in kwargs.items():
        if isinstance(v, np.ndarray):
            tn_kw[k], t_kw[k] = tn.tensor(v), torch.tensor(v)
        else:
            tn_kw[k] = t_kw[k] = v
    out = ours(*[p[0] for p in pairs], **tn_kw)
    t_out = theirs(*[p[1] for p in pairs], **t_kw)
    outs = list(out) if tuple_out else [out]
    t_outs = list(t_out) if tuple_out else [t_out]
    tol = TOL[dt]
    for i, (o, to) in enumerate(zip(outs, t_outs)):
        assert (o is None) == (to is None), f"output {i}: {o} vs {to}"
        if o is not None:
            assert_close(o, to, tol, f"output {i}", nan=nan)
    if not grad:
        return out
    rng = np.random.default_rng(5)
    loss, t_loss = 0, 0
    for o, to in zip(outs, t_outs):
        if o is not None:
            w = rng.standard_normal(o.shape).astype(dt)
            if nan:
                w = np.where(np.isnan(to.detach().numpy()), 0, w)
                o, to = tn.where(tn.tensor(np.isnan(o.numpy())), 0.0, o), \
                    torch.nan_to_num(to, nan=0.0)
            loss = loss + (o * tn.tensor(w)).sum()
            t_loss = t_loss + (to * torch.tensor(w)).sum()
    loss.backward()
    t_loss.backward()
    for k, ((a, b), x) in enumerate(zip(pairs, inputs)):
        if x is not None and x.dtype.kind == "f" and b.grad is not None:
            assert_close(a.grad, b.grad, tol, f"gradient of input {k}", nan=nan)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        tg = theirs_params[name].grad
        if tg is None:
            assert p.grad is None or not np.any(p.grad.numpy()), name
        else:
            assert_close(p.grad, tg, tol, f"gradient of {name}", nan=nan)
    return out


# ---------------------------------------------------------------- MultiheadAttention
L, S, N, E, H = 5, 7, 3, 8, 2


def mha_inputs(batch_first, dt, self_attn=False, kdim=E, vdim=E):
    q = arr(N, L, E, seed=1, dt=dt) if batch_first else arr(L, N, E, seed=1, dt=dt)
    if self_attn:
        return [q]
    shape = (lambda d: (N, S, d)) if batch_first else (lambda d: (S, N, d))
    return [q, arr(*shape(kdim), seed=2, dt=dt), arr(*shape(vdim), seed=3, dt=dt)]


def bool_mask(shape, seed, p=0.3, dead_row=False):
    m = np.random.default_rng(seed).random(shape) < p
    m[..., 0] = False                       # every query keeps one key ...
    if dead_row:
        m[..., 1, :] = True                 # ... unless asked otherwise
    return m


class Wrapped:
    """An attention module called through ``call(module, *inputs, **kw)``:
    to pass one tensor as query, key and value, say."""

    def __init__(self, module, call):
        self.module, self.call = module, call

    def __call__(self, *inputs, **kw):
        return self.call(self.module, *inputs, **kw)

    def named_parameters(self):
        return self.module.named_parameters()


def SelfAttention(module):
    return Wrapped(module, lambda m, x, **kw: m(x, x, x, **kw))


MHA_MASKS = {
    "none": {},
    "bool-attn": {"attn_mask": bool_mask((L, S), 4)},
    "float-attn": {"attn_mask": arr(L, S, seed=5)},
    "3d-attn": {"attn_mask": bool_mask((N * H, L, S), 6)},
    "kpm-bool": {"key_padding_mask": bool_mask((N, S), 7)},
    "kpm-float": {"key_padding_mask": np.where(bool_mask((N, S), 8), -np.inf, 0.0)},
    "kpm-and-attn": {"key_padding_mask": bool_mask((N, S), 9),
                     "attn_mask": bool_mask((L, S), 10)},
}


@DTYPES
@pytest.mark.parametrize("need_weights", [True, False], ids=["weights", "sdpa"])
@pytest.mark.parametrize("masks", list(MHA_MASKS), ids=list(MHA_MASKS))
def test_mha_matches_pytorch(masks, need_weights, dt):
    # batch_first both ways, alternating over the mask kinds
    batch_first = list(MHA_MASKS).index(masks) % 2 == 1
    ours, theirs = pair(nn.MultiheadAttention, tnn.MultiheadAttention, E, H,
                        batch_first=batch_first, dt=dt)
    kw = {k: (v.astype(dt) if v.dtype.kind == "f" else v) for k, v in MHA_MASKS[masks].items()}
    kw["need_weights"] = need_weights
    compare(ours, theirs, mha_inputs(batch_first, dt), kw, dt=dt, tuple_out=True)


@pytest.mark.parametrize("average", [True, False])
def test_mha_per_head_weights(average):
    ours, theirs = pair(nn.MultiheadAttention, tnn.MultiheadAttention, E, H)
    out, w = compare(ours, theirs, mha_inputs(False, np.float64),
                     {"average_attn_weights": average}, tuple_out=True)
    assert w.shape == ((N, L, S) if average else (N, H, L, S))


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_self_attention_one_tensor(batch_first, need_weights):
    # query is key is value: the packed single-matmul projection
    ours, theirs = pair(nn.MultiheadAttention, tnn.MultiheadAttention, E, H,
                        batch_first=batch_first)
    compare(SelfAttention(ours), SelfAttention(theirs), mha_inputs(batch_first, np.float64, True),
            {"need_weights": need_weights, "attn_mask": bool_mask((L, L), 3)}, tuple_out=True)


def test_mha_key_is_value():
    ours, theirs = pair(nn.MultiheadAttention, tnn.MultiheadAttention, E, H)
    q, k, _ = mha_inputs(False, np.float64)
    key_is_value = lambda m, q, k, **kw: m(q, k, k, **kw)  # noqa: E731
    compare(Wrapped(ours, key_is_value), Wrapped(theirs, key_is_value), [q, k], tuple_out=True)


@DTYPES
@pytest.mark.parametrize("options", [
    {"kdim": 5, "vdim": 6}, {"kdim": 5}, {"bias": False}, {"add_bias_kv": True},
    {"add_zero_attn": True}, {"add_bias_kv": True, "add_zero_attn": True, "kdim": 3}],
    ids=["kdim-vdim", "kdim", "no-bias", "bias-kv", "zero-attn", "all"])
@pytest.mark.parametrize("need_weights", [True, False], ids=["weights", "sdpa"])
def test_mha_options_match_pytorch(options, need_weights, dt):
    ours, theirs = pair(nn.MultiheadAttention, tnn.MultiheadAttention, E, H, **options, dt=dt)
    inputs = mha_inputs(False, dt, kdim=options.get("kdim", E), vdim=options.get("vdim", E))
    masks = {"key_padding_mask": bool_mask((N, S), 11), "attn_mask": arr(L, S, seed=12, dt=dt)}
    compare(ours, theirs, inputs, dict(masks, need_weights=need_weights), dt=dt,
            tuple_out=True)


def test_mha_parameter_names_and_shapes_are_pytorchs():
    for kw in ({}, {"kdim": 5, "vdim": 3}, {"bias": False, "add_bias_kv": True}):
        ours, theirs = nn.MultiheadAttention(E, H, **kw), tnn.MultiheadAttention(E, H, **kw)
        assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == \
            {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
        assert [n for n, _ in ours.named_parameters()] == \
            [n for n, _ in theirs.named_parameters()]


def test_mha_initialisation_is_pytorchs():
    tn.manual_seed(0)
    m = nn.MultiheadAttention(64, 4, add_bias_kv=True)
    bound = math.sqrt(6 / (64 + 3 * 64))                    # xavier_uniform over (3E, E)
    w = m.in_proj_weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert not m.in_proj_bias.numpy().any() and not m.out_proj.bias.numpy().any()
    assert m.bias_k.shape == (1, 1, 64) and m.bias_k.numpy().std() > 0


def test_mha_unbatched_matches_pytorch():
    ours, theirs = pair(nn.MultiheadAttention, tnn.MultiheadAttention, E, H)
    q, k, v = arr(L, E, seed=1), arr(S, E, seed=2), arr(S, E, seed=3)
    for kw in ({}, {"key_padding_mask": bool_mask((S,), 1)},
               {"attn_mask": bool_mask((H, L, S), 2), "need_weights": False}):
        ours.zero_grad()
        theirs.zero_grad()
        compare(ours, theirs, [q, k, v], kw, tuple_out=True)


@pytest.mark.parametrize("need_weights", [True, False], ids=["weights", "sdpa"])
def test_mha_is_causal_hint_matches_pytorch(need_weights):
    ours, theirs = pair(nn.MultiheadAttention, tnn.MultiheadAttention, E, H, batch_first=True)
    x = arr(N, L, E, seed=1)
    causal = np.triu(np.ones((L, L), bool), 1)
    for kpm in (None, bool_mask((N, L), 3)):
        kw = {"attn_mask": causal, "is_causal": True, "need_weights": need_weights}
        if kpm is not None:
            kw["key_padding_mask"] = kpm
        ours.zero_grad()
        theirs.zero_grad()
        compare(SelfAttention(ours), SelfAttention(theirs), [x], kw, tuple_out=True)


def test_mha_is_causal_needs_the_mask():
    m = nn.MultiheadAttention(E, H)
    x = tn.randn(L, N, E)
    with pytest.raises(ValueError, match="needs attn_mask"):
        m(x, x, x, is_causal=True)


@pytest.mark.parametrize("need_weights", [True, False], ids=["weights-nan", "sdpa-zero"])
def test_mha_fully_masked_query_as_pytorch(need_weights):
    # a query whose keys are all masked: NaN through the explicit softmax,
    # 0 through scaled_dot_product_attention, exactly as PyTorch
    ours, theirs = pair(nn.MultiheadAttention, tnn.MultiheadAttention, E, H)
    mask = bool_mask((L, S), 13, dead_row=True)
    out = compare(ours, theirs, mha_inputs(False, np.float64),
                  {"attn_mask": mask, "need_weights": need_weights}, tuple_out=True, nan=True)
    assert np.isnan(out[0].numpy()[1]).all() == need_weights


@pytest.mark.parametrize("need_weights", [True, False], ids=["weights", "sdpa"])
def test_mha_fully_masked_query_on_pytorchs_fast_path(need_weights):
    # evaluation without gradients, batch_first self-attention: PyTorch's
    # native kernel gives NaN (not zeros) for a query that sees no key
    ours, theirs = pair(nn.MultiheadAttention, tnn.MultiheadAttention, E, H, batch_first=True)
    ours.eval()
    theirs.eval()
    x = arr(N, L, E, seed=1)
    kpm = bool_mask((N, L), 2)
    kpm[0] = True                                    # every key of sequence 0 is padding
    with torch.no_grad():
        xt = torch.tensor(x)
        want = theirs(xt, xt, xt, key_padding_mask=torch.tensor(kpm), need_weights=need_weights)
    with tn.no_grad():
        xo = tn.tensor(x)
        got = ours(xo, xo, xo, key_padding_mask=tn.tensor(kpm), need_weights=need_weights)
    assert np.isnan(want[0].numpy()[0]).all() and not np.isnan(want[0].numpy()[1:]).any()
    assert_close(got[0], want[0], 1e-9, "output", nan=True)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_mha_dropout(mode):
    # p = 1 drops every weight in training (deterministic, comparable); in
    # evaluation dropout is off whatever p is
    ours, theirs = pair(nn.MultiheadAttention, tnn.MultiheadAttention, E, H, dropout=1.0)
    getattr(ours, mode)()
    getattr(theirs, mode)()
    for need_weights in (True, False):
        ours.zero_grad()
        theirs.zero_grad()
        compare(ours, theirs, mha_inputs(False, np.float64), {"need_weights": need_weights},
                tuple_out=True)


def test_mha_eval_without_grad_matches_pytorch_fast_path():
    # torch.no_grad + eval + batch_first self-attention takes PyTorch's native
    # fast path; its outputs are the ones to match
    ours, theirs = pair(nn.MultiheadAttention, tnn.MultiheadAttention, E, H, batch_first=True)
    ours.eval()
    theirs.eval()
    x = arr(N, L, E, seed=1)
    for kw in ({}, {"key_padding_mask": bool_mask((N, L), 2)}, {"need_weights": False}):
        kw_t = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        kw_o = {k: tn.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        with torch.no_grad():
            t_out, t_w = theirs(torch.tensor(x), torch.tensor(x), torch.tensor(x), **kw_t)
        with tn.no_grad():
            xo = tn.tensor(x)
            out, w = ours(xo, xo, xo, **kw_o)
        assert_close(out, t_out, 1e-9, "output")
        assert (w is None) == (t_w is None)
        if w is not None:
            assert_close(w, t_w, 1e-9, "weights")


def test_mha_errors_name_the_problem():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        nn.MultiheadAttention(10, 3)
    m = nn.MultiheadAttention(E, H)
    x = tn.randn(L, N, E)
    with pytest.raises(ValueError, match="2-D attn_mask"):
        m(x, x, x, attn_mask=tn.zeros(L, L + 1))
    with pytest.raises(ValueError, match="key_padding_mask"):
        m(x, x, x, key_padding_mask=tn.zeros(N, L + 2, dtype=bool))
    with pytest.raises(ValueError, match="expected embedding dim"):
        m(tn.randn(L, N, E + 1), x, x)


# ---------------------------------------------------------------- Transformer layers
D, NHEAD, FF = 8, 2, 16
ACTIVATIONS = {"relu": "relu", "gelu": "gelu", "callable": lambda x: F.tanh(x) * 2}
TORCH_ACTIVATIONS = {"relu": "relu", "gelu": "gelu", "callable": lambda x: torch.tanh(x) * 2}


def layer_pair(ours_cls, theirs_cls, dt=np.float64, activation="relu", **kw):
    torch.manual_seed(0)
    theirs = theirs_cls(D, NHEAD, FF, activation=TORCH_ACTIVATIONS[activation],
                        dtype=TORCH_DTYPE[dt], **kw)
    ours = ours_cls(D, NHEAD, FF, activation=ACTIVATIONS[activation], dtype=dt, **kw)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def seq(batch_first, T, seed, dt):
    return arr(N, T, D, seed=seed, dt=dt) if batch_first else arr(T, N, D, seed=seed, dt=dt)


@DTYPES
@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("batch_first, norm_first, activation", [
    (False, False, "relu"), (True, False, "gelu"), (False, True, "callable"),
    (True, True, "gelu")], ids=["seq-first-post-norm-relu", "batch-first-post-norm-gelu",
                                "seq-first-pre-norm-callable", "batch-first-pre-norm-gelu"])
def test_encoder_layer_matches_pytorch(batch_first, norm_first, activation, mode, dt):
    # dropout 0.1: active in training; checked deterministic with p=1 below
    ours, theirs = layer_pair(nn.TransformerEncoderLayer, tnn.TransformerEncoderLayer, dt,
                              activation, dropout=0.0 if mode == "train" else 0.1,
                              batch_first=batch_first, norm_first=norm_first)
    getattr(ours, mode)()
    getattr(theirs, mode)()
    masks = {"src_mask": bool_mask((L, L), 1), "src_key_padding_mask": bool_mask((N, L), 2)}
    compare(ours, theirs, [seq(batch_first, L, 3, dt)], masks, dt=dt)


@pytest.mark.parametrize("masks", [
    {}, {"src_mask": "causal", "is_causal": True}, {"src_mask": "float"},
    {"src_key_padding_mask": "kpm"}], ids=["none", "causal", "float-mask", "padding"])
def test_encoder_layer_masks_match_pytorch(masks):
    ours, theirs = layer_pair(nn.TransformerEncoderLayer, tnn.TransformerEncoderLayer,
                              dropout=0.0, batch_first=True)
    values = {"causal": np.triu(np.full((L, L), -np.inf), 1), "float": arr(L, L, seed=4),
              "kpm": bool_mask((N, L), 5)}
    kw = {k: values.get(v, v) if isinstance(v, str) else v for k, v in masks.items()}
    compare(ours, theirs, [seq(True, L, 3, np.float64)], kw)


def test_encoder_layer_dropout_p1_matches_pytorch():
    # every dropout zeroes its block in training: output = norm2(norm1(x))
    ours, theirs = layer_pair(nn.TransformerEncoderLayer, tnn.TransformerEncoderLayer,
                              dropout=1.0)
    compare(ours, theirs, [seq(False, L, 3, np.float64)])


def test_encoder_layer_dropout_is_tinynets_random_stream():
    layer = nn.TransformerEncoderLayer(D, NHEAD, FF, dropout=0.5)
    x = tn.randn(L, N, D)
    tn.manual_seed(3)
    a = layer(x)
    tn.manual_seed(3)
    b = layer(x)
    c = layer(x)
    assert np.array_equal(a.numpy(), b.numpy()) and not np.array_equal(b.numpy(), c.numpy())
    layer.eval()
    assert np.array_equal(layer(x).numpy(), layer(x).numpy())


@DTYPES
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
def test_encoder_stack_matches_pytorch(norm_first, dt):
    torch.manual_seed(0)
    t_layer = tnn.TransformerEncoderLayer(D, NHEAD, FF, dropout=0.0, norm_first=norm_first,
                                          dtype=TORCH_DTYPE[dt])
    theirs = tnn.TransformerEncoder(t_layer, 2, norm=tnn.LayerNorm(D, dtype=TORCH_DTYPE[dt]),
                                    enable_nested_tensor=False)
    layer = nn.TransformerEncoderLayer(D, NHEAD, FF, dropout=0.0, norm_first=norm_first,
                                       dtype=dt)
    ours = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(D, dtype=dt))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    causal = np.triu(np.full((L, L), -np.inf, dt), 1)
    for kw in ({}, {"mask": causal}, {"mask": causal, "is_causal": True},
               {"src_key_padding_mask": bool_mask((N, L), 1)}):
        ours.zero_grad()
        theirs.zero_grad()
        compare(ours, theirs, [seq(False, L, 2, dt)], kw, dt=dt)


def test_encoder_detects_the_causal_mask():
    from tinynet.nn.transformer import _detect_is_causal_mask
    causal = nn.Transformer.generate_square_subsequent_mask(4)
    assert _detect_is_causal_mask(causal, None, 4)
    assert not _detect_is_causal_mask(causal, False, 4)
    assert not _detect_is_causal_mask(tn.zeros(4, 4), None, 4)
    assert not _detect_is_causal_mask(causal, None, 5)


@pytest.mark.parametrize("left_aligned", [True, False])
def test_encoder_eval_padding_zeros_as_pytorch(left_aligned):
    # PyTorch's nested-tensor path (eval, no grad, batch_first, padding at the
    # end of each row) returns zeros at the padded positions before the norm
    torch.manual_seed(0)
    t_layer = tnn.TransformerEncoderLayer(D, NHEAD, FF, batch_first=True, dtype=torch.float64)
    theirs = tnn.TransformerEncoder(t_layer, 2, norm=tnn.LayerNorm(D, dtype=torch.float64))
    ours = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, NHEAD, FF, batch_first=True,
                                                            dtype=np.float64), 2,
                                 norm=nn.LayerNorm(D, dtype=np.float64))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours.eval()
    theirs.eval()
    lengths = [L, 0, 3]                         # (sequence 1 is all padding)
    pad = np.arange(L)[None, :] >= np.array(lengths)[:, None]
    if not left_aligned:
        pad[2] = pad[2][::-1]                   # padding first: no nested tensor in PyTorch
    x = arr(N, L, D, seed=1)
    with torch.no_grad():
        want = theirs(torch.tensor(x), src_key_padding_mask=torch.tensor(pad))
    with tn.no_grad():
        got = ours(tn.tensor(x), src_key_padding_mask=tn.tensor(pad))
    # (without the nested tensor, the all-padding sequence is NaN on the fast path)
    assert np.isnan(want.numpy()).any() != left_aligned
    assert_close(got, want, 1e-9, "output", nan=True)
    # with gradients PyTorch takes the plain path: no zeros, and the same values
    ours.zero_grad()
    theirs.zero_grad()
    compare(ours, theirs, [x], {"src_key_padding_mask": pad})


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
def test_encoder_layer_fully_masked_query_as_pytorch(norm_first):
    # a query that sees no key: finite with gradients (PyTorch's plain path),
    # NaN on PyTorch's inference fast path (eval, no grad, batch_first)
    ours, theirs = layer_pair(nn.TransformerEncoderLayer, tnn.TransformerEncoderLayer,
                              batch_first=True, norm_first=norm_first)
    ours.eval()
    theirs.eval()
    x = arr(N, L, D, seed=1)
    kpm = bool_mask((N, L), 2)
    kpm[0] = True
    mask = np.zeros((L, L), bool)
    mask[2] = True
    for kw in ({"src_key_padding_mask": kpm}, {"src_mask": mask}):
        with torch.no_grad():
            want = theirs(torch.tensor(x), **{k: torch.tensor(v) for k, v in kw.items()})
        with tn.no_grad():
            got = ours(tn.tensor(x), **{k: tn.tensor(v) for k, v in kw.items()})
        assert np.isnan(want.numpy()).any()
        assert_close(got, want, 1e-9, "output (fast path)", nan=True)
        ours.zero_grad()
        theirs.zero_grad()
        out = compare(ours, theirs, [x], kw)
        assert np.isfinite(out.numpy()).all()


@DTYPES
@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["seq-first", "batch-first"])
def test_decoder_layer_matches_pytorch(batch_first, norm_first, mode, dt):
    ours, theirs = layer_pair(nn.TransformerDecoderLayer, tnn.TransformerDecoderLayer, dt,
                              "gelu", dropout=0.0 if mode == "train" else 0.1,
                              batch_first=batch_first, norm_first=norm_first)
    getattr(ours, mode)()
    getattr(theirs, mode)()
    masks = {"tgt_mask": np.triu(np.ones((L, L), bool), 1),
             "memory_mask": bool_mask((L, S), 1),
             "tgt_key_padding_mask": bool_mask((N, L), 2),
             "memory_key_padding_mask": bool_mask((N, S), 3)}
    compare(ours, theirs, [seq(batch_first, L, 4, dt), seq(batch_first, S, 5, dt)], masks,
            dt=dt)


def test_decoder_layer_causal_hint_matches_pytorch():
    ours, theirs = layer_pair(nn.TransformerDecoderLayer, tnn.TransformerDecoderLayer,
                              dropout=0.0)
    causal = np.triu(np.full((L, L), -np.inf), 1)
    compare(ours, theirs, [seq(False, L, 4, np.float64), seq(False, S, 5, np.float64)],
            {"tgt_mask": causal, "tgt_is_causal": True})


@DTYPES
def test_decoder_stack_matches_pytorch(dt):
    torch.manual_seed(0)
    theirs = tnn.TransformerDecoder(
        tnn.TransformerDecoderLayer(D, NHEAD, FF, dropout=0.0, dtype=TORCH_DTYPE[dt]), 2,
        norm=tnn.LayerNorm(D, dtype=TORCH_DTYPE[dt]))
    ours = nn.TransformerDecoder(nn.TransformerDecoderLayer(D, NHEAD, FF, dropout=0.0, dtype=dt),
                                 2, norm=nn.LayerNorm(D, dtype=dt))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    causal = np.triu(np.full((L, L), -np.inf, dt), 1)
    compare(ours, theirs, [seq(False, L, 4, dt), seq(False, S, 5, dt)], {"tgt_mask": causal},
            dt=dt)


@DTYPES
@pytest.mark.parametrize("batch_first", [False, True], ids=["seq-first", "batch-first"])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
def test_transformer_matches_pytorch(norm_first, batch_first, dt):
    torch.manual_seed(0)
    kw = dict(d_model=D, nhead=NHEAD, num_encoder_layers=2, num_decoder_layers=2,
              dim_feedforward=FF, dropout=0.0, batch_first=batch_first, norm_first=norm_first)
    theirs = tnn.Transformer(**kw, dtype=TORCH_DTYPE[dt])
    ours = nn.Transformer(**kw, dtype=dt)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    masks = {"tgt_mask": nn.Transformer.generate_square_subsequent_mask(L, dtype=dt).numpy(),
             "src_key_padding_mask": bool_mask((N, S), 1),
             "memory_key_padding_mask": bool_mask((N, S), 1)}
    compare(ours, theirs, [seq(batch_first, S, 2, dt), seq(batch_first, L, 3, dt)], masks,
            dt=dt)


def test_transformer_initialisation_is_xavier_uniform():
    tn.manual_seed(0)
    model = nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                           dim_feedforward=32)
    w = model.encoder.layers[0].linear1.weight.numpy()                  # (32, 16)
    bound = math.sqrt(6 / (16 + 32))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert not model.encoder.layers[0].self_attn.in_proj_bias.numpy().any()


def test_generate_square_subsequent_mask_is_pytorchs():
    for sz in (1, 4):
        got = nn.Transformer.generate_square_subsequent_mask(sz)
        want = tnn.Transformer.generate_square_subsequent_mask(sz).numpy()
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got.numpy(), want)
    assert nn.Transformer.generate_square_subsequent_mask(3, dtype=tn.float64).dtype == np.float64


def test_transformer_errors_name_the_problem():
    model = nn.Transformer(d_model=D, nhead=NHEAD, num_encoder_layers=1, num_decoder_layers=1,
                           dim_feedforward=FF)
    with pytest.raises(ValueError, match="batch sizes of src and tgt"):
        model(tn.randn(S, N, D), tn.randn(L, N + 1, D))
    with pytest.raises(ValueError, match="d_model"):
        model(tn.randn(S, N, D + 1), tn.randn(L, N, D + 1))
    with pytest.raises(ValueError, match="activation"):
        nn.TransformerEncoderLayer(D, NHEAD, activation="swish")


def test_transformer_state_dict_round_trip_from_pytorch():
    # the whole model's keys are PyTorch's, in PyTorch's order, and load strictly
    theirs = tnn.Transformer(d_model=D, nhead=NHEAD, num_encoder_layers=1, num_decoder_layers=1,
                             dim_feedforward=FF, bias=False)
    ours = nn.Transformer(d_model=D, nhead=NHEAD, num_encoder_layers=1, num_decoder_layers=1,
                          dim_feedforward=FF, bias=False)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
