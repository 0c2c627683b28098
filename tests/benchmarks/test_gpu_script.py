"""``benchmarks/gpu.sh``, the prepared real-GPU run: it cannot run here (no
GPU), so these tests hold it to the project as it is: every kernel module's
self-check is in it, it runs every benchmark workload, and a wrong stage
stops it before it installs anything."""
import os
import re
import subprocess

from tinynet.kernels.__main__ import kernel_modules

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks",
                      "gpu.sh")
TEXT = open(SCRIPT).read()


def test_it_checks_every_kernel_module():
    named = set()
    for line in re.findall(r"python3 -m tinynet\.kernels ([\w ]+?)( --quick)?$", TEXT, re.M):
        named |= set(line[0].split())
    assert named == set(kernel_modules())


def test_it_benchmarks_every_workload():
    # run.py without --only runs every workload of benchmarks/workloads.py
    bench = [line for line in TEXT.splitlines() if "benchmarks/run.py" in line]
    assert bench and not any("--only" in line for line in bench)


def test_a_wrong_stage_stops_it_at_once(tmp_path):
    out = subprocess.run(["bash", SCRIPT, str(tmp_path / "out"), "check", "benchmark"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "unknown stage benchmark (expected check, bench, train or suite)" in out.stdout
    assert not (tmp_path / "out").exists()
