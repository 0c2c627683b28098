"""Memory soak: many training steps of the seed CNN and of the char-LSTM,
printing traced memory (tracemalloc: Python objects and NumPy arrays) and
the process's resident size as they go. Flat figures after the warm-up mean
no graph, array or optimizer state accumulates across steps.

    python benchmarks/memory_soak.py                 # 2 000 steps of each
    python benchmarks/memory_soak.py --steps 300 --model cnn

Traced memory is the measure that matters here: it counts every live
allocation exactly, whatever the allocator does. RSS is printed alongside,
but it also reflects glibc's caching (and, in a process that called
``tinynet.tune_process()``, raised mmap and trim thresholds, which keep large
temporaries for reuse rather than returning them to the OS), so RSS tends
to plateau at the high-water mark of the allocator's free lists rather than
track live data.

tests/hardening/test_hardening_memory.py runs the same trainers for a few hundred steps.
"""
import argparse
import gc
import os
import sys
import time
import tracemalloc
from collections import deque

import numpy as np

import tinynet as tn
import tinynet.nn.functional as F
import tinynet.optim as optim
from tinynet.data import DataLoader
from tinynet.data.textsets import CharStream, CharVocab, stdlib_corpus
from tinynet.data.uci_digits import digits
from tinynet.models import cnn
from tinynet.seeds.char_lstm import CharLSTM


def cnn_trainer(batch_size=16, seed=0):
    """A ``step(inspect=None)`` that trains the seed CNN (models.cnn, RMSprop
    as its default) on one batch of the 8x8 digits, cycling over the epochs.
    ``inspect(loss)``, if given, sees the loss before its backward."""
    tn.manual_seed(seed)
    model = cnn()
    opt = optim.RMSprop(model.parameters(), lr=1e-3)
    loader = DataLoader(digits("train"), batch_size=batch_size, shuffle=True, drop_last=True,
                        seed=seed)
    batches = iter(())

    def step(inspect=None):
        nonlocal batches
        try:
            x, y = next(batches)
        except StopIteration:
            batches = iter(loader)
            x, y = next(batches)
        loss = F.cross_entropy(model(x), y)
        if inspect is not None:
            inspect(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    step.model = model
    return step


def lstm_trainer(batch_size=8, seq_len=32, hidden_size=64, seed=0):
    """A ``step(inspect=None)`` of the char-LSTM seed's training (truncated
    BPTT with the state carried over and detached, gradient clipping, Adam)."""
    tn.manual_seed(seed)
    text = stdlib_corpus(max_chars=60_000)
    vocab = CharVocab(text)
    stream = CharStream(text, batch_size, seq_len, vocab)
    model = CharLSTM(len(vocab), embed_size=16, hidden_size=hidden_size, num_layers=2)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    chunks, state = iter(()), None

    def step(inspect=None):
        nonlocal chunks, state
        try:
            x, y = next(chunks)
        except StopIteration:
            chunks, state = iter(stream), None
            x, y = next(chunks)
        logits, state = model(tn.tensor(x), state)
        state = tuple(s.detach() for s in state)      # cut the graph at the chunk border
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                               tn.tensor(y.reshape(-1)))
        if inspect is not None:
            inspect(loss)
        opt.zero_grad()
        loss.backward()
        tn.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()
    step.model = model
    return step


def rss_mib():
    """Resident set size now, from /proc (Linux); None elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except OSError:
        return None


def soak(make, steps, warmup, report_every, out=print):
    """Build a trainer with ``make()`` and run ``steps`` steps under
    tracemalloc (started first, so the model, optimizer state and data
    count too); returns per-window figures: (step, traced now, traced peak
    in the window, RSS) in MiB."""
    gc.collect()
    tracemalloc.start()
    step = make()
    rows, losses = [], deque(maxlen=report_every)     # bounded: no growth of our own
    t0 = time.perf_counter()
    for i in range(1, steps + 1):
        losses.append(step())
        if i == warmup or (i > warmup and (i - warmup) % report_every == 0):
            now, peak = (v / 2 ** 20 for v in tracemalloc.get_traced_memory())
            rows.append((i, now, peak, rss_mib()))
            out(f"  step {i:5d}: traced {now:7.2f} MiB, window peak {peak:7.2f} MiB, "
                f"RSS {rows[-1][3]:7.1f} MiB, loss {np.mean(losses):.3f}, "
                f"{time.perf_counter() - t0:6.1f} s")
            tracemalloc.reset_peak()
    tracemalloc.stop()
    return rows


def summary(name, rows):
    """The spread of traced and peak memory over the windows after warm-up."""
    after = rows[1:]
    nows, peaks = [r[1] for r in after], [r[2] for r in after]
    spread = lambda v: 100 * (max(v) / min(v) - 1)  # noqa: E731
    return (f"{name}: after warm-up (step {rows[0][0]}), traced memory "
            f"{min(nows):.2f}-{max(nows):.2f} MiB (spread {spread(nows):.1f}%), "
            f"window peaks {min(peaks):.2f}-{max(peaks):.2f} MiB "
            f"(spread {spread(peaks):.1f}%), RSS {rows[0][3]:.1f} -> {rows[-1][3]:.1f} MiB")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--every", type=int, default=200, help="report every N steps")
    p.add_argument("--model", choices=("cnn", "lstm", "both"), default="both")
    args = p.parse_args(argv)
    lines = []
    for name, make in (("cnn", cnn_trainer), ("lstm", lstm_trainer)):
        if args.model not in (name, "both"):
            continue
        print(f"{name}: {args.steps} steps" + (" (batch 16)" if name == "cnn" else
                                               " (batch 8 x 32 chars, 2 layers of 64)"))
        rows = soak(make, args.steps, args.warmup, args.every)
        lines.append(summary(name, rows))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
