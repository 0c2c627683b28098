"""tinynet.recipes.run.Run around the recipes' loops: resume continues from the
checkpoint's step, Ctrl-C saves a checkpoint, metrics.csv and curves.png,
per-step callbacks, the distributed strategy's hooks, and the one Result
every recipe returns."""
import csv
import dataclasses
import os
import signal

import numpy as np
import pytest

import tinynet as tn
from tinynet.recipes import Local, Result, Run, char_lm, classify, forecast, sentiment

MLP = {"model": "mlp", "data": "digits", "seed": 0, "device": "cpu", "epochs": 2,
       "batch_size": 128, "optimizer": "sgd", "lr": 0.05, "quiet": True, "max_steps": None,
       "distributed": False}


def new_run(path, **kw):
    run = Run(str(path), **kw)
    run.write_config(MLP)
    return run


def params(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def test_resume_continues_from_the_checkpoint_step(tmp_path):
    straight = classify.fit(dict(MLP, max_steps=9), new_run(tmp_path / "straight"))
    steps = []

    def record(run, step, *_):
        steps.append(step)

    first = classify.fit(dict(MLP, max_steps=5), new_run(tmp_path / "split", callbacks=[record]))
    assert first.stopped and first.steps == 5 and steps == [1, 2, 3, 4, 5]
    ck = tn.load(str(tmp_path / "split" / "checkpoint.npz"))
    assert ck["step"] == 5 and ck["epoch"] == 0 and ck["batch_in_epoch"] == 5
    steps.clear()
    resumed = classify.fit(dict(MLP, max_steps=9), Run(str(tmp_path / "split"), callbacks=[record]),
                           resume=True)
    # a fresh Run object, a new process's view: the counters come from the checkpoint
    assert steps == [6, 7, 8, 9] and resumed.steps == 9 and len(resumed.losses) == 4
    a, b = params(straight.model), params(resumed.model)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert straight.losses[5:] == resumed.losses


def test_ctrl_c_stops_between_steps_and_saves_a_checkpoint(tmp_path):
    before = signal.getsignal(signal.SIGINT)

    def press_ctrl_c(run, step, *_):
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)     # the handler only raises the run's flag

    run = new_run(tmp_path / "run", callbacks=[press_ctrl_c])
    with pytest.raises(SystemExit) as stop:
        classify.fit(dict(MLP), run)
    assert stop.value.code == 130
    assert signal.getsignal(signal.SIGINT) is before          # the old handler is back
    ck = tn.load(run.file("checkpoint.npz"))
    assert ck["step"] == 3 and ck["batch_in_epoch"] == 3
    assert not os.path.exists(run.file("metrics.csv"))        # no epoch finished
    done = classify.fit(dict(MLP, epochs=1), Run(run.path), resume=True)
    assert done.steps == 12 and done.epochs == 1 and not done.stopped   # 1437 digits / 128


def test_without_a_directory_ctrl_c_is_left_alone_and_nothing_is_written(tmp_path):
    run, before = Run(), signal.getsignal(signal.SIGINT)
    with run.catch_interrupts():
        assert signal.getsignal(signal.SIGINT) is before
    run.append_metrics({"epoch": 1, "train_loss": 2.0, "val_loss": 3.0})
    run.save_checkpoint(tn.nn.Linear(2, 2), tn.optim.SGD(tn.nn.Linear(2, 2).parameters(), lr=1))
    run.draw_curves()
    assert run.metrics() == [{"epoch": 1, "train_loss": 2.0, "val_loss": 3.0}]
    with pytest.raises(ValueError, match="no directory"):
        run.file("metrics.csv")


