"""The seed MLP: Linear(in, 128) -> ReLU -> Linear(128, 10).

The seeds' 784-128-10 MLP with its input adapted to the data: 64 inputs for
the embedded 8x8 digits, 784 for 28x28 MNIST. ``tinynet train mlp`` trains it
(the ``classify`` recipe); ``examples/mlp_digits.py`` is a plain loop over it.
"""
import tinynet.nn as nn


def mlp(image_size=8, channels=1, hidden=128, classes=10):
    """Images (N, channels, image_size, image_size) -> class logits (N, classes).

    An ``nn.Sequential`` (Flatten, Linear, ReLU, Linear): its state_dict keys
    are ``1.weight``, ``1.bias``, ``3.weight``, ``3.bias``.
    """
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(channels * image_size * image_size, hidden), nn.ReLU(),
        nn.Linear(hidden, classes))
