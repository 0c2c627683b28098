"""Regression with Adam, a validation split and ``ReduceLROnPlateau``, then
``CosineAnnealingLR`` with weight decay.

Idioms: ``model.eval()`` + ``torch.no_grad()`` validation, the global
``torch.set_grad_enabled(False)`` / ``torch.set_grad_enabled(True)`` and its
context-manager form, ``torch.is_grad_enabled()``, f-string logs
``f"{loss:.4f}"``, ``scheduler.step(val_loss)``, ``optim.AdamW``,
``nn.SmoothL1Loss``, ``random_split`` avoided (explicit NumPy split).
Randomness: data and split from NumPy.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim


def make_data(n=80):
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, size=(n, 2)).astype(np.float32)
    y = (np.sin(x[:, :1]) * np.cos(x[:, 1:]) + 0.05 * rng.normal(size=(n, 1))).astype(np.float32)
    idx = rng.permutation(n)
    tr, va = idx[:60], idx[60:]
    t = torch.from_numpy
    return t(x[tr]), t(y[tr]), t(x[va]), t(y[va])


def build():
    return nn.Sequential(nn.Linear(2, 24), nn.SiLU(), nn.Linear(24, 24), nn.SiLU(),
                         nn.Linear(24, 1))


def validate(model, x, y, criterion):
    model.eval()
    with torch.no_grad():
        return criterion(model(x), y).item()


def train(model):
    x, y, xv, yv = make_data()
    criterion = nn.MSELoss()
    optimizer = optim.Adam(model.parameters(), lr=0.05)
    scheduler = optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode='min', factor=0.5,
                                                     patience=1)
    log = []
    for epoch in range(12):
        model.train()
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        val_loss = validate(model, xv, yv, criterion)
        scheduler.step(val_loss)
        print(f"epoch {epoch:2d} train {loss.item():.4f} val {val_loss:.4f} "
              f"lr {optimizer.param_groups[0]['lr']:.4g}")
        log += [loss.item(), val_loss, optimizer.param_groups[0]['lr']]

    optimizer = optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.1)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=6, eta_min=1e-4)
    smooth = nn.SmoothL1Loss(beta=0.5)
    for epoch in range(6):
        optimizer.zero_grad()
        loss = smooth(model(x), y)
        loss.backward()
        optimizer.step()
        scheduler.step()
        log += [loss.item(), scheduler.get_last_lr()[0]]

    torch.set_grad_enabled(False)
    out = model(xv)
    log += [float(out.requires_grad), float(torch.is_grad_enabled())]
    torch.set_grad_enabled(True)
    with torch.set_grad_enabled(False):
        log.append(float(model(xv).requires_grad))
    log.append(float(model(xv).requires_grad))
    log.append(f"{criterion(out, yv).item():.4f}" == f"{validate(model, xv, yv, criterion):.4f}")
    return log


if __name__ == "__main__":
    print(train(build()))
