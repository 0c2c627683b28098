"""Training runs for the seed classifiers (``tinynet train mlp|cnn``).

A run is a directory holding everything about one experiment:

    config.json      the settings it was started with
    metrics.csv      one row per epoch: losses, accuracies, time, throughput
    checkpoint.npz   model + optimizer + RNG + data-loader position (tn.save)
    curves.png       loss and accuracy by epoch, train vs held-out

``resume`` continues a run from its checkpoint exactly as if it had not been
interrupted (same batches, same dropout masks, same optimizer state), also
from the middle of an epoch after Ctrl-C.
"""
import csv
import json
import os
import signal
import sys
import threading
import time

import numpy as np

import tinynet as tn
import tinynet.nn.functional as F
from tinynet import models, optim
from tinynet.data import DataLoader
from tinynet.serialization import load, save

METRICS = ["epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc", "epoch_seconds",
           "samples_per_second"]


# ---------------------------------------------------------------- data
def load_data(source):
    """(train set, held-out set) for ``digits`` or ``mnist:PATH``."""
    from tinynet import data
    if source == "digits":
        return data.digits(split="train"), data.digits(split="test")
    if source.startswith("mnist:") or source.startswith("fashion-mnist:"):
        kind, root = source.split(":", 1)
        cls = data.MNIST if kind == "mnist" else data.FashionMNIST
        return cls(root, train=True), cls(root, train=False)
    raise ValueError(f"unknown data source {source!r}: expected 'digits' or 'mnist:PATH'")


def image_geometry(dataset):
    x, _ = dataset[0]
    shape = tuple(np.shape(x.numpy() if isinstance(x, tn.Tensor) else x))
    if len(shape) == 2:
        return 1, shape[0]
    return shape[0], shape[1]


def make_optimizer(name, params, lr):
    table = {"sgd": lambda: optim.SGD(params, lr=lr, momentum=0.9),
             "adam": lambda: optim.Adam(params, lr=lr),
             "adamw": lambda: optim.AdamW(params, lr=lr),
             "rmsprop": lambda: optim.RMSprop(params, lr=lr)}
    if name not in table:
        raise ValueError(f"unknown optimizer {name!r}; choose from {sorted(table)}")
    return table[name]()


def _batches(x, y, device):
    x = x if x.ndim == 4 else x.reshape(x.shape[0], 1, *x.shape[1:])
    return x.to(device), y.to(device)


@tn.no_grad()
def evaluate(model, dataset, device, batch_size=256):
    """(mean cross-entropy, accuracy) of ``model`` on ``dataset``."""
    model.eval()
    total_loss, correct, n = 0.0, 0, 0
    for x, y in DataLoader(dataset, batch_size=batch_size):
        x, y = _batches(x, y, device)
        out = model(x)
        total_loss += F.cross_entropy(out, y, reduction="sum").item()
        correct += int((out.argmax(1) == y).sum().item())
        n += y.shape[0]
    model.train()
    return total_loss / max(n, 1), correct / max(n, 1)


# ---------------------------------------------------------------- the run directory
class Run:
    def __init__(self, path):
        self.path = path

    def file(self, name):
        return os.path.join(self.path, name)

    def write_config(self, config):
        os.makedirs(self.path, exist_ok=True)
        with open(self.file("config.json"), "w") as f:
            json.dump(config, f, indent=1)

    def config(self):
        with open(self.file("config.json")) as f:
            return json.load(f)

    def append_metrics(self, row):
        new = not os.path.exists(self.file("metrics.csv"))
        with open(self.file("metrics.csv"), "a", newline="") as f:
            w = csv.DictWriter(f, METRICS)
            if new:
                w.writeheader()
            w.writerow({k: row[k] for k in METRICS})

    def metrics(self):
        if not os.path.exists(self.file("metrics.csv")):
            return []
        with open(self.file("metrics.csv")) as f:
            return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]

    def truncate_metrics(self, epochs_done):
        """Drop rows beyond the checkpoint (a run resumed after a crash)."""
        rows = [r for r in self.metrics() if r["epoch"] <= epochs_done]
        if os.path.exists(self.file("metrics.csv")):
            os.remove(self.file("metrics.csv"))
        for r in rows:
            self.append_metrics(r)

    def draw_curves(self):
        rows = self.metrics()
        if not rows:
            return
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        epochs = [r["epoch"] for r in rows]
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
        a1.plot(epochs, [r["train_loss"] for r in rows], "o-", label="train")
        a1.plot(epochs, [r["val_loss"] for r in rows], "o-", label="held-out")
        a1.set_xlabel("epoch")
        a1.set_ylabel("cross-entropy")
        a1.legend()
        a2.plot(epochs, [r["train_acc"] for r in rows], "o-", label="train")
        a2.plot(epochs, [r["val_acc"] for r in rows], "o-", label="held-out")
        a2.set_xlabel("epoch")
        a2.set_ylabel("accuracy")
        a2.legend()
        fig.suptitle(f"tinynet run {os.path.basename(os.path.abspath(self.path))}")
        fig.tight_layout()
        fig.savefig(self.file("curves.png"), dpi=100)
        plt.close(fig)


def default_run_dir(model):
    return os.path.join("runs", f"{model}-{time.strftime('%Y%m%d-%H%M%S')}")


# ---------------------------------------------------------------- training
def _distributed(config):
    """The tinynet.distributed module for a --distributed run, else None."""
    if not config.get("distributed"):
        return None
    from tinynet import distributed
    return distributed


def _stop(interrupted, dist):
    # Under MPI every rank must agree, or one would wait forever in a collective.
    return dist.any_rank(interrupted) if dist else bool(interrupted)


