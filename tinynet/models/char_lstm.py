"""The seeds' character-level language model (Karpathy's char-rnn):
Embedding -> LSTM -> Linear over the characters.

``tinynet train lstm`` trains it with the ``char_lm`` recipe (truncated
backpropagation through time: the hidden state is carried from one chunk of
text to the next, detached at the chunk border).
"""
import tinynet.nn as nn
from tinynet.nn.rnn import LSTM


class CharLSTM(nn.Module):
    """Characters in, next-character logits out.

    Shape: x (T, N) int64 -> logits (T, N, vocab_size); ``state`` is the
    LSTM's (h, c), each (num_layers, N, hidden_size).
    """

    # How the char_lm recipe calls it (tinynet/recipes/char_lm.py): time-major
    # ids, and ``forward(x, state) -> (logits, state)`` with the state carried
    # from one chunk of text to the next.
    batch_first = False
    carries_state = True

    def __init__(self, vocab_size, embed_size=32, hidden_size=128, num_layers=2, dropout=0.0):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = LSTM(embed_size, hidden_size, num_layers, dropout=dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, state=None):
        out, state = self.lstm(self.embed(x), state)
        return self.head(out), state
