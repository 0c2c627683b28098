"""The shared parts of the kernel modules (``tinynet.kernels._common``): the
version record, the launch helpers and the self-check harness, on toy
versions so that each failure mode is seen."""
import numpy as np
import pytest

from tinynet.kernels import _common as C


def toy_impls(**wrong):
    """A reference (y = 2x, i = argmax) and versions that each get one thing wrong."""
    def ref(x):
        return {"y": 2 * x, "i": np.argmax(x, axis=-1)}

    versions = {"ref": C.Impl("ref", "any", compute=ref),
                "good": C.Impl("good", "cpu", compute=lambda x: ref(x.copy()))}
    for name, fn in wrong.items():
        versions[name] = C.Impl(name, "cpu", compute=fn)
    return versions


def run(impl, inputs):
    return impl.compute(inputs["x"])


def cases():
    rng = np.random.default_rng(0)
    return [C.Case(f"n{n}", {"x": rng.standard_normal((3, n)).astype(np.float32)},
                   small=n < 8, timed=n >= 8) for n in (4, 5, 16)]


@pytest.fixture(autouse=True)
def no_simulator(monkeypatch):
    # the toy versions are CPU ones: time them even when the suite runs with
    # NUMBA_ENABLE_CUDASIM=1 (the simulator's own rule is tested below)
    monkeypatch.setattr(C, "cuda_sim_enabled", lambda: False)


def test_matching_versions_pass_and_every_one_is_timed(capsys):
    assert C.check_and_time("toy", toy_impls(), run, cases()) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "toy: all versions match the reference (ref, good)"
    timed = [line for line in lines if "(median of 10)" in line]
    assert [line.split()[1] for line in timed] == ["ref", "good"]     # the one timed case
    assert all("n16" in line for line in timed)


def test_quick_mode_checks_the_small_cases_and_times_the_last(capsys):
    seen = []

    def spy(impl, inputs):
        seen.append(inputs["x"].shape[1])
        return run(impl, inputs)
    assert C.check_and_time("toy", toy_impls(), spy, cases(), quick=True) == 0
    assert 16 not in seen
    timed = [line for line in capsys.readouterr().out.splitlines() if "median of 2" in line]
    assert len(timed) == 2 and all("n5" in line for line in timed)


def test_under_the_simulator_small_cases_are_checked_and_nothing_is_timed(monkeypatch, capsys):
    monkeypatch.setattr(C, "cuda_sim_enabled", lambda: True)
    seen = []

    def spy(impl, inputs):
        seen.append(inputs["x"].shape[1])
        return run(impl, inputs)
    assert C.check_and_time("toy", toy_impls(), spy, cases()) == 0
    out = capsys.readouterr().out
    assert sorted(set(seen)) == [4, 5] and "median" not in out
    assert "toy: timings skipped (CUDA simulator)" in out


@pytest.mark.parametrize("name,fn,why", [
    ("off", lambda x: {"y": 2 * x + 1e-3, "i": np.argmax(x, axis=-1)}, "max abs diff"),
    ("f64", lambda x: {"y": 2 * x.astype(np.float64), "i": np.argmax(x, axis=-1)},
     "dtype float64, the reference's is float32"),
    ("shape", lambda x: {"y": 2 * x[:, :1], "i": np.argmax(x, axis=-1)}, "shape (3, 1)"),
    ("index", lambda x: {"y": 2 * x, "i": np.argmin(x, axis=-1)}, "max abs diff"),
])
def test_a_wrong_version_is_reported_and_fails(name, fn, why, capsys):
    assert C.check_and_time("toy", toy_impls(**{name: fn}), run, cases()) == 1
    out = capsys.readouterr().out
    assert f"MISMATCH toy {name} " in out and why in out
    assert "all versions match" not in out and "median" not in out      # nothing timed
    assert "MISMATCH toy good" not in out


def test_versions_that_cannot_run_here_are_skipped(capsys):
    impls = toy_impls()
    impls["gone"] = C.Impl("gone", "cpu", lambda: False, compute=None)
    assert C.check_and_time("toy", impls, run, cases(), quick=True) == 0
    out = capsys.readouterr().out
    assert "(ref, good)" in out and "gone" not in out


def test_impl_holds_its_operations_and_checks_its_device():
    impl = C.Impl("v", "cuda", C.numba_available, forward=len, backward=None)
    assert impl.forward is len and impl.backward is None and impl.ops == ("forward", "backward")
    assert impl.available is C.numba_available and C.Impl("r", "any").available is C.always
    with pytest.raises(ValueError, match="device must be 'any', 'cpu' or 'cuda', got 'gpu'"):
        C.Impl("v", "gpu")
    with pytest.raises(ValueError, match="'ops' cannot name an operation"):
        C.Impl("v", "cpu", ops=len)


@pytest.mark.parametrize("n,want", [(0, (1, 1)), (1, (1, 1)), (10, (1, 10)), (128, (1, 128)),
                                    (129, (2, 128)), (4096, (32, 128))])
def test_cuda_launch_config_covers_every_element(n, want):
    blocks, threads = C.launch_config(n)
    assert (blocks, threads) == want and blocks * threads >= n


@pytest.mark.parametrize("parallel", [True, False])
def test_for_parts_covers_the_range_once(parallel):
    hits = np.zeros(1000, np.int64)

    def kernel(out, lo, hi):
        out[lo:hi] += 1
    C.for_parts(kernel, 1000, C.GRAIN // 10, hits, parallel=parallel)     # 100 items a part
    assert (hits == 1).all()


def test_contiguous_copies_only_when_needed():
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    assert C.contiguous(a) is a
    t = C.contiguous(a.T, np.float32)
    assert t.flags.c_contiguous and t.dtype == np.float32 and (t == a.T).all()


def test_sigmoid_is_the_logistic_function_and_stays_finite():
    x = np.array([-1e4, -3.0, 0.0, 2.5, 1e4])
    np.testing.assert_allclose(C.sigmoid(np, x[1:-1]), 1 / (1 + np.exp(-x[1:-1])), rtol=1e-15)
    assert C.sigmoid(np, x)[0] == 0 and C.sigmoid(np, x)[-1] == 1
