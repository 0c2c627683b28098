"""Residual connections: a small ResNet-style network for small images.

A residual block computes ``relu(F(x) + shortcut(x))``, where ``F`` is
conv3x3 -> BatchNorm -> ReLU -> conv3x3 -> BatchNorm. The shortcut is the
identity when the block keeps the shape; when it changes the channel count or
halves the resolution (stride 2), a 1x1 convolution with the same stride (and
a BatchNorm) projects ``x`` to the new shape so the two can be added.

The gradient of ``F(x) + x`` with respect to ``x`` is ``dF/dx + 1``, so every
block passes the gradient of the loss straight through to the blocks below
it, even when ``F``'s own gradient is small.

The network (8x8 inputs)::

    stem: conv3x3(1, w) -> BatchNorm2d -> ReLU          (B, w, 8, 8)
    ResidualBlock(w, w)                                  (B, w, 8, 8)   identity shortcut
    ResidualBlock(w, 2w, stride=2)                       (B, 2w, 4, 4)  projection shortcut
    ResidualBlock(2w, 4w, stride=2)                      (B, 4w, 2, 2)  projection shortcut
    AdaptiveAvgPool2d(1) -> Flatten -> Linear(4w, 10)    (B, 10)

``tinynet train resnet`` trains it (the ``classify`` recipe);
``examples/residual_cnn.py`` is a plain loop over it.
"""
import tinynet.nn as nn
import tinynet.nn.functional as F


class ResidualBlock(nn.Module):
    """``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``.

    Args:
        in_channels, out_channels: channels of the input and the output.
        stride: stride of the first convolution (2 halves H and W).

    The shortcut is ``nn.Identity()`` when ``in_channels == out_channels`` and
    ``stride == 1``, else a 1x1 convolution with ``stride`` and a BatchNorm2d
    (``shortcut.0``, ``shortcut.1`` in the state_dict).

    Shape:
        ``(N, in_channels, H, W)`` -> ``(N, out_channels, OH, OW)`` with
        ``OH = (H - 1) // stride + 1`` (the same for W).
    """

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        # bias=False: each convolution is followed by a BatchNorm, whose shift replaces it
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride == 1 and in_channels == out_channels:
            self.shortcut = nn.Identity()
        else:
            # the 1x1 convolution takes x to the shape of the main path so they can be added
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class SmallResNet(nn.Module):
    """Images (N, in_channels, H, W) -> class logits (N, num_classes)."""

    def __init__(self, in_channels=1, num_classes=10, width=16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        self.blocks = nn.Sequential(ResidualBlock(width, width),
                                    ResidualBlock(width, 2 * width, stride=2),
                                    ResidualBlock(2 * width, 4 * width, stride=2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(self.pool(x).flatten(1))


def small_resnet(image_size=8, channels=1, classes=10, width=16):
    """The registry's builder: a SmallResNet for ``channels``-channel images
    (any ``image_size``: the average pooling ends every size at 1x1)."""
    return SmallResNet(channels, classes, width)
