"""The image-classification recipe: ``tinynet train mlp|cnn|resnet|binary_cnn``.

Trains a registered image classifier in a run directory (``Run``): config.json,
metrics.csv (per epoch: losses, accuracies, seconds, samples/s),
checkpoint.npz and curves.png. ``fit(config, run, resume=True)`` continues a
run from its checkpoint exactly as if it had not been interrupted (same
batches, same dropout masks, same optimizer state), also from the middle of
an epoch after Ctrl-C. Under ``--distributed`` the run is data-parallel
over the processes of ``mpiexec -n N`` (``DataParallel``).

Data sources (``--data``): ``digits`` (embedded 8x8 digits), ``mnist:PATH``,
``fashion-mnist:PATH``, ``folder:PATH`` (an ImageFolder: one sub-folder of
images per class, a seeded ``val_fraction`` held out) and ``shapes`` (a
generated folder of crosses and rings, the binary_cnn seed's default). The
loss is cross-entropy over the classes; a model with one output (the
binary_cnn seed) gets ``binary_cross_entropy_with_logits`` on its logit.
"""
import os
import tempfile
import time

import numpy as np

import tinynet as tn
import tinynet.nn.functional as F
from tinynet import models, optim
from tinynet.data import DataLoader
from tinynet.recipes.options import add_model_options, model_config
from tinynet.recipes.run import Local, Result, Run, strategy_for

METRICS = ["epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc", "epoch_seconds",
           "samples_per_second"]

# what a seed's registry entry may override; None: the optimizer's own default
DEFAULTS = {"data": "digits", "optimizer": "adam", "lr": 1e-3, "weight_decay": None,
            "epochs": 10, "batch_size": 64, "val_fraction": 0.25}

OPTIMIZERS = {"sgd": lambda params, **kw: optim.SGD(params, momentum=0.9, **kw),
              "adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop}

# the generated 'shapes' folder, and the normalisation of folder images (in [0, 1])
SHAPES = {"n_per_class": 200, "size": 32}
MEAN, STD = 0.5, 0.25


# ---------------------------------------------------------------- data
def _draw_shape(kind, size, rng):
    """A float mask in [0, 1] of shape (size, size) with one cross or ring at a random place."""
    r = rng.uniform(0.18, 0.3) * size                 # half-size of the shape
    cy, cx = rng.uniform(r + 1, size - r - 1, size=2)  # keep it inside the image
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    thick = max(1.0, 0.08 * size)
    if kind == "ring":
        dist = np.hypot(yy - cy, xx - cx)
        return (np.abs(dist - r) < thick).astype(np.float64)
    # a plus sign: a horizontal and a vertical bar through the centre
    bar_h = (np.abs(yy - cy) < thick) & (np.abs(xx - cx) < r)
    bar_v = (np.abs(xx - cx) < thick) & (np.abs(yy - cy) < r)
    return (bar_h | bar_v).astype(np.float64)


def make_shapes_folder(root, n_per_class=200, size=32, seed=0):
    """Write ``root/cross/*.png`` and ``root/ring/*.png``: ``n_per_class``
    RGB images of ``size`` x ``size`` each, drawn with NumPy from ``seed``.

    Each image: a dark background of a random tint plus Gaussian noise, and
    one shape of a random bright colour at a random place and size. Returns
    ``root``. Needs Pillow (the ``vision`` extra) to write the PNG files.
    """
    from PIL import Image            # Pillow writes the PNG files; ImageFolder reads them back
    rng = np.random.default_rng(seed)
    for kind in ("cross", "ring"):
        folder = os.path.join(root, kind)
        os.makedirs(folder, exist_ok=True)
        for i in range(n_per_class):
            mask = _draw_shape(kind, size, rng)[..., None]        # (H, W, 1)
            background = rng.uniform(0.0, 0.35, size=3)
            colour = rng.uniform(0.6, 1.0, size=3)
            img = (1 - mask) * background + mask * colour
            img += rng.normal(0, 0.08, size=img.shape)
            img = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
            Image.fromarray(img).save(os.path.join(folder, f"{i:04d}.png"))
    return root


def _folder_split(root, seed, val_fraction):
    """(train, held-out) Subsets of the ImageFolder at ``root``, split with ``seed``."""
    from tinynet.data import ImageFolder, Subset
    from tinynet.data import transforms as T
    folder = ImageFolder(root, transform=T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)]))
    order = np.random.default_rng(seed).permutation(len(folder))
    n_val = max(1, int(round(val_fraction * len(order))))
    train_set, val_set = Subset(folder, order[n_val:]), Subset(folder, order[:n_val])
    train_set.classes = val_set.classes = folder.classes
    return train_set, val_set


