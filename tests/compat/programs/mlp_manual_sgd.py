"""MLP regression trained by a hand-written SGD loop.

Idioms: ``torch.no_grad()`` around ``p -= lr * p.grad`` and ``p.grad.zero_()``,
``x.size()``, ``x.view(...)``, ``torch.from_numpy(...).float()``.
Randomness: data from NumPy (seed 0), full-batch steps; none left.
"""
import numpy as np
import torch
import torch.nn as nn


class MLP(nn.Module):
    def __init__(self, n_in=3, hidden=16):
        super().__init__()
        self.fc1 = nn.Linear(n_in, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        x = torch.tanh(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.out(x).view(-1)


def make_data(n=64):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(n, 3))
    y = np.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2]
    return torch.from_numpy(x).float(), torch.from_numpy(y).float()


def build():
    return MLP()


def train(model, steps=30, lr=0.1):
    x, y = make_data()
    losses = []
    for step in range(steps):
        pred = model(x)
        loss = ((pred - y) ** 2).mean()
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
                p.grad.zero_()
        losses.append(loss.item())
    return losses


if __name__ == "__main__":
    for i, loss in enumerate(train(build())):
        print(f"step {i:2d}  loss {loss:.4f}")
