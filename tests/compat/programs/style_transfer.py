"""Fast-style-transfer-like training: a transformer network with reflection
padding and instance norm, a frozen feature extractor, content loss and a
Gram-matrix style loss.

Idioms: ``nn.ReflectionPad2d``, ``nn.InstanceNorm2d(affine=True)``, a
residual block ``out = out + residual``, upsampling through
``F.interpolate(mode='nearest', scale_factor=2)``, ``gram_matrix`` with
``features.view(b, ch, w * h)``, ``features.transpose(1, 2)`` and ``.bmm``,
``requires_grad_(False)`` on the loss network, ``nn.ModuleList``.
Randomness: images from NumPy; initial weights loaded by the harness. The
convolutions followed by an instance norm have no bias: its exact gradient is
zero. The optimizer is SGD with momentum, not the Adam of the usual recipe:
Adam divides each gradient by its own running size, so float32 rounding
differences between two correct libraries (summation order in convolution)
grow into visible loss differences within a few steps on this network.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvLayer(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, bias=False):
        super(ConvLayer, self).__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride, bias=bias)

    def forward(self, x):
        return self.conv2d(self.reflection_pad(x))


class ResidualBlock(nn.Module):
    def __init__(self, channels):
        super(ResidualBlock, self).__init__()
        self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)
        self.relu = nn.ReLU()

    def forward(self, x):
        residual = x
        out = self.relu(self.in1(self.conv1(x)))
        out = self.in2(self.conv2(out))
        out = out + residual
        return out


class TransformerNet(nn.Module):
    def __init__(self):
        super(TransformerNet, self).__init__()
        self.conv1 = ConvLayer(3, 8, kernel_size=5, stride=1)
        self.in1 = nn.InstanceNorm2d(8, affine=True)
        self.conv2 = ConvLayer(8, 16, kernel_size=3, stride=2)
        self.in2 = nn.InstanceNorm2d(16, affine=True)
        self.res = nn.ModuleList([ResidualBlock(16) for _ in range(2)])
        self.deconv = ConvLayer(16, 8, kernel_size=3, stride=1)
        self.in3 = nn.InstanceNorm2d(8, affine=True)
        self.out = ConvLayer(8, 3, kernel_size=5, stride=1, bias=True)
        self.relu = nn.ReLU()

    def forward(self, X):
        y = self.relu(self.in1(self.conv1(X)))
        y = self.relu(self.in2(self.conv2(y)))
        for block in self.res:
            y = block(y)
        y = F.interpolate(y, mode='nearest', scale_factor=2)
        y = self.relu(self.in3(self.deconv(y)))
        return self.out(y)


class LossNet(nn.Module):
    """Stands in for VGG: two frozen conv stages whose outputs are the features."""

    def __init__(self):
        super(LossNet, self).__init__()
        self.slice1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.slice2 = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())

    def forward(self, X):
        h1 = self.slice1(X)
        h2 = self.slice2(h1)
        return h1, h2


def gram_matrix(y):
    (b, ch, h, w) = y.size()
    features = y.view(b, ch, w * h)
    features_t = features.transpose(1, 2)
    gram = features.bmm(features_t) / (ch * h * w)
    return gram


def build():
    return {"transformer": TransformerNet(), "vgg": LossNet()}


def train(nets, steps=8, content_weight=1.0, style_weight=50.0):
    transformer, vgg = nets["transformer"], nets["vgg"]
    vgg.requires_grad_(False)
    rng = np.random.default_rng(0)
    content = torch.tensor(rng.uniform(size=(2, 3, 12, 12)), dtype=torch.float32)
    style = torch.tensor(np.tile(np.linspace(0, 1, 12), (1, 3, 12, 1)), dtype=torch.float32)
    gram_style = [gram_matrix(y) for y in vgg(style)]
    mse_loss = nn.MSELoss()
    optimizer = torch.optim.SGD(transformer.parameters(), lr=0.05, momentum=0.9)
    log = []
    for step in range(steps):
        optimizer.zero_grad()
        y = transformer(content)
        features_y = vgg(y)
        features_x = vgg(content)
        content_loss = content_weight * mse_loss(features_y[1], features_x[1])
        style_loss = 0.
        for ft_y, gm_s in zip(features_y, gram_style):
            gm_y = gram_matrix(ft_y)
            style_loss += mse_loss(gm_y, gm_s[:len(content), :, :].expand_as(gm_y))
        style_loss *= style_weight
        total_loss = content_loss + style_loss
        total_loss.backward()
        optimizer.step()
        log.append([content_loss.item(), style_loss.item()])
    return log


if __name__ == "__main__":
    print(train(build()))
