"""Char-LSTM training step, tinynet against PyTorch's nn.LSTM, in one run.

    python benchmarks/lstm.py [--samples 15] [--min-time 0.3] [--impl ref|cpu_v1|cpu_v2]
    OPENBLAS_NUM_THREADS=1 BENCH_TORCH_THREADS=1 python benchmarks/lstm.py   # one core each

The workload: one-hot input over a 65-character vocabulary, an LSTM
with hidden size 128, 64 steps, batch 32, a Linear layer to the vocabulary,
cross-entropy over all 64*32 predictions, one Adam step. Both libraries start
from the same NumPy-drawn weights; before anything is timed the script checks
that the loss, the LSTM outputs and every parameter gradient agree. Then it
alternates between the two libraries, sample by sample (so background load
hits both alike), after a warm-up that is not timed (Numba compilation and
BLAS/allocator warm-up happen there). It prints the median step time of each,
the spread of the samples and the ratio tinynet / PyTorch.

``lstm_step(lib)`` is also a workload for ``benchmarks/run.py`` (it returns
that harness's ``Case``).
"""
import argparse
import os
import platform
import sys
import time

import numpy as np

V, H, T, N = 65, 128, 64, 32


def _data(seed=0, T=T, N=N):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, (T + 1, N))
    x = np.eye(V, dtype=np.float32)[ids[:-1]]          # (T, N, V) one-hot
    y = ids[1:].reshape(-1)                             # next characters, (T*N,)
    return x, y


def _weights(seed=1, H=H):
    """One set of initial weights for both libraries (PyTorch's init ranges)."""
    rng = np.random.default_rng(seed)
    u = lambda shape, b: rng.uniform(-b, b, shape).astype(np.float32)  # noqa: E731
    k = 1 / np.sqrt(H)
    return {"lstm.weight_ih_l0": u((4 * H, V), k), "lstm.weight_hh_l0": u((4 * H, H), k),
            "lstm.bias_ih_l0": u((4 * H,), k), "lstm.bias_hh_l0": u((4 * H,), k),
            "head.weight": u((V, H), k), "head.bias": u((V,), k)}


class _Setup:
    """Model, optimizer and data of one library, and the training step
    (sequence length T and hidden size H, the default workload's unless given)."""

    def __init__(self, lib, T=T, H=H, device="cpu"):
        if lib == "tinynet":
            import tinynet as mod
            import tinynet.nn.functional as F
            import tinynet.optim  # noqa: F401  (a subpackage: not imported by tinynet)
        else:
            import torch as mod
            import torch.nn.functional as F
            _torch_threads(mod)
        self.mod, self.F, self.T, self.H = mod, F, T, H
        nn = mod.nn
        if lib == "tinynet":
            from tinynet.nn.rnn import LSTM
        else:
            LSTM = nn.LSTM
        self.lstm, self.head = LSTM(V, H), nn.Linear(H, V)
        w = _weights(H=H)
        for name, m in (("lstm", self.lstm), ("head", self.head)):
            if lib == "torch-float64":
                m.double()             # loading then widens the float32 weights
            m.load_state_dict({k.split(".", 1)[1]: mod.tensor(v) for k, v in w.items()
                               if k.startswith(name + ".")})
            m.to(device)
        self.params = list(self.lstm.parameters()) + list(self.head.parameters())
        self.opt = mod.optim.Adam(self.params, lr=2e-3)
        x, y = _data(T=T)
        if lib == "torch-float64":
            x = x.astype(np.float64)
        self.x, self.y = mod.tensor(x, device=device), mod.tensor(y, device=device)

    def forward(self):
        out, _ = self.lstm(self.x)
        logits = self.head(out.reshape(self.T * N, self.H))
        return out, self.F.cross_entropy(logits, self.y)

    def step(self):
        self.opt.zero_grad()
        _, loss = self.forward()
        loss.backward()
        self.opt.step()
        return loss

    def check(self):
        """Loss, LSTM output and every gradient after one backward (no step)."""
        self.opt.zero_grad()
        out, loss = self.forward()
        loss.backward()
        res = {"loss": np.asarray(loss.item()), "output": _np(out)}
        names = [f"lstm.{n}" for n, _ in self.lstm.named_parameters()] + \
                [f"head.{n}" for n, _ in self.head.named_parameters()]
        for n, p in zip(names, self.params):
            res["grad " + n] = _np(p.grad)
        self.opt.zero_grad()
        return res


