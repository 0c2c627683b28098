"""nn.RNN / GRU / LSTM and the cells against PyTorch: a PyTorch state_dict
loads, outputs, h_n, c_n and the gradients of input, initial state and every
weight agree; layers 1/2/3, batch_first, bidirectional, unbatched, variable
lengths; float64 gradcheck; init; dtypes; errors."""
import itertools

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
from tinynet.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

MODES = {"lstm": (LSTM, {}), "gru": (GRU, {}), "rnn_tanh": (RNN, {}),
         "rnn_relu": (RNN, {"nonlinearity": "relu"})}


def torch_layer(torch, kind, **kw):
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(kind, torch.nn.RNN)
    extra = {"nonlinearity": "relu"} if kind == "rnn_relu" else {}
    return cls(**kw, **extra).double()


def load_from_torch(module, tmodule):
    module.load_state_dict({k: v.detach().numpy() for k, v in tmodule.state_dict().items()})


def states_of(kind, out):
    """(output, h_n[, c_n]) as a flat tuple for either framework."""
    y, s = out
    return (y,) + (tuple(s) if kind == "lstm" else (s,))


def compare_with_torch(kind, I=3, H=4, L=1, batch_first=False, bidirectional=False,
                       bias=True, T=5, N=2, unbatched=False, with_hx=True, lengths=None,
                       seed=0):
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    kw = dict(input_size=I, hidden_size=H, num_layers=L, bias=bias,
              batch_first=batch_first, bidirectional=bidirectional)
    tm = torch_layer(torch, kind, **kw)
    cls, extra = MODES[kind]
    m = cls(**kw, **extra, dtype=tn.float64)
    load_from_torch(m, tm)
    rng = np.random.default_rng(seed)
    D = 2 if bidirectional else 1
    xshape = (T, I) if unbatched else ((N, T, I) if batch_first else (T, N, I))
    hshape = (L * D, H) if unbatched else (L * D, N, H)
    arrays = [rng.standard_normal(xshape)]
    if with_hx:
        arrays += [rng.standard_normal(hshape) for _ in range(2 if kind == "lstm" else 1)]
    xs = [tn.tensor(a, requires_grad=True) for a in arrays]
    txs = [torch.tensor(a, requires_grad=True) for a in arrays]
    hx = None if not with_hx else (tuple(xs[1:]) if kind == "lstm" else xs[1])
    thx = None if not with_hx else (tuple(txs[1:]) if kind == "lstm" else txs[1])
    outs = states_of(kind, m(xs[0], hx, lengths=lengths))
    if lengths is None:
        touts = states_of(kind, tm(txs[0], thx))
    else:
        pack = torch.nn.utils.rnn.pack_padded_sequence(
            txs[0], torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
        ty, ts = tm(pack, thx)
        ty, _ = torch.nn.utils.rnn.pad_packed_sequence(ty, batch_first=batch_first,
                                                       total_length=T)
        touts = states_of(kind, (ty, ts))
    for a, b in zip(outs, touts):
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(a.array, b.detach().numpy(), rtol=1e-10, atol=1e-12)
    gys = [rng.standard_normal(o.shape) for o in outs]
    params = [p for _, p in m.named_parameters()]
    tparams = [p for _, p in tm.named_parameters()]
    grads = tn.grad(list(outs), xs + params, grad_outputs=[tn.tensor(g) for g in gys])
    tgrads = torch.autograd.grad(touts, txs + tparams, [torch.tensor(g) for g in gys])
    names = [f"input{k}" for k in range(len(xs))] + [n for n, _ in m.named_parameters()]
    for name, a, b in zip(names, grads, tgrads):
        np.testing.assert_allclose(a.array, b.numpy(), rtol=1e-9, atol=1e-11, err_msg=name)


CONFIGS = [dict(L=L, batch_first=bf, bidirectional=bd)
           for L, bf, bd in itertools.product([1, 2, 3], [False, True], [False, True])]


def cfg_id(c):
    return f"L{c['L']}-{'bf' if c['batch_first'] else 'tf'}-{'bi' if c['bidirectional'] else 'uni'}"


@pytest.mark.parametrize("cfg", CONFIGS, ids=[cfg_id(c) for c in CONFIGS])
@pytest.mark.parametrize("kind", list(MODES))
def test_layer_matches_torch(kind, cfg):
    compare_with_torch(kind, **cfg)


@pytest.mark.parametrize("kind", list(MODES))
def test_layer_matches_torch_edge_cases(kind):
    compare_with_torch(kind, with_hx=False)                       # zero initial state
    compare_with_torch(kind, bias=False, L=2)
    compare_with_torch(kind, unbatched=True, bidirectional=True, L=2)
    compare_with_torch(kind, T=1, N=1, I=1, H=1)                  # size-1 everything


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", list(MODES))
def test_variable_lengths_match_packed_torch(kind, bidirectional):
    compare_with_torch(kind, L=2, N=3, T=5, bidirectional=bidirectional, lengths=[5, 2, 3])
    compare_with_torch(kind, N=3, T=4, batch_first=True, bidirectional=bidirectional,
                       lengths=[1, 4, 2])


@pytest.mark.parametrize("kind", list(MODES))
def test_layer_gradcheck(kind):
    cls, extra = MODES[kind]
    tn.manual_seed(0)
    m = cls(2, 2, num_layers=2, bidirectional=True, dtype=tn.float64, **extra)
    x = tn.tensor(np.random.default_rng(0).standard_normal((3, 2, 2)), requires_grad=True)
    params = list(m.parameters())

    def f(x, *ps):
        return states_of(kind, m(x, lengths=[3, 2]))
    assert tn.gradcheck(f, (x, params[0], params[-1]))


def test_lstm_gradgradcheck():
    tn.manual_seed(0)
    m = LSTM(2, 2, dtype=tn.float64)
    x = tn.tensor(np.random.default_rng(1).standard_normal((3, 1, 2)), requires_grad=True)
    assert tn.gradgradcheck(lambda x, w: states_of("lstm", m(x)), (x, m.weight_hh_l0))


@pytest.mark.parametrize("kind", list(MODES))
def test_float32_end_to_end(kind):
    cls, extra = MODES[kind]
    m = cls(3, 4, num_layers=2, **extra)
    x = tn.randn(5, 2, 3, requires_grad=True)
    outs = states_of(kind, m(x))
    sum(o.sum() for o in outs).backward()
    assert all(o.dtype == np.float32 for o in outs)
    assert x.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in m.parameters())


