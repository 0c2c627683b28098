"""Data-parallel training step of the seed CNN on 1, 2, ... MPI processes.

    python benchmarks/distributed.py [--procs 1 2] [--batch 64] [--image-size 8]
                                     [--steps 30] [--threads 1] [--json PATH]

For each process count W it starts ``mpiexec -n W`` on this machine (loopback)
and times the training step of ``tinynet.models.cnn`` at a global batch of
``--batch`` samples (``--batch / W`` per rank: strong scaling, the same
optimisation as one process), on synthetic images of ``--image-size``
pixels (8: the embedded digits; 28: MNIST). Reported per W:

- ms per step (median over the timed steps, rank 0; every rank waits for the
  others inside the gradient all-reduce, so rank 0's step is the job's step);
- ms per step spent in ``ddp.sync_gradients()`` and its share of the step:
  the all-reduce plus the wait for the slowest rank;
- the bare all-reduce of one gradient-sized buffer (median of 50 calls after
  a barrier: no waiting for stragglers) and of 8 bytes (the latency);
- samples per second over all ranks, and the speed-up over W = 1.

Each rank runs ``--threads`` BLAS/Numba threads, so W ranks use W * threads
cores: compare W = 1 and W = 2 at the same threads per rank. Timings on a
machine shared with other work are noisy; the command, machine and versions
are printed with the table.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


# ---------------------------------------------------------------- one rank's side
def bare_allreduce_seconds(nbytes, repeats=50):
    """Median seconds of one in-place all-reduce of ``nbytes`` (float32), after a barrier."""
    import tinynet.distributed as dist
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    buf = np.ones(max(nbytes // 4, 1), dtype=np.float32)
    times = []
    for _ in range(repeats + 5):
        dist.barrier()
        t0 = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        times.append(time.perf_counter() - t0)
    return float(np.median(times[5:]))


def worker(args):
    import tinynet as tn
    import tinynet.distributed as dist
    import tinynet.nn.functional as F
    from tinynet import models, optim

    dist.init()
    w, r = dist.world_size(), dist.rank()
    if args.batch % w:
        raise SystemExit(f"--batch {args.batch} is not divisible by {w} processes")
    per_rank = args.batch // w
    tn.manual_seed(0)
    model = dist.DistributedDataParallel(models.cnn(image_size=args.image_size))
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(r)
    x = tn.tensor(rng.normal(size=(per_rank, 1, args.image_size, args.image_size))
                  .astype(np.float32))
    y = tn.tensor(rng.integers(0, 10, per_rank))

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        model.sync_gradients()
        opt.step()

    for _ in range(args.warmup):          # Numba compiles its kernels here
        step()
    dist.barrier()
    model.sync_seconds, model.syncs = 0.0, 0
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    grad_bytes = sum(p.numel() * p.array.itemsize for p in model.parameters())
    row = {"procs": w, "per_rank_batch": per_rank, "step_ms": 1e3 * float(np.median(times)),
           "step_ms_mean": 1e3 * float(np.mean(times)),
           "sync_ms": 1e3 * model.sync_seconds / max(model.syncs, 1),
           "grad_bytes": grad_bytes, "params": sum(p.numel() for p in model.parameters())}
    row["sync_share"] = row["sync_ms"] / row["step_ms_mean"]
    row["samples_per_s"] = args.batch / (row["step_ms"] / 1e3)
    if w > 1:
        row["allreduce_grad_ms"] = 1e3 * bare_allreduce_seconds(grad_bytes)
        row["allreduce_8B_us"] = 1e6 * bare_allreduce_seconds(8)
        # a few sizes, for a latency + bandwidth model of the all-reduce
        row["allreduce_ms_by_bytes"] = {n: 1e3 * bare_allreduce_seconds(n, 20)
                                        for n in (2 ** 16, 2 ** 20, 2 ** 23)}
    if r == 0:
        print("RESULT " + json.dumps(row), flush=True)


# ---------------------------------------------------------------- the driver
def find_mpiexec():
    """mpiexec on PATH, or beside this Python (a venv's bin/ that is not activated)."""
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return shutil.which("mpiexec") or (beside if os.access(beside, os.X_OK) else None)


def run_procs(n, args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads), NUMBA_NUM_THREADS=str(args.threads))
    cmd = [find_mpiexec(), "-n", str(n), sys.executable, os.path.abspath(__file__), "--worker",
           "--batch", str(args.batch), "--image-size", str(args.image_size),
           "--steps", str(args.steps), "--warmup", str(args.warmup)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def header(args):
    import numpy
    try:
        from mpi4py import MPI
        mpi = MPI.Get_library_version().splitlines()[0].strip()
    except Exception as e:               # the driver only reports it
        mpi = f"mpi4py unavailable ({e})"
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    return [f"command: python benchmarks/distributed.py {' '.join(sys.argv[1:])}",
            f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores; "
            f"python {platform.python_version()}, numpy {numpy.__version__}, {mpi}; "
            f"tinynet commit {commit}",
            f"seed CNN, {args.image_size}x{args.image_size} images, global batch {args.batch}, "
            f"{args.threads} thread(s) per rank, {args.steps} timed steps after "
            f"{args.warmup} warm-up, loopback"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batch", type=int, default=64, help="global batch (split over ranks)")
    p.add_argument("--image-size", type=int, default=8)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="BLAS/Numba threads per rank")
    p.add_argument("--timeout", type=int, default=600)
    p.add_argument("--json", help="also write the rows to this file")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    if find_mpiexec() is None:
        raise SystemExit("mpiexec not found: pip install -e '.[dist]' (mpi4py + MPICH)")
    lines = header(args)
    rows = [run_procs(n, args) for n in args.procs]
    base = next((row["step_ms"] for row in rows if row["procs"] == 1), None)
    lines.append(f"gradient: {rows[0]['params']} parameters, "
                 f"{rows[0]['grad_bytes'] / 2 ** 20:.2f} MiB per all-reduce")
    lines.append(f"{'procs':>5} {'batch/rank':>10} {'ms/step':>8} {'sync ms':>8} "
                 f"{'sync %':>6} {'allreduce ms':>12} {'8 B us':>7} {'samples/s':>9} "
                 f"{'speed-up':>8}")
    for row in rows:
        lines.append(
            f"{row['procs']:5d} {row['per_rank_batch']:10d} {row['step_ms']:8.2f} "
            f"{row['sync_ms']:8.2f} {100 * row['sync_share']:6.1f} "
            f"{row.get('allreduce_grad_ms', 0):12.3f} {row.get('allreduce_8B_us', 0):7.1f} "
            f"{row['samples_per_s']:9.0f} "
            f"{(base / row['step_ms'] if base else float('nan')):8.2f}")
    for row in rows:
        if "allreduce_ms_by_bytes" in row:
            sweep = ", ".join(f"{int(n) / 2 ** 20:g} MiB {ms:.3f} ms"
                              for n, ms in row["allreduce_ms_by_bytes"].items())
            lines.append(f"bare all-reduce, {row['procs']} procs: 8 B "
                         f"{row['allreduce_8B_us']:.1f} us, {sweep}")
    print("\n".join(lines))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"header": lines[:3], "rows": rows}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
