"""The GPT seed against the char-LSTM seed at equal training time.

    python benchmarks/gpt_vs_lstm.py [--seconds 300] [--pairs 1] [--eval-every 100]
                                     [--png docs/img/gpt_vs_lstm.png] [--json PATH]
                                     [--gpt "n_embd=96 lr=2e-3"] [--lstm "..."]

Each model is trained by its recipe (``tinynet.recipes.char_lm.fit``, what
``tinynet train lstm`` and ``tinynet train gpt`` run, in a process as
``import tinynet`` leaves it: no process tuning) with its registered defaults, on the default
corpus (Python standard-library sources, the last tenth held out), with
``time_budget`` SECONDS, enough epochs that the budget ends the run and a
held-out evaluation every ``--eval-every`` steps. ``--gpt`` / ``--lstm`` add
settings (``key=value`` words).

The two models train in two processes that take turns step by step (each
waits, in the run's per-step callback, while the other takes a step), so
load from other programs falls on both alike even when it changes during
the run. Each model's clock counts its own training steps only (the
recipe's ``seconds`` column: not the evaluations, not the waiting).
``--pairs N`` repeats the pair with seeds 0..N-1.

OpenBLAS runs on one thread in both processes unless ``--blas-threads``
says otherwise: on a machine that other programs keep busy, a second BLAS
thread that waits for a core slows every small matrix product down.

Prints the command, the load average before and after, and a table: per run
the parameters, steps, step time and the held-out loss (cross-entropy per
character, nats) at a few points in time and at the end, then a sample of
each. Draws every run's held-out loss against training seconds into one PNG.
"""
import argparse
import json
import multiprocessing as mp
import os
import platform
import shlex
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLOURS = {"lstm": "tab:blue", "gpt": "tab:red"}


