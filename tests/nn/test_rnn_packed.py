"""nn.utils.rnn (pad_sequence, pack_padded_sequence, pad_packed_sequence,
pack_sequence) and PackedSequence inputs to nn.RNN / nn.GRU / nn.LSTM,
against PyTorch with the same weights: packed outputs, h_n / c_n and every
gradient (inputs, initial states, all parameters), for unsorted lengths."""
import numpy as np
import pytest
import torch

import tinynet as tn
import tinynet.nn as nn
from tinynet.nn.utils.rnn import (PackedSequence, pack_padded_sequence, pack_sequence,
                                  pad_packed_sequence, pad_sequence, unpack_sequence,
                                  unpad_sequence)

TR = torch.nn.utils.rnn


def arr(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def assert_close(a, b, tol=1e-10, what=""):
    np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=tol, atol=tol, err_msg=what)


def assert_same_packing(ours, theirs, tol=1e-10):
    assert isinstance(ours, PackedSequence)
    assert_close(ours.data, theirs.data, tol, "data")
    np.testing.assert_array_equal(ours.batch_sizes.numpy(), theirs.batch_sizes.numpy())
    assert ours.batch_sizes.dtype == tn.int64
    for name in ("sorted_indices", "unsorted_indices"):
        u, v = getattr(ours, name), getattr(theirs, name)
        assert (u is None) == (v is None), name
        if u is not None:
            np.testing.assert_array_equal(u.numpy(), v.numpy(), err_msg=name)


# ---------------------------------------------------------------- the utilities
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_matches_torch_with_gradients(batch_first, side):
    seqs = [arr(n, 2, seed=n) for n in (3, 1, 4)]
    ours = [tn.tensor(s, requires_grad=True) for s in seqs]
    theirs = [torch.tensor(s, requires_grad=True) for s in seqs]
    y = pad_sequence(ours, batch_first=batch_first, padding_value=-2.0, padding_side=side)
    ty = TR.pad_sequence(theirs, batch_first=batch_first, padding_value=-2.0,
                         padding_side=side)
    assert_close(y, ty)
    w = arr(*y.shape, seed=9)
    (y * tn.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    for a, b in zip(ours, theirs):
        assert_close(a.grad, b.grad)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths,enforce_sorted", [([4, 3, 3, 1], True),
                                                    ([2, 4, 1, 3], False),
                                                    ([1, 1], False), ([3], True)])
