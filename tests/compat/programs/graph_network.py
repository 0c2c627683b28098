"""Node classification with a hand-written graph convolution that sums
messages along edges.

Idioms: ``h[src]`` gathers, ``torch.zeros(...).index_add_(0, dst, messages)``,
degrees with ``scatter_add_``, ``deg.clamp(min=1).pow(-0.5)``,
``torch.where``, ``x.new_ones``, ``unsqueeze(-1)``, masks selecting training
nodes, ``F.cross_entropy``, accuracy with ``argmax(dim=1)``.
Randomness: the graph and features from NumPy.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class GraphConv(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.lin = nn.Linear(n_in, n_out)

    def forward(self, h, edge_index):
        src, dst = edge_index
        n = h.size(0)
        deg = torch.zeros(n).scatter_add_(0, dst, h.new_ones(dst.size(0)))
        norm = deg.clamp(min=1).pow(-0.5)
        messages = self.lin(h)[src] * (norm[src] * norm[dst]).unsqueeze(-1)
        out = torch.zeros(n, messages.size(1)).index_add_(0, dst, messages)
        return out + self.lin(h)


class GCN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = GraphConv(5, 16)
        self.conv2 = GraphConv(16, 3)

    def forward(self, x, edge_index):
        h = F.relu(self.conv1(x, edge_index))
        return self.conv2(h, edge_index)


def make_graph(n=30):
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 3
    edges = []
    for i in range(n):
        for j in range(n):
            p = 0.3 if labels[i] == labels[j] else 0.03
            if i != j and rng.uniform() < p:
                edges.append((i, j))
    x = rng.normal(size=(n, 5)) + 0.5 * np.eye(5)[labels]
    train_mask = np.arange(n) < 18
    return (torch.tensor(x, dtype=torch.float32), torch.tensor(np.array(edges).T),
            torch.tensor(labels), torch.tensor(train_mask))


def build():
    return GCN()


def train(model, epochs=20):
    x, edge_index, y, train_mask = make_graph()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02, weight_decay=5e-4)
    log = []
    for epoch in range(epochs):
        model.train()
        optimizer.zero_grad()
        out = model(x, edge_index)
        loss = F.cross_entropy(out[train_mask], y[train_mask])
        loss.backward()
        optimizer.step()
        log.append(loss.item())
    model.eval()
    with torch.no_grad():
        pred = model(x, edge_index).argmax(dim=1)
        test_mask = torch.where(train_mask, torch.tensor(False), torch.tensor(True))
        log.append((pred[test_mask] == y[test_mask]).sum().item())
    return log


if __name__ == "__main__":
    print(train(build()))
