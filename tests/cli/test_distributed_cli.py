"""``tinynet train cnn --distributed`` under ``mpiexec -n 2``, and resuming it as one process.

The run on 2 ranks at global batch 64 must reach the parameters of a
1-process run at batch 64 (float32 rounding apart), also when it is stopped
after a few steps and resumed as a single process.
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import tinynet as tn
from tinynet import cli
import tinynet.distributed as dist

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARGS = ["--epochs", "1", "--optimizer", "sgd", "--lr", "0.05", "--batch-size", "64", "--quiet"]


def model_state(run):
    return {k: np.asarray(v.numpy() if isinstance(v, tn.Tensor) else v)
            for k, v in tn.load(os.path.join(run, "checkpoint.npz"))["model"].items()}


def assert_same_parameters(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-5, err_msg=k)


def find_mpiexec():
    """mpiexec on PATH, or beside this Python (a venv's bin/ that is not activated)."""
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return shutil.which("mpiexec") or (beside if os.access(beside, os.X_OK) else None)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """A --distributed run on 2 ranks stopped after 5 steps, and one run to the epoch's end."""
    if not dist.is_available() or find_mpiexec() is None:
        pytest.skip("mpi4py or mpiexec missing (pip install -e '.[dist]')")
    folder = tmp_path_factory.mktemp("runs")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               # harmless for MPICH; lets an Open MPI mpiexec run as root on a 1-core runner
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    # one mpiexec job runs both (each rank runs the two commands in turn)
    script = ("import sys; from tinynet import cli; a = sys.argv[1:];"
              "cli.main(['train', 'cnn', '--distributed', '--out', a[0], '--max-steps', '5'] "
              "+ a[2:]); cli.main(['train', 'cnn', '--distributed', '--out', a[1]] + a[2:])")
    cmd = [find_mpiexec(), "-n", "2", sys.executable, "-c", script, str(folder / "stopped"),
           str(folder / "full")] + ARGS
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return folder, proc.stdout


def test_one_progress_line_per_run_and_rank0_files(two_ranks):
    folder, stdout = two_ranks
    # rank 0 alone prints (ranks > 0 stay silent), once per command
    assert stdout.count("run directory") == 2 and stdout.count("2 processes") == 2
    assert sorted(os.listdir(folder / "full")) == ["checkpoint.npz", "config.json", "curves.png",
                                                  "metrics.csv"]
    rows = open(folder / "full" / "metrics.csv").read().splitlines()
    assert len(rows) == 2                      # header + one epoch, written once


def test_two_ranks_match_one_process_and_resume_as_one(two_ranks, tmp_path):
    folder, _ = two_ranks
    # the same global batch on one process (no mpiexec: world size 1)
    cli.main(["train", "cnn", "--distributed", "--out", str(tmp_path / "one")] + ARGS)
    one = model_state(tmp_path / "one")
    assert_same_parameters(model_state(folder / "full"), one)
    # the 2-rank run stopped after 5 steps continues on one process to the same place
    cli.main(["resume", str(folder / "stopped"), "--quiet"])
    assert_same_parameters(model_state(folder / "stopped"), one)
