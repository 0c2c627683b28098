"""The seed CNN and the GPT seed trained on each device of this machine:
``tinynet train cnn`` (the whole default run) and ``tinynet train gpt``
(its first ``--gpt-steps`` steps), through the same recipes, timed by the
recipes' own training clocks (evaluation left out).

    python benchmarks/train_devices.py                       # CPU, and the GPU if there is one
    python benchmarks/train_devices.py --devices cpu --gpt-steps 20
    python benchmarks/train_devices.py --json runs/train.json

It answers the GPU issue's "faster on the GPU than on the CPU of the same
machine" for the two seeds; ``benchmarks/gpu.sh`` runs it.
"""
import argparse
import json
import platform
import sys


def train(model, device, gpt_steps):
    """(steps, training seconds, the held-out metric's name and value)."""
    if model == "cnn":
        from tinynet.recipes import classify
        r = classify.train({"device": device, "quiet": True}, model="cnn")
        return r.steps, r.seconds, "val_acc", r.metrics["val_acc"]
    from tinynet.recipes import char_lm
    r = char_lm.train({"device": device, "max_steps": gpt_steps, "quiet": True,
                       "sample_every": 0, "sample_chars": 0}, model="gpt")
    return r.steps, r.seconds, "val_loss", r.metrics["val_loss"]


def main(argv=None):
    import tinynet as tn
    # the `tinynet` command opts its process in to tune_process(); so does
    # this script, to time what the command does
    tn.tune_process()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", nargs="+", choices=["cpu", "cuda"],
                   help="(default: cpu, and cuda when tn.cuda.is_available())")
    p.add_argument("--models", nargs="+", choices=["cnn", "gpt"], default=["cnn", "gpt"])
    p.add_argument("--gpt-steps", type=int, default=300)
    p.add_argument("--json", help="also write the rows here")
    a = p.parse_args(argv)
    if a.gpt_steps < 1:
        p.error(f"--gpt-steps must be >= 1, got {a.gpt_steps}")
    devices = a.devices or (["cpu", "cuda"] if tn.cuda.is_available() else ["cpu"])
    if "cuda" in devices and not tn.cuda.is_available():
        p.error("--devices cuda: no usable CUDA GPU here (CuPy missing, or no device/driver)")
    rows = []
    print(f"{platform.node()}: python {platform.python_version()}, tinynet {tn.__version__}")
    print(f"{'model':6s} {'device':6s} {'steps':>6s} {'train s':>8s} {'ms/step':>8s}  held-out")
    for model in a.models:
        for device in devices:
            steps, seconds, metric, value = train(model, device, a.gpt_steps)
            rows.append({"model": model, "device": device, "steps": steps,
                         "seconds": seconds, metric: value})
            print(f"{model:6s} {device:6s} {steps:6d} {seconds:8.2f} "
                  f"{1e3 * seconds / max(steps, 1):8.2f}  {metric} {value:.4f}", flush=True)
    for model in a.models:
        by = {r["device"]: r["seconds"] for r in rows if r["model"] == model}
        if "cpu" in by and "cuda" in by:
            print(f"{model}: the GPU trains in {by['cuda'] / by['cpu']:.2f}x the CPU's time")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": platform.node(), "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
