"""`.data` idioms: weight init through ``model.apply``, in-place updates and
WGAN-style weight clipping through ``p.data``.

Idioms: ``m.weight.data.normal_(0, 0.02)``, ``m.bias.data.fill_(0)``,
``classname.find('Linear')``, ``p.data.add_(p.grad.data, alpha=-lr)``,
``p.data.clamp_(-c, c)``, ``p.grad.data.zero_()``.
Randomness: ``normal_`` draws differ between libraries, so the harness loads
the same initial weights after ``build()``; data from NumPy.
"""
import numpy as np
import torch
import torch.nn as nn


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find('Linear') != -1:
        m.weight.data.normal_(0.0, 0.02)
        m.bias.data.fill_(0)


class Critic(nn.Module):
    def __init__(self):
        super(Critic, self).__init__()
        self.main = nn.Sequential(
            nn.Linear(4, 32),
            nn.LeakyReLU(0.2),
            nn.Linear(32, 32),
            nn.LeakyReLU(0.2),
            nn.Linear(32, 1),
        )

    def forward(self, input):
        return self.main(input).view(-1)


def build():
    critic = Critic()
    critic.apply(weights_init)
    return critic


def train(critic, steps=25, lr=0.05, clip=0.05):
    rng = np.random.default_rng(1)
    real = torch.from_numpy(rng.normal(1.0, 0.5, size=(32, 4)).astype(np.float32))
    fake = torch.from_numpy(rng.normal(-1.0, 0.5, size=(32, 4)).astype(np.float32))
    values = []
    for step in range(steps):
        for p in critic.parameters():
            if p.grad is not None:
                p.grad.data.zero_()
        loss = critic(fake).mean() - critic(real).mean()
        loss.backward()
        for p in critic.parameters():
            p.data.add_(p.grad.data, alpha=-lr)
            p.data.clamp_(-clip, clip)
        values.append(loss.item())
    values.append(sum(p.data.abs().sum().item() for p in critic.parameters()))
    return values


if __name__ == "__main__":
    print(train(build()))
