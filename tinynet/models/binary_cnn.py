"""The seeds' binary image classifier (the cats-vs-dogs model): one logit per image.

``sigmoid(logit)`` is the probability of the second class; the loss is
``F.binary_cross_entropy_with_logits``, the stable form of
``binary_cross_entropy(sigmoid(logit), y)``::

    [conv3x3 -> BatchNorm2d -> ReLU -> MaxPool2d(2)] x 2   (B, 2w, H/4, W/4)
    conv3x3 -> BatchNorm2d -> ReLU -> AdaptiveAvgPool2d(1) (B, 4w, 1, 1)
    Flatten -> Dropout -> Linear(4w, 1)                    (B, 1)

``tinynet train binary_cnn`` trains it (the ``classify`` recipe, which uses
the binary loss for a model with one output); ``examples/binary_cnn.py`` is a
plain loop over it with data augmentation.
"""
import tinynet.nn as nn


class BinaryCNN(nn.Module):
    """Images (N, in_channels, H, W) -> one logit per image (N, 1); H, W >= 4."""

    def __init__(self, width=16, dropout=0.3, in_channels=3):
        super().__init__()

        def stage(c_in, c_out):
            # bias=False: the BatchNorm right after adds its own shift
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                    nn.BatchNorm2d(c_out), nn.ReLU()]

        self.features = nn.Sequential(
            *stage(in_channels, width), nn.MaxPool2d(2),
            *stage(width, 2 * width), nn.MaxPool2d(2),
            *stage(2 * width, 4 * width),
            nn.AdaptiveAvgPool2d(1))     # any image size ends as (N, 4w, 1, 1)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(4 * width, 1))

    def forward(self, x):
        return self.head(self.features(x))


def binary_classifier(image_size=32, channels=3, classes=2, width=16, dropout=0.3):
    """The registry's builder: a BinaryCNN for two classes (one logit)."""
    if classes != 2:
        raise ValueError(f"binary_classifier: a BinaryCNN separates exactly 2 classes (one "
                         f"logit), got {classes}; train the 'cnn' or 'resnet' seed for more")
    return BinaryCNN(width, dropout, in_channels=channels)