@pytest.mark.parametrize("kind", list(MODES))
def test_parameter_names_shapes_and_init(kind):
    torch = pytest.importorskip("torch")
    cls, extra = MODES[kind]
    tn.manual_seed(0)
    m = cls(7, 50, num_layers=2, bidirectional=True, **extra)
    tm = torch_layer(torch, kind, input_size=7, hidden_size=50, num_layers=2,
                     bidirectional=True)
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in tm.state_dict().items()]
    # U(-1/sqrt(H), 1/sqrt(H)) for everything: bounds and the uniform's std
    vals = np.concatenate([p.array.ravel() for p in m.parameters()])
    bound = 1 / np.sqrt(50)
    assert np.abs(vals).max() <= bound
    assert abs(vals.std() - bound / np.sqrt(3)) < 0.02 * bound
    assert abs(vals.mean()) < 0.02 * bound
    assert repr(m) == repr(tm)


def test_seed_gives_same_init():
    tn.manual_seed(3)
    a = LSTM(3, 4)
    tn.manual_seed(3)
    b = LSTM(3, 4)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.array, q.array)


def test_dropout_between_layers():
    tn.manual_seed(0)
    m = LSTM(3, 8, num_layers=2, dropout=0.5)
    x = tn.randn(4, 2, 3)
    m.eval()
    y_eval, _ = m(x)
    m2 = LSTM(3, 8, num_layers=2)
    m2.load_state_dict(m.state_dict())
    np.testing.assert_array_equal(y_eval.array, m2(x)[0].array)     # eval: no dropout
    m.train()
    y_train, _ = m(x)
    assert not np.allclose(y_train.array, y_eval.array)


# ---------------------------------------------------------------- cells
CELLS = {"lstm": LSTMCell, "gru": GRUCell, "rnn_tanh": RNNCell, "rnn_relu": RNNCell}


