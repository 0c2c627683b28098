"""Run the compat programs under PyTorch and under tinynet and compare them.

Used by test_compat.py; also a report on its own:

    python tests/compat/harness.py            # every program
    python tests/compat/harness.py vae dcgan  # some

Each program runs under real PyTorch, which also saves the initial weights
(several programs share one PyTorch process), then in a fresh subprocess of
its own under the shim, which loads them. The numbers each run returns
(losses step by step, accuracies, learning rates) must agree within the
program's tolerance.
"""
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PROGRAMS_DIR = os.path.join(HERE, "programs")

# float32 programs: a few ulps per op, compounded over tens of optimizer steps
DEFAULT_TOLERANCE = {"rtol": 1e-4, "atol": 1e-6}
# programs whose numbers drift further for a stated reason
TOLERANCE = {}
TIMEOUT_S = 180      # per program
# programs that stop on a tinynet feature not built yet: the test expects them
# to fail (strictly, so that one starting to pass gets noticed and moved out)
KNOWN_GAPS = {}


def program_names():
    return sorted(f[:-3] for f in os.listdir(PROGRAMS_DIR)
                  if f.endswith(".py") and not f.startswith("_"))


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
    # one thread each: the runs go in parallel, and summation order stays fixed
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = "1"
    return env


def _run(names, backend, workdir):
    """One runner process for ``names``; returns their results by name."""
    cmd = [sys.executable, os.path.join(HERE, "runner.py"), "--backend", backend,
           "--workdir", workdir] + [os.path.join(PROGRAMS_DIR, n + ".py") for n in names]
    if backend == "torch":
        cmd.append("--write-state")
    outs = {n: os.path.join(workdir, f"{n}.{backend}.json") for n in names}
    try:
        proc = subprocess.run(cmd, env=_env(), cwd=workdir, capture_output=True, text=True,
                              timeout=TIMEOUT_S * len(names))
        why = f"runner exited {proc.returncode} without a result:\n{proc.stderr[-3000:]}"
    except subprocess.TimeoutExpired:
        why = f"timed out after {TIMEOUT_S * len(names)} s"
    results = {}
    for n, out in outs.items():
        if os.path.exists(out):
            with open(out) as f:
                results[n] = json.load(f)
        else:
            results[n] = {"error": why}
    return results


def _run_chunk(names, workdir):
    """PyTorch runs all of ``names`` in one process, then tinynet each in its own."""
    ref = _run(names, "torch", workdir)
    results = {}
    for n in names:
        if "error" in ref[n]:
            got = {"error": "not run: the PyTorch run failed"}
        else:
            got = _run([n], "tinynet", workdir)[n]
        results[n] = {"torch": ref[n], "tinynet": got}
    return results


def run_programs(names, workers=None):
    """``{name: {"torch": result, "tinynet": result}}`` for each program."""
    workers = min(len(names), workers or max(2, os.cpu_count() or 2)) or 1
    chunks = [names[i::workers] for i in range(workers)]
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        with ThreadPoolExecutor(workers) as pool:
            for part in pool.map(lambda c: _run_chunk(c, workdir), chunks):
                results.update(part)
    return {n: results[n] for n in names}


def compare(name, results):
    """None when the program matches, else a message saying where it does not."""
    ref, got = results["torch"], results["tinynet"]
    if "error" in ref:
        return "the PyTorch run failed (a bug in the program):\n" + ref["error"]
    if "error" in got:
        return "the tinynet run failed:\n" + got["error"]
    if got.get("torch_module") != "tinynet" or got.get("real_torch_loaded"):
        return f"the tinynet run imported real PyTorch ({got.get('torch_module')})"
    a, b = np.asarray(ref["values"]), np.asarray(got["values"])
    if a.shape != b.shape:
        return f"PyTorch returned {a.size} numbers, tinynet {b.size}"
    tol = TOLERANCE.get(name, DEFAULT_TOLERANCE)
    close = np.isclose(b, a, rtol=tol["rtol"], atol=tol["atol"])
    if close.all():
        return None
    i = int(np.argmin(close))
    return (f"{(~close).sum()} of {a.size} numbers differ beyond rtol={tol['rtol']}, "
            f"atol={tol['atol']}; first at index {i}: PyTorch {a[i]!r}, tinynet {b[i]!r}\n"
            f"PyTorch: {a.tolist()}\ntinynet: {b.tolist()}")


def margin(name, results):
    """The largest |tinynet - PyTorch| as a fraction of the allowed difference."""
    a = np.asarray(results["torch"]["values"])
    b = np.asarray(results["tinynet"]["values"])
    tol = TOLERANCE.get(name, DEFAULT_TOLERANCE)
    return float(np.max(np.abs(b - a) / (tol["atol"] + tol["rtol"] * np.abs(a)), initial=0.0))


def _summary(message):
    """The last line of a traceback, or the first line of a mismatch."""
    lines = [ln for ln in message.strip().splitlines() if ln.strip()]
    if "failed" in lines[0] and len(lines) > 1:
        return lines[-1].strip()
    return lines[0]


def main(argv):
    names = argv or program_names()
    results = run_programs(names)
    failures = {n: compare(n, r) for n, r in results.items()}
    for n in names:
        status = "ok  " if failures[n] is None else "GAP " if n in KNOWN_GAPS else "FAIL"
        detail = (f"  (largest difference {margin(n, results[n]):.2g} of the tolerance)"
                  if failures[n] is None else f": {_summary(failures[n])}")
        print(f"{status} {n}{detail}")
    passed = sum(f is None for f in failures.values())
    print(f"{passed} of {len(names)} compat programs match PyTorch")
    return 0 if passed == len(names) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
