"""The benchmark harness: outputs are checked before anything is timed, and
a wrong implementation is reported as failed. No timing happens here."""
import json
import os
import sys

import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks")
sys.path.insert(0, BENCHMARKS)          # the benchmark scripts are not a package

import run as bench  # noqa: E402
import workloads  # noqa: E402


@pytest.mark.parametrize("name", ["op_overhead", "conv2d_a", "maxpool", "mlp_step"])
def test_workloads_agree_with_pytorch(name):
    pytest.importorskip("torch")
    chk = bench._check_child(name)
    assert chk["max_rel_diff"] <= bench.TOLERANCE.get(name, 1e-4), chk
    assert chk["compared"]


def test_a_wrong_implementation_is_reported_as_failed(monkeypatch):
    pytest.importorskip("torch")
    import tinynet.nn.functional as F
    real = F.max_pool2d
    # a plausible bug: pooling with the wrong stride gives the right shape's neighbour
    monkeypatch.setattr(F, "max_pool2d", lambda x, k: real(x * 1.01, k))
    chk = bench._check_child("maxpool")
    assert chk["max_rel_diff"] > bench.TOLERANCE.get("maxpool", 1e-4)


def test_every_workload_builds_for_tinynet():
    for name in workloads.WORKLOADS:
        case = workloads.build(name, "tinynet")
        assert callable(case.step) and case.unit in ("ms", "us/op")


def test_table_json_and_chart(tmp_path):
    machine = {"command": "python benchmarks/run.py", "cpu": "test cpu", "cores": 2,
               "platform": "linux", "versions": {"numpy": "2"}, "blas": {}, "env": {},
               "commit": "abc", "sgemm_gflops": 100.0}
    results = [
        {"workload": "conv2d_b", "blas_env": "default", "tinynet_ms": 4.0, "torch_ms": 2.0,
         "ratio": 2.0, "gflops": 50.0, "sgemm_fraction": 0.5, "max_abs_diff": 1e-6,
         "max_rel_diff": 1e-7, "ok": True, "unit": "ms", "goal": 2.0,
         "tinynet_spread": [3.5, 4.5], "torch_spread": [1.9, 2.1], "tinynet_first_call_s": 1.25},
        {"workload": "maxpool", "blas_env": "default", "tinynet_ms": 3.0, "torch_ms": 1.0,
         "ratio": 3.0, "gflops": None, "sgemm_fraction": None, "max_abs_diff": 0.5,
         "max_rel_diff": 0.1, "ok": False, "unit": "ms", "goal": None},
    ]
    text = bench.table(machine, results)
    assert "| conv2d_b | 4.000 ms (3.5-4.5) | 2.000 ms (1.9-2.1) | 2.00x (≤ 2.0x)" in text
    assert "first call (Numba compile or cache load, imports): conv2d_b 1.25 s" in text
    assert "| maxpool |" in text and "FAILED" in text and "command: python" in text
    png = tmp_path / "chart.png"
    bench.chart(results, str(png))
    assert png.read_bytes()[:4] == b"\x89PNG"
    json.dumps({"machine": machine, "results": results})


def test_per_issue_scripts_name_their_workloads():
    for script, names in (("overhead.py", ["op_overhead"]), ("mlp.py", ["mlp_step"]),
                          ("conv.py", ["conv2d_a", "conv2d_b", "maxpool", "cnn_step"])):
        text = open(os.path.join(BENCHMARKS, script)).read()
        assert f'"--only", *"{" ".join(names)}".split()' in text
        assert all(n in workloads.WORKLOADS for n in names)


def test_conv_products_mode_times_the_three_products(capsys):
    import conv
    conv.products(samples=1, repeats=2)
    out = capsys.readouterr().out
    for name in ("forward  w @ cols", "input    w.T @ gy", "weight   cols @ gy.T"):
        line = next(l for l in out.splitlines() if name in l)
        assert float(line.split()[-2]) > 0            # GFLOP/s
