"""The character-level language-model recipe: ``tinynet train lstm``,
``tinynet train gpt``, and any registered model that maps token ids to
next-token logits.

    tinynet train lstm                                 # trains on Python's own sources
    tinynet train lstm --text book.txt --epochs 10 --prompt "Once upon"
    tinynet train gpt --time-budget 300 --out runs/gpt --prompt "def " --top-k 20
    tinynet resume runs/gpt --epochs 40                # continue from its checkpoint

Batches. A model that carries a state (the LSTM) reads the text as
``batch_size`` parallel streams (``CharStream``), one chunk of ``seq_len``
characters per step, the state carried from chunk to chunk (truncated
backpropagation through time). A model without state (the GPT) gets
``batch_size`` windows of ``seq_len`` characters at random places of the
training text each step, drawn from ``(seed, step)`` (so a resumed run draws
the same ones); an epoch is as many steps as the streams would take. The
held-out text (the last ``val_fraction``) is always read as streams.

Optimization. ``optimizer`` is Adam or AdamW; with ``weight_decay`` > 0 the
decay applies to the parameters of two or more dims (the weight matrices and
embeddings) and not to biases and LayerNorm gains. The learning rate is
``lr`` times a factor (``LambdaLR``): it rises linearly over
``warmup_steps``, then stays (``schedule`` "constant") or follows a cosine
from ``lr`` down to ``lr / 10`` ("cosine") over the run: ``max_steps``, the
``epochs``' steps or the ``time_budget``, whichever ends first. Gradients
are clipped to norm ``clip``.

Reporting. After every epoch, every ``eval_every`` steps (0: only per
epoch) and at the end, a row holds the mean training loss since the
previous row, the held-out loss, their perplexities (exp of the loss per
character), the lr and the training seconds (evaluation and sampling left
out; so are the ``Run``'s per-step callbacks). Every ``sample_every`` steps a
sample is printed. ``time_budget`` stops the run after that many seconds of
training. A run that its time budget stopped has spent it: ``tinynet
resume`` continues runs stopped by Ctrl-C or ``max_steps``.

The run directory (``--out DIR``; without it nothing is written, except the
weights ``--save`` names): config.json, metrics.csv (the rows above),
curves.png (loss and perplexity, training and held-out, by epoch) and
checkpoint.npz, written at every row, at the end and on Ctrl-C. ``tinynet
resume DIR`` continues from the checkpoint as if the run had not stopped:
the same batches, optimizer and schedule state, and the LSTM's state.

With no ``--text`` the corpus is a handful of standard-library modules
(``tinynet.data.textsets.stdlib_corpus``): no download.

Device. ``device`` ('cpu', 'cuda', 'cuda:N') is where the model trains: the
batches are cut on the host and copied over each step; sampling brings one
row of logits back per character.

The model contract (what a seed registered with ``recipe="char_lm"``
provides); the builder is called with ``vocab_size`` and the keywords of its
signature found in the config:

- by default ``model(ids)`` takes int64 ids (B, T) and returns logits
  (B, T, vocab_size): a decoder-only transformer plugs in as it is;
- ``batch_first = False`` (a class attribute): ids (T, B), logits (T, B, V);
- ``carries_state = True``: ``model(ids, state) -> (logits, state)``, the
  state carried from one chunk to the next and detached at the chunk border
  (``state`` None at the start);
- ``block_size`` (an attribute): the most positions the model takes;
  ``seq_len`` may not exceed it, and sampling feeds the last ``block_size``
  characters.

Entry points: ``train(config, model="lstm")`` and ``fit(config, run,
resume=False)`` return a ``Result`` (extras: ``vocab``, ``sample``);
``sample(...)`` generates text.
"""
import math
import os
import time

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
    "optimizer": "adam", "lr": 3e-3, "weight_decay": 0.0,
    "schedule": "constant", "warmup_steps": 0,
    "epochs": 1, "max_steps": None, "time_budget": None, "clip": 1.0, "eval_every": 0,
    "prompt": "def ", "temperature": 0.8, "top_k": None, "sample_chars": 300,
    "sample_every": 200,
    "seed": 0, "save": None, "quiet": False, "device": "cpu",
}

