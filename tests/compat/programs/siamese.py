"""A siamese network trained with a contrastive loss on pairs.

Idioms: one shared ``forward_once`` applied to both inputs,
``F.pairwise_distance``, ``F.cosine_similarity``, a contrastive loss written
with ``torch.pow`` and ``torch.clamp(margin - d, min=0.0)``,
``nn.BatchNorm1d`` in train and eval mode, ``(d < 1.0).float().mean()``.
Randomness: pairs from NumPy, full batches. The layer before the batch norm
has no bias: its exact gradient is zero, and Adam would turn the rounding
noise in it into full-size steps that differ between libraries.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class SiameseNetwork(nn.Module):
    def __init__(self):
        super(SiameseNetwork, self).__init__()
        self.fc = nn.Sequential(
            nn.Linear(6, 16, bias=False), nn.BatchNorm1d(16), nn.ReLU(inplace=True),
            nn.Linear(16, 4))

    def forward_once(self, x):
        return self.fc(x)

    def forward(self, input1, input2):
        return self.forward_once(input1), self.forward_once(input2)


class ContrastiveLoss(nn.Module):
    def __init__(self, margin=2.0):
        super(ContrastiveLoss, self).__init__()
        self.margin = margin

    def forward(self, output1, output2, label):
        d = F.pairwise_distance(output1, output2, keepdim=True)
        return torch.mean((1 - label) * torch.pow(d, 2)
                          + label * torch.pow(torch.clamp(self.margin - d, min=0.0), 2))


def make_pairs(n=32):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 6)) * 2
    a_cls = rng.integers(0, 4, size=n)
    same = rng.uniform(size=n) < 0.5
    b_cls = np.where(same, a_cls, (a_cls + 1) % 4)
    a = centers[a_cls] + 0.3 * rng.normal(size=(n, 6))
    b = centers[b_cls] + 0.3 * rng.normal(size=(n, 6))
    label = (~same).astype(np.float32)[:, None]    # 1 = different
    t = lambda v: torch.tensor(v, dtype=torch.float32)  # noqa: E731
    return t(a), t(b), t(label)


def build():
    return SiameseNetwork()


def train(net, steps=15):
    a, b, label = make_pairs()
    criterion = ContrastiveLoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=5e-3)
    log = []
    for step in range(steps):
        net.train()
        optimizer.zero_grad()
        out1, out2 = net(a, b)
        loss = criterion(out1, out2, label)
        loss.backward()
        optimizer.step()
        log.append(loss.item())
    net.eval()
    with torch.no_grad():
        out1, out2 = net(a, b)
        d = F.pairwise_distance(out1, out2)
        cos = F.cosine_similarity(out1, out2, dim=1)
        same = label.view(-1) == 0
        log += [d[same].mean().item(), d[~same].mean().item(), cos.mean().item(),
                ((d < 1.0).float() == same.float()).float().mean().item()]
    return log


if __name__ == "__main__":
    print(train(build()))
