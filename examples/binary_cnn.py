"""A binary image classifier (the seeds' cats-vs-dogs model) as a plain training loop.

    python examples/binary_cnn.py                      # a generated two-class image folder
    python examples/binary_cnn.py --data pets          # pets/cat/*.jpg, pets/dog/*.jpg

The data is an ``ImageFolder``: one sub-folder of images per class, exactly
two classes. A seeded share of the images (``--val-fraction``) is held out;
the rest is trained on with augmentation: random flips, random crops of a
padded image and small random rotations/shifts (``tinynet.data.transforms``,
drawn from ``tinynet.random``, so ``--seed`` repeats a run exactly). The
held-out images are only normalized, never augmented.

The network, ``tinynet.models.BinaryCNN`` (tinynet/models/binary_cnn.py),
has one output, a logit: ``sigmoid(logit)`` is the probability of the second
class (``classes[1]``), and the loss is ``F.binary_cross_entropy_with_logits``,
which is the stable way to compute ``binary_cross_entropy(sigmoid(logit), y)``::

    [conv3x3 -> BatchNorm2d -> ReLU -> MaxPool2d(2)] x 2   (B, 32, H/4, W/4)
    conv3x3 -> BatchNorm2d -> ReLU -> AdaptiveAvgPool2d(1) (B, 64, 1, 1)
    Flatten -> Dropout -> Linear(64, 1)                    (B, 1)

``tinynet train binary_cnn`` trains the same model in a run directory
(without the augmentation).

With no ``--data`` the example draws a small synthetic set into a temporary
folder (``tinynet.recipes.classify.make_shapes_folder``): ``cross`` images
(a plus sign) and ``ring`` images (a hollow circle),
each of a random size, colour and position on a noisy background, saved as
PNG files. Because the shapes move around, the model has to learn what they
look like, not where they are; the augmentation adds more of that variety
(flipped, shifted, slightly rotated copies). This set is easy: with the
defaults, ``--no-augment`` reaches the same held-out accuracy, so try a
small ``--n-per-class`` or your own photos to see augmentation matter.

Entry points: ``train(config)`` returns the model, classes and per-epoch
history; ``main(argv)`` is the command line (``--help`` lists the options).

The convolutional examples:

    examples/cnn_digits.py     the seeds' MNIST CNN (conv, maxpool, dense) on the 8x8 digits
    examples/binary_cnn.py     binary image classifier: BatchNorm2d, Dropout, augmentation,
                               binary_cross_entropy_with_logits, on an ImageFolder
    examples/residual_cnn.py   residual blocks (identity and 1x1 projection shortcuts),
                               a small ResNet on the 8x8 digits
"""
import argparse
import sys
import tempfile
import time

import numpy as np

import tinynet as tn
import tinynet.nn.functional as F
import tinynet.optim as optim
from tinynet.data import DataLoader, ImageFolder, Subset
from tinynet.data import transforms as T
from tinynet.models import BinaryCNN          # the architecture: tinynet/models/binary_cnn.py
from tinynet.recipes.classify import make_shapes_folder   # the generated crosses and rings

DEFAULTS = {
    "data": None,            # an ImageFolder root with two class sub-folders; None: generate
    "n_per_class": 200,      # size of the generated set, per class
    "image_size": 32,        # side of the generated images (and of the crops)
    "val_fraction": 0.25,    # share of the images held out
    "width": 16,             # channels of the first convolution (then 2x, 4x)
    "dropout": 0.3,
    "batch_size": 32, "lr": 3e-3, "weight_decay": 1e-4, "epochs": 8,
    "augment": True,
    "seed": 0,
    "save": "binary_cnn.tnz",  # where the trained model goes; None: not saved
    "quiet": False,
}

# channel statistics used by Normalize; 0.5 / 0.25 suits images in [0, 1]
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


