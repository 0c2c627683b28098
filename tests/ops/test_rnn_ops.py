"""Recurrent ops (tinynet.ops.recurrent): fused cells against the composed
reference and PyTorch, float64 gradcheck / gradgradcheck, whole-sequence
layers with and without lengths, dtypes, errors."""
import numpy as np
import pytest

import tinynet as tn
from tinynet import kernels
from tinynet.ops import recurrent as R

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def make_cell(kind, N=3, I=4, H=5, dtype=np.float64, seed=0, bias=True):
    rng = np.random.default_rng(seed)
    t = lambda *s: tn.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True)  # noqa
    G = GATES[kind]
    args = [t(N, I), t(N, H)] + ([t(N, H)] if kind == "lstm" else [])
    args += [t(G * H, I), t(G * H, H)]
    args += [t(G * H), t(G * H)] if bias else [None, None]
    return args


def fused(kind):
    return {"lstm": R.lstm_cell, "gru": R.gru_cell,
            "rnn_tanh": lambda *a: R.rnn_cell(*a, nonlinearity="tanh"),
            "rnn_relu": lambda *a: R.rnn_cell(*a, nonlinearity="relu")}[kind]


def simple(kind):
    return {"lstm": R.lstm_cell_simple, "gru": R.gru_cell_simple,
            "rnn_tanh": lambda *a: R.rnn_cell_simple(*a, nonlinearity="tanh"),
            "rnn_relu": lambda *a: R.rnn_cell_simple(*a, nonlinearity="relu")}[kind]


def as_tuple(y):
    return y if isinstance(y, tuple) else (y,)


def grads_of(fn, args, seed=5):
    outs = as_tuple(fn(*args))
    rng = np.random.default_rng(seed)
    gys = [tn.tensor(rng.standard_normal(o.shape).astype(o.dtype)) for o in outs]
    diff = [a for a in args if a is not None]
    return outs, tn.grad(list(outs), diff, grad_outputs=gys)


# ---------------------------------------------------------------- cells
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("kind", list(GATES))
def test_cell_gradcheck_and_gradgradcheck(kind, bias):
    args = make_cell(kind, N=2, I=3, H=3, bias=bias)
    assert tn.gradcheck(fused(kind), args)
    assert tn.gradgradcheck(fused(kind), args)


