"""Fit a small model with L-BFGS and a closure, as in the time-sequence
prediction example (double precision).

Idioms: ``optim.LBFGS(model.parameters(), lr=..., max_iter=...)``,
``optimizer.step(closure)`` returning the loss, ``model.double()``,
``torch.linspace``, ``x.unsqueeze(1)``.
Randomness: none (a fixed target curve).
"""
import math

import torch
import torch.nn as nn
import torch.optim as optim


def build():
    model = nn.Sequential(nn.Linear(1, 12), nn.Tanh(), nn.Linear(12, 1))
    return model.double()


def train(model, steps=6):
    x = torch.linspace(-math.pi, math.pi, 50, dtype=torch.float64).unsqueeze(1)
    y = torch.sin(x) + 0.3 * torch.cos(3 * x)
    criterion = nn.MSELoss()
    optimizer = optim.LBFGS(model.parameters(), lr=0.8, max_iter=10, history_size=8)
    log = []
    for i in range(steps):
        def closure():
            optimizer.zero_grad()
            out = model(x)
            loss = criterion(out, y)
            loss.backward()
            return loss
        loss = optimizer.step(closure)
        print('step %d loss: %.6f' % (i, loss.item()))
        log.append(loss.item())
    with torch.no_grad():
        log.append(criterion(model(x), y).item())
    return log


if __name__ == "__main__":
    train(build())
