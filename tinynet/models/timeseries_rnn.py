"""The seeds' time-series forecaster (the traffic-forecast RNN): a recurrent
layer (RNN, LSTM or GRU) reads a window of past hours, a Linear layer maps its
last hidden state to the next ``horizon`` hours.

``tinynet train rnn`` trains it with the ``forecast`` recipe.
"""
import tinynet.nn as nn
from tinynet.nn.rnn import GRU, LSTM, RNN

CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


class Forecaster(nn.Module):
    """(N, window, features) -> (N, horizon): a recurrent layer, then Linear
    on its last hidden state."""

    def __init__(self, cell="lstm", features=5, hidden_size=64, num_layers=1, horizon=24):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"Forecaster: cell must be one of {sorted(CELLS)}, got {cell!r}")
        self.rnn = CELLS[cell](features, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, horizon)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])