def _torch_threads(torch):
    # BENCH_TORCH_THREADS=1 gives PyTorch one core, like OPENBLAS_NUM_THREADS=1 for NumPy
    n = int(os.environ.get("BENCH_TORCH_THREADS", "0"))
    if n:
        torch.set_num_threads(n)


def _np(t):
    return t.detach().cpu().numpy().copy() if hasattr(t, "detach") else np.asarray(t)


def lstm_step(lib, T=T, H=H):
    """Workload for benchmarks/run.py; ``T`` (sequence length) and ``H``
    (hidden size) vary it for ``run.py --scaling``."""
    from workloads import DEVICE, Case
    s = _Setup(lib, T=T, H=H, device=DEVICE)
    flops = 3 * 2 * T * N * (4 * H * (V + H) + H * V)
    return Case(s.step, s.check, flops=flops)


def _compare(a, b):
    worst = 0.0
    for k in a:
        scale = max(float(np.abs(b[k]).max()), 1e-6)
        diff = float(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)).max()) / scale
        print(f"  {k:26s} max |diff| / max|torch| = {diff:.2e}")
        worst = max(worst, diff)
    return worst


def _commit():
    import subprocess
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=os.path.dirname(os.path.abspath(__file__)),
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _time(step, reps):
    t0 = time.perf_counter()
    for _ in range(reps):
        step()
    return (time.perf_counter() - t0) / reps


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--samples", type=int, default=15)
    p.add_argument("--min-time", type=float, default=0.3, help="seconds per sample")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--impl", default=None, help="force a tinynet.kernels.lstm_cell version")
    args = p.parse_args(argv)
    import torch
    _torch_threads(torch)

    import tinynet
    from tinynet import kernels
    from tinynet.kernels import lstm_cell
    if args.impl:
        kernels.use(lstm=args.impl)
    import numba
    env = " ".join(f"{k}={os.environ[k]}" for k in
                   ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "BENCH_TORCH_THREADS",
                    "OPENBLAS_CORETYPE", "TINYNET_LSTM_IMPL") if k in os.environ)
    print("command:", " ".join(([env] if env else []) +
                               [os.path.basename(sys.executable)] + sys.argv))
    print("commit:", _commit())
    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"versions: python {platform.python_version()}, numpy {np.__version__}, numba "
          f"{numba.__version__}, torch {torch.__version__} ({torch.get_num_threads()} "
          f"threads), tinynet {tinynet.__version__}")
    print(f"workload: char-LSTM step V{V} H{H} T{T} N{N}, one-hot, Linear, cross-entropy, "
          f"Adam; lstm_cell impl {lstm_cell.select(np.zeros((N, 4 * H))).name}")
    ours, theirs = _Setup("tinynet"), _Setup("torch")
    print("check (same weights and data, one backward):")
    worst = _compare(ours.check(), theirs.check())
    if worst > 1e-4:
        print(f"MISMATCH: tinynet and PyTorch disagree (worst relative diff {worst:.2e})")
        return 1
    for s in (ours, theirs):
        for _ in range(args.warmup):
            s.step()
    reps = {name: max(1, int(np.ceil(args.min_time / _time(s.step, 2))))
            for name, s in (("tinynet", ours), ("torch", theirs))}
    times = {"tinynet": [], "torch": []}
    for _ in range(args.samples):          # alternate so that load hits both alike
        times["tinynet"].append(_time(ours.step, reps["tinynet"]))
        times["torch"].append(_time(theirs.step, reps["torch"]))
    med = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
    print(f"\n| library | median ms/step | min-max ms | samples x reps |")
    print("|---|---|---|---|")
    for k, v in times.items():
        print(f"| {k} | {med[k]:.2f} | {1e3 * min(v):.2f}-{1e3 * max(v):.2f} | "
              f"{args.samples} x {reps[k]} |")
    from run import GOALS
    print(f"\nratio tinynet / PyTorch nn.LSTM: {med['tinynet'] / med['torch']:.2f}x "
          f"(goal <= {GOALS['lstm_step']}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
