"""Train, save a checkpoint dict, rebuild everything and resume.

Idioms: ``torch.save({'epoch': ..., 'model_state_dict': model.state_dict(),
'optimizer_state_dict': optimizer.state_dict(), 'loss': ...}, PATH)``,
``checkpoint = torch.load(PATH)``, ``model.load_state_dict(...)``,
``optimizer.load_state_dict(...)``, ``copy.deepcopy(model.state_dict())``
for the best model, ``register_buffer``, ``nn.ModuleDict``.
Randomness: data from NumPy.
"""
import copy
import os
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("scale", torch.tensor([1.0, 2.0, 0.5]))
        self.layers = nn.ModuleDict({"hidden": nn.Linear(3, 10), "out": nn.Linear(10, 2)})

    def forward(self, x):
        return self.layers["out"](torch.relu(self.layers["hidden"](x * self.scale)))


def make_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def build():
    return Model()


def fit(model, optimizer, x, y, epochs, log, best):
    for epoch in range(epochs):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        log.append(loss.item())
        if loss.item() < best["loss"]:
            best["loss"] = loss.item()
            best["state"] = copy.deepcopy(model.state_dict())


def train(model):
    x, y = make_data()
    optimizer = optim.Adam(model.parameters(), lr=0.03)
    log, best = [], {"loss": float("inf"), "state": None}
    fit(model, optimizer, x, y, 6, log, best)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "checkpoint.pt")
        torch.save({'epoch': 6, 'model_state_dict': model.state_dict(),
                    'optimizer_state_dict': optimizer.state_dict(), 'loss': log[-1]}, path)
        fit(model, optimizer, x, y, 4, log, best)     # the run that will be redone

        model = Model()
        optimizer = optim.Adam(model.parameters(), lr=0.03)
        checkpoint = torch.load(path)
        model.load_state_dict(checkpoint['model_state_dict'])
        optimizer.load_state_dict(checkpoint['optimizer_state_dict'])
        log += [checkpoint['epoch'], checkpoint['loss']]
    fit(model, optimizer, x, y, 4, log, best)
    model.load_state_dict(best["state"])
    with torch.no_grad():
        log.append(nn.functional.cross_entropy(model(x), y).item())
    return log


if __name__ == "__main__":
    print(train(build()))
