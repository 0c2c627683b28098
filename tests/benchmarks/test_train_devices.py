"""``benchmarks/train_devices.py``: trains the seeds on each device through
the recipes and reports steps, seconds and the held-out metric. No timing
is judged."""
import json
import os
import subprocess
import sys

BENCHMARKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks")
SCRIPT = os.path.join(BENCHMARKS, "train_devices.py")


def _run(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                          timeout=600)


def test_the_gpt_rows_on_the_cpu(tmp_path):
    out = _run("--devices", "cpu", "--models", "gpt", "--gpt-steps", "3",
               "--json", str(tmp_path / "t.json"))
    assert out.returncode == 0, out.stderr[-2000:]
    rows = json.load(open(tmp_path / "t.json"))["rows"]
    assert [(r["model"], r["device"], r["steps"]) for r in rows] == [("gpt", "cpu", 3)]
    assert rows[0]["seconds"] > 0 and 0 < rows[0]["val_loss"] < 10
    assert "gpt    cpu         3" in out.stdout


def test_bad_arguments_exit_2():
    out = _run("--gpt-steps", "0")
    assert out.returncode == 2 and "--gpt-steps must be >= 1" in out.stderr
    out = _run("--devices", "tpu")
    assert out.returncode == 2 and "invalid choice" in out.stderr
