"""One command measures every workload for tinynet and PyTorch in one run.

    python benchmarks/run.py [--quick] [--only NAME ...] [--json PATH] [--png PATH]
                             [--blas-env default|unset|both] [--tuned]
    python benchmarks/run.py --scaling [--quick] [--only cnn_step|lstm_step]
                             [--json PATH] [--png PATH] [--blas-env default|unset|both]

For each workload (benchmarks/workloads.py) it first checks that tinynet's
outputs and gradients match PyTorch's from the same inputs and weights (a
mismatch marks the row failed; where float32 PyTorch and tinynet disagree, the
training steps are also compared with PyTorch in float64, see ``_check_child``),
then times both libraries, each in a fresh subprocess, alternating between
them round by round. Every sample repeats the
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

``--scaling`` shows how the cost grows with the work instead: the seed CNN's
training step (cnn_step) at several batch sizes and image sizes, the char-LSTM
step (lstm_step) at several sequence lengths T and hidden sizes H (the sweeps
are ``SCALING`` below). For each size it checks the outputs against PyTorch's,
times both libraries alternately as above, and reports the ratio, the ratio
divided by the ratio at the workload's default size (goal: at most
``SCALING_GOAL``), and the peak memory of one training step of each library.

Peak memory of one step is measured the same way for both libraries, in the
fresh timing process, from the kernel's resident-set figures (tracemalloc
would see NumPy's allocations but not PyTorch's). The process first runs two
steps of a tiny version of the workload, so that one-off costs (imports,
Numba compilation or cache loading, PyTorch's lazy initialisation) are not
counted. It reads its resident set size (``/proc/self/statm``), builds the
measured model, optimizer and data, resets the kernel's peak
(``/proc/self/clear_refs``) and runs one step; the figure is the peak during
that step (``VmHWM`` in ``/proc/self/status``) minus the size before the
build: weights, data, optimizer state, gradients, activations and
temporaries at the step's peak. Counting from before the build keeps the
figure independent of what the build leaves resident: memory freed while
building (initial weights replaced by the shared ones) may stay in the
process and be reused by the step for gradients and optimizer state, or be
returned and allocated afresh, depending on the library's allocations;
either way it is counted once. Resetting the peak after the build keeps the
build's own transient peak out. Where the peak cannot be reset, the process's lifetime
peak (``getrusage().ru_maxrss``) is used instead, which can only overstate.
"""
import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# tinynet / PyTorch time ratio goals, tinynet as imported (no process tuning)
GOALS = {"op_overhead": 1.0, "mlp_step": 0.8, "conv2d_a": 1.0, "conv2d_b": 1.0,
         "cnn_step": 0.8, "lstm_step": 1.3, "attention": 1.5, "gpt_step": 1.5}
# --scaling: (workload, the size that varies, its values, the sizes held fixed,
# the default value, whose ratio the others are divided by)
SCALING = (
    ("cnn_step", "batch", (1, 8, 64, 256), {"image": 28}, 64),
    ("cnn_step", "image", (10, 28, 64), {"batch": 64}, 28),
    ("lstm_step", "T", (16, 64, 256), {"H": 128}, 64),
    ("lstm_step", "H", (64, 128, 512), {"T": 64}, 128),
)
# the ratio at any size should stay within this factor of the default size's
SCALING_GOAL = 1.3
# tinynet's peak step memory / PyTorch's, at (workload, size, value)
MEMORY_GOALS = {("cnn_step", "batch", 256): 1.2}
# the tiny version a scaling child runs first, to pay one-off costs outside
# the memory measurement
TINY_SIZES = {"cnn_step": {"batch": 1, "image": 10}, "lstm_step": {"T": 2, "H": 8}}
# Agreement is judged per array as max|ours - torch| / max|torch| (float32 sums of
# tens of thousands of terms differ in the last digits).
TOLERANCE = {}
BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


# ---------------------------------------------------------------- child side
def _time_child(name, lib, samples, min_time, warmup, tuned=False):
    from workloads import build
    if tuned:
        import tinynet
        tinynet.tune_process()
    return _time_case(build(name, lib), lib, samples, min_time, warmup)


def _time_case(case, lib, samples, min_time, warmup):
    from workloads import synchronize
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


def _scaling_child(name, lib, sizes, samples, min_time, warmup):
    """Peak memory of one step, then the timings, of one workload size."""
    from workloads import build, synchronize
    tiny = build(name, lib, **TINY_SIZES.get(name, {}))
    for _ in range(2):
        tiny.step()
    synchronize(lib)
    del tiny
    gc.collect()
    before = _rss_kib()
    case = build(name, lib, **sizes)

    def one_step():
        case.step()
        synchronize(lib)

    memory = step_memory(one_step, before)
    out = _time_case(case, lib, samples, min_time, warmup)
    out["memory"] = memory
    return out