# ----------------------------------------------------------------- data
def load_data(cfg):
    """(train, held-out, classes): two Subsets of the same ImageFolder, the
    first with augmentation, the second without."""
    root = cfg["data"]
    if root is None:
        root = make_shapes_folder(tempfile.mkdtemp(prefix="tinynet-shapes-"),
                                  cfg["n_per_class"], cfg["image_size"], seed=cfg["seed"])
    size = cfg["image_size"]
    plain = [T.ToTensor(), T.Normalize(MEAN, STD)]
    augment = [T.ToTensor(),
               T.RandomHorizontalFlip(),
               T.RandomCrop(size, padding=size // 8, pad_if_needed=True),
               T.RandomAffine(degrees=10, translate=(0.05, 0.05)),
               T.Normalize(MEAN, STD)]
    if not cfg["augment"]:
        augment = plain
    # the same files twice, each with its own transform; the split picks disjoint indices
    train_folder = ImageFolder(root, transform=T.Compose(augment))
    val_folder = ImageFolder(root, transform=T.Compose(plain))
    if len(train_folder.classes) != 2:
        raise ValueError(f"binary_cnn: expected 2 class folders in {root!r}, "
                         f"got {train_folder.classes}")
    order = np.random.default_rng(cfg["seed"]).permutation(len(train_folder))
    n_val = max(1, int(round(cfg["val_fraction"] * len(order))))
    return (Subset(train_folder, order[n_val:]), Subset(val_folder, order[:n_val]),
            train_folder.classes)


def evaluate(model, loader):
    """(mean loss, accuracy) over ``loader``, in eval mode (running stats, no dropout)."""
    model.eval()
    total, correct, n = 0.0, 0, 0
    with tn.no_grad():
        for x, y in loader:
            logit = model(x).squeeze(1)
            target = y.float()
            total += F.binary_cross_entropy_with_logits(logit, target, reduction="sum").item()
            # logit > 0 is the same as sigmoid(logit) > 0.5
            correct += int(((logit.array > 0) == (target.array > 0.5)).sum())
            n += len(y)
    model.train()
    return total / n, correct / n


def train(config=None):
    """Train a BinaryCNN; returns a dict with ``model``, ``classes`` and
    ``history`` (one dict per epoch: train_loss, train_acc, val_loss, val_acc, seconds)."""
    cfg = dict(DEFAULTS, **(config or {}))
    log = (lambda *a, **k: None) if cfg["quiet"] else print
    tn.manual_seed(cfg["seed"])            # weights, dropout and augmentation all follow it
    train_set, val_set, classes = load_data(cfg)
    train_loader = DataLoader(train_set, batch_size=cfg["batch_size"], shuffle=True,
                              seed=cfg["seed"])
    val_loader = DataLoader(val_set, batch_size=256)
    model = BinaryCNN(cfg["width"], cfg["dropout"])
    opt = optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    log(f"binary_cnn: {len(train_set)} training and {len(val_set)} held-out images, "
        f"classes {classes} (logit > 0 means {classes[1]!r})")
    history, t0 = [], time.perf_counter()
    for epoch in range(1, cfg["epochs"] + 1):
        total, correct, n = 0.0, 0, 0
        for x, y in train_loader:                 # x: (B, 3, H, W) float32, y: (B,) int64
            logit = model(x).squeeze(1)           # (B,)
            target = y.float()                    # the loss wants float targets in {0, 1}
            loss = F.binary_cross_entropy_with_logits(logit, target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
            correct += int(((logit.array > 0) == (target.array > 0.5)).sum())
            n += len(y)
        val_loss, val_acc = evaluate(model, val_loader)
        stats = {"epoch": epoch, "train_loss": total / n, "train_acc": correct / n,
                 "val_loss": val_loss, "val_acc": val_acc,
                 "seconds": time.perf_counter() - t0}
        history.append(stats)
        log(f"epoch {epoch:2d}  train loss {stats['train_loss']:.4f} acc {stats['train_acc']:.3f}"
            f"  held-out loss {val_loss:.4f} acc {val_acc:.3f}  ({stats['seconds']:.1f} s)")
    if cfg["save"]:
        tn.save(model.state_dict(), cfg["save"])
        log(f"saved the model's state_dict to {cfg['save']}")
    return {"model": model, "classes": classes, "history": history}


def _parser():
    p = argparse.ArgumentParser(description="Train a small CNN on a two-class image folder.")
    p.add_argument("--data", help="folder with two class sub-folders of images "
                                  "(default: generate crosses and rings)")
    for key in ("n_per_class", "image_size", "width", "batch_size", "epochs", "seed"):
        p.add_argument("--" + key.replace("_", "-"), type=int, default=DEFAULTS[key])
    for key in ("val_fraction", "dropout", "lr", "weight_decay"):
        p.add_argument("--" + key.replace("_", "-"), type=float, default=DEFAULTS[key])
    p.add_argument("--no-augment", dest="augment", action="store_false")
    p.add_argument("--save", default=DEFAULTS["save"],
                   help="file for the trained state_dict ('' to skip saving)")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv=None):
    """Command line: ``python examples/binary_cnn.py --help``."""
    args = _parser().parse_args(argv)
    result = train(vars(args))
    last = result["history"][-1]
    print(f"held-out accuracy {last['val_acc']:.3f} after {last['epoch']} epochs "
          f"({last['seconds']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
