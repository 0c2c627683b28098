"""The same small classifier trained by each of torch.optim's common
optimizers, Adadelta with StepLR as in the MNIST example among them.

Idioms: ``optim.Adadelta(lr=1.0)`` + ``StepLR(step_size=1, gamma=0.7)``,
``Adagrad``, ``Adamax``, ``NAdam``, ``RAdam``, ``RMSprop(centered=True,
momentum=...)``, ``Adam(amsgrad=True)``, ``SGD(dampening=...)``,
``model.load_state_dict(copy.deepcopy(initial))`` to restart from the same
weights, ``F.nll_loss`` on ``F.log_softmax``, ``optimizer.state_dict()['state']``.
Randomness: data from NumPy, full batches.
"""
import copy

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.fc1 = nn.Linear(6, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        return F.log_softmax(self.fc2(x), dim=1)


def make_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 6)).astype(np.float32)
    y = np.argmax(x[:, :3] + 0.5 * x[:, 3:], axis=1)
    return torch.from_numpy(x), torch.from_numpy(y)


def build():
    return Net()


def train(model, steps=6):
    x, y = make_data()
    initial = copy.deepcopy(model.state_dict())
    makers = [
        lambda p: optim.Adadelta(p, lr=1.0),
        lambda p: optim.Adagrad(p, lr=0.1, lr_decay=0.01),
        lambda p: optim.Adamax(p, lr=0.02),
        lambda p: optim.NAdam(p, lr=0.01),
        lambda p: optim.RAdam(p, lr=0.01),
        lambda p: optim.RMSprop(p, lr=0.005, alpha=0.9, centered=True, momentum=0.5),
        lambda p: optim.Adam(p, lr=0.01, amsgrad=True, weight_decay=1e-3),
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1),
    ]
    log = []
    for make in makers:
        model.load_state_dict(copy.deepcopy(initial))
        optimizer = make(model.parameters())
        scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
        for step in range(steps):
            optimizer.zero_grad()
            loss = F.nll_loss(model(x), y)
            loss.backward()
            optimizer.step()
            scheduler.step()
            log.append(loss.item())
        log.append(len(optimizer.state_dict()['state']))
    return log


if __name__ == "__main__":
    print(train(build()))
