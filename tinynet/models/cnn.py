"""The seed CNN: the seeds' MNIST model.

conv32 3x3 relu -> maxpool 2 -> conv64 3x3 relu -> maxpool 2 -> dense 512
relu -> dense 10. The convolutions use padding 1: on the embedded 8x8 digits
an unpadded stack would shrink the image to nothing (8 -> 6 -> 3 -> 1 -> pool
fails); with padding the same architecture runs unchanged on 8x8 digits and
28x28 MNIST, only the dense layer's input size follows the image size.
``tinynet train cnn`` trains it (the ``classify`` recipe);
``examples/cnn_digits.py`` is a plain loop over it.
"""
import tinynet.nn as nn


def cnn(image_size=8, channels=1, classes=10):
    """Images (N, channels, image_size, image_size) -> class logits (N, classes).

    An ``nn.Sequential``. The dense layer's input size follows from
    ``image_size``, so images of another size are refused by that layer.
    """
    side = image_size // 2 // 2          # two 2x2 poolings
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * side * side, 512), nn.ReLU(),
        nn.Linear(512, classes))
