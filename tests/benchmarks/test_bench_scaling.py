"""``benchmarks/run.py --scaling``: the workloads at other sizes agree with
PyTorch, the memory measurement sees a step's allocations, and the table and
chart report every size with its goals. Tiny sizes only; no timing is judged."""
import json
import os
import sys

import numpy as np
import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks")
sys.path.insert(0, BENCHMARKS)          # the benchmark scripts are not a package

import run as bench  # noqa: E402
import workloads  # noqa: E402

MACHINE = {"command": "python benchmarks/run.py --scaling", "cpu": "test cpu", "cores": 2,
           "platform": "linux", "versions": {"numpy": "2"}, "blas": {}, "env": {},
           "commit": "abc", "sgemm_gflops": 100.0}


@pytest.mark.parametrize("name, sizes", [
    ("cnn_step", {"batch": 1, "image": 10}),
    ("cnn_step", {"batch": 3, "image": 17}),
    ("lstm_step", {"T": 3, "H": 16}),
])
def test_sized_workloads_agree_with_pytorch(name, sizes):
    chk = bench._check_child(name, sizes)
    assert "error" not in chk, chk
    assert chk["max_rel_diff"] <= bench.TOLERANCE.get(name, 1e-4), chk
    assert "loss" in chk["compared"] and len(chk["compared"]) > 4


def test_the_sizes_shape_the_model():
    # the dense layer's input follows the image: 17 -> 15 -> 7 -> 5 -> 2 pixels a side
    grads = workloads.build("cnn_step", "tinynet", batch=3, image=17).check()
    assert grads["grad 7.weight"].shape == (512, 64 * 2 * 2)
    grads = workloads.build("lstm_step", "tinynet", T=3, H=16).check()
    assert grads["output"].shape == (3, 32, 16)
    assert grads["grad lstm.weight_hh_l0"].shape == (64, 16)


def test_default_sizes_are_the_normal_workloads():
    for name, sizes in (("cnn_step", {"batch": 64, "image": 28}),
                        ("lstm_step", {"T": 64, "H": 128})):
        assert workloads.build(name, "tinynet").flops == \
            workloads.build(name, "tinynet", **sizes).flops
    import lstm
    assert (lstm.T, lstm.H) == (64, 128)


def test_bad_sizes_are_refused_by_name():
    with pytest.raises(ValueError, match="cnn_step: batch 64, image 8x8"):
        workloads.build("cnn_step", "tinynet", image=8)
    with pytest.raises(TypeError, match="mlp_step has no size"):
        workloads.build("mlp_step", "tinynet", batch=8)


def test_the_float64_result_settles_a_disagreement():
    # float32 PyTorch rounds too: where it and tinynet differ, tinynet passes
    # only if it is at least as close as PyTorch to the float64 result
    close = {"max_abs_diff": 6e-4, "max_rel_diff": 5e-2,
             "float64_rel_diff": {"tinynet": 3e-7, "torch": 5e-2}}
    assert bench._check_fields("cnn_step", close)["ok"]
    assert "vs float64: tinynet 3e-07, PyTorch 5e-02" in \
        bench._diff_text(bench._check_fields("cnn_step", close))
    far = dict(close, float64_rel_diff={"tinynet": 5e-2, "torch": 3e-7})
    assert not bench._check_fields("cnn_step", far)["ok"]
    assert not bench._check_fields("cnn_step", dict(close, float64_rel_diff=None))["ok"]
    assert bench._check_fields("cnn_step", {"max_abs_diff": 1e-8, "max_rel_diff": 1e-7})["ok"]


def test_a_wrong_step_fails_against_the_float64_result(monkeypatch):
    import tinynet.nn.functional as F
    real = F.cross_entropy
    monkeypatch.setattr(F, "cross_entropy", lambda x, y: real(x * 1.01, y))
    chk = bench._check_child("cnn_step", {"batch": 2, "image": 10})
    assert chk["float64_rel_diff"]["tinynet"] > 1e-3
    assert not bench._check_fields("cnn_step", chk)["ok"]


def test_the_float64_versions_match_tinynet():
    for name, sizes in (("lstm_step", {"T": 3, "H": 16}), ("cnn_step", {"batch": 2, "image": 10}),
                        ("mlp_step", {})):
        exact = workloads.build(name, workloads.TORCH64, **sizes).check()
        assert all(a.dtype == np.float64 for a in exact.values())
        ours = workloads.build(name, "tinynet", **sizes).check()
        assert bench._diffs(ours, exact)[1] < 1e-5
    with pytest.raises(ValueError, match="conv2d_a has no float64"):
        workloads.build("conv2d_a", workloads.TORCH64)


def test_step_memory_sees_an_allocation():
    held = []
    mem = bench.step_memory(lambda: held.append(np.ones(8 << 20)))       # 64 MiB
    assert 60 <= mem["peak_mib"] < 200 and mem["before_mib"] > 0
    assert mem["method"] in ("VmHWM after clear_refs", "ru_maxrss")
    # counted from an earlier size: what was built in between counts too
    before = bench._rss_kib()
    held.append(np.ones(4 << 20))                                        # 32 MiB
    mem = bench.step_memory(lambda: held.append(np.ones(8 << 20)), before)
    assert 90 <= mem["peak_mib"] < 250 and mem["built_mib"] >= 28