def load_data(source, seed=0, val_fraction=0.25):
    """(train set, held-out set) for a ``--data`` source (see the module docstring)."""
    from tinynet import data
    if source == "digits":
        return data.digits(split="train"), data.digits(split="test")
    if source.startswith("mnist:") or source.startswith("fashion-mnist:"):
        kind, root = source.split(":", 1)
        cls = data.MNIST if kind == "mnist" else data.FashionMNIST
        return cls(root, train=True), cls(root, train=False)
    if source.startswith("folder:"):
        return _folder_split(source[len("folder:"):], seed, val_fraction)
    if source == "shapes":
        root = make_shapes_folder(tempfile.mkdtemp(prefix="tinynet-shapes-"), seed=seed, **SHAPES)
        return _folder_split(root, seed, val_fraction)
    raise ValueError(f"unknown data source {source!r}: expected 'digits', 'mnist:PATH', "
                     f"'fashion-mnist:PATH', 'folder:PATH' or 'shapes'")


def data_source(text):
    """An argparse type: a ``--data`` source, its PATH an existing folder."""
    import argparse
    kind, _, root = text.partition(":")
    root = os.path.expanduser(root)
    if text in ("digits", "shapes"):
        return text
    if kind in ("mnist", "fashion-mnist", "folder") and os.path.isdir(root):
        return f"{kind}:{root}"
    raise argparse.ArgumentTypeError(
        f"expected 'digits', 'mnist:PATH', 'fashion-mnist:PATH', 'folder:PATH' or 'shapes' "
        f"with PATH an existing folder, got {text!r}")


def image_geometry(dataset):
    """(channels, side) of the dataset's first image."""
    x, _ = dataset[0]
    shape = tuple(np.shape(x.numpy() if isinstance(x, tn.Tensor) else x))
    if len(shape) == 2:
        return 1, shape[0]
    return shape[0], shape[1]


def num_classes(dataset):
    classes = getattr(dataset, "classes", None)
    return len(classes) if classes else 10


