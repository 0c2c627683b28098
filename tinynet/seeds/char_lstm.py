"""Character-level language model (Karpathy's char-rnn) in tinynet.

    python examples/char_lstm.py                      # trains on Python's own sources
    python examples/char_lstm.py --text book.txt --epochs 10 --prompt "Once upon"
    python examples/char_lstm.py --max-steps 200 --temperature 0.5

Embedding -> LSTM -> Linear over the characters. Training uses truncated
backpropagation through time: the text is cut into ``batch_size`` parallel
streams, each chunk of ``seq_len`` characters starts from the hidden state
the previous chunk ended with (detached, so gradients stop at the chunk
border). Gradients are clipped to norm ``clip``. Every epoch reports the
loss and the perplexity (exp of the mean loss per character) on the training
text and on held-out text, and prints a sample.

With no ``--text`` the corpus is a handful of standard-library modules
(``tinynet.data.textsets.stdlib_corpus``): every Python installation has
them, so the example needs no download.

Entry points: ``train(config)`` (a dict; keys as in ``DEFAULTS``) returns the
model, vocabulary and history; ``main(argv)`` is the command line;
``sample(...)`` generates text.
"""
import argparse
import math
import sys
import time

import numpy as np

import tinynet as tn
import tinynet.nn as nn
import tinynet.nn.functional as F
import tinynet.optim as optim
from tinynet.data.textsets import CharStream, CharVocab, stdlib_corpus
from tinynet.nn.rnn import LSTM

DEFAULTS = {
    "text": None,            # path of a text file; None: the standard-library corpus
    "max_chars": 300_000,    # cut the corpus (None: all of it)
    "val_fraction": 0.1,     # held-out tail of the text
    "seq_len": 64, "batch_size": 32,
    "embed_size": 32, "hidden_size": 128, "num_layers": 2, "dropout": 0.0,
    "lr": 3e-3, "epochs": 1, "max_steps": None, "clip": 1.0,
    "prompt": "def ", "temperature": 0.8, "sample_chars": 300, "sample_every": 200,
    "seed": 0, "save": None, "quiet": False,
}


class CharLSTM(nn.Module):
    """Characters in, next-character logits out.

    Shape: x (T, N) int64 -> logits (T, N, vocab_size); ``state`` is the
    LSTM's (h, c), each (num_layers, N, hidden_size).
    """

    def __init__(self, vocab_size, embed_size=32, hidden_size=128, num_layers=2, dropout=0.0):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = LSTM(embed_size, hidden_size, num_layers, dropout=dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, state=None):
        out, state = self.lstm(self.embed(x), state)
        return self.head(out), state


def _detach(state):
    # truncated BPTT: keep the values, cut the graph at the chunk border
    return tuple(s.detach() for s in state)


def _loss(model, x, y, state):
    logits, state = model(tn.tensor(x), state)
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), tn.tensor(y.reshape(-1))), state


def evaluate(model, stream):
    """Mean cross-entropy per character over a whole stream (state carried)."""
    model.eval()
    total, count, state = 0.0, 0, None
    with tn.no_grad():
        for x, y in stream:
            loss, state = _loss(model, x, y, state)
            total += loss.item() * y.size
            count += y.size
    model.train()
    return total / max(count, 1)


def sample(model, vocab, prompt="", n_chars=200, temperature=1.0, seed=None):
    """``prompt`` followed by ``n_chars`` characters drawn from the model.

    Lower ``temperature`` sharpens the distribution (more predictable text),
    higher flattens it; 0 picks the most likely character every time.
    Characters of the prompt that the vocabulary lacks are left out.
    """
    rng = np.random.default_rng(seed)
    prompt = "".join(ch for ch in prompt if ch in vocab.stoi)
    was_training = model.training
    model.eval()
    ids = list(vocab.encode(prompt)) if prompt else [int(rng.integers(len(vocab)))]
    out = list(ids)
    with tn.no_grad():
        logits, state = model(tn.tensor(np.array(ids, np.int64)[:, None]))
        for _ in range(n_chars):
            last = logits.array[-1, 0].astype(np.float64)
            if temperature <= 0:
                nxt = int(last.argmax())
            else:
                p = np.exp((last - last.max()) / temperature)
                nxt = int(rng.choice(len(p), p=p / p.sum()))
            out.append(nxt)
            logits, state = model(tn.tensor(np.array([[nxt]], np.int64)), state)
    model.train(was_training)
    text = vocab.decode(out)
    return text if prompt else text[1:]


def load_text(cfg):
    if cfg["text"]:
        with open(cfg["text"], encoding="utf-8") as f:
            text = f.read()
    else:
        text = stdlib_corpus()
    return text if cfg["max_chars"] is None else text[:cfg["max_chars"]]