def test_scaling_sweeps_cover_the_sizes():
    by_axis = {(name, axis): (values, default) for name, axis, values, _, default
               in bench.SCALING}
    assert by_axis[("cnn_step", "batch")] == ((1, 8, 64, 256), 64)
    assert by_axis[("cnn_step", "image")][0][1:] == (28, 64)
    assert by_axis[("lstm_step", "T")] == ((16, 64, 256), 64)
    assert by_axis[("lstm_step", "H")] == ((64, 128, 512), 128)
    points = bench.scaling_points()
    # the default sizes are shared by two sweeps and measured once
    assert len(points) == len({(n, json.dumps(s)) for n, s in points}) == 11
    assert ("cnn_step", {"batch": 64, "image": 28}) in points
    assert bench.MEMORY_GOALS == {("cnn_step", "batch", 256): 1.2}


def test_one_point_end_to_end(monkeypatch, tmp_path):
    # the real children (check, then both libraries timed alternately), at one
    # tiny size; the machine description is stubbed to save two processes
    monkeypatch.setattr(bench, "_machine", lambda blas_env, env: dict(MACHINE))
    sweeps = (("cnn_step", "batch", (4,), {"image": 28}, 4),)
    machine, points, rows = bench.measure_scaling(sweeps, "default", samples=1, rounds=1,
                                                  min_time=0.001, warmup=1, torch_ok=True)
    (pt,) = points
    assert pt["ok"] and pt["sizes"] == {"batch": 4, "image": 28}
    assert pt["tinynet_ms"] > 0 and pt["torch_ms"] > 0 and pt["ratio"] > 0
    # one step's gradients and optimizer state alone are megabytes
    assert pt["tinynet_peak_mib"] > 1 and pt["torch_peak_mib"] > 1
    (row,) = rows
    assert row["default"] and row["vs_default"] == pytest.approx(1.0)
    text = bench.scaling_table(machine, rows)
    assert "| cnn_step | batch | batch 4, 28x28 |" in text and "1.00x (default)" in text
    png = tmp_path / "scaling.png"
    bench.scaling_chart(rows, str(png))
    assert png.read_bytes()[:4] == b"\x89PNG"


def _point(name, sizes, t, p, mt, mp):
    return {"workload": name, "sizes": sizes, "blas_env": "default", "ok": True,
            "max_abs_diff": 1e-7, "max_rel_diff": 1e-7, "tinynet_ms": t, "torch_ms": p,
            "tinynet_spread": [t, t], "torch_spread": [p, p], "ratio": t / p,
            "tinynet_peak_mib": mt, "torch_peak_mib": mp, "memory_ratio": mt / mp,
            "memory_method": "VmHWM after clear_refs"}


def test_rows_table_goals_and_chart(tmp_path):
    cnn = lambda b: {"batch": b, "image": 28}  # noqa: E731
    points = [_point("cnn_step", cnn(8), 2.4, 2.0, 5.0, 4.0),          # 1.2x
              _point("cnn_step", cnn(64), 10.0, 10.0, 40.0, 40.0),     # 1.0x, the default
              _point("cnn_step", cnn(256), 60.0, 40.0, 150.0, 100.0),  # 1.5x
              _point("lstm_step", {"T": 16, "H": 128}, 3.0, 2.0, 8.0, 8.0),
              _point("lstm_step", {"T": 64, "H": 128}, 12.0, 10.0, 30.0, 20.0)]
    sweeps = (("cnn_step", "batch", (8, 64, 256), {"image": 28}, 64),
              ("lstm_step", "T", (16, 64), {"H": 128}, 64))
    rows = bench.scaling_rows(sweeps, points)
    assert [r["value"] for r in rows] == [8, 64, 256, 16, 64]
    assert [r["holds"] for r in rows] == [True, True, False, True, True]
    assert rows[2]["memory_goal"] == 1.2 and rows[2]["memory_goal_met"] is False
    text = bench.scaling_table(MACHINE, rows)
    assert text.startswith("command: python benchmarks/run.py --scaling\nmachine: test cpu")
    assert "| vs default (≤ 1.3x) | peak tinynet | peak PyTorch | memory ratio (goal) |" in text
    assert "| cnn_step | batch | batch 8, 28x28 | 2.40 ms (2.4-2.4) | 2.00 ms (2-2) " \
           "| 1.20x | 1.20x yes | 5.0 MiB | 4.0 MiB | 1.25x |" in text
    assert "| 1.50x | 1.50x no | 150.0 MiB | 100.0 MiB | 1.50x (≤ 1.2x: no) |" in text
    assert "| lstm_step | T | T 16, H 128 |" in text and "1.25x yes" in text
    assert "within 1.3x of the default size's in 2 of 3 rows" in text
    assert "at cnn_step batch 256, 28x28: no (1.50x)" in text
    png = tmp_path / "scaling.png"
    bench.scaling_chart(rows, str(png))
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_the_goals_of_the_normal_run():
    assert bench.GOALS == {"conv2d_b": 1.0, "conv2d_a": 1.0, "cnn_step": 0.8,
                           "mlp_step": 0.8, "lstm_step": 1.3, "op_overhead": 1.0,
                           "gpt_step": 1.5, "attention": 1.5}
    assert set(bench.GOALS) <= set(workloads.WORKLOADS)
    row = {"workload": "gpt_step", "blas_env": "default", "tinynet_ms": 30.0,
           "torch_ms": 20.0, "ratio": 1.5, "gflops": None, "sgemm_fraction": None,
           "max_abs_diff": 1e-7, "max_rel_diff": 1e-7, "ok": True, "unit": "ms",
           "goal": bench.GOALS["gpt_step"]}
    assert "| gpt_step |" in bench.table(MACHINE, [row]) and "1.50x (≤ 1.5x)" in \
        bench.table(MACHINE, [row])


def test_scaling_refuses_other_workloads():
    with pytest.raises(SystemExit):
        bench.main(["--scaling", "--only", "mlp_step"])
