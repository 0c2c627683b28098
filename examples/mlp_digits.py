"""The seed MLP on the embedded handwritten digits, as a plain training loop.

    python examples/mlp_digits.py

Every step is written out: no trainer, no callbacks. The network is the
seeds' 784-128-10 MLP with its input adapted to the 8x8 digits (64-128-10),
`tinynet.models.mlp` (tinynet/models/mlp.py), trained with Adam and
cross-entropy. `tinynet train mlp` trains the same model in a run directory.
"""
import time

import tinynet as tn
import tinynet.nn.functional as F
from tinynet import optim
from tinynet.data import DataLoader, digits
from tinynet.models import mlp       # the architecture: tinynet/models/mlp.py


def accuracy(model, dataset):
    x, y = dataset.tensors                   # the whole held-out set in one batch
    with tn.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def main(epochs=30, batch_size=64, lr=1e-3, seed=0, log=print):
    tn.manual_seed(seed)
    train, test = digits(split="train"), digits(split="test")
    model = mlp(image_size=8)                # Flatten -> Linear(64, 128) -> ReLU -> Linear
    opt = optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(train, batch_size=batch_size, shuffle=True, seed=seed)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        total, n = 0.0, 0
        for x, y in loader:
            logits = model(x)                         # (B, 1, 8, 8) -> (B, 10)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()                           # fills p.grad for every parameter
            opt.step()                                # one Adam update
            total += loss.item() * len(y)
            n += len(y)
        if epoch % 5 == 0 or epoch == epochs:
            log(f"epoch {epoch:3d}  train loss {total / n:.4f}  "
                f"held-out accuracy {accuracy(model, test):.4f}")
    log(f"{time.perf_counter() - start:.1f} s")
    return accuracy(model, test)


if __name__ == "__main__":
    main()
