"""Run the CUDA kernel tests under Numba's CUDA simulator, so that CI (which
has no GPU) exercises every CUDA kernel on NumPy arrays."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.slow
def test_cuda_kernels_pass_under_the_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          os.path.join(HERE, "test_cuda_kernels.py")],
                         env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and " skipped" not in out.stdout.splitlines()[-1], \
        out.stdout[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("module,cuda_version", [("conv2d", "cuda_v2"), ("conv2d", "cuda_v7"),
                                                 ("pool2d", "cuda_v2"),
                                                 ("lstm_cell", "cuda_v3"),
                                                 ("gru_cell", "cuda_v3"),
                                                 ("adam", "cuda_v2"), ("rmsprop", "cuda_v2"),
                                                 ("gelu", "cuda_v3")])
def test_module_self_check_covers_the_cuda_version_under_the_simulator(module, cuda_version):
    # python -m tinynet.kernels.<module> with the simulator on checks the CUDA
    # version on NumPy arrays too (small shapes) and times nothing
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    out = subprocess.run([sys.executable, "-m", f"tinynet.kernels.{module}", "--quick"], env=env,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    lines = out.stdout.splitlines()
    match = [line for line in lines if line.startswith(f"{module}: all versions match")]
    assert match and cuda_version in match[0], lines
    assert f"{module}: timings skipped (CUDA simulator)" in lines
