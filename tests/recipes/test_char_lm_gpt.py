"""`tinynet train gpt` through the char_lm recipe (tinynet/recipes/char_lm.py):
the command line writes a run directory, resumes it and samples; a run
interrupted by Ctrl-C and resumed takes exactly the steps of a run that was
not; the lr schedule, the weight-decay groups, the time budget and the
random windows."""
import csv
import math
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import tinynet as tn
from tinynet.recipes import char_lm
from tinynet.recipes.run import Run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["--max-chars", "6000", "--n-layer", "1", "--n-head", "2", "--n-embd", "16",
        "--block-size", "16", "--seq-len", "16", "--batch-size", "4", "--warmup-steps", "2"]
TINY_CONFIG = {"max_chars": 6000, "n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16,
               "seq_len": 16, "batch_size": 4, "warmup_steps": 2, "sample_every": 0,
               "sample_chars": 10, "quiet": True}


def tinynet(*args):
    return subprocess.run([sys.executable, "-m", "tinynet.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def rows(run_dir):
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return list(csv.DictReader(f))


def test_train_gpt_command_writes_a_run_resumes_it_and_samples(tmp_path):
    out = str(tmp_path / "run")
    r = tinynet("train", "gpt", *TINY, "--max-steps", "6", "--eval-every", "3",
                "--sample-every", "0", "--sample-chars", "20", "--prompt", "def ",
                "--temperature", "0.8", "--top-k", "5", "--out", out)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out)) == ["checkpoint.npz", "config.json", "curves.png",
                                       "metrics.csv"]
    with open(os.path.join(out, "curves.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    got = rows(out)
    assert [int(x["step"]) for x in got] == [3, 6]
    assert list(got[0]) == char_lm.METRICS
    for x in got:
        assert float(x["train_ppl"]) == pytest.approx(math.exp(float(x["train_loss"])))
        assert 0 < float(x["val_loss"]) < 10 and float(x["lr"]) > 0 and float(x["seconds"]) > 0
    assert "sample (temperature 0.8, top-k 5, prompt 'def '):" in r.stdout
    sample = r.stdout.split("prompt 'def '):\n\n", 1)[1]
    assert sample.startswith("def ") and len(sample.rstrip("\n")) >= 4
    ck = tn.load(os.path.join(out, "checkpoint.npz"))
    assert ck["step"] == 6 and ck["config"]["model"] == "gpt" and ck["config"]["top_k"] == 5

    # a second `train` into the same directory is refused; `resume` continues it
    again = tinynet("train", "gpt", *TINY, "--max-steps", "6", "--out", out)
    assert again.returncode != 0 and "tinynet resume" in again.stderr
    r = tinynet("resume", out, "--max-steps", "9")
    assert r.returncode == 0, r.stderr
    assert "stopped: 9 steps" in r.stdout and "sample (temperature 0.8, top-k 5" in r.stdout
    assert [int(x["step"]) for x in rows(out)] == [3, 6, 9]
    assert tn.load(os.path.join(out, "checkpoint.npz"))["step"] == 9

    r = tinynet("eval", out)
    assert r.returncode == 0, r.stderr
    assert "held-out loss" in r.stdout and "perplexity" in r.stdout


def test_train_gpt_options_are_checked():
    for option, value, words in [("--top-k", "0", "an integer >= 1"),
                                 ("--time-budget", "0", "(0, inf)"),
                                 ("--weight-decay", "-1", "[0, inf)"),
                                 ("--eval-every", "-1", "an integer >= 0"),
                                 ("--optimizer", "sgd", "invalid choice"),
                                 ("--schedule", "step", "invalid choice")]:
        r = tinynet("train", "gpt", option, value)
        assert r.returncode == 2 and option in r.stderr and words in r.stderr, (option, r.stderr)


def interrupt_at(step):
    """A per-step callback that presses Ctrl-C after ``step``."""
    def callback(run, k, model, optimizer, loss):
        if k == step:
            os.kill(os.getpid(), signal.SIGINT)
    return callback


@pytest.mark.parametrize("model,config", [
    ("gpt", {**TINY_CONFIG, "eval_every": 4, "schedule": "cosine", "max_steps": 10}),
    ("lstm", {"max_chars": 6000, "seq_len": 8, "batch_size": 4, "hidden_size": 8,
              "num_layers": 1, "eval_every": 4, "max_steps": 10, "sample_every": 0,
              "sample_chars": 10, "quiet": True})])
def test_ctrl_c_then_resume_takes_the_same_steps(tmp_path, model, config):
    config = {**config, "model": model}
    straight = char_lm.fit(dict(config), Run(str(tmp_path / "straight")))
    path = str(tmp_path / "cut")
    with pytest.raises(SystemExit) as stop:
        char_lm.fit(dict(config), Run(path, callbacks=[interrupt_at(5)]))
    assert stop.value.code == 130
    assert tn.load(os.path.join(path, "checkpoint.npz"))["step"] == 5
    resumed = char_lm.fit(dict(config), Run(path), resume=True)
    assert resumed.steps == straight.steps == 10
    # the same batches, optimizer state, lr schedule (and LSTM state): the same losses
    assert resumed.losses == straight.losses[5:]
    a, b = rows(path), rows(str(tmp_path / "straight"))
    assert [x["step"] for x in a] == [x["step"] for x in b]
    assert [x["val_loss"] for x in a] == [x["val_loss"] for x in b]
    assert [x["lr"] for x in a] == [x["lr"] for x in b]
    for name, p in straight.model.state_dict().items():
        np.testing.assert_array_equal(p.numpy(), resumed.model.state_dict()[name].numpy())


def test_warmup_then_cosine_by_steps_or_by_time():
    f = char_lm.WarmupCosine(warmup=4, cosine=True, total=14)
    assert [f(s) for s in range(4)] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert f(4) == pytest.approx(1.0)
    assert f(9) == pytest.approx(0.1 + 0.9 * 0.5)               # half-way down the cosine
    assert f(14) == pytest.approx(0.1) and f(20) == pytest.approx(0.1)
    constant = char_lm.WarmupCosine(warmup=2, cosine=False, total=10)
    assert [constant(s) for s in (0, 1, 2, 9)] == pytest.approx([1 / 3, 2 / 3, 1, 1])
    # with a time budget, the progress is the larger of steps and seconds
    timed = char_lm.WarmupCosine(warmup=0, cosine=True, total=1000, budget=60.0)
    timed.seconds = 30.0
    assert timed(10) == pytest.approx(0.1 + 0.9 * 0.5)
    timed.seconds = 60.0
    assert timed(10) == pytest.approx(0.1)


def test_lr_follows_the_schedule_in_a_run():
    result = char_lm.train({**TINY_CONFIG, "schedule": "cosine", "warmup_steps": 3,
                            "max_steps": 12, "eval_every": 1, "lr": 1e-2}, model="gpt")
    lrs = [r["lr"] for r in result.history]
    # the lr in row k is the one for the step after it
    assert lrs[:3] == pytest.approx([2e-2 / 4, 3e-2 / 4, 1e-2])
    assert all(a > b for a, b in zip(lrs[2:], lrs[3:]))
    assert lrs[-1] == pytest.approx(1e-3)


def test_weight_decay_only_on_matrices():
    net = char_lm.build({**char_lm.DEFAULTS, **TINY_CONFIG, "model": "gpt"})[0]
    opt = char_lm.make_optimizer(net, {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.1})
    decay, plain = opt.param_groups
    assert decay["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert {p.ndim for p in decay["params"]} == {2}
    assert {p.ndim for p in plain["params"]} == {1}
    assert len(decay["params"]) + len(plain["params"]) == len(list(net.parameters()))
    assert any(p is net.wte.weight for p in decay["params"])
    one = char_lm.make_optimizer(net, {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0})
    assert len(one.param_groups) == 1 and one.param_groups[0]["weight_decay"] == 0.0


def test_time_budget_stops_the_run():
    result = char_lm.train({**TINY_CONFIG, "time_budget": 0.5, "epochs": 1000}, model="gpt")
    assert result.stopped and result.seconds >= 0.5
    assert result.steps > 0 and result.epochs < 1000
    assert result.history[-1]["step"] == result.steps       # a last evaluation at the stop


def test_random_windows_are_a_function_of_seed_and_step():
    ids = np.arange(100)
    w = char_lm.RandomWindows(ids, batch_size=3, seq_len=5, steps=10, seed=1)
    x, y = w.batch(4)
    assert x.shape == y.shape == (3, 5)
    np.testing.assert_array_equal(y, x + 1)                  # targets: the next character
    np.testing.assert_array_equal(x, w.batch(4)[0])
    assert not np.array_equal(x, w.batch(5)[0])
    assert not np.array_equal(x, char_lm.RandomWindows(ids, 3, 5, 10, seed=2).batch(4)[0])
    xt, _ = char_lm.RandomWindows(ids, 3, 5, 10, seed=1, batch_first=False).batch(4)
    np.testing.assert_array_equal(xt, x.T)