@pytest.mark.parametrize("unbatched", [False, True], ids=["batched", "unbatched"])
@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_matches_torch(kind, unbatched):
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    extra = {"nonlinearity": "relu"} if kind == "rnn_relu" else {}
    tcls = {"lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}.get(kind, torch.nn.RNNCell)
    tm = tcls(3, 5, **extra).double()
    m = CELLS[kind](3, 5, dtype=tn.float64, **extra)
    load_from_torch(m, tm)
    rng = np.random.default_rng(2)
    lead = () if unbatched else (4,)
    arrays = [rng.standard_normal(lead + (3,))] + \
        [rng.standard_normal(lead + (5,)) for _ in range(2 if kind == "lstm" else 1)]
    xs = [tn.tensor(a, requires_grad=True) for a in arrays]
    txs = [torch.tensor(a, requires_grad=True) for a in arrays]
    if kind == "lstm":
        outs, touts = m(xs[0], tuple(xs[1:])), tm(txs[0], tuple(txs[1:]))
    else:
        outs, touts = (m(xs[0], xs[1]),), (tm(txs[0], txs[1]),)
    for a, b in zip(outs, touts):
        np.testing.assert_allclose(a.array, b.detach().numpy(), rtol=1e-10, atol=1e-12)
    gys = [rng.standard_normal(o.shape) for o in outs]
    grads = tn.grad(list(outs), xs + list(m.parameters()), [tn.tensor(g) for g in gys])
    tgrads = torch.autograd.grad(touts, txs + list(tm.parameters()),
                                 [torch.tensor(g) for g in gys])
    for a, b in zip(grads, tgrads):
        np.testing.assert_allclose(a.array, b.numpy(), rtol=1e-9, atol=1e-11)
    assert repr(m) == repr(tm)


def test_cell_zero_state_default():
    tn.manual_seed(0)
    cell = GRUCell(3, 4)
    x = tn.randn(2, 3)
    np.testing.assert_array_equal(cell(x).array, cell(x, tn.zeros(2, 4)).array)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_cell_unrolled_equals_layer(kind):
    tn.manual_seed(0)
    layer = MODES[kind][0](3, 4, bias=True)
    cell = CELLS[kind](3, 4)
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})  # drop "_l0"
    x = tn.randn(6, 2, 3)
    out = states_of(kind, layer(x))
    state = None
    hs = []
    for t in range(6):
        state = cell(x[t], state)
        hs.append(state[0] if kind == "lstm" else state)
    np.testing.assert_allclose(tn.stack(hs).array, out[0].array, rtol=1e-6, atol=1e-7)
    last = state if kind == "lstm" else (state,)
    for a, b in zip(last, out[1:]):
        np.testing.assert_allclose(a.array, b.array[0], rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- errors
def test_errors_name_expected_and_actual():
    m = LSTM(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"LSTM: input.size\(-1\) must be equal to "
                                         r"input_size. Expected 3, got 5"):
        m(tn.zeros(2, 1, 5))
    with pytest.raises(ValueError, match=r"LSTM: expected input to be 2-D .* got 4-D"):
        m(tn.zeros(2, 1, 1, 3))
    with pytest.raises(ValueError, match=r"LSTM: expected h_0 of shape \(2, 1, 4\), got "
                                         r"\(1, 1, 4\)"):
        m(tn.zeros(2, 1, 3), (tn.zeros(1, 1, 4), tn.zeros(2, 1, 4)))
    with pytest.raises(ValueError, match=r"LSTM: expected c_0 of shape \(2, 1, 4\)"):
        m(tn.zeros(2, 1, 3), (tn.zeros(2, 1, 4), tn.zeros(2, 4)))
    with pytest.raises(TypeError, match=r"LSTM: expected hx to be a tuple"):
        m(tn.zeros(2, 1, 3), tn.zeros(2, 1, 4))
    with pytest.raises(ValueError, match=r"GRU: expected hx of shape \(1, 3, 4\)"):
        GRU(3, 4)(tn.zeros(2, 3, 3), tn.zeros(1, 2, 4))
    with pytest.raises(ValueError, match=r"every length must be in \[1, 2\]"):
        GRU(3, 4)(tn.zeros(2, 2, 3), lengths=[3, 1])
    with pytest.raises(ValueError, match=r"expected lengths to be 2 ints"):
        GRU(3, 4)(tn.zeros(2, 2, 3), lengths=[1])
    with pytest.raises(TypeError, match=r"RNN: input dtype float64 does not match"):
        RNN(3, 4)(tn.zeros(2, 2, 3, dtype=tn.float64))
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        LSTM(3, 0)
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match=r"LSTMCell: input has 2 features, expected "
                                         r"input_size=3"):
        LSTMCell(3, 4)(tn.zeros(1, 2))
    with pytest.raises(ValueError, match=r"GRUCell: expected hx of shape \(2, 4\), got "
                                         r"\(1, 4\)"):
        GRUCell(3, 4)(tn.zeros(2, 3), tn.zeros(1, 4))


def test_exported_from_nn():
    for name in ("RNN", "GRU", "LSTM", "RNNCell", "GRUCell", "LSTMCell"):
        if not hasattr(nn, name):
            pytest.skip("tinynet.nn does not export the recurrent layers yet")
        assert getattr(nn, name) is globals()[name]
