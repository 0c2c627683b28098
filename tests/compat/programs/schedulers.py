"""Learning-rate schedulers stepped per iteration and per epoch.

Idioms: ``StepLR``, ``MultiStepLR``, ``CosineAnnealingWarmRestarts(T_0,
T_mult)`` stepped with a fractional epoch ``epoch + i / iters``,
``CyclicLR(mode='triangular2')`` with momentum cycling, ``OneCycleLR``,
``LambdaLR``, ``scheduler.get_last_lr()[0]``,
``optimizer.param_groups[0]['lr']``.
Randomness: data from NumPy, full batches.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from torch.optim import lr_scheduler


def make_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 5)).astype(np.float32)
    y = np.tanh(x[:, :1] - x[:, 1:2]).astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(y)


def build():
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 1))


def run(model, x, y, optimizer, scheduler, epochs, iters, log, fractional=False):
    for epoch in range(epochs):
        for i in range(iters):
            optimizer.zero_grad()
            loss = nn.MSELoss()(model(x), y)
            loss.backward()
            optimizer.step()
            if fractional:
                scheduler.step(epoch + i / iters)
            elif isinstance(scheduler, (lr_scheduler.CyclicLR, lr_scheduler.OneCycleLR)):
                scheduler.step()
            log.append(loss.item())
            log.append(optimizer.param_groups[0]['lr'])
        if not fractional and not isinstance(
                scheduler, (lr_scheduler.CyclicLR, lr_scheduler.OneCycleLR)):
            scheduler.step()
        log.append(scheduler.get_last_lr()[0])


def train(model):
    x, y = make_data()
    log = []
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    run(model, x, y, opt, lr_scheduler.StepLR(opt, step_size=2, gamma=0.5), 4, 2, log)

    opt = optim.SGD(model.parameters(), lr=0.1)
    run(model, x, y, opt, lr_scheduler.MultiStepLR(opt, milestones=[1, 3], gamma=0.3), 4, 2, log)

    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.5)
    sched = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2, eta_min=1e-3)
    run(model, x, y, opt, sched, 5, 3, log, fractional=True)

    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    sched = lr_scheduler.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=3,
                                  mode='triangular2')
    run(model, x, y, opt, sched, 2, 7, log)
    log.append(opt.param_groups[0]['momentum'])

    opt = optim.Adam(model.parameters(), lr=1e-3)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.02, total_steps=10)
    run(model, x, y, opt, sched, 1, 10, log)

    opt = optim.SGD(model.parameters(), lr=0.05)
    sched = lr_scheduler.LambdaLR(opt, lr_lambda=lambda epoch: 0.8 ** epoch)
    run(model, x, y, opt, sched, 3, 2, log)
    return log


if __name__ == "__main__":
    print(train(build()))
