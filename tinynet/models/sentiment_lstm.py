"""The seeds' sentiment classifier: Embedding -> LSTM -> Linear on token ids.

``tinynet train sentiment`` trains it with the ``sentiment`` recipe on a text
folder (one sub-folder per class, the IMDB layout).
"""
import tinynet as tn
import tinynet.nn as nn
from tinynet.nn.rnn import LSTM


class SentimentLSTM(nn.Module):
    """Token ids (N, T) and lengths (N,) -> class logits (N, num_classes).

    The LSTM gets each text's true length, so padding changes nothing; its
    last hidden state (both directions' when ``bidirectional``) goes through
    a Linear layer to the class logits.
    """

    def __init__(self, vocab_size, num_classes, embed_size=32, hidden_size=64, num_layers=1,
                 bidirectional=False):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size, padding_idx=0)
        self.lstm = LSTM(embed_size, hidden_size, num_layers, batch_first=True,
                         bidirectional=bidirectional)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, ids, lengths):
        _, (h_n, _) = self.lstm(self.embed(ids), lengths=lengths)
        if self.lstm.bidirectional:     # last layer, both directions
            last = tn.cat([h_n[-2], h_n[-1]], 1)
        else:
            last = h_n[-1]
        return self.head(last)
