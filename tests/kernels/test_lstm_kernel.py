"""LSTM and GRU gate-math kernels: every version in IMPLS against ``ref``,
forward and backward, float32 and float64; dispatch and forcing."""
import numpy as np
import pytest

import tinynet as tn
from tinynet import kernels
from tinynet.kernels import gru_cell as KG
from tinynet.kernels import lstm_cell as KL
from tinynet.kernels._common import cuda_sim_enabled, launch_config
from tinynet.ops.recurrent import gru_cell, lstm_cell

SHAPES = [(1, 1), (3, 5), (4, 17), (32, 128)]        # (N, H)
DTYPES = [(np.float64, 1e-12), (np.float32, 2e-5)]     # Numba rounds via float64


def impls(table):
    return [name for name, impl in table.items()
            if name != "ref" and impl.available() and impl.device == "cpu"]


def lstm_inputs(N, H, dt, seed=0):
    rng = np.random.default_rng(seed)
    r = lambda *s: (3 * rng.standard_normal(s)).astype(dt)  # noqa: E731  (saturating gates too)
    return r(N, 4 * H), r(N, 4 * H), r(N, H), r(N, H), r(N, H)


@pytest.mark.parametrize("name", impls(KL.IMPLS))
@pytest.mark.parametrize("dt,tol", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("N,H", SHAPES, ids=[f"N{n}-H{h}" for n, h in SHAPES])
def test_lstm_versions_match_reference(name, dt, tol, N, H):
    xg, hg, c_prev, gh, gc = lstm_inputs(N, H, dt)
    ref, impl = KL.IMPLS["ref"], KL.IMPLS[name]
    h0, c0, act0 = ref.forward(xg, hg, c_prev)
    h1, c1, act1 = impl.forward(xg, hg, c_prev)
    d0 = ref.backward(gh, gc, act0, c_prev, c0)
    d1 = impl.backward(gh, gc, act1, c_prev, c1)
    for a, b in zip((h1, c1, act1) + d1, (h0, c0, act0) + d0):
        assert a.dtype == dt and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def gru_inputs(N, H, dt, seed=0):
    rng = np.random.default_rng(seed)
    r = lambda *s: (3 * rng.standard_normal(s)).astype(dt)  # noqa: E731
    return r(N, 3 * H), r(N, 3 * H), r(N, H), r(N, H)


@pytest.mark.parametrize("name", impls(KG.IMPLS))
@pytest.mark.parametrize("dt,tol", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("N,H", SHAPES, ids=[f"N{n}-H{h}" for n, h in SHAPES])
def test_gru_versions_match_reference(name, dt, tol, N, H):
    xg, hg, h_prev, gh = gru_inputs(N, H, dt)
    ref, impl = KG.IMPLS["ref"], KG.IMPLS[name]
    h0, act0 = ref.forward(xg, hg, h_prev)
    h1, act1 = impl.forward(xg, hg, h_prev)
    d0 = ref.backward(gh, act0, hg, h_prev)
    d1 = impl.backward(gh, act1, hg, h_prev)
    for a, b in zip((h1, act1) + d1, (h0, act0) + d0):
        assert a.dtype == dt and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_lstm_reference_matches_plain_formulas():
    # the oracle itself, against the textbook equations written out in NumPy
    xg, hg, c_prev, _, _ = lstm_inputs(3, 4, np.float64)
    h, c, _ = KL.lstm_forward_ref(xg, hg, c_prev)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    i, f, g, o = np.split(xg + hg, 4, axis=1)
    c_want = sig(f) * c_prev + sig(i) * np.tanh(g)
    np.testing.assert_allclose(c, c_want, rtol=1e-12)
    np.testing.assert_allclose(h, sig(o) * np.tanh(c_want), rtol=1e-12)


def test_saturated_gates_stay_finite():
    # (the CUDA versions' twin is in tests/gpu/test_cuda_kernels.py)
    big = np.full((2, 8), 1e4, np.float32)
    for impl in KL.IMPLS.values():
        if impl.available() and impl.device != "cuda":
            h, c, act = impl.forward(big, -3 * big, np.zeros((2, 2), np.float32))
            assert np.isfinite(h).all() and np.isfinite(act).all()


@pytest.mark.parametrize("name", ["ref"] + impls(KL.IMPLS))
def test_forced_lstm_impl_runs_the_op(name, monkeypatch):
    # the op gives the same result whichever version is forced, by env or by use()
    rng = np.random.default_rng(1)
    x, h, c = (tn.tensor(rng.standard_normal(s).astype(np.float32)) for s in
               ((2, 3), (2, 4), (2, 4)))
    w_ih, w_hh = (tn.tensor(rng.standard_normal(s).astype(np.float32)) for s in
                  ((16, 3), (16, 4)))
    with kernels.use(lstm="ref"):
        want = lstm_cell(x, h, c, w_ih, w_hh)
    monkeypatch.setenv("TINYNET_LSTM_IMPL", name)
    got = lstm_cell(x, h, c, w_ih, w_hh)
    with kernels.use(lstm=name):
        got2 = lstm_cell(x, h, c, w_ih, w_hh)
    for a, b, b2 in zip(want, got, got2):
        np.testing.assert_allclose(b.array, a.array, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b2.array, a.array, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["ref"] + impls(KG.IMPLS))
def test_forced_gru_impl_runs_the_op(name):
    rng = np.random.default_rng(2)
    x, h = (tn.tensor(rng.standard_normal(s)) for s in ((2, 3), (2, 4)))
    w_ih, w_hh = (tn.tensor(rng.standard_normal(s)) for s in ((12, 3), (12, 4)))
    with kernels.use(gru="ref"):
        want = gru_cell(x, h, w_ih, w_hh)
    with kernels.use(gru=name):
        got = gru_cell(x, h, w_ih, w_hh)
    np.testing.assert_allclose(got.array, want.array, rtol=1e-12)


def test_unknown_impl_is_rejected(monkeypatch):
    with pytest.raises(ValueError, match="lstm implementation 'nope'"):
        kernels.use(lstm="nope")
    monkeypatch.setenv("TINYNET_GRU_IMPL", "nope")
    with pytest.raises(ValueError, match="TINYNET_GRU_IMPL='nope'"):
        KG.select(np.zeros((1, 3)))


@pytest.mark.parametrize("module", [KL, KG], ids=["lstm", "gru"])
def test_self_check_catches_a_wrong_version(module, monkeypatch, capsys):
    # a CPU version whose backward loses a term must be reported, and fail
    real = module.IMPLS["cpu_v2"].backward

    def wrong(*args):
        grads = real(*args)
        grads[-1][...] *= 2
        return grads
    monkeypatch.setattr(module.IMPLS["cpu_v2"], "backward", wrong)
    assert module.self_check(quick=True) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and " cpu_v2 d" in out and "all versions match" not in out


def test_default_selection(monkeypatch):
    monkeypatch.delenv("TINYNET_LSTM_IMPL", raising=False)
    monkeypatch.delenv("TINYNET_GRU_IMPL", raising=False)
    assert KL.select(np.zeros((2, 8), np.float32)).name == KL.CPU_DEFAULT
    assert KG.select(np.zeros((2, 6), np.float32)).name == KG.CPU_DEFAULT


class FakeCupyArray:
    """Stands for a CuPy array in select(), which looks only at the type's module."""
    __module__ = "cupy._core.core"


def test_gpu_selection_uses_cuda_version_or_falls_back(monkeypatch):
    monkeypatch.delenv("TINYNET_LSTM_IMPL", raising=False)
    monkeypatch.delenv("TINYNET_GRU_IMPL", raising=False)
    for mod in (KL, KG):
        monkeypatch.setattr(mod.IMPLS["cuda_v3"], "available", lambda: True)
        assert mod.select(FakeCupyArray()).name == "cuda_v3"
        # Numba's CUDA kernels failing to compile: the reference runs on CuPy
        monkeypatch.setattr(mod.IMPLS["cuda_v3"], "available", lambda: False)
        assert mod.select(FakeCupyArray()).name == "ref"


def test_forcing_a_cpu_version_on_gpu_arrays_is_rejected():
    with kernels.use(lstm="cpu_v1"):
        with pytest.raises(RuntimeError, match="lstm implementation 'cpu_v1' runs on the CPU"):
            KL.select(FakeCupyArray())


@pytest.mark.skipif(cuda_sim_enabled(), reason="the simulator runs CUDA versions on NumPy")
def test_forcing_the_cuda_version_on_numpy_arrays_is_rejected(monkeypatch):
    with kernels.use(lstm="cuda_v3"):
        with pytest.raises(RuntimeError, match="lstm implementation 'cuda_v3' needs CuPy"):
            KL.select(np.zeros((1, 4)))
    monkeypatch.setenv("TINYNET_GRU_IMPL", "cuda_v3")
    with pytest.raises(RuntimeError, match="gru implementation 'cuda_v3' needs CuPy"):
        KG.select(np.zeros((1, 3)))


@pytest.mark.parametrize("n,want", [(0, (1, 1)), (1, (1, 1)), (10, (1, 10)), (128, (1, 128)),
                                    (129, (2, 128)), (4096, (32, 128))])
def test_cuda_launch_config_covers_every_element(n, want):
    blocks, threads = launch_config(n)
    assert (blocks, threads) == want and blocks * threads >= n
