"""The attention kernels: every version against ``ref`` (outputs, log-sum-exp
and the three gradients; causal or not; every mask layout; odd sizes and
sizes around the tiles), ``cpu_v1``'s and ``cpu_v3``'s memory, dispatch and forcing, and
``cuda_v2`` under Numba's CUDA simulator (and on a real GPU when there is
one)."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import tinynet as tn
from tinynet import kernels
from tinynet.kernels import attention as A
from tinynet.kernels._common import gpu_arrays_available, numba_cuda_available

CPU_VERSIONS = [n for n, impl in A.IMPLS.items()
                if n != "ref" and impl.device == "cpu" and impl.available()]
TOL = {np.float64: 1e-10, np.float32: 2e-5}


def problem(B, L, S, E, Ev, kind=None, dt=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    r = lambda *s: rng.standard_normal(s).astype(dt)  # noqa: E731
    return (r(B, L, E), r(B, S, E), r(B, S, Ev), r(B, L, Ev),
            A.make_mask(rng, kind, B, L, S, dt))


def run(impl, q, k, v, do, mask, causal, scale):
    o, lse = impl.forward(q, k, v, scale, causal, mask)
    return (o, lse) + tuple(impl.backward(q, k, v, o, lse, do, scale, causal, mask))


def assert_matches_ref(name, B, L, S, E, Ev, causal, kind, dt, scale=None):
    q, k, v, do, mask = problem(B, L, S, E, Ev, kind, dt)
    scale = 1 / math.sqrt(E) if scale is None else scale
    want = run(A.IMPLS["ref"], q, k, v, do, mask, causal, scale)
    got = run(A.IMPLS[name], q, k, v, do, mask, causal, scale)
    for what, a, b in zip(("o", "lse", "dq", "dk", "dv"), got, want):
        assert a.dtype == dt and a.shape == b.shape, (what, a.dtype, a.shape, b.shape)
        # (-inf log-sum-exp where a row sees no key: allclose wants them in the same places)
        np.testing.assert_allclose(a, b, rtol=TOL[dt], atol=TOL[dt], err_msg=what)


# (L, S): one row; odd; a tile minus one, exactly one, one plus one; two tiles
# and a bit; L != S both ways; query blocks (BR) and key tiles (BC) that do
# not divide T
SIZES = [(1, 1), (3, 7), (A.BC - 1, A.BC - 1), (A.BC, A.BC), (A.BC + 1, A.BC + 1),
         (A.BR + 1, 2 * A.BC + 3), (2 * A.BC + 3, A.BR - 1), (97, 97)]


@pytest.mark.parametrize("name", CPU_VERSIONS)
@pytest.mark.parametrize("dt", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("L,S", SIZES, ids=[f"L{a}-S{b}" for a, b in SIZES])
def test_cpu_versions_match_reference(name, L, S, causal, dt):
    assert_matches_ref(name, 2, L, S, 5, 3, causal, None, dt)


MASKS = ["keys", "full", "shared", "rows-masked"]


@pytest.mark.parametrize("name", CPU_VERSIONS)
@pytest.mark.parametrize("dt", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("kind", MASKS)
def test_cpu_versions_match_reference_with_masks(name, kind, causal, dt):
    assert_matches_ref(name, 3, 70, 67, 4, 6, causal, kind, dt)


@pytest.mark.parametrize("name", CPU_VERSIONS)
def test_head_sizes_and_scale(name):
    for E, Ev in ((1, 1), (64, 64), (16, 33)):
        assert_matches_ref(name, 2, 9, 13, E, Ev, True, None, np.float64, scale=0.37)


@pytest.mark.parametrize("name", CPU_VERSIONS + ["ref"])
def test_empty_problems(name):
    impl = A.IMPLS[name]
    for (B, L, S) in ((0, 3, 4), (2, 0, 4), (2, 3, 0)):
        q, k, v, do, _ = problem(B, L, S, 4, 2)
        o, lse, dq, dk, dv = run(impl, q, k, v, do, None, False, 0.5)
        assert o.shape == (B, L, 2) and not o.any()       # no key: zero output (PyTorch's)
        assert lse.shape == (B, L) and np.isneginf(lse).all()
        assert (dq.shape, dk.shape, dv.shape) == (q.shape, k.shape, v.shape)
        assert not (dq.any() or dk.any() or dv.any())


def test_reference_is_the_textbook_formula():
    # the oracle itself, against softmax(q k^T * scale) v written out
    q, k, v, _, _ = problem(2, 4, 6, 3, 2)
    s = q @ k.transpose(0, 2, 1) * 0.5 + np.triu(np.full((4, 6), -np.inf), 1)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    o, lse = A.attention_forward_ref(q, k, v, 0.5, True)
    np.testing.assert_allclose(o, p @ v, rtol=1e-13)
    np.testing.assert_allclose(lse, np.log(np.exp(s).sum(-1)), rtol=1e-13)


@pytest.mark.parametrize("name", CPU_VERSIONS)
def test_large_scores_stay_finite(name):
    # scores of +-1e4: the online softmax's rescaling must not overflow
    q, k, v, do, _ = problem(1, 40, 70, 4, 3, dt=np.float32)
    got = run(A.IMPLS[name], 100 * q, 100 * k, v, do, None, True, 1.0)
    want = run(A.IMPLS["ref"], 100 * q, 100 * k, v, do, None, True, 1.0)
    assert all(np.isfinite(a).all() for a in got)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-4)


def test_cpu_v1_result_does_not_depend_on_the_thread_count(monkeypatch):
    q, k, v, do, mask = problem(8, 70, 70, 8, 8, "keys", np.float32)
    results = []
    for n in (1, 2, 3):
        monkeypatch.setenv("TINYNET_NUM_THREADS", str(n))
        monkeypatch.setattr(A, "GRAIN", 1)            # split even this small problem
        results.append(run(A.IMPLS["cpu_v1"], q, k, v, do, mask, True, 0.3))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_cpu_v1_memory_is_order_T_times_d():
    # one forward + backward at T = 1024: cpu_v1 holds its outputs and a few
    # tiles, the reference holds several T x T matrices
    mem = A.memory_check(T=1024, d=64)
    peaks, TxT, Txd = mem["peaks"], mem["TxT"], mem["Txd"]
    assert peaks["cpu_v1"] < 6 * Txd < TxT / 2, mem        # o, dq, dk, dv are 4 Txd
    assert peaks["ref"] > 2 * TxT, mem


def test_cpu_v3_memory_grows_as_T_not_T_squared():
    # cpu_v3 holds one block of R3 query rows against the keys: twice the
    # tokens take about twice the memory, and far less than a T x T matrix
    small, large = A.memory_check(T=1024, d=64), A.memory_check(T=2048, d=64)
    assert large["peaks"]["cpu_v3"] < 2.3 * small["peaks"]["cpu_v3"], (small, large)
    assert large["peaks"]["cpu_v3"] < 10 * large["Txd"] < large["TxT"] / 3, large


def test_select_picks_cpu_v3_on_the_cpu_and_can_be_forced(monkeypatch):
    x = np.zeros((1, 2, 2), np.float32)
    assert A.select(x).name == "cpu_v3"
    with kernels.use(attention="ref"):
        assert A.select(x).name == "ref"
    monkeypatch.setenv("TINYNET_ATTENTION_IMPL", "ref")
    assert A.select(x).name == "ref"
    monkeypatch.setenv("TINYNET_ATTENTION_IMPL", "nope")
    with pytest.raises(ValueError, match="not one of"):
        A.select(x)
    with pytest.raises(ValueError, match="unknown attention implementation"):
        kernels.use(attention="cpu_v9")


def test_op_uses_the_selected_version():
    # the op's fused node runs whatever select() gives: the same result each way
    rng = np.random.default_rng(0)
    q, k, v = (tn.tensor(rng.standard_normal((2, 3, 33, 8)), requires_grad=True)
               for _ in range(3))
    outs = {}
    for name in ["ref"] + CPU_VERSIONS:
        with kernels.use(attention=name):
            o = tn.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            assert type(o.grad_fn.inputs[0].grad_fn).__name__ == "ScaledDotProductAttention"
            g = tn.grad(o.sum(), [q, k, v])
        outs[name] = [o.numpy()] + [x.numpy() for x in g]
    for name in CPU_VERSIONS:
        for a, b in zip(outs[name], outs["ref"]):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_self_check_command():
    out = subprocess.run([sys.executable, "-m", "tinynet.kernels.attention", "--quick"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert "attention: all versions match the reference (ref, cpu_v1, cpu_v3)" in lines, lines
    for name in ("cpu_v1", "cpu_v3"):
        assert any(line.startswith(f"attention {name} ") and " ms (median of " in line
                   for line in lines), lines
    assert any(line.startswith("attention memory") for line in lines), lines


# ---------------------------------------------------------------- cuda_v2
SIM_SCRIPT = r"""
import numpy as np
from tinynet.kernels import attention as A
from tinynet.kernels._common import cuda_sim_enabled
assert cuda_sim_enabled()
# tiny blocks and tiles, so that these tiny problems cross block and tile edges
A.ROWS, A.TILE_ROWS = 4, 3
cases = [(1, 1, 1, 1, 1, False, None), (2, 5, 7, 3, 2, False, None),
         (2, 7, 5, 4, 3, True, None), (1, 9, 9, 2, 2, True, None),
         (2, 6, 9, 3, 5, True, "keys"), (2, 9, 6, 4, 4, False, "rows-masked"),
         (1, 5, 4, 2, 3, False, "full"), (1, 6, 5, 3, 2, True, "shared")]
