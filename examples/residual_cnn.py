"""Residual connections: a small ResNet-style network on the embedded 8x8 digits.

    python examples/residual_cnn.py
    python examples/residual_cnn.py --epochs 20 --width 32

A residual block computes ``relu(F(x) + shortcut(x))``, where ``F`` is
conv3x3 -> BatchNorm -> ReLU -> conv3x3 -> BatchNorm. The shortcut is the
identity when the block keeps the shape; when it changes the channel count or
halves the resolution (stride 2), a 1x1 convolution with the same stride (and
a BatchNorm) projects ``x`` to the new shape so the two can be added.

Why it helps: the gradient of ``F(x) + x`` with respect to ``x`` is
``dF/dx + 1``, so every block passes the gradient of the loss straight
through to the blocks below it, even when ``F``'s own gradient is small.
Deep stacks then train as easily as shallow ones.

The network (8x8 inputs)::

    stem: conv3x3(1, w) -> BatchNorm2d -> ReLU          (B, w, 8, 8)
    ResidualBlock(w, w)                                  (B, w, 8, 8)   identity shortcut
    ResidualBlock(w, 2w, stride=2)                       (B, 2w, 4, 4)  projection shortcut
    ResidualBlock(2w, 4w, stride=2)                      (B, 4w, 2, 2)  projection shortcut
    AdaptiveAvgPool2d(1) -> Flatten -> Linear(4w, 10)    (B, 10)

The blocks and the network are ``tinynet.models.ResidualBlock`` and
``tinynet.models.SmallResNet`` (tinynet/models/residual_cnn.py);
``tinynet train resnet`` trains the same network in a run directory.

Entry points: ``train(config)`` returns the model and per-epoch history;
``main(argv)`` is the command line (``--help`` lists the options).

The convolutional examples:

    examples/cnn_digits.py     the seeds' MNIST CNN (conv, maxpool, dense) on the 8x8 digits
    examples/binary_cnn.py     binary image classifier: BatchNorm2d, Dropout, augmentation,
                               binary_cross_entropy_with_logits, on an ImageFolder
    examples/residual_cnn.py   residual blocks (identity and 1x1 projection shortcuts),
                               a small ResNet on the 8x8 digits
"""
import argparse
import sys
import time

import tinynet as tn
import tinynet.nn.functional as F
import tinynet.optim as optim
from tinynet.data import DataLoader, digits
# the architecture: tinynet/models/residual_cnn.py
from tinynet.models import ResidualBlock, SmallResNet  # noqa: F401  (ResidualBlock: for readers)

DEFAULTS = {
    "width": 16, "epochs": 8, "batch_size": 64, "lr": 0.05, "momentum": 0.9,
    "weight_decay": 5e-4, "max_steps": None, "seed": 0, "save": None, "quiet": False,
}


def evaluate(model, dataset):
    """(mean loss, accuracy) on a TensorDataset, in eval mode."""
    x, y = dataset.tensors
    model.eval()
    with tn.no_grad():
        logits = model(x)
        loss = F.cross_entropy(logits, y).item()
        acc = (logits.argmax(1) == y).float().mean().item()
    model.train()
    return loss, acc


def train(config=None):
    """Train a SmallResNet on the digits; returns a dict with ``model``, per-step
    ``losses`` and ``history`` (one dict per epoch: train_loss, test_loss,
    test_acc, seconds)."""
    cfg = dict(DEFAULTS, **(config or {}))
    log = (lambda *a, **k: None) if cfg["quiet"] else print
    tn.manual_seed(cfg["seed"])
    train_set, test_set = digits(split="train"), digits(split="test")
    model = SmallResNet(1, 10, cfg["width"])
    opt = optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"],
                    weight_decay=cfg["weight_decay"])
    loader = DataLoader(train_set, batch_size=cfg["batch_size"], shuffle=True, seed=cfg["seed"])
    n_params = sum(p.numel() for p in model.parameters())
    log(f"residual_cnn: {len(train_set)} training and {len(test_set)} test digits, "
        f"{n_params} parameters")
    losses, history, step, t0 = [], [], 0, time.perf_counter()
    for epoch in range(1, cfg["epochs"] + 1):
        total, n = 0.0, 0
        for x, y in loader:                       # x: (B, 1, 8, 8) float32, y: (B,) int64
            if cfg["max_steps"] is not None and step >= cfg["max_steps"]:
                break
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            total += losses[-1] * len(y)
            n += len(y)
            step += 1
        if n == 0:
            break
        test_loss, test_acc = evaluate(model, test_set)
        history.append({"epoch": epoch, "train_loss": total / n, "test_loss": test_loss,
                        "test_acc": test_acc, "seconds": time.perf_counter() - t0})
        log(f"epoch {epoch:2d}  train loss {total / n:.4f}  test loss {test_loss:.4f}  "
            f"test accuracy {test_acc:.4f}  ({history[-1]['seconds']:.1f} s)")
    if cfg["save"]:
        tn.save(model.state_dict(), cfg["save"])
        log(f"saved the model's state_dict to {cfg['save']}")
    return {"model": model, "losses": losses, "history": history, "steps": step}


def _parser():
    p = argparse.ArgumentParser(description="Train a small ResNet on the 8x8 digits.")
    for key in ("width", "epochs", "batch_size", "max_steps", "seed"):
        p.add_argument("--" + key.replace("_", "-"), type=int, default=DEFAULTS[key])
    for key in ("lr", "momentum", "weight_decay"):
        p.add_argument("--" + key.replace("_", "-"), type=float, default=DEFAULTS[key])
    p.add_argument("--save", default=DEFAULTS["save"], help="file for the trained state_dict")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv=None):
    """Command line: ``python examples/residual_cnn.py --help``."""
    args = _parser().parse_args(argv)
    result = train(vars(args))
    if result["history"]:
        last = result["history"][-1]
        print(f"test accuracy {last['test_acc']:.4f} after {last['epoch']} epochs "
              f"({last['seconds']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
