"""One training run: what surrounds the steps of every recipe's loop.

A recipe (``tinynet/recipes/<task>.py``) writes its own loop: batches,
forward, loss, backward, optimizer step. ``Run`` holds the rest:

- the run directory (optional: ``Run()`` writes nothing), holding

      config.json      the settings it was started with
      metrics.csv      one row per epoch (the recipe's columns)
      checkpoint.npz   model + optimizer + RNG + the recipe's position (tn.save)
      curves.png       each train/held-out pair of metrics.csv by epoch

- the step and epoch counters, the per-step losses and the ``max_steps`` stop;
- checkpoint save and resume (``save_checkpoint``, ``load_checkpoint``);
- Ctrl-C: with a directory, SIGINT only raises a flag and the loop stops
  between two steps, so the checkpoint never holds a half-applied optimizer
  step (``catch_interrupts``, ``interrupted``, ``exit_interrupted``);
- tqdm progress bars, quiet when the output is not a terminal;
- per-step callbacks ``fn(run, step, model, optimizer, loss)``, called after
  every optimizer step (``step`` counts from 1; ``model`` is the plain
  module, not a data-parallel wrapper): the place to attach instruments;
- the distributed strategy: ``Local`` (one process) or ``DataParallel``
  (the processes of ``mpiexec -n N``, tinynet.distributed). The loop calls
  the strategy's hooks unconditionally; ``Local``'s do nothing.

Every recipe returns a ``Result``, the same fields for every task.
"""
import contextlib
import csv
import dataclasses
import json
import os
import signal
import sys
import threading
import time

import tinynet as tn


# ---------------------------------------------------------------- what a recipe returns
@dataclasses.dataclass
class Result:
    """What every recipe's ``train`` (and ``classify.fit``) returns.

    Attributes:
        model: the trained module (never a data-parallel wrapper).
        steps: optimizer steps of the run in total (a resumed run counts the
            steps before the resume too).
        epochs: complete passes over the training data (a pass that
            ``max_steps`` cut short counts where the recipe evaluates it;
            0 for ``forecast``, which samples windows and has no epochs).
        stopped: True when the run ended at ``max_steps``.
        history: the rows the recipe reports, one dict per epoch (the rows
            of metrics.csv for ``classify`` and ``char_lm``, whose rows also
            come every ``eval_every`` steps; one per tenth of the steps for
            ``forecast``).
        losses: the training loss of every step this call took.
        metrics: the final held-out numbers by name (``classify``: val_loss,
            val_acc; ``char_lm``: val_loss, val_ppl; ``sentiment``:
            train_acc, test_acc; ``forecast``: test_mse and the baselines'
            test_mse_last_value, test_mse_seasonal_naive); empty when the
            run stopped before its first evaluation.
        seconds: how long the run took (``classify``: the epochs' training
            seconds summed over metrics.csv, so across resumes; ``char_lm``:
            the seconds of its training steps, across resumes; the other
            recipes: the seconds since their ``Run`` was made).
        run_dir: the run directory, or None.
        extras: what is particular to the task (``vocab``, ``classes``,
            ``sample``, ``forecast``, ``truth``).
    """
    model: object
    steps: int
    epochs: int
    stopped: bool
    history: list
    losses: list
    metrics: dict
    seconds: float
    run_dir: object = None
    extras: dict = dataclasses.field(default_factory=dict)

    def as_dict(self):
        """The fields as a dict (shallow: the model is not copied)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


# ---------------------------------------------------------------- strategies
class Local:
    """The strategy of a run on one process: every hook is the identity."""
    distributed = False

    def device(self, device):
        """The device this process trains on when ``device`` is asked for."""
        return device

    def rank(self):
        return 0

    def world_size(self):
        return 1

    @property
    def lead(self):
        """True on the process that prints and writes files."""
        return self.rank() == 0

    def describe(self):
        """Words for the start line ('' on one process)."""
        return ""

    def loader(self, model, dataset, batch_size, seed):
        """``(model, loader)`` for training ``model`` on ``dataset``, shuffled from ``seed``."""
        from tinynet.data import DataLoader
        return model, DataLoader(dataset, batch_size=batch_size, shuffle=True, seed=seed)

    def unwrap(self, model):
        """The plain module behind what ``loader`` returned."""
        return model

    def sync_gradients(self, model):
        """Between backward and the optimizer step."""

    def any_rank(self, flag):
        """True if ``flag`` is true on any process."""
        return bool(flag)

    def sum_across_ranks(self, *values):
        """The sums over all processes of a few numbers (a tuple)."""
        return values

    def broadcast(self, obj):
        """Rank 0's ``obj`` on every process."""
        return obj

    def save(self, obj, path):
        from tinynet.serialization import save
        save(obj, path)

    def load(self, path):
        from tinynet.serialization import load
        return load(path)

    def barrier(self):
        """Wait for every process."""