def make_optimizer(name, params, lr, weight_decay=None):
    """The optimizer ``name`` (sgd with momentum 0.9, adam, adamw, rmsprop);
    ``weight_decay`` None keeps the optimizer's own default."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {sorted(OPTIMIZERS)}")
    kw = {} if weight_decay is None else {"weight_decay": weight_decay}
    return OPTIMIZERS[name](params, lr=lr, **kw)


# ---------------------------------------------------------------- loss and evaluation
def _batches(x, y, device):
    x = x if x.ndim == 4 else x.reshape(x.shape[0], 1, *x.shape[1:])
    return x.to(device), y.to(device)


def _loss(out, y, reduction="mean"):
    """Cross-entropy over the classes; on one output, the binary loss of its logit."""
    if out.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(out.squeeze(1), y.float(), reduction=reduction)
    return F.cross_entropy(out, y, reduction=reduction)


def _correct(out, y):
    pred = (out.squeeze(1) > 0).long() if out.shape[1] == 1 else out.argmax(1)
    return int((pred == y).sum().item())


@tn.no_grad()
def evaluate(model, dataset, device, batch_size=256):
    """(mean loss, accuracy) of ``model`` on ``dataset``, in eval mode."""
    model.eval()
    total_loss, correct, n = 0.0, 0, 0
    for x, y in DataLoader(dataset, batch_size=batch_size):
        x, y = _batches(x, y, device)
        out = model(x)
        total_loss += _loss(out, y, reduction="sum").item()
        correct += _correct(out, y)
        n += y.shape[0]
    model.train()
    return total_loss / max(n, 1), correct / max(n, 1)


# ---------------------------------------------------------------- training
def default_run_dir(model):
    return os.path.join("runs", f"{model}-{time.strftime('%Y%m%d-%H%M%S')}")


def _full_config(config):
    return {**DEFAULTS, **models.get(config["model"]).defaults, **config}


def build(config, strategy=None):
    """(model, optimizer, loader, train set, held-out set) for ``config``;
    the model and loader as ``strategy`` (default ``Local()``) wraps them."""
    config = _full_config(config)
    train_set, test_set = load_data(config["data"], config["seed"], config["val_fraction"])
    channels, size = image_geometry(train_set)
    tn.manual_seed(config["seed"])
    model = models.get(config["model"]).build(config, image_size=size, channels=channels,
                                              classes=num_classes(train_set))
    model.to(config["device"])
    opt = make_optimizer(config["optimizer"], model.parameters(), config["lr"],
                         config["weight_decay"])
    # batch_size is the global batch: DataParallel splits it over the processes
    model, loader = (strategy or Local()).loader(model, train_set, config["batch_size"],
                                                 config["seed"])
    return model, opt, loader, train_set, test_set


def fit(config, run, resume=False):
    """Train (or, with ``resume``, continue) the run described by ``config``
    (the keys of config.json) in ``run``; returns a ``Result``.

    Stops between two steps at ``config["max_steps"]`` (checkpointed) and on
    Ctrl-C (checkpointed, then ``SystemExit(130)``).
    """
    strategy = run.strategy = run.strategy or strategy_for(config)
    config = _full_config(dict(config, device=strategy.device(config["device"])))
    run.quiet = run.quiet or bool(config.get("quiet"))
    run.columns = run.columns or METRICS
    model, opt, loader, train_set, test_set = build(config, strategy)
    batch_in_epoch, epoch_start = 0, loader.state_dict()
    if resume:
        ck = run.load_checkpoint(model, opt)
        batch_in_epoch, epoch_start = ck["batch_in_epoch"], ck["loader_epoch_start"]
        if strategy.lead:
            run.truncate_metrics(run.epoch)

    recorder = _inspect(run, strategy.unwrap(model), config.get("inspect"), strategy.lead)

    def checkpoint(batch):
        run.save_checkpoint(model, opt, batch_in_epoch=batch, loader_epoch_start=epoch_start,
                            config=config)
        if recorder is not None:
            _save_inspection(run, recorder)

    model.train()
    with run.catch_interrupts():
        while run.epoch < config["epochs"]:
            loader.load_state_dict(epoch_start)       # the epoch's shuffle, reproducibly
            t0 = time.perf_counter()
            seen, loss_sum, correct = 0, 0.0, 0
            bar = run.progress(len(loader), f"epoch {run.epoch + 1}/{config['epochs']}",
                               initial=batch_in_epoch)
            for batch, (x, y) in enumerate(loader):
                if batch < batch_in_epoch:
                    continue
                x, y = _batches(x, y, config["device"])
                out = model(x)
                loss = _loss(out, y)
                opt.zero_grad()
                loss.backward()
                strategy.sync_gradients(model)
                opt.step()
                n, value = y.shape[0], loss.item()
                run.step_done(model, opt, loss, value)
                seen += n
                loss_sum += value * n
                correct += _correct(out, y)
                bar.update(1)
                rate = strategy.world_size() * seen / (time.perf_counter() - t0)
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}",
                                samples_s=f"{rate:.0f}")
                if run.interrupted():
                    checkpoint(batch + 1)
                    bar.close()
                    run.exit_interrupted()
                if run.reached(config.get("max_steps")):
                    checkpoint(batch + 1)
                    bar.close()
                    return _result(run, strategy, model, stopped=True)
            bar.close()
            batch_in_epoch = 0
            if run.interrupted():                  # Ctrl-C during the last batch of an epoch
                checkpoint(len(loader))
                run.exit_interrupted()
            seconds = time.perf_counter() - t0
            seen, loss_sum, correct = strategy.sum_across_ranks(seen, loss_sum, correct)
            val_loss, val_acc = evaluate(model, test_set, config["device"])
            run.epoch += 1
            epoch_start = loader.state_dict()
            if not strategy.lead:             # the others only join the checkpoint's collective
                checkpoint(0)
                continue
            train_loss, train_acc = loss_sum / max(seen, 1), correct / max(seen, 1)
            run.append_metrics({
                "epoch": run.epoch, "step": run.step, "train_loss": train_loss,
                "train_acc": train_acc, "val_loss": val_loss, "val_acc": val_acc,
                "epoch_seconds": seconds, "samples_per_second": seen / max(seconds, 1e-9)})
            checkpoint(0)
            run.draw_curves({"loss": "cross-entropy", "acc": "accuracy"})
            run.log(f"epoch {run.epoch:3d}  train loss {train_loss:.4f} acc {train_acc:.4f}  "
                    f"held-out loss {val_loss:.4f} acc {val_acc:.4f}  {seconds:.1f} s")
    strategy.barrier()                        # rank 0's metrics are complete
    return _result(run, strategy, model, stopped=False)


def _inspect(run, model, every, lead):
    """With ``--inspect EVERY``: a Recorder of activations, gradients and
    update:data ratios every EVERY steps, driven by the run's callbacks."""
    if not every or not lead or run.path is None:
        return None
    from tinynet.instruments import Recorder
    recorder = Recorder(model, every=every)
    run.callbacks.append(recorder.callback)
    return recorder


