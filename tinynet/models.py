"""The seed models that ``tinynet train`` knows, built from ``tinynet.nn``.

- ``mlp``: Linear(in, 128) -> ReLU -> Linear(128, 10), the seeds' 784-128-10
  MLP with its input adapted to the data (64 for the 8x8 digits).
- ``cnn``: the seeds' MNIST CNN, conv32 3x3 relu -> maxpool 2 -> conv64 3x3
  relu -> maxpool 2 -> dense 512 relu -> dense 10. The convolutions use
  padding 1: on the embedded 8x8 digits an unpadded stack would shrink the
  image to nothing (8 -> 6 -> 3 -> 1 -> pool fails); with padding the same
  architecture runs unchanged on 8x8 digits and 28x28 MNIST, only the dense
  layer's input size follows the image size.
"""
import tinynet.nn as nn


def mlp(image_size=8, channels=1, hidden=128, classes=10):
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(channels * image_size * image_size, hidden), nn.ReLU(),
        nn.Linear(hidden, classes))


def cnn(image_size=8, channels=1, classes=10):
    side = image_size // 2 // 2          # two 2x2 poolings
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * side * side, 512), nn.ReLU(),
        nn.Linear(512, classes))


MODELS = {"mlp": mlp, "cnn": cnn}

# optimizer and learning rate each seed model trains with by default
DEFAULTS = {
    "mlp": {"optimizer": "adam", "lr": 1e-3, "epochs": 30, "batch_size": 64},
    "cnn": {"optimizer": "rmsprop", "lr": 1e-3, "epochs": 12, "batch_size": 64},
}
