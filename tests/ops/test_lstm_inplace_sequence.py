"""The in-place whole-sequence LSTM loop (``kernels/lstm_cell.py``
``sequence_forward_np``/``sequence_backward_np``, used by ``LSTMLayer`` on
the CPU) against the per-step reference loop it replaces
(``recurrent.INPLACE_SEQUENCE = False``): outputs, states and every
gradient; plus what must stay true around it (workspace arrays never
returned, inputs and incoming gradients untouched, retain_graph, double
backward, in-place changes caught)."""
import numpy as np
import pytest

import tinynet as tn
from tinynet.kernels import lstm_cell as KL
from tinynet.kernels import workspace
from tinynet.ops import recurrent as R

SHAPES = [(1, 1, 1), (5, 3, 4), (9, 2, 33), (64, 32, 128)]         # (T, N, H)
# float32: both loops round differently and the recurrence carries it along
TOLS = {np.float64: 1e-12, np.float32: 1e-4}


def _run(inplace, T, N, H, dt, reverse, seed=0, scale=2.0, monkeypatch=None):
    monkeypatch.setattr(R, "INPLACE_SEQUENCE", inplace)
    rng = np.random.default_rng(seed)

    def leaf(*s):
        return tn.tensor((scale * rng.standard_normal(s)).astype(dt), requires_grad=True)
    xg, h0, c0 = leaf(T, N, 4 * H), leaf(N, H), leaf(N, H)
    w = tn.tensor((rng.standard_normal((4 * H, H)) / np.sqrt(H)).astype(dt), requires_grad=True)
    go, gh, gc = (tn.tensor(rng.standard_normal(s).astype(dt))
                  for s in [(T, N, H), (N, H), (N, H)])
    out, h, c = R.lstm_layer(xg, h0, c0, w, reverse=reverse)
    ((out * go).sum() + (h * gh).sum() + (c * gc).sum()).backward()
    return {"out": out, "h": h, "c": c, "dxg": xg.grad, "dh0": h0.grad, "dc0": c0.grad,
            "dw": w.grad}


@pytest.mark.parametrize("dt", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("T,N,H", SHAPES, ids=[f"T{t}-N{n}-H{h}" for t, n, h in SHAPES])
def test_inplace_sequence_equals_reference(monkeypatch, T, N, H, dt, reverse):
    fast = _run(True, T, N, H, dt, reverse, monkeypatch=monkeypatch)
    ref = _run(False, T, N, H, dt, reverse, monkeypatch=monkeypatch)
    tol = TOLS[dt]
    for k in ref:
        a, b = fast[k].numpy(), ref[k].numpy()
        assert a.dtype == dt and a.shape == b.shape, k
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, err_msg=k)


def test_inplace_sequence_saturated_gates_are_finite(monkeypatch):
    # pre-activations far beyond exp's float32 range: the gates sit on their limits
    fast = _run(True, 4, 3, 5, np.float32, False, scale=300.0, monkeypatch=monkeypatch)
    ref = _run(False, 4, 3, 5, np.float32, False, scale=300.0, monkeypatch=monkeypatch)
    for k in ref:
        assert np.isfinite(fast[k].numpy()).all(), k
        np.testing.assert_allclose(fast[k].numpy(), ref[k].numpy(), rtol=1e-4, atol=1e-4,
                                   err_msg=k)


def test_inplace_sequence_is_used_and_returns_no_workspace_array():
    rng = np.random.default_rng(1)
    T, N, H = 32, 16, 64                     # saved arrays above the workspace's minimum
    xg = rng.standard_normal((T, N, 4 * H)).astype(np.float32)
    h0, c0 = np.zeros((N, H), np.float32), np.ones((N, H), np.float32)
    w = rng.standard_normal((4 * H, H)).astype(np.float32)
    keep = [a.copy() for a in (xg, h0, c0, w)]
    out, h, c, saved = KL.sequence_forward_np(xg, h0, c0, w)
    blocks = {id(b) for b in workspace._blocks}

    def root(a):
        while a.base is not None:
            a = a.base
        return a
    assert any(id(root(s)) in blocks for s in saved)           # the scratch is cached
    for a in (out, h, c):
        assert id(root(a)) not in blocks                       # results are not
    g_out = rng.standard_normal(out.shape).astype(np.float32)
    g_h, g_c = np.ones((N, H), np.float32), np.ones((N, H), np.float32)
    g_keep = [a.copy() for a in (g_out, g_h, g_c)]
    grads = KL.sequence_backward_np(g_out, g_h, g_c, w, saved)
    for a in grads:
        assert id(root(a)) not in blocks
        assert not any(np.shares_memory(a, s) for s in (g_out, g_h, g_c))
    for a, b in zip((xg, h0, c0, w, g_out, g_h, g_c), keep + g_keep):
        np.testing.assert_array_equal(a, b)                    # inputs left alone


def test_layer_picks_inplace_sequence_only_where_it_applies(monkeypatch):
    calls = []
    real = KL.sequence_forward_np
    monkeypatch.setattr(KL, "sequence_forward_np",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    x = tn.randn(5, 2, 3)
    lstm = tn.nn.LSTM(3, 4)
    lstm(x)
    assert len(calls) == 1
    lstm(x, lengths=[5, 3])                  # padded batch: the masked reference loop
    assert len(calls) == 1
    lstm.double()(x.double())
    assert len(calls) == 2


def test_retain_graph_and_version_errors(monkeypatch):
    monkeypatch.setattr(R, "INPLACE_SEQUENCE", True)
    rng = np.random.default_rng(2)
    xg = tn.tensor(rng.standard_normal((6, 2, 12)), requires_grad=True)
    h0 = tn.zeros(2, 3, dtype=tn.float64, requires_grad=True)
    w = tn.tensor(rng.standard_normal((12, 3)), requires_grad=True)
    out, h, c = R.lstm_layer(xg, h0, h0, w)
    out.sum().backward(retain_graph=True)
    first = w.grad.numpy().copy()
    out.sum().backward()                      # the saved arrays survived the first pass
    np.testing.assert_allclose(w.grad.numpy(), 2 * first, rtol=1e-12)
    out, h, c = R.lstm_layer(xg, h0, h0, w)
    with tn.no_grad():
        w.mul_(2)
    with pytest.raises(RuntimeError, match="modified in place"):
        out.sum().backward()


def test_double_backward_through_inplace_sequence(monkeypatch):
    monkeypatch.setattr(R, "INPLACE_SEQUENCE", True)
    rng = np.random.default_rng(3)
    args = [tn.tensor(rng.standard_normal(s), requires_grad=True)
            for s in [(4, 2, 8), (2, 2), (2, 2), (8, 2)]]
    assert tn.gradcheck(lambda *a: R.lstm_layer(*a)[0], args)
    assert tn.gradgradcheck(lambda *a: R.lstm_layer(*a)[0], args)