def train(config=None):
    """Train a CharLSTM; returns a dict with the model, vocab, per-step losses,
    per-epoch statistics (loss and perplexity, train and validation) and the
    final sample."""
    cfg = dict(DEFAULTS, **(config or {}))
    log = (lambda *a, **k: None) if cfg["quiet"] else print
    tn.manual_seed(cfg["seed"])
    text = load_text(cfg)
    vocab = CharVocab(text)
    split = int(len(text) * (1 - cfg["val_fraction"]))
    train_stream = CharStream(text[:split], cfg["batch_size"], cfg["seq_len"], vocab)
    val_bs = max(1, min(cfg["batch_size"], (len(text) - split - 1) // cfg["seq_len"]))
    val_stream = CharStream(text[split:], val_bs, cfg["seq_len"], vocab)
    model = CharLSTM(len(vocab), cfg["embed_size"], cfg["hidden_size"], cfg["num_layers"],
                     cfg["dropout"])
    opt = optim.Adam(model.parameters(), lr=cfg["lr"])
    log(f"char_lstm: {len(text):,} characters, vocabulary {len(vocab)}, "
        f"{len(train_stream)} chunks of {cfg['batch_size']}x{cfg['seq_len']} per epoch, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters")
    losses, epochs, step = [], [], 0
    t0 = time.perf_counter()
    for epoch in range(1, cfg["epochs"] + 1):
        state, epoch_losses = None, []
        for x, y in train_stream:
            if cfg["max_steps"] is not None and step >= cfg["max_steps"]:
                break
            loss, state = _loss(model, x, y, state)
            state = _detach(state)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
            opt.step()
            losses.append(loss.item())
            epoch_losses.append(losses[-1])
            step += 1
            if cfg["sample_every"] and step % cfg["sample_every"] == 0:
                log(f"step {step:5d}  loss {losses[-1]:.3f}  "
                    f"({time.perf_counter() - t0:.0f} s)")
                log("  sample: " + repr(sample(model, vocab, cfg["prompt"], 80,
                                                cfg["temperature"], seed=step)))
        if not epoch_losses:
            break
        tr = float(np.mean(epoch_losses))
        va = evaluate(model, val_stream)
        epochs.append({"epoch": epoch, "train_loss": tr, "train_ppl": math.exp(tr),
                       "val_loss": va, "val_ppl": math.exp(va)})
        log(f"epoch {epoch}: train loss {tr:.3f} (perplexity {math.exp(tr):.2f}), "
            f"val loss {va:.3f} (perplexity {math.exp(va):.2f}), "
            f"{time.perf_counter() - t0:.0f} s")
    text_out = sample(model, vocab, cfg["prompt"], cfg["sample_chars"], cfg["temperature"],
                      seed=cfg["seed"])
    if cfg["save"]:
        tn.save({"model": model.state_dict(), "vocab": "".join(vocab.itos), "config": {
            k: v for k, v in cfg.items() if k != "save"}}, cfg["save"])
        log(f"saved to {cfg['save']}")
    return {"model": model, "vocab": vocab, "losses": losses, "epochs": epochs,
            "sample": text_out, "steps": step}


# Each option's allowed values (the command exits with status 2 outside them):
# integers from a lower bound, numbers in an interval.
_INT_OPTIONS = {"max_chars": 1, "seq_len": 1, "batch_size": 1, "embed_size": 1,
                "hidden_size": 1, "num_layers": 1, "epochs": 1, "max_steps": 1,
                "sample_chars": 0, "sample_every": 0}          # sample_every 0: no samples
_FLOAT_OPTIONS = {"val_fraction": dict(low=0, high=1, low_open=True, high_open=True),
                  "dropout": dict(low=0, high=1, high_open=True),
                  "lr": dict(low=0, low_open=True), "clip": dict(low=0, low_open=True),
                  "temperature": dict(low=0)}                  # temperature 0: greedy


def _parser(prog=None):
    from tinynet.cli import SEED, existing_file, float_option, int_option
    p = argparse.ArgumentParser(
        prog=prog, description="Train a character-level LSTM language model.")
    p.add_argument("--text", type=existing_file,
                   help="a UTF-8 text file (default: Python's standard-library sources, "
                        "no download)")
    for key, low in _INT_OPTIONS.items():
        p.add_argument("--" + key.replace("_", "-"), type=int_option(low), default=DEFAULTS[key])
    p.add_argument("--seed", type=SEED, default=DEFAULTS["seed"])
    for key, interval in _FLOAT_OPTIONS.items():
        p.add_argument("--" + key.replace("_", "-"), type=float_option(**interval),
                       default=DEFAULTS[key])
    p.add_argument("--prompt", default=DEFAULTS["prompt"])
    p.add_argument("--save", help="write model, vocabulary and config here (tn.save)")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv=None, prog=None):
    """Command line: ``python examples/char_lstm.py --help``."""
    args = _parser(prog).parse_args(argv)
    result = train(vars(args))
    if not args.quiet:
        print(f"\nsample (temperature {args.temperature}, prompt {args.prompt!r}):\n")
        print(result["sample"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
