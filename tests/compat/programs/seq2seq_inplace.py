"""A GRU encoder-decoder learning to reverse short sequences, written with the
in-place idioms of the seq2seq tutorials.

Idioms: ``outputs = torch.zeros(trg_len, batch, vocab)`` filled step by step
with ``outputs[t] = output``, ``x += y`` on activations inside ``forward``,
``out[:, 0] = ...`` writes into a buffer, teacher forcing from a fixed NumPy
schedule, ``output.argmax(1)``, ``nn.GRU`` with ``hidden`` passed between
calls, ``unsqueeze(0)``/``squeeze(0)``, ``torch.stack``, ``torch.cat``,
``nn.CrossEntropyLoss(ignore_index=...)``, ``optimizer.zero_grad()``.
Randomness: sequences and the teacher-forcing schedule from NumPy.
"""
import numpy as np
import torch
import torch.nn as nn

VOCAB, PAD, SOS = 7, 0, 1


class Encoder(nn.Module):
    def __init__(self, hid=16):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, hid)
        self.position = nn.Parameter(torch.zeros(8, 1, hid))
        self.rnn = nn.GRU(hid, hid)

    def forward(self, src):
        embedded = self.embedding(src)
        embedded += self.position[:src.size(0)]
        outputs, hidden = self.rnn(embedded)
        return outputs, hidden


class Decoder(nn.Module):
    def __init__(self, hid=16):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, hid)
        self.rnn = nn.GRU(2 * hid, hid)
        self.fc_out = nn.Linear(2 * hid, VOCAB)

    def forward(self, input, hidden, context):
        embedded = self.embedding(input.unsqueeze(0))
        rnn_in = torch.cat((embedded, context), dim=2)
        output, hidden = self.rnn(rnn_in, hidden)
        features = torch.cat((output.squeeze(0), context.squeeze(0)), dim=1)
        prediction = self.fc_out(features)
        return prediction, hidden


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = Decoder()

    def forward(self, src, trg, teacher_forcing):
        trg_len, batch_size = trg.shape
        outputs = torch.zeros(trg_len, batch_size, VOCAB)
        enc_out, hidden = self.encoder(src)
        context = hidden
        input = trg[0, :]
        for t in range(1, trg_len):
            output, hidden = self.decoder(input, hidden, context)
            outputs[t] = output
            top1 = output.argmax(1)
            input = trg[t] if teacher_forcing[t] else top1
        return outputs


def summary_features(outputs):
    """Per-sequence summary written column by column into a buffer."""
    summary = torch.zeros(outputs.size(1), 3)
    probs = outputs[1:].softmax(-1)
    summary[:, 0] = probs.max(-1)[0].mean(0)
    summary[:, 1] = probs[..., PAD].mean(0)
    summary[:, 2] = torch.stack([p.argmax(-1).float().mean() for p in probs.unbind(1)])
    return summary


def make_batch(rng, batch=8, length=5):
    body = rng.integers(2, VOCAB, size=(length, batch))
    src = torch.from_numpy(body)
    trg = torch.from_numpy(np.concatenate([np.full((1, batch), SOS), body[::-1]], axis=0))
    return src, trg


def build():
    return Seq2Seq()


def train(model, steps=12):
    rng = np.random.default_rng(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    criterion = nn.CrossEntropyLoss(ignore_index=PAD)
    log = []
    for step in range(steps):
        src, trg = make_batch(rng)
        teacher_forcing = rng.uniform(size=trg.size(0)) < 0.5
        model.train()
        optimizer.zero_grad()
        output = model(src, trg, teacher_forcing)
        output_dim = output.shape[-1]
        loss = criterion(output[1:].view(-1, output_dim), trg[1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        log.append(loss.item())
    model.eval()
    with torch.no_grad():
        src, trg = make_batch(rng)
        outputs = model(src, trg, np.zeros(trg.size(0), dtype=bool))
        log += summary_features(outputs).sum(0).tolist()
    return log


if __name__ == "__main__":
    print(train(build()))
