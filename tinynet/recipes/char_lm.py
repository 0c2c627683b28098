"""The character-level language-model recipe: ``tinynet train lstm``, and any
registered model that maps token ids to next-token logits.

    tinynet train lstm                                 # trains on Python's own sources
    tinynet train lstm --text book.txt --epochs 10 --prompt "Once upon"
    tinynet train lstm --max-steps 200 --temperature 0.5

The text is cut into ``batch_size`` parallel streams (``CharStream``); each
chunk of ``seq_len`` characters is one step. Gradients are clipped to norm
``clip``. Every epoch reports the loss and the perplexity (exp of the mean
loss per character) on the training text and on held-out text (its last
``val_fraction``), and ``sample_every`` steps a sample is printed. With no
``--text`` the corpus is a handful of standard-library modules
(``tinynet.data.textsets.stdlib_corpus``): no download.

The model contract (what a seed registered with ``recipe="char_lm"``
provides); the builder is called with ``vocab_size`` and the keywords of its
signature found in the config:

- by default ``model(ids)`` takes int64 ids (B, T) and returns logits
  (B, T, vocab_size): a decoder-only transformer plugs in as it is;
- ``batch_first = False`` (a class attribute): ids (T, B), logits (T, B, V);
- ``carries_state = True``: ``model(ids, state) -> (logits, state)``, the
  state carried from one chunk to the next and detached at the chunk border
  (truncated backpropagation through time; ``state`` None at the start);
- ``block_size`` (an attribute): the most positions the model takes;
  ``seq_len`` may not exceed it, and sampling feeds the last ``block_size``
  characters.

Entry points: ``train(config, model="lstm")`` returns a ``Result`` (extras:
``vocab``, ``sample``); ``sample(...)`` generates text.
"""
import math

import numpy as np

import tinynet as tn
import tinynet.nn as nn
import tinynet.nn.functional as F
import tinynet.optim as optim
from tinynet import models
from tinynet.data.textsets import CharStream, CharVocab, stdlib_corpus
from tinynet.recipes.options import add_model_options, config_from
from tinynet.recipes.run import Result, Run

DEFAULTS = {
    "text": None,            # path of a text file; None: the standard-library corpus
    "max_chars": 300_000,    # cut the corpus (None: all of it)
    "val_fraction": 0.1,     # held-out tail of the text
    "seq_len": 64, "batch_size": 32,
    "lr": 3e-3, "epochs": 1, "max_steps": None, "clip": 1.0,
    "prompt": "def ", "temperature": 0.8, "sample_chars": 300, "sample_every": 200,
    "seed": 0, "save": None, "quiet": False,
}


def _forward(model, x, state=None):
    """(logits, state) for the int64 ids ``x``, laid out as the model takes them."""
    if getattr(model, "carries_state", False):
        return model(tn.tensor(x), state)
    return model(tn.tensor(x)), None


def _detach(state):
    # truncated BPTT: keep the values, cut the graph at the chunk border
    return None if state is None else tuple(s.detach() for s in state)


def _loss(model, x, y, state):
    logits, state = _forward(model, x, state)
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
    batch_first = getattr(model, "batch_first", True)
    carries_state = getattr(model, "carries_state", False)
    window = getattr(model, "block_size", None)

    def one_sequence(ids):             # (1, T) or (T, 1)
        a = np.array(ids[-window:] if window else ids, np.int64)
        return a[None, :] if batch_first else a[:, None]

    was_training = model.training
    model.eval()
    ids = list(vocab.encode(prompt)) if prompt else [int(rng.integers(len(vocab)))]
    out = list(ids)
    with tn.no_grad():
        logits, state = _forward(model, one_sequence(ids))
        for _ in range(n_chars):
            last = (logits.array[0, -1] if batch_first else logits.array[-1, 0])
            last = last.astype(np.float64)
            if temperature <= 0:
                nxt = int(last.argmax())
            else:
                p = np.exp((last - last.max()) / temperature)
                nxt = int(rng.choice(len(p), p=p / p.sum()))
            out.append(nxt)
            if carries_state:          # one new character; the state holds the rest
                logits, state = _forward(model, one_sequence([nxt]), state)
            else:                      # the whole context again
                logits, _ = _forward(model, one_sequence(out))
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


