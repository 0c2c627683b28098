"""Classify variable-length sequences with a GRU over packed batches.

Idioms: ``pad_sequence(batch_first=True)``, ``pack_padded_sequence(...,
enforce_sorted=False)``, ``pad_packed_sequence``, final hidden state
``h_n[-1]``, lengths as a CPU int64 tensor, a ``collate_fn`` given to
``DataLoader``, ``nn.utils.rnn`` reached as ``torch.nn.utils.rnn``.
Randomness: sequences from NumPy, ``shuffle=False``.
"""
import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence
from torch.utils.data import DataLoader


class SeqClassifier(nn.Module):
    def __init__(self, n_in=3, hidden=12, n_classes=2):
        super().__init__()
        self.gru = nn.GRU(n_in, hidden, batch_first=True)
        self.head = nn.Linear(2 * hidden, n_classes)

    def forward(self, padded, lengths):
        packed = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
        packed_out, h_n = self.gru(packed)
        out, out_lengths = pad_packed_sequence(packed_out, batch_first=True)
        # mean over the valid steps, plus the last hidden state
        mask = (torch.arange(out.size(1))[None, :] < out_lengths[:, None]).float()
        mean = (out * mask.unsqueeze(-1)).sum(1) / out_lengths.unsqueeze(1).float()
        return self.head(torch.cat([mean, h_n[-1]], dim=1))


def make_dataset(n=40):
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        length = int(rng.integers(2, 9))
        label = i % 2
        seq = rng.normal(size=(length, 3)) + (0.8 if label else -0.8) * np.array([1, 0, -1])
        items.append((torch.tensor(seq, dtype=torch.float32), label))
    return items


def collate(batch):
    seqs = [s for s, _ in batch]
    lengths = torch.tensor([len(s) for s in seqs])
    labels = torch.tensor([y for _, y in batch])
    return pad_sequence(seqs, batch_first=True), lengths, labels


def build():
    return SeqClassifier()


def train(model, epochs=3):
    loader = DataLoader(make_dataset(), batch_size=8, shuffle=False, collate_fn=collate)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    criterion = nn.CrossEntropyLoss()
    log = []
    for epoch in range(epochs):
        for padded, lengths, labels in loader:
            optimizer.zero_grad()
            loss = criterion(model(padded, lengths), labels)
            loss.backward()
            optimizer.step()
            log.append(loss.item())
    return log


if __name__ == "__main__":
    print(train(build()))
