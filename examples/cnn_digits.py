"""The seed CNN on the embedded handwritten digits, as a plain training loop.

    python examples/cnn_digits.py

conv32 3x3 relu -> maxpool 2 -> conv64 3x3 relu -> maxpool 2 -> dense 512
relu -> dense 10, RMSprop, cross-entropy: the seeds' MNIST model. The 8x8
digits are small, so both convolutions pad by 1 to keep the shapes valid
(8 -> 8 -> 4 -> 4 -> 2). The architecture is `tinynet.models.cnn`
(tinynet/models/cnn.py); `tinynet train cnn` trains the same model with
progress bars, checkpoints and curves (tinynet/recipes/classify.py).

The convolutional examples:

    examples/cnn_digits.py     the seeds' MNIST CNN (conv, maxpool, dense) on the 8x8 digits
    examples/binary_cnn.py     binary image classifier: BatchNorm2d, Dropout, augmentation,
                               binary_cross_entropy_with_logits, on an ImageFolder
    examples/residual_cnn.py   residual blocks (identity and 1x1 projection shortcuts),
                               a small ResNet on the 8x8 digits
"""
import time

import tinynet as tn
import tinynet.nn.functional as F
from tinynet import optim
from tinynet.data import DataLoader, digits
from tinynet.models import cnn       # the architecture: tinynet/models/cnn.py


def accuracy(model, dataset):
    x, y = dataset.tensors
    model.eval()
    with tn.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    model.train()
    return acc


def main(epochs=12, batch_size=64, lr=1e-3, seed=0, log=print):
    tn.manual_seed(seed)
    train, test = digits(split="train"), digits(split="test")
    model = cnn(image_size=8)                # (B, 1, 8, 8) -> (B, 10)
    opt = optim.RMSprop(model.parameters(), lr=lr)
    loader = DataLoader(train, batch_size=batch_size, shuffle=True, seed=seed)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        total, n = 0.0, 0
        for x, y in loader:                       # x: (B, 1, 8, 8) float32, y: (B,) int64
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
            n += len(y)
        log(f"epoch {epoch:3d}  train loss {total / n:.4f}  "
            f"held-out accuracy {accuracy(model, test):.4f}")
    log(f"{time.perf_counter() - start:.1f} s")
    return accuracy(model, test)


if __name__ == "__main__":
    main()