def train(config=None, model="lstm", run=None):
    """Train the seed ``model`` (a registered char-LM) on ``config`` (the
    keys of ``DEFAULTS`` and of the seed's defaults); returns a ``Result``
    (history: loss and perplexity per epoch, train and validation; extras:
    ``vocab`` and the final ``sample``)."""
    entry = models.get(model)
    cfg = {**DEFAULTS, **entry.defaults, **(config or {})}
    run = run or Run(quiet=cfg["quiet"])
    tn.manual_seed(cfg["seed"])
    text = load_text(cfg)
    vocab = CharVocab(text)
    net = entry.build(cfg, vocab_size=len(vocab))
    block = getattr(net, "block_size", None)
    if block is not None and cfg["seq_len"] > block:
        raise ValueError(f"char_lm: seq_len {cfg['seq_len']} is longer than the {model} "
                         f"model's block_size {block}; pass seq_len <= {block}")
    batch_first = getattr(net, "batch_first", True)
    split = int(len(text) * (1 - cfg["val_fraction"]))
    train_stream = CharStream(text[:split], cfg["batch_size"], cfg["seq_len"], vocab,
                              batch_first=batch_first)
    val_bs = max(1, min(cfg["batch_size"], (len(text) - split - 1) // cfg["seq_len"]))
    val_stream = CharStream(text[split:], val_bs, cfg["seq_len"], vocab, batch_first=batch_first)
    opt = optim.Adam(net.parameters(), lr=cfg["lr"])
    run.log(f"{model}: {len(text):,} characters, vocabulary {len(vocab)}, "
            f"{len(train_stream)} chunks of {cfg['batch_size']}x{cfg['seq_len']} per epoch, "
            f"{sum(p.numel() for p in net.parameters()):,} parameters")
    for epoch in range(1, cfg["epochs"] + 1):
        state, epoch_losses = None, []
        for x, y in train_stream:
            if run.reached(cfg["max_steps"]):
                break
            loss, state = _loss(net, x, y, state)
            state = _detach(state)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), cfg["clip"])
            opt.step()
            run.step_done(net, opt, loss)
            epoch_losses.append(run.losses[-1])
            if cfg["sample_every"] and run.step % cfg["sample_every"] == 0:
                run.log(f"step {run.step:5d}  loss {run.losses[-1]:.3f}  ({run.seconds:.0f} s)")
                run.log("  sample: " + repr(sample(net, vocab, cfg["prompt"], 80,
                                                    cfg["temperature"], seed=run.step)))
        if not epoch_losses:
            break
        tr, va = float(np.mean(epoch_losses)), evaluate(net, val_stream)
        run.epoch = epoch
        run.append_metrics({"epoch": epoch, "train_loss": tr, "train_ppl": math.exp(tr),
                            "val_loss": va, "val_ppl": math.exp(va)})
        run.log(f"epoch {epoch}: train loss {tr:.3f} (perplexity {math.exp(tr):.2f}), "
                f"val loss {va:.3f} (perplexity {math.exp(va):.2f}), {run.seconds:.0f} s")
    text_out = sample(net, vocab, cfg["prompt"], cfg["sample_chars"], cfg["temperature"],
                      seed=cfg["seed"])
    if cfg["save"]:
        tn.save({"model": net.state_dict(), "vocab": "".join(vocab.itos), "config": {
            k: v for k, v in cfg.items() if k != "save"}}, cfg["save"])
        run.log(f"saved to {cfg['save']}")
    history = run.metrics()
    last = history[-1] if history else {}
    return Result(model=net, steps=run.step, epochs=run.epoch,
                  stopped=run.reached(cfg["max_steps"]), history=history, losses=run.losses,
                  metrics={k: last[k] for k in ("val_loss", "val_ppl") if k in last},
                  seconds=run.seconds, run_dir=run.path,
                  extras={"vocab": vocab, "sample": text_out})


# ---------------------------------------------------------------- command line
# Each option's allowed values (the command exits with status 2 outside them):
# integers from a lower bound, numbers in an interval.
_INT_OPTIONS = {"max_chars": 1, "seq_len": 1, "batch_size": 1, "epochs": 1, "max_steps": 1,
                "sample_chars": 0, "sample_every": 0}          # sample_every 0: no samples
_FLOAT_OPTIONS = {"val_fraction": dict(low=0, high=1, low_open=True, high_open=True),
                  "lr": dict(low=0, low_open=True), "clip": dict(low=0, low_open=True),
                  "temperature": dict(low=0)}                  # temperature 0: greedy


def add_arguments(parser, entry):
    """The options of ``tinynet train NAME`` for a seed trained by this recipe."""
    from tinynet.cli import SEED, existing_file, float_option, int_option
    d = {**DEFAULTS, **entry.defaults}
    parser.add_argument("--text", type=existing_file,
                        help="a UTF-8 text file (default: Python's standard-library sources, "
                             "no download)")
    for key, low in _INT_OPTIONS.items():
        parser.add_argument("--" + key.replace("_", "-"), type=int_option(low), default=d[key])
    parser.add_argument("--seed", type=SEED, default=d["seed"])
    for key, interval in _FLOAT_OPTIONS.items():
        parser.add_argument("--" + key.replace("_", "-"), type=float_option(**interval),
                            default=d[key])
    parser.add_argument("--prompt", default=d["prompt"])
    parser.add_argument("--save", help="write model, vocabulary and config here (tn.save)")
    parser.add_argument("--quiet", action="store_true")
    add_model_options(parser, entry, DEFAULTS)


def command(args, entry):
    """``tinynet train NAME``: train, then print a sample."""
    result = train(config_from(args), model=entry.name)
    if not args.quiet:
        print(f"\nsample (temperature {args.temperature}, prompt {args.prompt!r}):\n")
        print(result.extras["sample"])
    return 0