@pytest.mark.parametrize("impl", ["ref", "cpu_v1", "cpu_v2"])
@pytest.mark.parametrize("kind", list(GATES))
def test_fused_cell_equals_composed(kind, impl):
    args = make_cell(kind)
    with kernels.use(lstm=impl, gru=impl):
        outs_f, g_f = grads_of(fused(kind), args)
    outs_s, g_s = grads_of(simple(kind), args)
    for a, b in zip(outs_f + g_f, outs_s + g_s):
        np.testing.assert_allclose(a.array, b.array, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_fused_double_backward_equals_composed(kind):
    # create_graph=True switches the fused backward to tinynet ops; its second
    # derivatives must be those of the composed cell
    def second(fn):
        args = make_cell(kind, seed=3)
        outs = as_tuple(fn(*args))
        loss = sum(((o * o).sum() for o in outs), tn.tensor(0.0))
        gs = tn.grad(loss, [args[0], args[1]], create_graph=True)
        return tn.grad((gs[0] * gs[0]).sum() + gs[1].sum(), [a for a in args if a is not None])
    for a, b in zip(second(fused(kind)), second(simple(kind))):
        np.testing.assert_allclose(a.array, b.array, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("kind", list(GATES))
def test_cell_keeps_float32(kind):
    args = make_cell(kind, dtype=np.float32)
    outs, grads = grads_of(fused(kind), args)
    assert all(t.dtype == np.float32 for t in outs + grads)


@pytest.mark.parametrize("kind", list(GATES))
def test_cell_matches_torch(kind):
    torch = pytest.importorskip("torch")
    args = make_cell(kind, N=4, I=3, H=6)
    outs, grads = grads_of(fused(kind), args)
    targs = [torch.tensor(a.array, requires_grad=True) for a in args]
    if kind == "lstm":
        x, h, c, wi, wh, bi, bh = targs
        touts = torch.lstm_cell(x, (h, c), wi, wh, bi, bh)
    elif kind == "gru":
        touts = (torch.gru_cell(*targs),)
    else:
        fn = torch.rnn_tanh_cell if kind == "rnn_tanh" else torch.rnn_relu_cell
        touts = (fn(*targs),)
    rng = np.random.default_rng(5)
    gys = [torch.tensor(rng.standard_normal(o.shape)) for o in outs]
    tgrads = torch.autograd.grad(touts, targs, gys)
    for a, b in zip(outs + grads, tuple(touts) + tgrads):
        np.testing.assert_allclose(a.array, b.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_lstm_cell_saturated_gates_are_finite():
    x, h, c, wi, wh, bi, bh = make_cell("lstm", dtype=np.float32)
    outs, grads = grads_of(R.lstm_cell, [x * 1e4, h, c, wi, wh, bi, bh])
    assert all(np.isfinite(t.array).all() for t in outs + grads)


# ---------------------------------------------------------------- errors
def test_cell_errors_name_shapes():
    x, h, c, wi, wh, bi, bh = make_cell("lstm")
    with pytest.raises(ValueError, match=r"lstm_cell: input has 2 features but w_ih expects 4"):
        R.lstm_cell(x[:, :2], h, c, wi, wh, bi, bh)
    with pytest.raises(ValueError, match=r"lstm_cell: expected cx of shape \(3, 5\), got \(3, 4\)"):
        R.lstm_cell(x, h, c[:, :4], wi, wh, bi, bh)
    with pytest.raises(ValueError, match=r"lstm_cell: expected hx of shape \(3, 5\)"):
        R.lstm_cell(x, h[:2], c, wi, wh, bi, bh)
    with pytest.raises(ValueError, match=r"expected a 2-D input"):
        R.lstm_cell(x[0], h, c, wi, wh, bi, bh)
    with pytest.raises(ValueError, match=r"gru_cell: expected w_ih \(3\*H, I\)"):
        R.gru_cell(x, h, wi, wh)
    with pytest.raises(ValueError, match=r"expected b_ih of shape \(20,\)"):
        R.lstm_cell(x, h, c, wi, wh, bi[:3], bh)
    with pytest.raises(TypeError, match=r"one dtype"):
        R.lstm_cell(x, h, c.float(), wi, wh, bi, bh)
    with pytest.raises(ValueError, match="nonlinearity"):
        R.rnn_cell(x, h, wi[:5], wh[:5, :5], nonlinearity="sigmoid")


# ---------------------------------------------------------------- sequences
def make_layer(kind, T=4, N=3, H=3, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    t = lambda *s: tn.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True)  # noqa
    G = GATES[kind]
    xg, h0, w_hh = t(T, N, G * H), t(N, H), t(G * H, H)
    if kind == "lstm":
        return [xg, h0, t(N, H), w_hh]
    if kind == "gru":
        return [xg, h0, w_hh, t(G * H)]
    return [xg, h0, w_hh]


def layer(kind, reverse=False, lengths=None, path=None):
    kw = dict(reverse=reverse, lengths=lengths)
    if path is not None:
        kw["path"] = path
    if kind == "lstm":
        return lambda xg, h, c, w: R.lstm_layer(xg, h, c, w, **kw)
    if kind == "gru":
        return lambda xg, h, w, b: R.gru_layer(xg, h, w, b, **kw)
    nl = kind.split("_")[1]
    return lambda xg, h, w: R.rnn_layer(xg, h, w, nonlinearity=nl, **kw)


LAYER_CASES = [(False, None), (True, None), (False, [4, 2, 1]), (True, [3, 4, 1])]
LAYER_IDS = ["fwd", "rev", "fwd-lengths", "rev-lengths"]


@pytest.mark.parametrize("reverse,lengths", LAYER_CASES, ids=LAYER_IDS)
@pytest.mark.parametrize("kind", list(GATES))
def test_layer_gradcheck(kind, reverse, lengths):
    args = make_layer(kind, T=4, N=3, H=2)
    assert tn.gradcheck(layer(kind, reverse, lengths), args)


@pytest.mark.parametrize("path", ["sequence", "step"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_layer_gradgradcheck(kind, path):
    # the sequence Function's create_graph backward replays the steps
    args = make_layer(kind, T=3, N=2, H=2)
    assert tn.gradgradcheck(layer(kind, reverse=True, lengths=[3, 2], path=path), args)


def paths(kind):
    return ["sequence", "step"] if kind in ("lstm", "gru") else ["step"]


@pytest.mark.parametrize("reverse,lengths", LAYER_CASES, ids=LAYER_IDS)
@pytest.mark.parametrize("kind", list(GATES))
def test_layer_fused_equals_composed(kind, reverse, lengths):
    args = make_layer(kind, T=5, N=3, H=4, seed=1)
    outs_s, g_s = grads_of(layer(kind, reverse, lengths, path="simple"), args)
    for path in paths(kind):
        outs_f, g_f = grads_of(layer(kind, reverse, lengths, path=path), args)
        for a, b in zip(outs_f + g_f, outs_s + g_s):
            np.testing.assert_allclose(a.array, b.array, rtol=1e-10, atol=1e-12, err_msg=path)


@pytest.mark.parametrize("impl", ["ref", "cpu_v1", "cpu_v2"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_sequence_path_with_every_kernel(kind, impl):
    args = make_layer(kind, T=4, N=3, H=5, seed=4, dtype=np.float32)
    with kernels.use(lstm="ref", gru="ref"):
        want = grads_of(layer(kind, lengths=[4, 1, 3]), args)
    with kernels.use(lstm=impl, gru=impl):
        got = grads_of(layer(kind, lengths=[4, 1, 3]), args)
    for a, b in zip(got[0] + got[1], want[0] + want[1]):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a.array, b.array, rtol=1e-4, atol=1e-5)


def test_layer_path_is_checked():
    with pytest.raises(ValueError, match="path must be one of"):
        layer("lstm", path="fast")(*make_layer("lstm"))
    with pytest.raises(ValueError, match="path must be 'step' or 'simple'"):
        layer("rnn_tanh", path="sequence")(*make_layer("rnn_tanh"))


@pytest.mark.parametrize("kind", list(GATES))
def test_padded_steps_change_nothing(kind):
    # a sequence of length 2 padded to 5 gives the same state and gradients
    # as the same 2 steps alone; padded outputs are zero and get no gradient
    args = make_layer(kind, T=5, N=1, H=3, seed=2)
    out, *state = layer(kind, lengths=[2])(*args)
    short = [tn.tensor(args[0].array[:2], requires_grad=True)] + args[1:]
    out2, *state2 = layer(kind)(*short)
    np.testing.assert_allclose(out.array[:2], out2.array, rtol=1e-12)
    assert not out.array[2:].any()
    for s, s2 in zip(state, state2):
        np.testing.assert_allclose(s.array, s2.array, rtol=1e-12)
    loss = out.sum() + sum((s.sum() for s in state), tn.tensor(0.0))
    (gxg,) = tn.grad(loss, [args[0]])
    assert not gxg.array[2:].any()


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_unbind_stack_gradcheck(dim):
    """The recurrent layers' step plumbing: unbind and stack, one node each."""
    x = tn.tensor(np.random.default_rng(0).standard_normal((3, 2, 4)), requires_grad=True)
    parts = tn.unbind(x, dim)
    assert len(parts) == x.shape[dim] and parts[0].grad_fn is parts[-1].grad_fn
    assert tn.stack(parts, dim).grad_fn.name == "Stack"
    assert tn.gradcheck(lambda x: tn.stack([s * (k + 1) for k, s in enumerate(tn.unbind(x, dim))],
                                           dim), (x,))
    assert tn.gradgradcheck(lambda x: tn.stack([s * s for s in tn.unbind(x, dim)], dim), (x,))
    one = tn.tensor(np.ones((1, 2)), requires_grad=True)
    assert len(tn.unbind(one)) == 1