class DataParallel(Local):
    """Data-parallel training over the processes of ``mpiexec -n N`` (MPI).

    The batch size a recipe asks for is the global batch, split evenly over
    the processes (``tinynet.distributed.data_parallel``); gradients are
    averaged before each optimizer step, rank 0 alone prints and writes the
    files, and checkpoints are written by rank 0 and read by it for all.
    Without a launcher it runs as one process (world size 1).
    """
    distributed = True

    def __init__(self):
        from tinynet import distributed
        distributed.init()
        self._dist = distributed

    def device(self, device):
        # 'cuda' means this rank's GPU on its machine
        return self._dist.local_device(device)

    def rank(self):
        return self._dist.rank()

    def world_size(self):
        return self._dist.world_size()

    def describe(self):
        return f", {self.world_size()} processes"

    def loader(self, model, dataset, batch_size, seed):
        return self._dist.data_parallel(model, dataset, batch_size, seed=seed)

    def unwrap(self, model):
        return model.module

    def sync_gradients(self, model):
        model.sync_gradients()

    def any_rank(self, flag):
        return self._dist.any_rank(flag)

    def sum_across_ranks(self, *values):
        return self._dist.sum_across_ranks(*values)

    def broadcast(self, obj):
        return self._dist.broadcast_object_list([obj])[0]

    def save(self, obj, path):
        self._dist.save(obj, path)

    def load(self, path):
        return self._dist.load(path)

    def barrier(self):
        self._dist.barrier()


def strategy_for(config):
    """``DataParallel()`` for a config with ``distributed`` set, else ``Local()``."""
    return DataParallel() if config.get("distributed") else Local()


