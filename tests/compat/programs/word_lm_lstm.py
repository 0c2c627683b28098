"""A word-level LSTM language model trained by truncated BPTT, in the style
of the word_language_model example.

Idioms: ``batchify`` with ``data.view(bsz, -1).t().contiguous()``,
``get_batch`` slicing, ``nn.Embedding`` + ``nn.LSTM`` + tied decoder weights
(``self.decoder.weight = self.encoder.weight``), ``repackage_hidden`` with
``h.detach()``, ``torch.nn.utils.clip_grad_norm_``, manual update
``p.data.add_(p.grad, alpha=-lr)``, ``output.view(-1, ntokens)``,
``math.exp(loss)`` perplexity, ``model.eval()`` evaluation under ``no_grad``.
Randomness: corpus from NumPy; dropout 0.
"""
import math

import numpy as np
import torch
import torch.nn as nn


class RNNModel(nn.Module):
    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.0, tie_weights=True):
        super(RNNModel, self).__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            self.decoder.weight = self.encoder.weight
        self.nhid = nhid
        self.nlayers = nlayers

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return decoded, hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                weight.new_zeros(self.nlayers, bsz, self.nhid))


def repackage_hidden(h):
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


def get_batch(source, i, bptt):
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i:i + seq_len]
    target = source[i + 1:i + 1 + seq_len].view(-1)
    return data, target


def make_corpus(ntokens=20, n=400):
    rng = np.random.default_rng(0)
    tokens = [0]
    for _ in range(n - 1):      # a noisy "next = previous + 1" language
        step = 1 if rng.uniform() < 0.8 else int(rng.integers(2, 5))
        tokens.append((tokens[-1] + step) % ntokens)
    return torch.tensor(tokens, dtype=torch.long)


def build():
    return RNNModel(20, 16, 16, 2)


def evaluate(model, data_source, bptt, ntokens):
    model.eval()
    total_loss = 0.
    hidden = model.init_hidden(data_source.size(1))
    criterion = nn.CrossEntropyLoss()
    with torch.no_grad():
        for i in range(0, data_source.size(0) - 1, bptt):
            data, targets = get_batch(data_source, i, bptt)
            output, hidden = model(data, hidden)
            hidden = repackage_hidden(hidden)
            total_loss += len(data) * criterion(output, targets).item()
    return total_loss / (len(data_source) - 1)


def train(model, epochs=2, lr=2.0, bptt=10, clip=0.25):
    corpus = make_corpus()
    train_data = batchify(corpus[:320], 4)
    val_data = batchify(corpus[320:], 2)
    ntokens = 20
    criterion = nn.CrossEntropyLoss()
    log = []
    for epoch in range(epochs):
        model.train()
        hidden = model.init_hidden(4)
        for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
            data, targets = get_batch(train_data, i, bptt)
            model.zero_grad()
            hidden = repackage_hidden(hidden)
            output, hidden = model(data, hidden)
            loss = criterion(output, targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            log.append(loss.item())
        val_loss = evaluate(model, val_data, bptt, ntokens)
        print(f"| end of epoch {epoch} | valid loss {val_loss:5.2f} | "
              f"valid ppl {math.exp(val_loss):8.2f}")
        log.append(val_loss)
    return log


if __name__ == "__main__":
    train(build())