def _save_inspection(run, recorder):
    """The pictures and the records of ``--inspect`` in ``<run>/inspect/``."""
    import json
    path = os.path.join(run.path, "inspect")
    recorder.save_figures(path)
    tmp = os.path.join(path, "records.json.tmp")
    with open(tmp, "w") as f:
        json.dump(recorder.records, f,
                  default=lambda o: o.tolist() if hasattr(o, "tolist") else float(o))
    os.replace(tmp, os.path.join(path, "records.json"))


def _result(run, strategy, model, stopped):
    rows = run.metrics()
    last = rows[-1] if rows else {}
    return Result(model=strategy.unwrap(model), steps=run.step, epochs=run.epoch, stopped=stopped,
                  history=rows, losses=run.losses,
                  metrics={k: last[k] for k in ("val_loss", "val_acc") if k in last},
                  seconds=sum(r["epoch_seconds"] for r in rows), run_dir=run.path)


def train(config=None, model="cnn", run=None):
    """Train the seed ``model`` from ``config`` (defaults: the recipe's, then
    the seed's) in ``run`` (default: ``Run()``, no directory); returns a ``Result``."""
    config = {"seed": 0, "device": "cpu", "quiet": False, "max_steps": None,
              "distributed": False, **(config or {}), "model": model}
    return fit(config, run or Run())


# ---------------------------------------------------------------- command line
def add_arguments(parser, entry):
    """The options of ``tinynet train NAME`` for a seed trained by this recipe."""
    from tinynet.cli import SEED, device_option, float_option, int_option
    d = {**DEFAULTS, **entry.defaults}
    parser.add_argument("--data", default=d["data"], type=data_source,
                        help="'digits' (embedded), 'mnist:PATH', 'fashion-mnist:PATH', "
                             "'folder:PATH' (one sub-folder per class) or 'shapes' (generated) "
                             f"(default: {d['data']})")
    parser.add_argument("--epochs", type=int_option(1), default=d["epochs"])
    parser.add_argument("--batch-size", type=int_option(1), default=d["batch_size"])
    parser.add_argument("--optimizer", choices=list(OPTIMIZERS), default=d["optimizer"])
    parser.add_argument("--lr", type=float_option(0, low_open=True), default=d["lr"])
    parser.add_argument("--weight-decay", type=float_option(0), default=d["weight_decay"],
                        help="(default: the seed's, else the optimizer's own)")
    parser.add_argument("--seed", type=SEED, default=0)
    parser.add_argument("--device", default="cpu", type=device_option, help="'cpu' or 'cuda'")
    parser.add_argument("--out", help="run directory (default runs/<model>-<time>)")
    parser.add_argument("--max-steps", type=int_option(1),
                        help="stop after this many steps (checkpointed)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or epoch lines")
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel over the processes of `mpiexec -n N` (MPI); "
                             "--batch-size is then the global batch, split over them")
    parser.add_argument("--inspect", type=int_option(1), metavar="EVERY",
                        help="record activations, gradients and update:data ratios every "
                             "EVERY steps; pictures in <run>/inspect/")
    add_model_options(parser, entry, DEFAULTS)


def command(args, entry):
    """``tinynet train NAME``: a new run directory, trained to the end."""
    strategy = strategy_for(vars(args))        # DataParallel joins the MPI group here
    config = {"model": entry.name, "data": args.data, "seed": args.seed, "device": args.device,
              "epochs": args.epochs, "batch_size": args.batch_size, "optimizer": args.optimizer,
              "lr": args.lr, "weight_decay": args.weight_decay, "quiet": args.quiet,
              "max_steps": args.max_steps, "distributed": args.distributed,
              "inspect": args.inspect, **model_config(args, entry, DEFAULTS)}
    # the default name holds the time: every process uses rank 0's
    run = Run(strategy.broadcast(args.out or default_run_dir(entry.name)), strategy=strategy)
    if strategy.lead:
        run.write_config(config)
        print(f"tinynet train {entry.name}: run directory {run.path}{strategy.describe()}",
              flush=True)
    result = fit(config, run)
    if strategy.lead:
        report(result)
    return 0


def report(result):
    """The last line of ``tinynet train`` and ``tinynet resume``."""
    if not result.stopped and result.metrics.get("val_acc") is not None:
        print(f"done: {result.epochs} epochs, {result.steps} steps in {result.seconds:.1f} s of "
              f"training; held-out accuracy {result.metrics['val_acc']:.4f}; curves in "
              f"{os.path.join(result.run_dir, 'curves.png')}")
    else:
        print(f"stopped after {result.steps} steps; checkpoint in {result.run_dir}")