# ---------------------------------------------------------------- the run
class Run:
    """The directory, counters, checkpoints, Ctrl-C, progress and callbacks of one run.

    Args:
        path: the run directory, or None for a run that writes nothing (its
            metrics rows stay in memory, checkpoints are skipped and Ctrl-C
            keeps Python's default behaviour).
        strategy: ``Local()``, ``DataParallel()`` or an object with the same
            methods; None lets the recipe choose from its config.
        callbacks: functions ``fn(run, step, model, optimizer, loss)`` called
            after every optimizer step.
        quiet: no progress bars and no log lines.
        columns: the columns of metrics.csv (default: the first row's keys).
    """

    def __init__(self, path=None, strategy=None, callbacks=(), quiet=False, columns=None):
        self.path = path
        self.strategy = strategy
        self.callbacks = list(callbacks)
        self.quiet = quiet
        self.columns = list(columns) if columns else None
        self.step = 0
        self.epoch = 0
        self.losses = []
        self._rows = []
        self._interrupted = []
        self._start = time.perf_counter()

    # ------------------------------------------------------------ files
    @property
    def lead(self):
        return (self.strategy or Local()).lead

    def file(self, name):
        if self.path is None:
            raise ValueError(f"Run.file: this run has no directory (Run(path=None)); no {name}")
        return os.path.join(self.path, name)

    def write_config(self, config):
        if self.path is None:
            return
        os.makedirs(self.path, exist_ok=True)
        with open(self.file("config.json"), "w") as f:
            json.dump(config, f, indent=1)

    def config(self):
        with open(self.file("config.json")) as f:
            return json.load(f)

    def append_metrics(self, row):
        """Add one row (a dict) to metrics.csv, or to memory without a directory."""
        if self.columns is None:
            self.columns = list(row)
        row = {k: row[k] for k in self.columns}
        if self.path is None:
            self._rows.append(row)
            return
        os.makedirs(self.path, exist_ok=True)
        new = not os.path.exists(self.file("metrics.csv"))
        with open(self.file("metrics.csv"), "a", newline="") as f:
            w = csv.DictWriter(f, self.columns)
            if new:
                w.writeheader()
            w.writerow(row)

    def metrics(self):
        """The rows so far (read back from metrics.csv as floats, with a directory)."""
        if self.path is None:
            return [dict(r) for r in self._rows]
        if not os.path.exists(self.file("metrics.csv")):
            return []
        with open(self.file("metrics.csv")) as f:
            return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]

    def truncate_metrics(self, epochs_done):
        """Drop rows beyond the checkpoint (a run resumed after a crash)."""
        rows = [r for r in self.metrics() if r["epoch"] <= epochs_done]
        if self.path is None:
            self._rows = rows
            return
        if os.path.exists(self.file("metrics.csv")):
            os.remove(self.file("metrics.csv"))
        for r in rows:
            self.append_metrics(r)

    def draw_curves(self, labels=None):
        """curves.png: one panel per quantity with both ``train_<q>`` and
        ``val_<q>`` columns, by epoch. ``labels`` names the y axes ({q: text})."""
        rows = self.metrics()
        if not rows or self.path is None:
            return
        pairs = [k[len("train_"):] for k in rows[0]
                 if k.startswith("train_") and "val_" + k[len("train_"):] in rows[0]]
        if not pairs:
            return
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        labels = labels or {}
        epochs = [r["epoch"] for r in rows]
        fig, axes = plt.subplots(1, len(pairs), figsize=(4.5 * len(pairs), 3.5), squeeze=False)
        for ax, q in zip(axes[0], pairs):
            ax.plot(epochs, [r["train_" + q] for r in rows], "o-", label="train")
            ax.plot(epochs, [r["val_" + q] for r in rows], "o-", label="held-out")
            ax.set_xlabel("epoch")
            ax.set_ylabel(labels.get(q, q))
            ax.legend()
        fig.suptitle(f"tinynet run {os.path.basename(os.path.abspath(self.path))}")
        fig.tight_layout()
        fig.savefig(self.file("curves.png"), dpi=100)
        plt.close(fig)

    # ------------------------------------------------------------ checkpoints
    def save_checkpoint(self, model, optimizer, **position):
        """checkpoint.npz: model, optimizer, RNG, step, epoch and the recipe's
        ``position`` (whatever it needs to continue). Every process calls it
        (under DataParallel rank 0 writes); without a directory it does nothing."""
        if self.path is None:
            return
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "rng": tn.get_rng_state(), "epoch": self.epoch, "step": self.step}
        state.update(position)
        if self.lead:
            os.makedirs(self.path, exist_ok=True)
        (self.strategy or Local()).save(state, self.file("checkpoint.npz"))

    def load_checkpoint(self, model, optimizer):
        """Restore model, optimizer, RNG, step and epoch from checkpoint.npz;
        returns the whole checkpoint (the recipe's position is in it)."""
        ck = (self.strategy or Local()).load(self.file("checkpoint.npz"))
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        tn.set_rng_state(ck["rng"])
        self.step, self.epoch = ck["step"], ck["epoch"]
        return ck

    # ------------------------------------------------------------ Ctrl-C
    @contextlib.contextmanager
    def catch_interrupts(self):
        """While inside, Ctrl-C only raises a flag that ``interrupted()`` reads.

        Only for a run with a directory (the loop checkpoints before it
        stops), and only on the main thread: Python delivers signals to the
        main thread alone, so from another thread no handler is installed
        and Ctrl-C stays the program's business. The previous handler comes
        back on the way out.
        """
        install = self.path is not None and threading.current_thread() is threading.main_thread()
        if install:
            previous = signal.signal(signal.SIGINT, lambda *_: self._interrupted.append(True))
        try:
            yield self
        finally:
            if install:       # (None: a handler set outside Python, not restorable)
                signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)

    def interrupted(self):
        """True once Ctrl-C was seen (on any process: under MPI every rank must
        agree, or one would wait forever in a collective)."""
        return (self.strategy or Local()).any_rank(bool(self._interrupted))

    def exit_interrupted(self):
        """After the checkpoint: say how to continue and exit with status 130."""
        if self.lead:
            print(f"\ninterrupted: checkpoint saved in {self.path}; continue with "
                  f"`tinynet resume {self.path}`", flush=True)
        raise SystemExit(130)

    # ------------------------------------------------------------ steps
    def step_done(self, model, optimizer, loss, value=None):
        """Count one optimizer step, record its loss (``value``, or
        ``loss.item()``) and call the callbacks."""
        self.step += 1
        self.losses.append(loss.item() if value is None else value)
        if self.callbacks:
            module = (self.strategy or Local()).unwrap(model)
            for fn in self.callbacks:
                fn(self, self.step, module, optimizer, loss)

    def reached(self, max_steps):
        """True once ``max_steps`` (None: no limit) steps are done."""
        return bool(max_steps) and self.step >= max_steps

    @property
    def seconds(self):
        """Seconds since the Run was made."""
        return time.perf_counter() - self._start

    # ------------------------------------------------------------ output
    def progress(self, total, desc, initial=0):
        """A tqdm bar, disabled when quiet, off a terminal or off the lead process."""
        from tqdm import tqdm
        quiet = self.quiet or not sys.stderr.isatty() or not self.lead
        return tqdm(total=total, desc=desc, disable=quiet, leave=False, initial=initial)

    def log(self, *args):
        """print() unless quiet (and on the lead process only)."""
        if not self.quiet and self.lead:
            print(*args, flush=True)