def _rss_kib():
    """The process's resident set size now, in KiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def _reset_peak_rss():
    """Resets the kernel's peak resident set size of this process (Linux 4.0+);
    False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_kib(reset):
    if reset:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss      # KiB on Linux


def step_memory(step, before_kib=None):
    """How far the resident set size rises during one call of ``step`` above
    ``before_kib`` (default: its size just before the call), in MiB, and the
    method used."""
    gc.collect()
    start = _rss_kib()
    before = start if before_kib is None else before_kib
    reset = _reset_peak_rss()
    step()
    peak = _peak_rss_kib(reset)
    return {"peak_mib": max(peak - before, 0) / 1024, "before_mib": before / 1024,
            "built_mib": (start - before) / 1024,
            "method": "VmHWM after clear_refs" if reset else "ru_maxrss"}


def _check_child(name, sizes=None):
    """tinynet's check() arrays against PyTorch's. Where they disagree beyond
    the tolerance and the workload has a float64 PyTorch version, both are
    also measured against that nearly exact result: float32 PyTorch rounds
    too (a ReLU input within rounding of zero can fall on either side), and
    tinynet is then judged by whether it is as close to it as PyTorch."""
    from workloads import FLOAT64_REFERENCE, TORCH64, build
    sizes = sizes or {}
    ours = build(name, "tinynet", **sizes).check()
    try:
        theirs = build(name, "torch", **sizes).check()
    except ImportError:
        return {"max_abs_diff": None, "max_rel_diff": None, "compared": []}
    abs_d, rel_d, error = _diffs(ours, theirs)
    out = {"max_abs_diff": abs_d, "max_rel_diff": rel_d, "compared": sorted(ours)}
    if error:
        out["error"] = error
    elif rel_d > TOLERANCE.get(name, 1e-4) and name in FLOAT64_REFERENCE:
        exact = build(name, TORCH64, **sizes).check()
        out["float64_rel_diff"] = {"tinynet": _diffs(ours, exact)[1],
                                   "torch": _diffs(theirs, exact)[1]}
    return out


def _diffs(ours, theirs):
    """(max |a - b|, max over arrays of max |a - b| / max |b|, a shape error or
    None) over the arrays of two check() dicts."""
    abs_d, rel_d = 0.0, 0.0
    for k, a in ours.items():
        b = theirs[k]
        if a.shape != b.shape:
            return float("inf"), float("inf"), f"{k}: shape {a.shape} vs {b.shape}"
        if not a.size:
            continue
        d = np.abs(a.astype(np.float64) - b.astype(np.float64))
        abs_d = max(abs_d, float(d.max()))
        rel_d = max(rel_d, float(d.max()) / (float(np.abs(b).max()) + 1e-12))
    return abs_d, rel_d, None


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
        row.update(_check_fields(name, chk))
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


def _machine_lines(machine):
    return [f"command: {machine['command']}",
            f"machine: {machine['cpu']}, {machine['cores']} cores; {machine['platform']}",
            "versions: " + ", ".join(f"{k} {v}" for k, v in machine["versions"].items()),
            f"BLAS: {machine['blas']}; env: {machine['env']}",
            f"commit: {machine['commit']}; sgemm 1024^3 float32 (NumPy, CPU): "
            f"{machine['sgemm_gflops']:.1f} GFLOP/s; workloads on: {machine.get('device', 'cpu')}"]


