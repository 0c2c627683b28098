"""Sequence classification (the seeds' sentiment model): Embedding -> LSTM -> Linear.

    python examples/sentiment_lstm.py                     # a generated review set
    python examples/sentiment_lstm.py --data aclImdb      # aclImdb/{train,test}/{neg,pos}/*.txt

The data is a text folder, one sub-folder per class (the layout of the IMDB
review set). Texts are split into lower-case words and punctuation
(``tinynet.data.textsets.tokenize``), mapped to ids by a vocabulary built
from the training texts (rare words become ``<unk>``), and padded per batch.
The LSTM gets each review's true length, so padding changes nothing; its
last hidden state goes through a Linear layer to the class logits.

With no ``--data`` the example writes a small generated set (reviews made of
filler words with a few positive or negative words, the label following the
majority) to a temporary folder, so it runs with no download.

Entry points: ``train(config)`` returns the model, vocabulary and history;
``main(argv)`` is the command line; ``predict(model, vocab, text)``.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

import tinynet as tn
import tinynet.nn as nn
import tinynet.nn.functional as F
import tinynet.optim as optim
from tinynet.data.textsets import TextFolder, make_sentiment_folder, pad_batch, tokenize
from tinynet.nn.rnn import LSTM

DEFAULTS = {
    "data": None,             # folder with train/ and test/ inside; None: generate one
    "n_per_class": 300,       # size of the generated set (per class, train)
    "embed_size": 32, "hidden_size": 64, "num_layers": 1, "bidirectional": False,
    "max_vocab": 20_000, "min_freq": 1, "max_len": 400,
    "batch_size": 32, "lr": 5e-3, "epochs": 5, "max_steps": None, "clip": 5.0,
    "seed": 0, "quiet": False,
}


class SentimentLSTM(nn.Module):
    """Token ids (N, T) and lengths (N,) -> class logits (N, num_classes)."""

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


def accuracy(model, dataset, batch_size=256):
    model.eval()
    correct = 0
    with tn.no_grad():
        for ids, labels, lengths in dataset.batches(batch_size):
            pred = model(tn.tensor(ids), lengths).array.argmax(1)
            correct += int((pred == labels).sum())
    model.train()
    return correct / len(dataset)


def predict(model, vocab, text, classes=None):
    """The predicted class (name if ``classes`` is given) and its probability."""
    ids, lengths = pad_batch([vocab.encode(tokenize(text))])
    model.eval()
    with tn.no_grad():
        p = F.softmax(model(tn.tensor(ids), lengths), 1).array[0]
    model.train()
    k = int(p.argmax())
    return (classes[k] if classes else k), float(p[k])


def load_data(cfg):
    """(train, test) TextFolders; generates the review set when ``data`` is None."""
    root = cfg["data"]
    if root is None:
        root = tempfile.mkdtemp(prefix="tinynet-sentiment-")
        make_sentiment_folder(os.path.join(root, "train"), cfg["n_per_class"], seed=cfg["seed"])
        make_sentiment_folder(os.path.join(root, "test"), max(cfg["n_per_class"] // 3, 10),
                              seed=cfg["seed"] + 1)
    train_set = TextFolder(os.path.join(root, "train"), min_freq=cfg["min_freq"],
                           max_size=cfg["max_vocab"], max_len=cfg["max_len"])
    test_set = TextFolder(os.path.join(root, "test"), vocab=train_set.vocab,
                          max_len=cfg["max_len"])
    return train_set, test_set


def train(config=None):
    """Train a SentimentLSTM; returns a dict with the model, vocab, classes,
    per-step losses and per-epoch train/test accuracy."""
    cfg = dict(DEFAULTS, **(config or {}))
    log = (lambda *a, **k: None) if cfg["quiet"] else print
    tn.manual_seed(cfg["seed"])
    train_set, test_set = load_data(cfg)
    model = SentimentLSTM(len(train_set.vocab), len(train_set.classes), cfg["embed_size"],
                          cfg["hidden_size"], cfg["num_layers"], cfg["bidirectional"])
    opt = optim.Adam(model.parameters(), lr=cfg["lr"])
    log(f"sentiment_lstm: {len(train_set)} training and {len(test_set)} test texts, "
        f"classes {train_set.classes}, vocabulary {len(train_set.vocab)}")
    losses, epochs, step = [], [], 0
    t0 = time.perf_counter()
    for epoch in range(1, cfg["epochs"] + 1):
        for ids, labels, lengths in train_set.batches(cfg["batch_size"], shuffle=True,
                                                      seed=cfg["seed"] + epoch):
            if cfg["max_steps"] is not None and step >= cfg["max_steps"]:
                break
            loss = F.cross_entropy(model(tn.tensor(ids), lengths), tn.tensor(labels))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
            opt.step()
            losses.append(loss.item())
            step += 1
        stats = {"epoch": epoch, "loss": float(np.mean(losses[-10:])) if losses else None,
                 "train_acc": accuracy(model, train_set), "test_acc": accuracy(model, test_set)}
        epochs.append(stats)
        log(f"epoch {epoch}: loss {stats['loss']:.3f}  train accuracy "
            f"{stats['train_acc']:.3f}  test accuracy {stats['test_acc']:.3f}  "
            f"({time.perf_counter() - t0:.0f} s)")
        if cfg["max_steps"] is not None and step >= cfg["max_steps"]:
            break
    return {"model": model, "vocab": train_set.vocab, "classes": train_set.classes,
            "losses": losses, "epochs": epochs, "steps": step}


def _parser(prog=None):
    from tinynet.cli import SEED, existing_dir, float_option, int_option
    p = argparse.ArgumentParser(
        prog=prog, description="Train an LSTM text classifier on a text folder.")
    p.add_argument("--data", type=existing_dir,
                   help="folder with train/<class>/*.txt and test/<class>/*.txt "
                        "(default: generate a small review set)")
    for key in ("n_per_class", "embed_size", "hidden_size", "num_layers", "max_vocab",
                "min_freq", "max_len", "batch_size", "epochs", "max_steps"):
        p.add_argument("--" + key.replace("_", "-"), type=int_option(1), default=DEFAULTS[key])
    p.add_argument("--seed", type=SEED, default=DEFAULTS["seed"])
    for key in ("lr", "clip"):
        p.add_argument("--" + key.replace("_", "-"), type=float_option(0, low_open=True),
                       default=DEFAULTS[key])
    p.add_argument("--bidirectional", action="store_true")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv=None, prog=None):
    """Command line: ``python examples/sentiment_lstm.py --help``."""
    args = _parser(prog).parse_args(argv)
    result = train(vars(args))
    if not args.quiet:
        for text in ("a wonderful and moving film, the music was superb",
                     "boring plot and awful acting, a dull tedious movie"):
            label, p = predict(result["model"], result["vocab"], text, result["classes"])
            print(f"{label} ({p:.2f}): {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