OPTIMIZERS = {"adam": optim.Adam, "adamw": optim.AdamW}
SCHEDULES = ("constant", "cosine")
MIN_LR_FRACTION = 0.1          # the cosine schedule ends at lr * MIN_LR_FRACTION
METRICS = ["epoch", "step", "seconds", "lr", "train_loss", "train_ppl", "val_loss", "val_ppl"]


def _device(model):
    return next(model.parameters()).device


def _forward(model, x, state=None):
    """(logits, state) for the int64 ids ``x`` (a NumPy array), laid out as
    the model takes them, on the model's device."""
    x = tn.tensor(x, device=_device(model))
    if getattr(model, "carries_state", False):
        return model(x, state)
    return model(x), None


def _detach(state):
    # truncated BPTT: keep the values, cut the graph at the chunk border
    return None if state is None else tuple(s.detach() for s in state)


def _loss(model, x, y, state):
    logits, state = _forward(model, x, state)
    V = logits.shape[-1]
    target = tn.tensor(y.reshape(-1), device=logits.device)
    return F.cross_entropy(logits.reshape(-1, V), target), state


def evaluate(model, stream):
    """Mean cross-entropy per character over a whole stream (state carried)."""
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    with tn.no_grad():
        for x, y in stream:
            loss, state = _loss(model, x, y, state)
            total += loss.item() * y.size
            count += y.size
    model.train(was_training)
    return total / max(count, 1)


def sample(model, vocab, prompt="", n_chars=200, temperature=1.0, seed=None, top_k=None):
    """``prompt`` followed by ``n_chars`` characters drawn from the model.

    Lower ``temperature`` sharpens the distribution (more predictable text),
    higher flattens it; 0 picks the most likely character every time.
    ``top_k`` draws only among the k most likely characters (None: all).
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
            last = (logits[0, -1] if batch_first else logits[-1, 0]).numpy()
            last = last.astype(np.float64)          # on the host: one row of V logits
            if temperature <= 0:
                nxt = int(last.argmax())
            else:
                if top_k is not None and top_k < len(last):
                    last = np.where(last < np.sort(last)[-top_k], -np.inf, last)
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


# ---------------------------------------------------------------- batches
class RandomWindows:
    """``steps`` batches of ``batch_size`` windows of ``seq_len`` characters at
    random places, for a model without state: step s draws its places from
    ``(seed, s)``, so any step's batch can be made again (a resumed run)."""

    def __init__(self, ids, batch_size, seq_len, steps, seed, batch_first=True):
        if len(ids) <= seq_len:
            raise ValueError(f"char_lm: {len(ids)} training characters are too few for "
                             f"windows of seq_len={seq_len}")
        self.ids, self.batch_size, self.seq_len = ids, batch_size, seq_len
        self.steps, self.seed, self.batch_first = steps, seed, batch_first

    def __len__(self):
        return self.steps

    def batch(self, step):
        rng = np.random.default_rng((self.seed, step))
        starts = rng.integers(0, len(self.ids) - self.seq_len, self.batch_size)
        rows = starts[:, None] + np.arange(self.seq_len + 1)
        s = self.ids[rows]                                   # (B, T + 1)
        x, y = s[:, :-1], s[:, 1:]
        if not self.batch_first:
            x, y = x.T, y.T
        return np.ascontiguousarray(x), np.ascontiguousarray(y)


# ---------------------------------------------------------------- the learning rate
class WarmupCosine:
    """The lr factor of step ``step`` (a ``LambdaLR`` lambda): linear warm-up
    over ``warmup`` steps, then 1 (``cosine`` False) or a cosine from 1 to
    ``min_fraction`` over the run. The run's progress is the larger of
    (step - warmup) / (total - warmup) and seconds / budget (either may be
    None); the loop sets ``seconds`` before each scheduler step. A plain
    object, so ``LambdaLR.state_dict()`` keeps its attributes."""

    def __init__(self, warmup, cosine, total=None, budget=None, min_fraction=MIN_LR_FRACTION):
        self.warmup, self.cosine, self.total, self.budget = warmup, cosine, total, budget
        self.min_fraction, self.seconds = min_fraction, 0.0

    def progress(self, step):
        done = []
        if self.total:
            done.append((step - self.warmup) / max(1, self.total - self.warmup))
        if self.budget:
            done.append(self.seconds / self.budget)
        return min(1.0, max(0.0, max(done))) if done else 0.0

    def __call__(self, step):
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        if not self.cosine:
            return 1.0
        cos = 0.5 * (1.0 + math.cos(math.pi * self.progress(step)))
        return self.min_fraction + (1.0 - self.min_fraction) * cos


