"""The benchmark reports tinynet as a program gets it by default (no process
tuning); ``--tuned`` adds a column for a process that called
``tinynet.tune_process()``. No timing happens here."""
import json
import os
import subprocess
import sys

BENCHMARKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks")
RUN = os.path.join(BENCHMARKS, "run.py")
sys.path.insert(0, BENCHMARKS)          # the benchmark scripts are not a package

import run as bench  # noqa: E402


def test_the_tuned_column_appears_only_when_measured():
    machine = {"command": "python benchmarks/run.py", "cpu": "test cpu", "cores": 2,
               "platform": "linux", "versions": {"numpy": "2"}, "blas": {}, "env": {},
               "commit": "abc", "sgemm_gflops": 100.0}
    row = {"workload": "cnn_step", "blas_env": "default", "tinynet_ms": 20.0,
           "torch_ms": 10.0, "ratio": 2.0, "gflops": 5.0, "sgemm_fraction": 0.05,
           "max_abs_diff": 1e-7, "max_rel_diff": 1e-7, "ok": True, "unit": "ms",
           "goal": 2.0, "tinynet_spread": [19.0, 21.0], "torch_spread": [9.5, 10.5]}
    plain = bench.table(machine, [row])
    assert "tinynet: as imported (no process tuning)" in plain and "tuned" not in plain
    tuned = bench.table(machine, [dict(row, tinynet_tuned_ms=16.0,
                                       tinynet_tuned_spread=[15.5, 16.5])])
    assert "| tinynet (spread) | tinynet tuned (spread) | PyTorch (spread) |" in tuned
    # the ratio to PyTorch stays the untuned one
    assert "| cnn_step | 20.000 ms (19-21) | 16.000 ms (15.5-16.5) | 10.000 ms (9.5-10.5) " \
           "| 2.00x (≤ 2.0x)" in tuned


def test_a_timing_child_tunes_only_when_told():
    def child(*extra):
        code = ("import sys, gc, json, runpy; sys.argv = [sys.argv[1]] + sys.argv[2:]\n"
                "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
                "except SystemExit:\n    pass\n"
                "print(json.dumps(gc.get_threshold()[0]))")
        out = subprocess.run([sys.executable, "-c", code, RUN, "--child", "op_overhead",
                              "--lib", "tinynet", "--samples", "1", "--min-time", "0.001",
                              "--warmup", "1", *extra], capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        lines = out.stdout.strip().splitlines()
        return json.loads(lines[-2])["times"], json.loads(lines[-1])

    times, threshold = child()
    assert times and threshold == 700
    times, threshold = child("--tune")
    assert times and threshold == 10000
