"""One command measures every workload for tinynet and PyTorch in one run.

    python benchmarks/run.py [--quick] [--only NAME ...] [--json PATH] [--png PATH]
                             [--blas-env default|unset|both] [--tuned]

For each workload (benchmarks/workloads.py) it first checks that tinynet's
outputs and gradients match PyTorch's from the same inputs and weights (a
mismatch marks the row failed), then times both libraries, each in a fresh
subprocess, alternating between them round by round. Every sample repeats the
step until it lasts at least --min-time seconds, after a warm-up of at least
15 calls (Numba compilation happens there and is reported separately as
"first call"). The table shows medians, the spread of the samples, the ratio
tinynet / PyTorch, GFLOP/s and its fraction of this machine's float32 matrix-
multiply rate measured in the same run.

``--blas-env unset`` removes OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in the
child processes only (this machine sets them because older OpenBLAS builds
misbehave on its CPU; they slow a current NumPy's sgemm).

tinynet is timed as a program gets it by default: ``import tinynet`` and
nothing else. ``--tuned`` adds a column for tinynet in a process that opted
in to ``tinynet.tune_process()`` (as the ``tinynet`` command does); the ratio
to PyTorch stays the untuned one.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# tinynet / PyTorch time ratio goals from the project's issues
GOALS = {"op_overhead": 1.5, "mlp_step": 1.2, "conv2d_b": 2.0, "cnn_step": 2.0,
         "lstm_step": 3.0}
# Agreement is judged per array as max|ours - torch| / max|torch| (float32 sums of
# tens of thousands of terms differ in the last digits).
TOLERANCE = {}
BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


# ---------------------------------------------------------------- child side
def _time_child(name, lib, samples, min_time, warmup, tuned=False):
    from workloads import build, synchronize
    if tuned:
        import tinynet
        tinynet.tune_process()
    case = build(name, lib)
    t0 = time.perf_counter()
    case.step()
    synchronize(lib)
    first = time.perf_counter() - t0
    t_end = time.perf_counter() + 0.2
    n = 1
    while n < warmup or time.perf_counter() < t_end:
        case.step()
        n += 1
    # repeats per sample so that one sample lasts at least min_time
    synchronize(lib)
    t0 = time.perf_counter()
    case.step()
    synchronize(lib)
    one = max(time.perf_counter() - t0, 1e-7)
    reps = max(1, int(np.ceil(min_time / one)))
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(reps):
            case.step()
        synchronize(lib)
        times.append((time.perf_counter() - t0) / reps)
    return {"times": times, "first_call": first, "flops": case.flops, "unit": case.unit,
            "per_step": case.per_step, "reps": reps}


def _check_child(name):
    from workloads import build
    ours = build(name, "tinynet").check()
    try:
        theirs = build(name, "torch").check()
    except ImportError:
        return {"max_abs_diff": None, "max_rel_diff": None, "compared": []}
    abs_d, rel_d = 0.0, 0.0
    for k, a in ours.items():
        b = theirs[k]
        if a.shape != b.shape:
            return {"max_abs_diff": float("inf"), "max_rel_diff": float("inf"),
                    "compared": list(ours), "error": f"{k}: shape {a.shape} vs {b.shape}"}
        if not a.size:
            continue
        d = np.abs(a.astype(np.float64) - b.astype(np.float64))
        abs_d = max(abs_d, float(d.max()))
        rel_d = max(rel_d, float(d.max()) / (float(np.abs(b).max()) + 1e-12))
    return {"max_abs_diff": abs_d, "max_rel_diff": rel_d, "compared": sorted(ours)}


def _sgemm_child():
    a = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    for _ in range(3):
        a @ a
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < 0.5:
        a @ a
        n += 1
    return {"gflops": 2 * 1024 ** 3 * n / (time.perf_counter() - t0) / 1e9}


def _blas_child():
    info = {}
    try:
        from threadpoolctl import threadpool_info
        for lib in threadpool_info():
            if lib.get("user_api") == "blas":
                info = {"blas": lib.get("internal_api"), "version": lib.get("version"),
                        "kernel": lib.get("architecture"), "threads": lib.get("num_threads")}
                break
    except ImportError:
        info = {"blas": "unknown (pip install threadpoolctl)"}
    from tinynet.kernels import conv2d
    info["conv"] = conv2d.select(np.zeros(1, np.float32)).name   # the CPU conv version used
    return info


# ---------------------------------------------------------------- parent side
def _child(args, env):
    cmd = [sys.executable, os.path.abspath(__file__)] + args
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _env(blas_env):
    env = dict(os.environ)
    if blas_env == "unset":
        for v in BLAS_VARS:
            env.pop(v, None)
    return env


def _torch_available():
    try:
        import importlib.util
        return importlib.util.find_spec("torch") is not None
    except Exception:
        return False


def _machine(blas_env, env):
    import numba
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=HERE).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, cwd=HERE).stdout.strip()
        commit += "+dirty" if dirty else ""
    except OSError:
        commit = "unknown"
    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "numba": numba.__version__}
    if _torch_available():
        import torch
        versions["torch"] = torch.__version__
    return {
        "command": "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:]),
        "cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
        "versions": versions, "commit": commit, "blas_env": blas_env,
        "blas": _child(["--blas-info"], env),
        "env": {v: env.get(v, "(unset)") for v in BLAS_VARS + (
            "NUMBA_THREADING_LAYER", "OMP_NUM_THREADS", "TINYNET_CONV_IMPL",
            "TINYNET_CONV_THREADS", "TINYNET_NUM_THREADS")},
        "sgemm_gflops": _child(["--sgemm"], env)["gflops"],
        "device": os.environ.get("TINYNET_BENCH_DEVICE", "cpu"),
    }


def measure(names, blas_env, samples, rounds, min_time, warmup, torch_ok, tuned=False):
    env = _env(blas_env)
    machine = _machine(blas_env, env)
    results = []
    for name in names:
        row = {"workload": name, "blas_env": blas_env}
        chk = _child(["--check", name], env) if torch_ok else {"max_abs_diff": None}
        row["max_abs_diff"] = chk["max_abs_diff"]
        row["max_rel_diff"] = chk.get("max_rel_diff")
        tol = TOLERANCE.get(name, 1e-4)
        row["ok"] = chk["max_abs_diff"] is not None and chk["max_rel_diff"] <= tol \
            and "error" not in chk
        runs = {"tinynet": [], "torch": []}
        if tuned:
            runs["tinynet_tuned"] = []
        firsts = {}
        info = {}
        for _ in range(rounds):
            for lib in runs if torch_ok else [k for k in runs if k != "torch"]:
                r = _child(["--child", name, "--lib", lib.replace("_tuned", ""),
                            "--samples", str(samples), "--min-time", str(min_time),
                            "--warmup", str(warmup)] + (["--tune"] if "tuned" in lib else []),
                           env)
                runs[lib] += r["times"]
                firsts.setdefault(lib, r["first_call"])
                info = r
        scale = 1e6 / info["per_step"] if info["unit"] == "us/op" else 1e3
        for lib, times in runs.items():
            if times:
                t = np.array(times) * scale
                row[f"{lib}_ms"] = float(np.median(t))
                row[f"{lib}_spread"] = [float(t.min()), float(t.max())]
                row[f"{lib}_first_call_s"] = firsts[lib]
        row["unit"] = info["unit"]
        row["torch_ms"] = row.get("torch_ms")
        row["ratio"] = row["tinynet_ms"] / row["torch_ms"] if row["torch_ms"] else None
        secs = float(np.median(runs["tinynet"]))
        row["gflops"] = info["flops"] / secs / 1e9 if info["flops"] else None
        row["sgemm_fraction"] = row["gflops"] / machine["sgemm_gflops"] if row["gflops"] else None
        row["goal"] = GOALS.get(name)
        results.append(row)
        print(f"  measured {name} ({blas_env}): tinynet {row['tinynet_ms']:.3f} "
              f"{row['unit']}", file=sys.stderr)
    return machine, results


def table(machine, results):
    tuned = any(r.get("tinynet_tuned_ms") for r in results)
    lines = [f"command: {machine['command']}",
             f"machine: {machine['cpu']}, {machine['cores']} cores; {machine['platform']}",
             "versions: " + ", ".join(f"{k} {v}" for k, v in machine["versions"].items()),
             f"BLAS: {machine['blas']}; env: {machine['env']}",
             f"commit: {machine['commit']}; sgemm 1024^3 float32 (NumPy, CPU): "
             f"{machine['sgemm_gflops']:.1f} GFLOP/s; workloads on: {machine.get('device', 'cpu')}",
             "tinynet: as imported (no process tuning)" + (
                 "; 'tuned': after tinynet.tune_process()" if tuned else ""),
             "",
             "| workload | tinynet (spread) | " + ("tinynet tuned (spread) | " if tuned else "")
             + "PyTorch (spread) | ratio (goal) | GFLOP/s | of sgemm | max abs diff (rel) | ok |",
             "|---|---|---|---|---|---|---|---|" + ("---|" if tuned else "")]
    for r in results:
        unit = r["unit"]
        torch_s = (f"{r['torch_ms']:.3f} {unit} ({_spread(r, 'torch')})" if r["torch_ms"]
                   else "n/a")
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] else "n/a"
        if r["goal"]:
            ratio += f" (≤ {r['goal']}x)"
        gf = f"{r['gflops']:.1f}" if r["gflops"] else ""
        frac = f"{100 * r['sgemm_fraction']:.0f}%" if r["sgemm_fraction"] else ""
        diff = (f"{r['max_abs_diff']:.1e} ({r['max_rel_diff']:.0e})"
                if r["max_abs_diff"] is not None else "not checked")
        tuned_s = (f"{r['tinynet_tuned_ms']:.3f} {unit} ({_spread(r, 'tinynet_tuned')}) | "
                   if tuned else "")
        lines.append(f"| {r['workload']} | {r['tinynet_ms']:.3f} {unit} "
                     f"({_spread(r, 'tinynet')}) | {tuned_s}{torch_s} | {ratio} "
                     f"| {gf} | {frac} | {diff} | {'yes' if r['ok'] else 'FAILED'} |")
    firsts = ", ".join(f"{r['workload']} {r['tinynet_first_call_s']:.2f} s" for r in results
                       if r.get("tinynet_first_call_s") is not None)
    lines += ["", "spread: min-max of the samples; excluded from the timings, tinynet's "
              f"first call (Numba compile or cache load, imports): {firsts}"]
    return "\n".join(lines)


def _spread(r, lib):
    lo, hi = r.get(f"{lib}_spread") or (None, None)
    return f"{lo:.3g}-{hi:.3g}" if lo is not None else "-"


def chart(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in results if r["ratio"]]
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * len(rows)))
    labels = [f"{r['workload']} ({r['blas_env']})" for r in rows]
    colors = ["tab:green" if r["ok"] and (not r["goal"] or r["ratio"] <= r["goal"])
              else "tab:red" if not r["ok"] else "tab:orange" for r in rows]
    ax.barh(labels, [r["ratio"] for r in rows], color=colors)
    for i, r in enumerate(rows):
        if r["goal"]:
            ax.plot([r["goal"]] * 2, [i - 0.4, i + 0.4], color="black", lw=1.5)
    ax.axvline(1.0, color="gray", ls="--", lw=1)
    ax.set_xlabel("time ratio tinynet / PyTorch (lower is better; black ticks: goals)")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", nargs="+", help="workload names")
    p.add_argument("--quick", action="store_true", help="fewer samples; under 3 minutes")
    p.add_argument("--json")
    p.add_argument("--png")
    p.add_argument("--blas-env", choices=["default", "unset", "both"], default="default")
    p.add_argument("--samples", type=int)
    p.add_argument("--rounds", type=int)
    p.add_argument("--min-time", type=float, default=0.1)
    p.add_argument("--warmup", type=int, default=15)
    p.add_argument("--tuned", action="store_true",
                   help="also time tinynet after tinynet.tune_process() (an extra column)")
    # child modes (used by the parent process)
    p.add_argument("--tune", action="store_true")
    p.add_argument("--child")
    p.add_argument("--lib")
    p.add_argument("--check")
    p.add_argument("--sgemm", action="store_true")
    p.add_argument("--blas-info", action="store_true")
    a = p.parse_args(argv)
    if a.child:
        print(json.dumps(_time_child(a.child, a.lib, a.samples, a.min_time, a.warmup, a.tune)))
        return 0
    if a.check:
        print(json.dumps(_check_child(a.check)))
        return 0
    if a.sgemm:
        print(json.dumps(_sgemm_child()))
        return 0
    if a.blas_info:
        print(json.dumps(_blas_child()))
        return 0

    from workloads import WORKLOADS
    names = a.only or list(WORKLOADS)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        p.error(f"unknown workload(s) {unknown}; choose from {list(WORKLOADS)}")
    samples = a.samples or (3 if a.quick else 7)
    rounds = a.rounds or (1 if a.quick else 2)
    min_time = 0.05 if a.quick and a.min_time == 0.1 else a.min_time
    torch_ok = _torch_available()
    settings = ["default", "unset"] if a.blas_env == "both" else [a.blas_env]
    all_results, machine = [], None
    for blas_env in settings:
        machine, results = measure(names, blas_env, samples, rounds, min_time, a.warmup,
                                   torch_ok, a.tuned)
        print(table(machine, results))
        print()
        all_results += results
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": machine, "results": all_results}, f, indent=1)
    if a.png:
        chart(all_results, a.png)
    return 0 if all(r["ok"] or not torch_ok for r in all_results) else 1


if __name__ == "__main__":
    sys.exit(main())
