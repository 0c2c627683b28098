"""Predict sine waves with two stacked LSTMCells, as in the time-sequence
prediction example (double precision, Adam instead of L-BFGS).

Idioms: ``nn.LSTMCell`` unrolled with ``input.split(1, dim=1)``,
``torch.zeros(input.size(0), 51, dtype=torch.double)`` states,
``outputs += [output]``, ``torch.cat(outputs, dim=1)``, future steps fed back
from the prediction, ``model.double()``, ``torch.from_numpy`` on float64
arrays, ``y.detach().numpy()``.
Randomness: the waves' phases from NumPy.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim


class Sequence(nn.Module):
    def __init__(self):
        super(Sequence, self).__init__()
        self.lstm1 = nn.LSTMCell(1, 12)
        self.lstm2 = nn.LSTMCell(12, 12)
        self.linear = nn.Linear(12, 1)

    def forward(self, input, future=0):
        outputs = []
        h_t = torch.zeros(input.size(0), 12, dtype=torch.double)
        c_t = torch.zeros(input.size(0), 12, dtype=torch.double)
        h_t2 = torch.zeros(input.size(0), 12, dtype=torch.double)
        c_t2 = torch.zeros(input.size(0), 12, dtype=torch.double)
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for i in range(future):
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        return torch.cat(outputs, dim=1)


def make_waves(n=10, length=30):
    rng = np.random.default_rng(0)
    phase = rng.integers(-20, 20, size=(n, 1))
    return np.sin((np.arange(length)[None, :] + phase) / 4.0)


def build():
    return Sequence().double()


def train(seq, steps=10):
    data = make_waves()
    input = torch.from_numpy(data[3:, :-1])
    target = torch.from_numpy(data[3:, 1:])
    test_input = torch.from_numpy(data[:3, :-1])
    test_target = torch.from_numpy(data[:3, 1:])
    criterion = nn.MSELoss()
    optimizer = optim.Adam(seq.parameters(), lr=0.02)
    log = []
    for i in range(steps):
        optimizer.zero_grad()
        out = seq(input)
        loss = criterion(out, target)
        loss.backward()
        optimizer.step()
        log.append(loss.item())
    with torch.no_grad():
        future = 5
        pred = seq(test_input, future=future)
        loss = criterion(pred[:, :-future], test_target)
        y = pred.detach().numpy()
        log += [loss.item(), float(np.abs(y[:, -future:]).mean())]
    return log


if __name__ == "__main__":
    print(train(build()))