bad = 0
for B, L, S, E, Ev, causal, kind in cases:
    for dt, tol in ((np.float64, 1e-10), (np.float32, 2e-5)):
        rng = np.random.default_rng(B * 100 + L)
        r = lambda *s: rng.standard_normal(s).astype(dt)
        q, k, v, do = r(B, L, E), r(B, S, E), r(B, S, Ev), r(B, L, Ev)
        mask = A.make_mask(rng, kind, B, L, S, dt)
        got, want = [], []
        for name, out in (("cuda_v2", got), ("ref", want)):
            impl = A.IMPLS[name]
            o, lse = impl.forward(q, k, v, 0.6, causal, mask)
            out.extend([o, lse, *impl.backward(q, k, v, o, lse, do, 0.6, causal, mask)])
        for what, a, b in zip(("o", "lse", "dq", "dk", "dv"), got, want):
            if a.dtype != dt or not np.allclose(a, b, rtol=tol, atol=tol):
                bad += 1
                print("MISMATCH", what, B, L, S, E, Ev, causal, kind, dt)
print("cuda_v2 checked:", "ok" if bad == 0 else f"{bad} mismatches")
"""


def test_cuda_v2_under_the_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    out = subprocess.run([sys.executable, "-c", SIM_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "cuda_v2 checked: ok" in out.stdout, out.stdout[-3000:]


def test_self_check_under_the_simulator_includes_cuda_v2():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    out = subprocess.run([sys.executable, "-m", "tinynet.kernels.attention", "--quick"],
                         env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "attention: all versions match the reference (ref, cpu_v1, cuda_v2, cpu_v3)" in \
        out.stdout.splitlines(), out.stdout[-3000:]


@pytest.mark.skipif(not gpu_arrays_available(), reason="needs a GPU")
def test_cuda_v2_on_the_gpu():
    from tinynet.backend import to_device
    assert numba_cuda_available()
    for (B, L, S, E, Ev, causal, kind) in A.SHAPES:
        for dt, tol in ((np.float64, 1e-10), (np.float32, 2e-5)):
            q, k, v, do, mask = problem(B, L, S, E, Ev, kind, dt)
            want = run(A.IMPLS["ref"], q, k, v, do, mask, causal, 0.4)
            dev = [None if a is None else to_device(a, "cuda") for a in (q, k, v, do, mask)]
            got = run(A.IMPLS["cuda_v2"], *dev, causal, 0.4)
            for a, b in zip(got, want):
                np.testing.assert_allclose(a.get(), b, rtol=tol, atol=tol)