def test_pack_and_pad_round_trip_matches_torch(lengths, enforce_sorted, batch_first):
    T, B = max(lengths), len(lengths)
    x = arr(*((B, T, 3) if batch_first else (T, B, 3)))
    a, b = tn.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    p = pack_padded_sequence(a, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    tp = TR.pack_padded_sequence(b, torch.tensor(lengths), batch_first=batch_first,
                                 enforce_sorted=enforce_sorted)
    assert_same_packing(p, tp)
    y, n = pad_packed_sequence(p, batch_first=batch_first, padding_value=0.5,
                               total_length=T + 2)
    ty, tn_ = TR.pad_packed_sequence(tp, batch_first=batch_first, padding_value=0.5,
                                     total_length=T + 2)
    assert_close(y, ty)
    np.testing.assert_array_equal(n.numpy(), tn_.numpy())
    assert n.dtype == tn.int64
    w = arr(*y.shape, seed=4)
    (y * tn.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    assert_close(a.grad, b.grad)


def test_pack_sequence_and_unpack_match_torch():
    seqs = [arr(n, 2, seed=n) for n in (2, 5, 3)]
    p = pack_sequence([tn.tensor(s) for s in seqs], enforce_sorted=False)
    tp = TR.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=False)
    assert_same_packing(p, tp)
    for u, v in zip(unpack_sequence(p), TR.unpack_sequence(tp)):
        assert_close(u, v)
    padded, lengths = pad_packed_sequence(p, batch_first=True)
    for u, s in zip(unpad_sequence(padded, lengths, batch_first=True), seqs):
        np.testing.assert_array_equal(u.numpy(), s)


def test_packed_sequence_is_a_namedtuple_with_to():
    p = pack_sequence([tn.ones(3, 2), tn.ones(1, 2)])
    data, batch_sizes, sorted_indices, unsorted_indices = p
    assert sorted_indices is None and unsorted_indices is None
    assert batch_sizes.numpy().tolist() == [2, 1, 1]
    q = p.double()
    assert q.data.dtype == tn.float64 and isinstance(q, PackedSequence) and not q.is_cuda
    assert q.batch_sizes is p.batch_sizes


def test_packing_errors():
    x = tn.ones(4, 3, 2)
    with pytest.raises(RuntimeError, match="not sorted in decreasing order.*enforce_sorted"):
        pack_padded_sequence(x, [2, 4, 1])
    with pytest.raises(ValueError, match="greater than 0"):
        pack_padded_sequence(x, [2, 0, 1], enforce_sorted=False)
    with pytest.raises(ValueError, match="a length of 5 exceeds the padded sequence length 4"):
        pack_padded_sequence(x, [5, 1, 1])
    with pytest.raises(ValueError, match="expected 3 lengths"):
        pack_padded_sequence(x, [2, 1])
    p = pack_padded_sequence(x, [4, 2, 1])
    with pytest.raises(ValueError, match="total_length=3 is smaller than the longest"):
        pad_packed_sequence(p, total_length=3)
    with pytest.raises(ValueError, match="every sequence must be"):
        pad_sequence([tn.ones(2, 3), tn.ones(2, 4)])
    with pytest.raises(ValueError, match="lengths= cannot be combined"):
        nn.GRU(2, 3)(p, lengths=[4, 2, 1])


# ---------------------------------------------------------------- recurrent layers
CONFIGS = [(mode, layers, bi, bf) for mode in ("RNN", "GRU", "LSTM")
           for layers, bi, bf in [(1, False, False), (2, False, True), (2, True, False),
                                  (1, True, True)]]


def _pair(mode, layers, bi, bf, dtype):
    torch.manual_seed(0)
    theirs = getattr(torch.nn, mode)(3, 4, num_layers=layers, bidirectional=bi,
                                     batch_first=bf).to(torch.float64 if dtype == np.float64
                                                        else torch.float32)
    ours = getattr(nn, mode)(3, 4, num_layers=layers, bidirectional=bi, batch_first=bf,
                             dtype=dtype)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("mode,layers,bi,bf", CONFIGS,
                         ids=[f"{m}-L{n}-{'bi' if b else 'uni'}-{'bf' if f else 'tf'}"
                              for m, n, b, f in CONFIGS])
def test_packed_rnn_matches_torch(mode, layers, bi, bf, dtype):
    ours, theirs = _pair(mode, layers, bi, bf, dtype)
    tol = 1e-10 if dtype == np.float64 else 2e-5
    lengths = [3, 5, 1, 4, 5]                 # unsorted, with a tie
    T, B, D = 5, len(lengths), 2 if bi else 1
    x = arr(*((B, T, 3) if bf else (T, B, 3)), dtype=dtype)
    states = [arr(layers * D, B, 4, seed=s, dtype=dtype) for s in (1, 2)[:2 if mode == "LSTM"
                                                                           else 1]]
    a = [tn.tensor(v, requires_grad=True) for v in [x] + states]
    b = [torch.tensor(v, requires_grad=True) for v in [x] + states]
    p = pack_padded_sequence(a[0], lengths, batch_first=bf, enforce_sorted=False)
    tp = TR.pack_padded_sequence(b[0], torch.tensor(lengths), batch_first=bf,
                                 enforce_sorted=False)
    hx = (a[1], a[2]) if mode == "LSTM" else a[1]
    thx = (b[1], b[2]) if mode == "LSTM" else b[1]
    out, h = ours(p, hx)
    tout, th = theirs(tp, thx)
    assert_same_packing(out, tout, tol)
    assert out.data.dtype == dtype
    hs, ths = (list(h), list(th)) if mode == "LSTM" else ([h], [th])
    for u, v in zip(hs, ths):
        assert_close(u, v, tol, "h_n / c_n")
    # gradients through the packed output (unpacked, as programs do) and h_n / c_n
    y, _ = pad_packed_sequence(out, batch_first=bf)
    ty, _ = TR.pad_packed_sequence(tout, batch_first=bf)
    ws = [arr(*y.shape, seed=5, dtype=dtype)] + [arr(*u.shape, seed=6 + k, dtype=dtype)
                                                  for k, u in enumerate(hs)]
    sum((u * tn.tensor(w)).sum() for u, w in zip([y] + hs, ws)).backward()
    sum((u * torch.tensor(w)).sum() for u, w in zip([ty] + ths, ws)).backward()
    for k, (u, v) in enumerate(zip(a, b)):
        assert_close(u.grad, v.grad, tol, f"gradient of input {k}")
    theirs_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        assert_close(param.grad, theirs_params[name].grad, tol, f"gradient of {name}")


def test_packed_gru_without_hx_and_sorted_batch():
    ours, theirs = _pair("GRU", 1, False, False, np.float64)
    seqs = [arr(n, 3, seed=n) for n in (4, 2, 2, 1)]
    out, h = ours(pack_sequence([tn.tensor(s) for s in seqs]))
    tout, th = theirs(TR.pack_sequence([torch.tensor(s) for s in seqs]))
    assert_same_packing(out, tout)
    assert_close(h, th)


def test_packed_input_size_is_checked():
    p = pack_sequence([tn.ones(2, 5), tn.ones(1, 5)])
    with pytest.raises(ValueError, match="Expected 3, got 5"):
        nn.LSTM(3, 4)(p)
