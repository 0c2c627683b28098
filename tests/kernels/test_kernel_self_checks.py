"""``python -m tinynet.kernels.<module>`` checks every version of a kernel
module against its reference and times them. Each module's quick mode runs
here in a subprocess, as a user runs it; ``python -m tinynet.kernels`` runs
the named modules (all by default) the same way."""
import importlib
import subprocess
import sys

import pytest

from tinynet.kernels._common import runs_here

MODULES = ["conv2d", "pool2d", "lstm_cell", "gru_cell", "attention", "gelu", "adam", "rmsprop"]


def run_module(*args):
    out = subprocess.run([sys.executable, "-m", *args, "--quick"], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout.splitlines()


def assert_checked_and_timed(module, lines):
    impls = importlib.import_module(f"tinynet.kernels.{module}").IMPLS
    here = [name for name, impl in impls.items() if runs_here(impl)]
    assert {"ref", "cpu_v1"} <= set(here)          # (Numba is a dependency)
    assert f"{module}: all versions match the reference ({', '.join(here)})" in lines, lines
    for name in here:
        timed = [line for line in lines if line.startswith(f"{module} {name} ")
                 and " ms (median of " in line]
        assert timed, f"{module} {name} was not timed: {lines}"


@pytest.mark.parametrize("module", MODULES)
def test_module_command_checks_and_times_every_version(module):
    assert_checked_and_timed(module, run_module(f"tinynet.kernels.{module}"))


def test_package_command_runs_the_named_modules():
    lines = run_module("tinynet.kernels", "pool2d", "gru_cell")
    assert_checked_and_timed("pool2d", lines)
    assert_checked_and_timed("gru_cell", lines)
    assert not any(line.startswith(("conv2d", "lstm_cell")) for line in lines)


def test_package_command_lists_every_kernel_module():
    from tinynet.kernels.__main__ import kernel_modules
    assert set(MODULES) <= set(kernel_modules())
    out = subprocess.run([sys.executable, "-m", "tinynet.kernels", "nope"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 2 and "unknown kernel module(s) ['nope']" in out.stderr
