"""Sub-pixel super-resolution in the style of the super_resolution example.

Idioms: ``nn.PixelShuffle(upscale_factor)``, ``nn.init.orthogonal_`` and
``nn.init.calculate_gain('relu')`` in ``_initialize_weights``, a bicubic-free
baseline with ``F.interpolate(scale_factor=2, mode='bilinear',
align_corners=False)``, ``F.avg_pool2d`` to make the low-resolution input,
PSNR ``10 * log10(1 / mse.item())``.
Randomness: images from NumPy; initial weights loaded by the harness.
"""
from math import log10

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.init as init
import torch.optim as optim


class Net(nn.Module):
    def __init__(self, upscale_factor):
        super(Net, self).__init__()
        self.relu = nn.ReLU()
        self.conv1 = nn.Conv2d(1, 16, (5, 5), (1, 1), (2, 2))
        self.conv2 = nn.Conv2d(16, 8, (3, 3), (1, 1), (1, 1))
        self.conv3 = nn.Conv2d(8, upscale_factor ** 2, (3, 3), (1, 1), (1, 1))
        self.pixel_shuffle = nn.PixelShuffle(upscale_factor)
        self._initialize_weights()

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        return self.pixel_shuffle(self.conv3(x))

    def _initialize_weights(self):
        init.orthogonal_(self.conv1.weight, init.calculate_gain('relu'))
        init.orthogonal_(self.conv2.weight, init.calculate_gain('relu'))
        init.orthogonal_(self.conv3.weight)


def make_images(n=8, size=12):
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:size, 0:size] / size
    imgs = []
    for _ in range(n):
        fx, fy, ph = rng.uniform(1, 3), rng.uniform(1, 3), rng.uniform(0, 6)
        imgs.append(0.5 + 0.5 * np.sin(2 * np.pi * (fx * xs + fy * ys) + ph))
    return torch.tensor(np.stack(imgs)[:, None], dtype=torch.float32)


def build():
    return Net(upscale_factor=2)


def train(model, epochs=12):
    target = make_images()
    lowres = F.avg_pool2d(target, 2)
    criterion = nn.MSELoss()
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    log = []
    with torch.no_grad():
        baseline = F.interpolate(lowres, scale_factor=2, mode='bilinear', align_corners=False)
        log.append(10 * log10(1 / criterion(baseline, target).item()))
        nearest = F.interpolate(lowres, size=target.shape[-2:], mode='nearest')
        log.append(criterion(nearest, target).item())
    for epoch in range(epochs):
        optimizer.zero_grad()
        loss = criterion(model(lowres), target)
        loss.backward()
        optimizer.step()
        log.append(loss.item())
    with torch.no_grad():
        mse = criterion(model(lowres), target)
        psnr = 10 * log10(1 / mse.item())
        print(f"===> Avg. PSNR: {psnr:.4f} dB")
        log.append(psnr)
    return log


if __name__ == "__main__":
    train(build())
