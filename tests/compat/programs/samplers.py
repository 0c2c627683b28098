"""DataLoader with explicit samplers.

Idioms: ``SequentialSampler``, ``BatchSampler(..., drop_last=True)`` passed
as ``batch_sampler``, a plain list of indices as ``sampler``,
``len(loader)``, ``drop_last=True``. ``SubsetRandomSampler`` and
``WeightedRandomSampler`` draw from each library's own random numbers, so
only order-free facts about them are compared (which indices came, how many).
Randomness: data and the index order from NumPy.
"""
import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import (BatchSampler, DataLoader, SequentialSampler,
                              SubsetRandomSampler, TensorDataset, WeightedRandomSampler)


def make_dataset(n=50):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0], dtype=np.float32))[:, None]
    return TensorDataset(torch.from_numpy(x), torch.from_numpy(y), torch.arange(n))


def build():
    return nn.Linear(4, 1)


def fit(model, loader, optimizer, log):
    for x, y, _ in loader:
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        log.append(loss.item())


def train(model):
    ds = make_dataset()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    log = []

    seq = DataLoader(ds, sampler=SequentialSampler(ds), batch_size=16, drop_last=True)
    log.append(len(seq))
    fit(model, seq, optimizer, log)

    batches = DataLoader(ds, batch_sampler=BatchSampler(SequentialSampler(ds), 12, drop_last=False))
    log.append(len(batches))
    fit(model, batches, optimizer, log)

    order = np.random.default_rng(1).permutation(len(ds)).tolist()
    fit(model, DataLoader(ds, sampler=order, batch_size=10), optimizer, log)

    subset = list(range(0, 50, 3))
    seen = [int(i) for _, _, idx in DataLoader(ds, sampler=SubsetRandomSampler(subset),
                                                batch_size=5) for i in idx]
    log.append(sorted(seen) == subset)

    weights = [0.0 if i % 5 == 0 else 1.0 for i in range(len(ds))]
    sampler = WeightedRandomSampler(weights, num_samples=30, replacement=True)
    drawn = [int(i) for i in sampler]
    log += [len(drawn), len(sampler), all(i % 5 != 0 for i in drawn)]
    return log


if __name__ == "__main__":
    print(train(build()))