def make_optimizer(net, cfg):
    """Adam or AdamW; with weight decay, two parameter groups: the parameters
    of two or more dims decay, the others (biases, LayerNorm gains) do not."""
    if cfg["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"char_lm: unknown optimizer {cfg['optimizer']!r}; choose from "
                         f"{sorted(OPTIMIZERS)}")
    params = list(net.parameters())
    decay = cfg["weight_decay"] or 0.0
    if decay:
        groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": decay},
                  {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
        return OPTIMIZERS[cfg["optimizer"]](groups, lr=cfg["lr"])
    return OPTIMIZERS[cfg["optimizer"]](params, lr=cfg["lr"], weight_decay=0.0)


def run_length(cfg, steps_per_epoch):
    """(steps, seconds) the run may last: the epochs' steps or ``max_steps``,
    whichever is fewer, and the time budget (None: no limit)."""
    total = cfg["epochs"] * steps_per_epoch
    if cfg["max_steps"]:
        total = min(total, cfg["max_steps"])
    return total, cfg["time_budget"]


def make_scheduler(opt, cfg, steps_per_epoch):
    """(LambdaLR, its WarmupCosine factor) for ``cfg``'s schedule."""
    if cfg["schedule"] not in SCHEDULES:
        raise ValueError(f"char_lm: unknown schedule {cfg['schedule']!r}; choose from "
                         f"{', '.join(SCHEDULES)}")
    factor = WarmupCosine(cfg["warmup_steps"] or 0, cfg["schedule"] == "cosine",
                          *run_length(cfg, steps_per_epoch))
    return optim.lr_scheduler.LambdaLR(opt, factor), factor


# ---------------------------------------------------------------- training
def _config(config, model):
    entry = models.get(model)
    return entry, {**DEFAULTS, **entry.defaults, **(config or {}), "model": model}


def build(cfg):
    """(model, vocabulary, training stream, held-out stream, characters) for
    a full config; the model is built after ``tn.manual_seed(cfg["seed"])``.
    The training stream's ``train_ids`` are the training text's ids."""
    tn.manual_seed(cfg["seed"])
    text = load_text(cfg)
    vocab = CharVocab(text)
    net = models.get(cfg["model"]).build(cfg, vocab_size=len(vocab))
    block = getattr(net, "block_size", None)
    if block is not None and cfg["seq_len"] > block:
        raise ValueError(f"char_lm: seq_len {cfg['seq_len']} is longer than the "
                         f"{cfg['model']} model's block_size {block}; pass seq_len <= {block}")
    batch_first = getattr(net, "batch_first", True)
    split = int(len(text) * (1 - cfg["val_fraction"]))
    train_stream = CharStream(text[:split], cfg["batch_size"], cfg["seq_len"], vocab,
                              batch_first=batch_first)
    train_stream.train_ids = vocab.encode(text[:split])
    val_bs = max(1, min(cfg["batch_size"], (len(text) - split - 1) // cfg["seq_len"]))
    val_stream = CharStream(text[split:], val_bs, cfg["seq_len"], vocab, batch_first=batch_first)
    return net, vocab, train_stream, val_stream, len(text)


def train(config=None, model="lstm", run=None):
    """Train the seed ``model`` (a registered char-LM) on ``config`` (the
    keys of ``DEFAULTS`` and of the seed's defaults) in ``run`` (default:
    ``Run()``, no directory); returns a ``Result`` (history: the rows
    described in the module docstring; extras: ``vocab`` and the final
    ``sample``)."""
    _, cfg = _config(config, model)
    return fit(cfg, run or Run(quiet=cfg["quiet"]))


def fit(config, run, resume=False):
    """Train (or, with ``resume``, continue from ``run``'s checkpoint) the
    model ``config["model"]`` in ``run``; returns a ``Result``.

    Stops at the end of ``epochs``, at ``max_steps``, after ``time_budget``
    seconds of training and on Ctrl-C (with a run directory: checkpointed,
    then ``SystemExit(130)``).
    """
    cfg = _config(config, config.get("model", "lstm"))[1]
    if cfg.get("distributed"):
        raise ValueError("char_lm: this recipe trains on one process; it has no "
                         "data-parallel mode (leave out --distributed)")
    run.quiet = run.quiet or bool(cfg["quiet"])
    run.columns = run.columns or METRICS
    net, vocab, train_stream, val_stream, n_chars = build(cfg)
    net.to(cfg["device"])                    # before the optimizer sees the parameters
    batch_first = getattr(net, "batch_first", True)
    stateful = getattr(net, "carries_state", False)
    steps_per_epoch = len(train_stream)
    windows = None if stateful else RandomWindows(
        train_stream.train_ids, cfg["batch_size"], cfg["seq_len"], steps_per_epoch,
        cfg["seed"], batch_first)
    opt = make_optimizer(net, cfg)
    sched, factor = make_scheduler(opt, cfg, steps_per_epoch)

    # the position in the run: what a checkpoint holds besides model and optimizer
    pos = {"batch_in_epoch": 0, "train_seconds": 0.0, "state": None, "pending": []}
    if resume:
        ck = run.load_checkpoint(net, opt)
        sched.load_state_dict(ck["scheduler"])
        # a resumed run may have a new length (tinynet resume --epochs)
        factor.total, factor.budget = run_length(cfg, steps_per_epoch)
        pos = {k: ck[k] for k in pos}
        _truncate_metrics(run)
    state = None if pos["state"] is None else \
        tuple(tn.tensor(a, device=cfg["device"]) for a in pos["state"])
    pending = list(pos["pending"])           # step losses since the last metrics row
    seconds = pos["train_seconds"]
    batch_in_epoch = pos["batch_in_epoch"]

    run.log(f"{cfg['model']}: {n_chars:,} characters, vocabulary {len(vocab)}, "
            f"{steps_per_epoch} steps of {cfg['batch_size']}x{cfg['seq_len']} per epoch, "
            f"{sum(p.numel() for p in net.parameters()):,} parameters"
            + (f"; run directory {run.path}" if run.path else ""))

    def checkpoint():
        run.save_checkpoint(net, opt, scheduler=sched.state_dict(), config=cfg,
                            batch_in_epoch=batch_in_epoch, train_seconds=seconds,
                            state=None if state is None else [s.numpy() for s in state],
                            pending=list(pending))

    def report_row():
        nonlocal pending
        tr, va = float(np.mean(pending)), evaluate(net, val_stream)
        pending = []
        # the epoch the row belongs to, counted from 1 (a cut-short one too)
        row = {"epoch": run.epoch + (batch_in_epoch > 0), "step": run.step,
               "seconds": seconds, "lr": opt.param_groups[0]["lr"],
               "train_loss": tr, "train_ppl": math.exp(tr),
               "val_loss": va, "val_ppl": math.exp(va)}
        run.append_metrics(row)       # then the checkpoint: a row is never ahead of it
        checkpoint()
        draw_curves(run)
        return row

    def out_of_time():
        return bool(cfg["time_budget"]) and seconds >= cfg["time_budget"]

    stopped = interrupted = False
    net.train()
    with run.catch_interrupts():
        while run.epoch < cfg["epochs"] and not stopped:
            bar = run.progress(steps_per_epoch, f"epoch {run.epoch + 1}/{cfg['epochs']}",
                               initial=batch_in_epoch)
            batches = iter(train_stream) if stateful else None
            if stateful and batch_in_epoch == 0:
                state = None
            for k in range(steps_per_epoch):
                chunk = next(batches) if stateful else None   # streams: read in order
                if k < batch_in_epoch:              # resumed mid-epoch: skip what was done
                    continue
                x, y = chunk if stateful else windows.batch(run.epoch * steps_per_epoch + k)
                if run.reached(cfg["max_steps"]) or out_of_time():
                    stopped = True
                    break
                t0 = time.perf_counter()
                loss, state = _loss(net, x, y, state)
                state = _detach(state)
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), cfg["clip"])
                opt.step()
                value = loss.item()
                seconds += time.perf_counter() - t0       # callbacks not counted
                run.step_done(net, opt, loss, value)
                factor.seconds = seconds
                sched.step()
                batch_in_epoch = k + 1
                pending.append(run.losses[-1])
                bar.update(1)
                bar.set_postfix(loss=f"{run.losses[-1]:.3f}")
                if cfg["sample_every"] and run.step % cfg["sample_every"] == 0:
                    run.log(f"step {run.step:5d}  loss {run.losses[-1]:.3f}  ({seconds:.0f} s)")
                    run.log("  sample: " + repr(sample(net, vocab, cfg["prompt"], 80,
                                                        cfg["temperature"], seed=run.step,
                                                        top_k=cfg["top_k"])))
                if run.interrupted():
                    interrupted = True
                    break
                if cfg["eval_every"] and run.step % cfg["eval_every"] == 0 \
                        and batch_in_epoch < steps_per_epoch:
                    row = report_row()
                    run.log(f"step {run.step:5d}: train loss {row['train_loss']:.3f}, "
                            f"val loss {row['val_loss']:.3f}, lr {row['lr']:.2e}, "
                            f"{seconds:.0f} s")
            bar.close()
            if interrupted:
                checkpoint()
                run.exit_interrupted()
            if batch_in_epoch == steps_per_epoch:    # a whole epoch done
                run.epoch += 1
                batch_in_epoch = 0
            if pending:
                row = report_row()
                run.log(f"epoch {row['epoch']}: train loss {row['train_loss']:.3f} "
                        f"(perplexity {row['train_ppl']:.2f}), val loss {row['val_loss']:.3f} "
                        f"(perplexity {row['val_ppl']:.2f}), {seconds:.0f} s")
            elif stopped:
                checkpoint()
    text_out = sample(net, vocab, cfg["prompt"], cfg["sample_chars"], cfg["temperature"],
                      seed=cfg["seed"], top_k=cfg["top_k"])
    if cfg["save"]:
        tn.save({"model": net.state_dict(), "vocab": "".join(vocab.itos), "config": {
            k: v for k, v in cfg.items() if k != "save"}}, cfg["save"])
        run.log(f"saved to {cfg['save']}")
    history = run.metrics()
    last = history[-1] if history else {}
    return Result(model=net, steps=run.step, epochs=run.epoch + (batch_in_epoch > 0),
                  stopped=stopped or run.reached(cfg["max_steps"]), history=history,
                  losses=run.losses,
                  metrics={k: last[k] for k in ("val_loss", "val_ppl") if k in last},
                  seconds=seconds, run_dir=run.path,
                  extras={"vocab": vocab, "sample": text_out})


def _truncate_metrics(run):
    """Drop the rows of metrics.csv beyond the checkpoint just loaded (a run
    that stopped between writing a row and its checkpoint)."""
    if run.path is None or not os.path.exists(run.file("metrics.csv")):
        return
    rows = [r for r in run.metrics() if r["step"] <= run.step]
    os.remove(run.file("metrics.csv"))
    for r in rows:
        run.append_metrics({k: (int(v) if k in ("epoch", "step") else v) for k, v in r.items()})


def draw_curves(run):
    """curves.png: training and held-out loss by step, and the lr by step."""
    rows = run.metrics()
    if not rows or run.path is None or not run.lead:
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = [r["step"] for r in rows]
    fig, (ax, lr) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax.plot(steps, [r["train_loss"] for r in rows], "o-", ms=3, label="train (mean since "
            "the previous point)")
    ax.plot(steps, [r["val_loss"] for r in rows], "o-", ms=3, label="held-out")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy per character")
    ax.legend()
    lr.plot(steps, [r["lr"] for r in rows], "o-", ms=3)
    lr.set_xlabel("step")
    lr.set_ylabel("learning rate")
    fig.suptitle(f"tinynet run {os.path.basename(os.path.abspath(run.path))}")
    fig.tight_layout()
    fig.savefig(run.file("curves.png"), dpi=100)
    plt.close(fig)


def eval_command(run):
    """``tinynet eval DIR`` for a run of this recipe: the checkpoint's held-out loss."""
    cfg = _config(run.config(), run.config()["model"])[1]
    net, vocab, _, val_stream, _ = build(cfg)
    net.load_state_dict(tn.load(run.file("checkpoint.npz"))["model"])
    loss = evaluate(net, val_stream)
    print(f"{run.path}: held-out loss {loss:.4f} (perplexity {math.exp(loss):.2f}) per "
          f"character, over {len(val_stream) * val_stream.seq_len * val_stream.batch_size:,} "
          f"characters")
    return 0


# ---------------------------------------------------------------- command line
# Each option's allowed values (the command exits with status 2 outside them):
# integers from a lower bound, numbers in an interval.
_INT_OPTIONS = {"max_chars": 1, "seq_len": 1, "batch_size": 1, "epochs": 1, "max_steps": 1,
                "sample_chars": 0, "sample_every": 0,          # sample_every 0: no samples
                "eval_every": 0, "warmup_steps": 0, "top_k": 1}
_FLOAT_OPTIONS = {"val_fraction": dict(low=0, high=1, low_open=True, high_open=True),
                  "lr": dict(low=0, low_open=True), "clip": dict(low=0, low_open=True),
                  "temperature": dict(low=0),                  # temperature 0: greedy
                  "weight_decay": dict(low=0), "time_budget": dict(low=0, low_open=True)}
_HELP = {"eval_every": "also evaluate (and checkpoint) every N steps; 0: once per epoch",
         "warmup_steps": "linear lr warm-up over N steps",
         "top_k": "sample among the K most likely characters only",
         "weight_decay": "decoupled (adamw) or L2 (adam) decay of the weight matrices",
         "time_budget": "stop after this many seconds of training (evaluation not counted)"}


def add_arguments(parser, entry):
    """The options of ``tinynet train NAME`` for a seed trained by this recipe."""
    from tinynet.cli import SEED, device_option, existing_file, float_option, int_option
    d = {**DEFAULTS, **entry.defaults}
    parser.add_argument("--text", type=existing_file,
                        help="a UTF-8 text file (default: Python's standard-library sources, "
                             "no download)")
    for key, low in _INT_OPTIONS.items():
        parser.add_argument("--" + key.replace("_", "-"), type=int_option(low), default=d[key],
                            help=_HELP.get(key))
    parser.add_argument("--seed", type=SEED, default=d["seed"])
    for key, interval in _FLOAT_OPTIONS.items():
        parser.add_argument("--" + key.replace("_", "-"), type=float_option(**interval),
                            default=d[key], help=_HELP.get(key))
    parser.add_argument("--optimizer", choices=list(OPTIMIZERS), default=d["optimizer"])
    parser.add_argument("--schedule", choices=list(SCHEDULES), default=d["schedule"],
                        help="the lr after warm-up: constant, or a cosine down to lr/10")
    parser.add_argument("--prompt", default=d["prompt"])
    parser.add_argument("--device", default=d["device"], type=device_option,
                        help="'cpu', 'cuda' or 'cuda:N'")
    parser.add_argument("--out", help="run directory: config.json, metrics.csv, curves.png, "
                                      "checkpoint.npz (default: none, nothing written)")
    parser.add_argument("--save", help="write model, vocabulary and config here (tn.save)")
    parser.add_argument("--quiet", action="store_true")
    add_model_options(parser, entry, DEFAULTS)


def command(args, entry):
    """``tinynet train NAME``: train, then print a sample."""
    config = {k: v for k, v in config_from(args).items() if k != "out"}
    run = Run(args.out, quiet=args.quiet)
    config["model"] = entry.name
    if args.out:
        if os.path.exists(os.path.join(args.out, "checkpoint.npz")):
            raise SystemExit(f"tinynet train {entry.name}: {args.out} already holds a run; "
                             f"continue it with `tinynet resume {args.out}` or pick another "
                             f"--out")
        run.write_config(config)
    result = fit(config, run)
    if not args.quiet:
        _print_sample(result, config)
    return 0


def _print_sample(result, config):
    top_k = f", top-k {config['top_k']}" if config.get("top_k") else ""
    print(f"\nsample (temperature {config['temperature']}{top_k}, prompt "
          f"{config['prompt']!r}):\n")
    print(result.extras["sample"])


def report(result):
    """The last lines of ``tinynet resume`` for a run of this recipe."""
    if result.metrics:
        print(f"{'stopped' if result.stopped else 'done'}: {result.steps} steps, "
              f"{result.seconds:.1f} s of training; val loss {result.metrics['val_loss']:.4f} "
              f"(perplexity {result.metrics['val_ppl']:.2f}); checkpoint and curves in "
              f"{result.run_dir}")
    else:
        print(f"stopped after {result.steps} steps; checkpoint in {result.run_dir}")
    config = Run(result.run_dir).config() if result.run_dir else DEFAULTS
    if not config.get("quiet"):
        _print_sample(result, config)