def _value(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def settings(words):
    """``"n_embd=96 lr=2e-3"`` -> {"n_embd": 96, "lr": 0.002}."""
    out = {}
    for word in shlex.split(words):
        key, sep, value = word.partition("=")
        if not sep:
            raise SystemExit(f"gpt_vs_lstm: expected key=value, got {word!r}")
        out[key.replace("-", "_")] = _value(value)
    return out


def _child(me, model, config, out, turns, done, results):
    """One model's run; between two of its steps the other model takes one."""
    from tinynet.recipes import char_lm
    from tinynet.recipes.run import Run
    other = 1 - me

    def take_turns(run, step, *_):
        turns[other].release()
        if not done[other].is_set():
            turns[me].acquire()

    if me == 1:
        turns[me].acquire()               # the first model steps first
    try:
        result = char_lm.fit({**config, "model": model}, Run(out, callbacks=[take_turns]))
        params = sum(p.numel() for p in result.model.parameters())
        results.put((me, {"rows": result.history, "params": params,
                          "sample": result.extras["sample"]}))
    except BaseException:
        import traceback
        results.put((me, {"error": traceback.format_exc()}))
        raise
    finally:
        done[me].set()
        turns[other].release()


def train_pair(models, configs, tmp):
    """Train the two models taking turns; their results, in the same order."""
    ctx = mp.get_context("spawn")
    turns, done, results = [ctx.Semaphore(0), ctx.Semaphore(0)], [ctx.Event(), ctx.Event()], \
        ctx.Queue()
    procs = [ctx.Process(target=_child, args=(i, m, c, os.path.join(tmp, f"{i}-{m}"), turns,
                                              done, results))
             for i, (m, c) in enumerate(zip(models, configs))]
    for p in procs:
        p.start()
    got = dict(results.get() for _ in procs)
    for p in procs:
        p.join()
    for i in got:
        if "error" in got[i]:
            raise RuntimeError(f"gpt_vs_lstm: training {models[i]} failed:\n{got[i]['error']}")
    return [got[0], got[1]]


def loss_at(rows, t):
    """The held-out loss of the last evaluation at or before ``t`` training seconds."""
    done = [r for r in rows if r["seconds"] <= t + 1e-9]
    return done[-1]["val_loss"] if done else float("nan")


def table(runs, marks):
    head = ("| run | model | parameters | steps | ms/step | "
            + " | ".join(f"val loss at {m:g} s" for m in marks)
            + " | final val loss | best val loss |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for i, r in enumerate(runs, 1):
        rows = r["rows"]
        last = rows[-1]
        lines.append(
            f"| {i} | {r['model']} | {r['params']:,} | {int(last['step'])} | "
            f"{1e3 * last['seconds'] / last['step']:.0f} | "
            + " | ".join(f"{loss_at(rows, m):.3f}" for m in marks)
            + f" | {last['val_loss']:.3f} | {min(x['val_loss'] for x in rows):.3f} |")
    by_model = {}
    for r in runs:
        by_model.setdefault(r["model"], []).append(r["rows"][-1]["val_loss"])
    lines.append("")
    lines.append("mean final held-out loss: " + ", ".join(
        f"{m} {np.mean(v):.3f} ({len(v)} runs)" for m, v in by_model.items()))
    return "\n".join(lines)


def chart(runs, path, seconds):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.2))
    seen = set()
    for i, r in enumerate(runs, 1):
        rows = r["rows"]
        label = f"{r['model']} ({r['params']:,} parameters), seed {r['seed']}"
        ax.plot([x["seconds"] for x in rows], [x["val_loss"] for x in rows],
                "o-" if r["model"] not in seen else "s--", ms=3,
                color=COLOURS.get(r["model"]), alpha=0.9,
                label=label)
        seen.add(r["model"])
    ax.set_xlabel("training seconds (evaluation not counted)")
    ax.set_ylabel("held-out cross-entropy per character (nats)")
    ax.set_xlim(0, seconds * 1.02)
    lo = min(min(x["val_loss"] for x in r["rows"]) for r in runs)
    ax.set_ylim(lo - 0.05, lo + 1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("tinynet: GPT seed vs char-LSTM seed, equal training time")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=300, help="training seconds per run")
    p.add_argument("--pairs", type=int, default=1, help="pairs of runs (seeds 0, 1, ...)")
    p.add_argument("--eval-every", type=int, default=100, help="steps between evaluations")
    p.add_argument("--gpt", default="", help="settings of the gpt run: key=value words")
    p.add_argument("--lstm", default="", help="settings of the lstm run: key=value words")
    p.add_argument("--png", default=os.path.join(ROOT, "docs", "img", "gpt_vs_lstm.png"))
    p.add_argument("--blas-threads", default="1",
                   help="OPENBLAS_NUM_THREADS of the two training processes ('' leaves it "
                        "unset: OpenBLAS's own choice)")
    p.add_argument("--json")
    a = p.parse_args(argv)
    if a.blas_threads:
        os.environ["OPENBLAS_NUM_THREADS"] = a.blas_threads      # the children inherit it
    command = "python " + " ".join([os.path.relpath(__file__, ROOT)] + [
        shlex.quote(x) for x in (sys.argv[1:] if argv is None else argv)])
    print(f"command: {command}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"python {platform.python_version()}, numpy {np.__version__}; OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}")
    base = {"time_budget": a.seconds, "epochs": 100_000, "eval_every": a.eval_every,
            "sample_every": 0, "quiet": True}
    extra = {"gpt": settings(a.gpt), "lstm": settings(a.lstm)}
    runs = []
    with tempfile.TemporaryDirectory(prefix="gpt-vs-lstm-") as tmp:
        for pair in range(a.pairs):
            models = ("lstm", "gpt") if pair % 2 == 0 else ("gpt", "lstm")
            configs = [{**base, "seed": pair, **extra[m]} for m in models]
            before, t0 = os.getloadavg()[0], time.perf_counter()
            results = train_pair(models, configs, os.path.join(tmp, str(pair)))
            wall, after = time.perf_counter() - t0, os.getloadavg()[0]
            for m, c, r in zip(models, configs, results):
                r.update(model=m, seed=pair, load_before=before, load_after=after,
                         settings={k: v for k, v in c.items() if k != "quiet"})
                runs.append(r)
                print(f"{m} (seed {pair}): {len(r['rows'])} evaluations, final held-out loss "
                      f"{r['rows'][-1]['val_loss']:.3f}", flush=True)
            print(f"pair {pair + 1}: {wall:.0f} s wall, load average {before:.1f} before, "
                  f"{after:.1f} after", flush=True)
    runs.sort(key=lambda r: (r["model"] != "lstm", r["seed"]))      # lstm first
    marks = [m for m in (30, 60, 120, 180, 240) if m < a.seconds]
    print()
    print(table(runs, marks))
    for i, r in enumerate(runs, 1):
        print(f"\nsample of run {i} ({r['model']}, seed {r['seed']}):\n{r['sample']}")
    chart(runs, a.png, a.seconds)
    print(f"\nwrote {os.path.relpath(a.png)}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"command": command, "runs": runs}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