def build(config):
    train_set, test_set = load_data(config["data"])
    channels, size = image_geometry(train_set)
    tn.manual_seed(config["seed"])
    model = models.MODELS[config["model"]](image_size=size, channels=channels)
    model.to(config["device"])
    opt = make_optimizer(config["optimizer"], model.parameters(), config["lr"])
    if config.get("distributed"):
        # batch_size is the global batch, split over the ranks (tinynet.distributed)
        from tinynet import distributed
        model, loader = distributed.data_parallel(model, train_set, config["batch_size"],
                                                  seed=config["seed"])
    else:
        loader = DataLoader(train_set, batch_size=config["batch_size"], shuffle=True,
                            seed=config["seed"])
    return model, opt, loader, train_set, test_set


def fit(config, run, resume=False):
    """Train (or continue) the run; returns a summary dict."""
    from tqdm import tqdm
    dist = _distributed(config)
    if dist:                                  # 'cuda' means this rank's GPU on its machine
        config = dict(config, device=dist.local_device(config["device"]))
    model, opt, loader, train_set, test_set = build(config)
    lead = dist is None or dist.rank() == 0      # the rank that prints and writes files
    world = 1 if dist is None else dist.world_size()
    epoch, step, skip = 0, 0, 0
    epoch_start = loader.state_dict()
    if resume:
        ck = (dist.load if dist else load)(run.file("checkpoint.npz"))
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        tn.set_rng_state(ck["rng"])
        epoch, step, skip = ck["epoch"], ck["step"], ck["batch_in_epoch"]
        epoch_start = ck["loader_epoch_start"]
        if lead:
            run.truncate_metrics(epoch)

    def checkpoint(batch_in_epoch):
        (dist.save if dist else save)({"model": model.state_dict(), "optimizer": opt.state_dict(),
              "rng": tn.get_rng_state(), "epoch": epoch, "step": step,
              "batch_in_epoch": batch_in_epoch, "loader_epoch_start": epoch_start,
              "config": config}, run.file("checkpoint.npz"))

    quiet = config.get("quiet") or not sys.stderr.isatty() or not lead
    max_steps = config.get("max_steps")
    model.train()
    # Ctrl-C only raises a flag; the loop stops between two steps, so the
    # checkpoint never holds a half-applied optimizer step. Python delivers
    # signals to the main thread only: from another thread fit() installs no
    # handler and Ctrl-C stays the program's business.
    interrupted = []
    handler = threading.current_thread() is threading.main_thread()
    if handler:
        previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
    try:
        while epoch < config["epochs"]:
            loader.load_state_dict(epoch_start)       # the epoch's shuffle, reproducibly
            t0 = time.perf_counter()
            seen, loss_sum, correct = 0, 0.0, 0
            bar = tqdm(total=len(loader), desc=f"epoch {epoch + 1}/{config['epochs']}",
                       disable=quiet, leave=False, initial=skip)
            for batch, (x, y) in enumerate(loader):
                if batch < skip:
                    continue
                x, y = _batches(x, y, config["device"])
                out = model(x)
                loss = F.cross_entropy(out, y)
                opt.zero_grad()
                loss.backward()
                if dist:
                    model.sync_gradients()
                opt.step()
                step += 1
                n = y.shape[0]
                seen += n
                loss_sum += loss.item() * n
                correct += int((out.argmax(1) == y).sum().item())
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}",
                                samples_s=f"{world * seen / (time.perf_counter() - t0):.0f}")
                if _stop(interrupted, dist):
                    checkpoint(batch + 1)
                    bar.close()
                    if lead:
                        print(f"\ninterrupted: checkpoint saved in {run.path}; continue with "
                              f"`tinynet resume {run.path}`", flush=True)
                    raise SystemExit(130)
                if max_steps and step >= max_steps:
                    checkpoint(batch + 1)
                    bar.close()
                    return {"stopped_at_step": step, "epoch": epoch}
            bar.close()
            skip = 0
            if _stop(interrupted, dist):      # Ctrl-C during the last batch of an epoch
                checkpoint(len(loader))
                raise SystemExit(130)
            seconds = time.perf_counter() - t0
            if dist:                          # the epoch's totals over all ranks
                seen, loss_sum, correct = dist.sum_across_ranks(seen, loss_sum, correct)
            val_loss, val_acc = evaluate(model, test_set, config["device"])
            epoch += 1
            epoch_start = loader.state_dict()
            if not lead:                      # the others only join the checkpoint's collective
                checkpoint(0)
                continue
            run.append_metrics({
                "epoch": epoch, "step": step, "train_loss": loss_sum / max(seen, 1),
                "train_acc": correct / max(seen, 1), "val_loss": val_loss, "val_acc": val_acc,
                "epoch_seconds": seconds, "samples_per_second": seen / max(seconds, 1e-9)})
            checkpoint(0)
            run.draw_curves()
            if not config.get("quiet"):
                print(f"epoch {epoch:3d}  train loss {loss_sum / max(seen, 1):.4f} "
                      f"acc {correct / max(seen, 1):.4f}  held-out loss {val_loss:.4f} "
                      f"acc {val_acc:.4f}  {seconds:.1f} s", flush=True)
    finally:
        if handler:                   # (None: a handler set outside Python, not restorable)
            signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
    if dist:
        dist.barrier()                        # rank 0's metrics are complete
    rows = run.metrics()
    return {"epochs": epoch, "steps": step, "val_acc": rows[-1]["val_acc"] if rows else None,
            "seconds": sum(r["epoch_seconds"] for r in rows)}