def table(machine, results):
    tuned = any(r.get("tinynet_tuned_ms") for r in results)
    lines = _machine_lines(machine) + [
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
        diff = _diff_text(r)
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


# ---------------------------------------------------------------- --scaling
SIZE_ORDER = ("batch", "image", "T", "H")
# which sweeps share a panel of the scaling chart
SCALING_PANELS = ((("cnn_step", "batch"),), (("cnn_step", "image"),),
                  (("lstm_step", "T"), ("lstm_step", "H")))


def _sizes(fixed, axis, value):
    full = dict(fixed, **{axis: value})
    return {k: full[k] for k in sorted(full, key=lambda k: (SIZE_ORDER + (k,)).index(k))}


def scaling_points(sweeps=SCALING):
    """The distinct (workload, sizes) points of the sweeps, default sizes
    included, in order."""
    points = []
    for name, axis, values, fixed, default in sweeps:
        for v in tuple(values) + (default,):
            p = (name, _sizes(fixed, axis, v))
            if p not in points:
                points.append(p)
    return points


def size_label(sizes):
    return ", ".join(f"{v}x{v}" if k == "image" else f"{k} {v}" for k, v in sizes.items())


def _check_fields(name, chk):
    """The check's figures for a result row, and whether it passed: tinynet
    agrees with PyTorch within the tolerance, or, where they differ, is at
    least as close as float32 PyTorch to the float64 result."""
    tol = TOLERANCE.get(name, 1e-4)
    f64 = chk.get("float64_rel_diff")
    as_close = f64 is not None and f64["tinynet"] <= max(tol, f64["torch"])
    ok = chk["max_abs_diff"] is not None and "error" not in chk and (
        chk["max_rel_diff"] <= tol or as_close)
    return {"max_abs_diff": chk["max_abs_diff"], "max_rel_diff": chk.get("max_rel_diff"),
            "float64_rel_diff": f64, "ok": ok}


def _diff_text(r):
    if r["max_abs_diff"] is None:
        return "not checked"
    text = f"{r['max_abs_diff']:.1e} ({r['max_rel_diff']:.0e})"
    f64 = r.get("float64_rel_diff")
    if f64:
        text += f"; vs float64: tinynet {f64['tinynet']:.0e}, PyTorch {f64['torch']:.0e}"
    return text


def measure_scaling(sweeps, blas_env, samples, rounds, min_time, warmup, torch_ok):
    """Checks, times and measures the memory of every point of the sweeps;
    returns (machine, points, rows)."""
    env = _env(blas_env)
    machine = _machine(blas_env, env)
    libs = ["tinynet", "torch"] if torch_ok else ["tinynet"]
    points = []
    for name, sizes in scaling_points(sweeps):
        size_args = ["--sizes", json.dumps(sizes)]
        pt = {"workload": name, "sizes": sizes, "blas_env": blas_env}
        chk = (_child(["--check", name] + size_args, env) if torch_ok
               else {"max_abs_diff": None})
        pt.update(_check_fields(name, chk))
        times = {lib: [] for lib in libs}
        peaks = {lib: [] for lib in libs}
        for _ in range(rounds):
            for lib in libs:          # alternating, so that load hits both alike
                r = _child(["--scaling-child", name, "--lib", lib, "--samples", str(samples),
                            "--min-time", str(min_time), "--warmup", str(warmup)]
                           + size_args, env)
                times[lib] += r["times"]
                peaks[lib].append(r["memory"]["peak_mib"])
                pt["memory_method"] = r["memory"]["method"]
        for lib in ("tinynet", "torch"):
            if times.get(lib):
                t = np.array(times[lib]) * 1e3
                pt[f"{lib}_ms"] = float(np.median(t))
                pt[f"{lib}_spread"] = [float(t.min()), float(t.max())]
                pt[f"{lib}_peak_mib"] = float(np.median(peaks[lib]))
            else:
                pt[f"{lib}_ms"] = pt[f"{lib}_peak_mib"] = None
        pt["ratio"] = pt["tinynet_ms"] / pt["torch_ms"] if pt["torch_ms"] else None
        pt["memory_ratio"] = (pt["tinynet_peak_mib"] / pt["torch_peak_mib"]
                              if pt["torch_peak_mib"] else None)
        points.append(pt)
        ratio = f"{pt['ratio']:.2f}x" if pt["ratio"] else "n/a"
        print(f"  measured {name} {size_label(sizes)} (BLAS env {blas_env}): tinynet "
              f"{pt['tinynet_ms']:.3f} ms, ratio {ratio}", file=sys.stderr)
    return machine, points, scaling_rows(sweeps, points)


def scaling_rows(sweeps, points):
    """One row per sweep value: its point's figures, its ratio over the
    default size's and the goals."""
    rows = []
    for name, axis, values, fixed, default in sweeps:
        def point(v):
            sizes = _sizes(fixed, axis, v)
            return next(p for p in points if p["workload"] == name and p["sizes"] == sizes)

        ref = point(default)
        for v in values:
            p = point(v)
            rel = p["ratio"] / ref["ratio"] if p["ratio"] and ref["ratio"] else None
            mgoal = MEMORY_GOALS.get((name, axis, v))
            rows.append(dict(p, sweep=f"{name} {axis}", axis=axis, value=v,
                             default=v == default, vs_default=rel,
                             holds=rel is not None and rel <= SCALING_GOAL,
                             memory_goal=mgoal,
                             memory_goal_met=(p["memory_ratio"] <= mgoal
                                              if mgoal and p["memory_ratio"] else None)))
    return rows


def _ms(r, lib):
    return f"{r[lib + '_ms']:.2f} ms ({_spread(r, lib)})" if r.get(lib + "_ms") else "n/a"


def _mib(x):
    return f"{x:.1f} MiB" if x is not None else "n/a"


def scaling_table(machine, rows):
    method = next((r["memory_method"] for r in rows if r.get("memory_method")), "n/a")
    lines = _machine_lines(machine) + [
        "tinynet: as imported (no process tuning); ratio: tinynet / PyTorch median step "
        "time; vs default: the ratio over the ratio at the workload's default size "
        f"(goal: ≤ {SCALING_GOAL}x); peak: the resident set at the peak of the first "
        "training step above its size before the model, optimizer and data were built "
        f"({method}; see benchmarks/run.py)",
        "",
        "| workload | varies | size | tinynet (spread) | PyTorch (spread) | ratio "
        f"| vs default (≤ {SCALING_GOAL}x) | peak tinynet | peak PyTorch "
        "| memory ratio (goal) | max abs diff (rel) | ok |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] else "n/a"
        if r["default"]:
            rel = "1.00x (default)" if r["vs_default"] else "n/a (default)"
        else:
            rel = (f"{r['vs_default']:.2f}x {'yes' if r['holds'] else 'no'}"
                   if r["vs_default"] else "n/a")
        mem = f"{r['memory_ratio']:.2f}x" if r["memory_ratio"] else "n/a"
        if r["memory_goal"]:
            met = {True: "yes", False: "no", None: "n/a"}[r["memory_goal_met"]]
            mem += f" (≤ {r['memory_goal']}x: {met})"
        diff = _diff_text(r)
        lines.append(f"| {r['workload']} | {r['axis']} | {size_label(r['sizes'])} "
                     f"| {_ms(r, 'tinynet')} | {_ms(r, 'torch')} | {ratio} | {rel} "
                     f"| {_mib(r['tinynet_peak_mib'])} | {_mib(r['torch_peak_mib'])} "
                     f"| {mem} | {diff} | {'yes' if r['ok'] else 'FAILED'} |")
    judged = [r for r in rows if not r["default"]]
    held = sum(r["holds"] for r in judged)
    summary = [f"goals: the ratio holds within {SCALING_GOAL}x of the default size's in "
               f"{held} of {len(judged)} rows"]
    for r in rows:
        if r["memory_goal"]:
            got = f"{r['memory_ratio']:.2f}x" if r["memory_ratio"] else "n/a"
            met = {True: "yes", False: "no", None: "n/a"}[r["memory_goal_met"]]
            summary.append(f"tinynet's peak step memory ≤ {r['memory_goal']}x PyTorch's at "
                           f"{r['workload']} {size_label(r['sizes'])}: {met} ({got})")
    lines += ["", "; ".join(summary),
              "spread: min-max of the samples; peak: the median over the timing processes"]
    return "\n".join(lines)


def scaling_chart(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sweeps = list(dict.fromkeys((r["workload"], r["axis"]) for r in rows))
    panels = [[s for s in group if s in sweeps] for group in SCALING_PANELS]
    panels = [g for g in panels if g]
    panels += [[s] for s in sweeps if not any(s in g for g in panels)]
    n = len(panels) + 1
    cols = 2
    fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(12, 4.2 * ((n + 1) // 2)),
                             squeeze=False)
    axes = axes.ravel()
    envs = list(dict.fromkeys(r["blas_env"] for r in rows))
    for ax, group in zip(axes, panels):
        for (name, axis), color in zip(group, ("tab:blue", "tab:purple")):
            for env, style in zip(envs, ("o-", "s--")):
                rs = [r for r in rows if (r["workload"], r["axis"], r["blas_env"])
                      == (name, axis, env) and r["ratio"]]
                if not rs:
                    continue
                tag = f" (BLAS env {env})" if len(envs) > 1 else ""
                ax.plot([r["value"] for r in rs], [r["ratio"] for r in rs], style,
                        color=color, label=f"{name}, varying {axis}{tag}")
                ref = next((r for r in rs if r["default"]), None)
                if ref:
                    ax.axhline(ref["ratio"] * SCALING_GOAL, color=color, ls=":", lw=1,
                               label=f"{SCALING_GOAL}x the default size's ratio{tag}")
                for r in rs:
                    ax.annotate(str(r["value"]), (r["value"], r["ratio"]), fontsize=8,
                                textcoords="offset points", xytext=(0, 5), ha="center")
        ax.set_xscale("log", base=2)
        values = sorted({r["value"] for r in rows if (r["workload"], r["axis"]) in group})
        ax.set_xticks(values, [str(v) for v in values])
        ax.minorticks_off()
        ax.axhline(1.0, color="gray", ls="--", lw=1)
        ax.set_xlabel(" or ".join(axis for _, axis in group))
        ax.set_ylabel("time ratio tinynet / PyTorch")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
    ax = axes[len(panels)]
    # memory does not depend on the BLAS settings: the first setting's points
    pts = list({(r["workload"], json.dumps(r["sizes"])): r for r in rows
                if r["blas_env"] == envs[0]}.values())
    pts = [r for r in pts if r.get("tinynet_peak_mib") is not None]
    y = np.arange(len(pts))
    ax.barh(y - 0.2, [r["tinynet_peak_mib"] for r in pts], 0.4, label="tinynet")
    ax.barh(y + 0.2, [r["torch_peak_mib"] or 0 for r in pts], 0.4, label="PyTorch")
    ax.set_yticks(y, [f"{r['workload']} {size_label(r['sizes'])}" for r in pts], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("peak memory of one training step (MiB, resident-set growth)")
    ax.legend(fontsize=8)
    for ax in axes[n:]:
        ax.set_visible(False)
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
    p.add_argument("--warmup", type=int,
                   help="untimed steps before timing (default 15; --scaling: 10, quick 3)")
    p.add_argument("--tuned", action="store_true",
                   help="also time tinynet after tinynet.tune_process() (an extra column)")
    p.add_argument("--scaling", action="store_true",
                   help="how the cost grows with the work: cnn_step and lstm_step at "
                        "several sizes, with the peak memory of one step")
    # child modes (used by the parent process)
    p.add_argument("--tune", action="store_true")
    p.add_argument("--child")
    p.add_argument("--scaling-child")
    p.add_argument("--sizes", type=json.loads, default=None, help=argparse.SUPPRESS)
    p.add_argument("--lib")
    p.add_argument("--check")
    p.add_argument("--sgemm", action="store_true")
    p.add_argument("--blas-info", action="store_true")
    a = p.parse_args(argv)
    if a.child:
        print(json.dumps(_time_child(a.child, a.lib, a.samples, a.min_time,
                                     15 if a.warmup is None else a.warmup, a.tune)))
        return 0
    if a.scaling_child:
        print(json.dumps(_scaling_child(a.scaling_child, a.lib, a.sizes or {}, a.samples,
                                        a.min_time, 3 if a.warmup is None else a.warmup)))
        return 0
    if a.check:
        print(json.dumps(_check_child(a.check, a.sizes)))
        return 0
    if a.sgemm:
        print(json.dumps(_sgemm_child()))
        return 0
    if a.blas_info:
        print(json.dumps(_blas_child()))
        return 0

    if a.scaling:
        return _main_scaling(p, a)
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
        machine, results = measure(names, blas_env, samples, rounds, min_time,
                                   15 if a.warmup is None else a.warmup, torch_ok, a.tuned)
        print(table(machine, results))
        print()
        all_results += results
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": machine, "results": all_results}, f, indent=1)
    if a.png:
        chart(all_results, a.png)
    return 0 if all(r["ok"] or not torch_ok for r in all_results) else 1


def _main_scaling(p, a):
    sweeps = [s for s in SCALING if not a.only or s[0] in a.only]
    if not sweeps or (a.only and set(a.only) - {s[0] for s in SCALING}):
        p.error(f"--scaling measures {sorted({s[0] for s in SCALING})}; got --only {a.only}")
    if a.tuned:
        p.error("--scaling times tinynet as imported only; drop --tuned")
    samples = a.samples or (3 if a.quick else 7)
    rounds = a.rounds or (1 if a.quick else 2)
    min_time = 0.05 if a.quick and a.min_time == 0.1 else a.min_time
    warmup = a.warmup if a.warmup is not None else (3 if a.quick else 10)
    torch_ok = _torch_available()
    settings = ["default", "unset"] if a.blas_env == "both" else [a.blas_env]
    all_rows, machine = [], None
    for blas_env in settings:
        machine, _, rows = measure_scaling(sweeps, blas_env, samples, rounds, min_time,
                                           warmup, torch_ok)
        print(scaling_table(machine, rows))
        print()
        all_rows += rows
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": machine, "scaling": all_rows}, f, indent=1)
    if a.png:
        scaling_chart(all_rows, a.png)
    return 0 if all(r["ok"] or not torch_ok for r in all_rows) else 1


if __name__ == "__main__":
    sys.exit(main())
