"""Where a tinynet training step spends its time, op by op.

    python benchmarks/op_profile.py gpt_step [--steps 10] [--top 15]

Builds a workload of benchmarks/workloads.py for tinynet, takes a few
untimed steps, then times ``--steps`` steps while wrapping two calls: each
outermost ``Function.__call__`` (an op's forward, including what it calls)
and the engine's ``_call_backward`` (an op's backward). Prints the step
time, the sums of both, and the ops with the largest forward + backward
time per step, with how many times each ran per step. The wrappers cost
about a microsecond per op, so the step takes a little longer than in
benchmarks/run.py; what is not in either sum is the optimizer, the Python
between ops and the engine's own work.
"""
import argparse
import collections
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def profile(name, steps, warmup=3):
    """(ms per step, {op: [calls, forward ms, backward ms] per step})."""
    import workloads
    from tinynet.autograd import engine
    from tinynet.autograd import function as fn

    fwd, bwd, calls = collections.Counter(), collections.Counter(), collections.Counter()
    depth = [0]
    call, call_backward = fn.Function.__call__, engine._call_backward

    def timed_call(self, *args, **kwargs):
        depth[0] += 1
        t0 = time.perf_counter()
        try:
            return call(self, *args, **kwargs)
        finally:
            depth[0] -= 1
            if depth[0] == 0:              # an op called by an op counts in its caller
                fwd[type(self).__name__] += time.perf_counter() - t0
                calls[type(self).__name__] += 1

    def timed_backward(f, gys):
        t0 = time.perf_counter()
        out = call_backward(f, gys)
        bwd[type(f).__name__] += time.perf_counter() - t0
        return out

    fn.Function.__call__, engine._call_backward = timed_call, timed_backward
    try:
        case = workloads.build(name, "tinynet")
        for _ in range(warmup):
            case.step()
        fwd.clear(), bwd.clear(), calls.clear()
        t0 = time.perf_counter()
        for _ in range(steps):
            case.step()
        step_ms = (time.perf_counter() - t0) / steps * 1e3
    finally:
        fn.Function.__call__, engine._call_backward = call, call_backward
    ops = {k: [calls[k] / steps, fwd[k] / steps * 1e3, bwd[k] / steps * 1e3]
           for k in set(fwd) | set(bwd)}
    return step_ms, ops


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workload")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--top", type=int, default=15)
    a = p.parse_args(argv)
    if a.steps < 1 or a.top < 1:
        p.error("--steps and --top must be at least 1")
    step_ms, ops = profile(a.workload, a.steps)
    env = {k: os.environ.get(k, "(unset)") for k in
           ("OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "TINYNET_NUM_THREADS")}
    print(f"command: python benchmarks/op_profile.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    print(f"env: {env}")
    total_f = sum(v[1] for v in ops.values())
    total_b = sum(v[2] for v in ops.values())
    print(f"{a.workload}: {step_ms:.1f} ms per step; op forwards {total_f:.1f} ms, "
          f"op backwards {total_b:.1f} ms, the rest {step_ms - total_f - total_b:.1f} ms\n")
    print("| op | calls per step | forward ms | backward ms |")
    print("|---|---|---|---|")
    for k, (n, f, b) in sorted(ops.items(), key=lambda kv: -(kv[1][1] + kv[1][2]))[:a.top]:
        print(f"| {k} | {n:g} | {f:.2f} | {b:.2f} |")


if __name__ == "__main__":
    main()
