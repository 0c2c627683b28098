"""``benchmarks/op_profile.py``: the per-op breakdown of a training step
counts every op of the step once per call and leaves the engine as it found
it. No timing is judged."""
import os
import subprocess
import sys

import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks")
sys.path.insert(0, BENCHMARKS)          # the benchmark scripts are not a package

import op_profile  # noqa: E402


def test_the_breakdown_counts_the_ops_of_a_step():
    from tinynet.autograd import engine, function
    call, call_backward = function.Function.__call__, engine._call_backward
    step_ms, ops = op_profile.profile("mlp_step", steps=2, warmup=1)
    # the MLP 784-128-10: two Linear nodes and one ReLU per step, each with a backward
    assert ops["LinearFunction"][0] == 2
    assert ops["Relu"][0] == 1
    for name in ("LinearFunction", "Relu"):
        calls, fwd_ms, bwd_ms = ops[name]
        assert fwd_ms > 0 and bwd_ms > 0
    assert step_ms > sum(f + b for _, f, b in ops.values())
    assert function.Function.__call__ is call and engine._call_backward is call_backward


def test_the_command_prints_a_table_and_refuses_bad_counts():
    script = os.path.join(BENCHMARKS, "op_profile.py")
    out = subprocess.run([sys.executable, script, "mlp_step", "--steps", "1", "--top", "3"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "| LinearFunction | 2 |" in out.stdout
    bad = subprocess.run([sys.executable, script, "mlp_step", "--steps", "0"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--steps" in bad.stderr


def test_an_unknown_workload_is_refused():
    with pytest.raises(KeyError):
        op_profile.profile("no_such_workload", steps=1)