def test_metrics_csv_columns_truncation_and_curves(tmp_path):
    result = classify.fit(dict(MLP), new_run(tmp_path / "run"))
    with open(tmp_path / "run" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == classify.METRICS == [
        "epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc", "epoch_seconds",
        "samples_per_second"]
    assert [int(r["epoch"]) for r in rows] == [1, 2] and [int(r["step"]) for r in rows] == [12, 24]
    assert result.history == [{k: float(v) for k, v in r.items()} for r in rows]
    assert (tmp_path / "run" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # any recipe's columns; a resumed run drops the rows past its checkpoint
    run = Run(str(tmp_path / "lm"))
    for e in (1, 2, 3):
        run.append_metrics({"epoch": e, "train_ppl": 9.0 - e, "val_ppl": 10.0 - e})
    run.truncate_metrics(2)
    assert Run(run.path).metrics() == [{"epoch": 1.0, "train_ppl": 8.0, "val_ppl": 9.0},
                                       {"epoch": 2.0, "train_ppl": 7.0, "val_ppl": 8.0}]
    run.draw_curves({"ppl": "perplexity"})
    assert os.path.getsize(run.file("curves.png")) > 1000


def test_callbacks_see_the_plain_model_optimizer_and_loss(tmp_path):
    seen = []

    def record(run, step, model, optimizer, loss):
        seen.append((run.step, step, type(model).__name__, type(optimizer).__name__,
                     loss.item(), model.training))

    run = new_run(tmp_path / "run", callbacks=[record])
    result = classify.fit(dict(MLP, max_steps=4), run)
    assert [s[:4] for s in seen] == [(i, i, "Sequential", "SGD") for i in (1, 2, 3, 4)]
    assert [s[4] for s in seen] == result.losses and all(s[5] for s in seen)


class RecordingStrategy(Local):
    """A stand-in for DataParallel that counts the hooks the loop calls and
    plays rank ``rank`` of two processes."""

    def __init__(self, rank=0):
        self._rank, self.calls = rank, []

    def rank(self):
        return self._rank

    def world_size(self):
        return 2

    def save(self, obj, path):
        if self._rank == 0:              # as tinynet.distributed.save: rank 0 writes
            super().save(obj, path)

    def __getattribute__(self, name):
        hooks = ("device", "loader", "unwrap", "sync_gradients", "any_rank",
                 "sum_across_ranks", "save", "load", "barrier")
        if name in hooks:
            object.__getattribute__(self, "calls").append(name)
        return object.__getattribute__(self, name)


@pytest.mark.parametrize("rank", [0, 1])
def test_the_distributed_strategy_hooks_are_called(tmp_path, rank):
    strategy = RecordingStrategy(rank)
    run = Run(str(tmp_path / "run"), strategy=strategy)
    result = classify.fit(dict(MLP, epochs=1), run)
    calls = strategy.calls
    assert result.steps == 12
    assert calls.count("sync_gradients") == 12            # between every backward and step
    assert calls.count("any_rank") >= 12                  # the ranks agree on Ctrl-C every step
    assert calls.count("sum_across_ranks") == 1           # the epoch's totals
    assert calls.count("save") == 1 and calls.count("barrier") == 1
    assert calls[:2] == ["device", "loader"] and calls[-1] == "unwrap"
    # only the lead process writes metrics.csv and curves.png; every one joins the checkpoint
    assert os.path.exists(run.file("checkpoint.npz")) == (rank == 0)
    assert os.path.exists(run.file("metrics.csv")) == (rank == 0)
    assert os.path.exists(run.file("curves.png")) == (rank == 0)


def tiny_runs(tmp_path):
    yield "classify", classify.train(dict(MLP, epochs=1), model="mlp")
    yield "char_lm", char_lm.train({"max_chars": 4000, "seq_len": 8, "batch_size": 4,
                                    "hidden_size": 8, "num_layers": 1, "max_steps": 5,
                                    "sample_every": 0, "sample_chars": 5, "quiet": True})
    yield "forecast", forecast.train({"hours": 24 * 7 * 4, "test_days": 3, "window": 24,
                                      "hidden_size": 4, "steps": 10, "plot": "", "quiet": True})
    yield "sentiment", sentiment.train({"n_per_class": 10, "hidden_size": 4, "embed_size": 4,
                                        "epochs": 1, "quiet": True})


def test_every_recipe_returns_the_same_result_fields(tmp_path):
    fields = [f.name for f in dataclasses.fields(Result)]
    assert fields == ["model", "steps", "epochs", "stopped", "history", "losses", "metrics",
                      "seconds", "run_dir", "extras"]
    for recipe, result in tiny_runs(tmp_path):
        assert type(result) is Result, recipe
        assert list(result.as_dict()) == fields, recipe
        assert isinstance(result.model, tn.nn.Module), recipe
        assert result.steps > 0 and len(result.losses) == result.steps, recipe
        assert all(np.isfinite(result.losses)), recipe
        assert isinstance(result.history, list) and result.history, recipe
        assert isinstance(result.metrics, dict) and result.metrics, recipe
        assert all(np.isfinite(v) for v in result.metrics.values()), recipe
        assert result.seconds > 0 and result.run_dir is None, recipe
        assert isinstance(result.extras, dict), recipe
