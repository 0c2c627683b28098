"""The recurrent seed models (tinynet/models/) trained by their recipes
(tinynet/recipes/char_lm.py, forecast.py, sentiment.py) run a few steps and
their loss falls; their command lines, sampling, baselines and plot work; the
launchers in examples/ and the old tinynet.seeds modules still run them."""
import importlib
import math
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECIPES = {"char_lstm": "char_lm", "timeseries_rnn": "forecast", "sentiment_lstm": "sentiment"}
SEEDS = {"char_lstm": "lstm", "timeseries_rnn": "rnn", "sentiment_lstm": "sentiment"}


class Seed:
    """A recipe's functions with ``train`` bound to one registered seed and
    returning the Result as a dict (the fields every recipe returns)."""

    def __init__(self, name):
        self.recipe = importlib.import_module(f"tinynet.recipes.{RECIPES[name]}")
        self.seed = SEEDS[name]

    def train(self, config):
        result = self.recipe.train(config, model=self.seed)
        return {**result.as_dict(), **result.extras}

    def main(self, argv):
        from tinynet.cli import train_command
        return train_command(self.seed, argv)

    def __getattr__(self, name):
        return getattr(self.recipe, name)


def load_example(name):
    return Seed(name)


@pytest.mark.parametrize("name,option", [("char_lstm", "--seq-len"),
                                         ("timeseries_rnn", "--horizon"),
                                         ("sentiment_lstm", "--max-vocab")])
def test_example_scripts_launch_the_seed_commands(name, option):
    # examples/<name>.py is `tinynet train <seed>` under another name, and so
    # is `python -m tinynet.seeds.<name>` (the module's old home)
    for cmd in ([os.path.join(ROOT, "examples", f"{name}.py")], ["-m", f"tinynet.seeds.{name}"]):
        r = subprocess.run([sys.executable, *cmd, "--help"], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        assert option in r.stdout and "--quiet" in r.stdout


def test_old_seed_modules_keep_their_names_and_return_values():
    from tinynet.seeds import char_lstm, sentiment_lstm, timeseries_rnn
    from tinynet import models
    assert char_lstm.CharLSTM is models.CharLSTM
    assert sentiment_lstm.SentimentLSTM is models.SentimentLSTM
    assert timeseries_rnn.Forecaster is models.Forecaster
    assert char_lstm.DEFAULTS["hidden_size"] == 128 and char_lstm.DEFAULTS["seq_len"] == 64
    run = char_lstm.train({"max_chars": 4000, "seq_len": 8, "batch_size": 4, "hidden_size": 8,
                           "num_layers": 1, "max_steps": 3, "sample_every": 0,
                           "sample_chars": 5, "quiet": True})
    assert sorted(run) == ["epochs", "losses", "model", "sample", "steps", "vocab"]
    assert run["steps"] == 3 and len(run["losses"]) == 3 and run["epochs"][0]["epoch"] == 1
    run = timeseries_rnn.train({"hours": 24 * 7 * 4, "test_days": 3, "window": 24,
                                "hidden_size": 4, "steps": 2, "plot": "", "quiet": True})
    assert sorted(run) == ["forecast", "losses", "model", "test_mse", "truth"]
    assert set(run["test_mse"]) == {"model", "last value", "seasonal naive"}
    run = sentiment_lstm.train({"n_per_class": 10, "hidden_size": 4, "embed_size": 4,
                                "epochs": 1, "quiet": True})
    assert sorted(run) == ["classes", "epochs", "losses", "model", "steps", "vocab"]
    assert run["epochs"][0]["epoch"] == 1


def falls(losses, k=5):
    return np.mean(losses[-k:]) < np.mean(losses[:k])


@pytest.fixture(scope="module")
def char_lstm():
    return load_example("char_lstm")


@pytest.fixture(scope="module")
def char_run(char_lstm):
    return char_lstm.train({"max_chars": 12_000, "seq_len": 16, "batch_size": 8,
                            "embed_size": 16, "hidden_size": 32, "num_layers": 1,
                            "lr": 1e-2, "max_steps": 40, "sample_every": 0,
                            "sample_chars": 30, "quiet": True})


def test_char_lstm_loss_falls(char_run):
    assert char_run["steps"] == 40
    assert falls(char_run["losses"])
    # a model this small, this early, already beats the uniform guess
    assert char_run["losses"][-1] < math.log(len(char_run["vocab"]))


def test_char_lstm_reports_perplexity(char_run):
    (ep,) = char_run["history"]
    assert char_run["epochs"] == 1
    assert ep["train_ppl"] == pytest.approx(math.exp(ep["train_loss"]))
    assert ep["val_ppl"] == pytest.approx(math.exp(ep["val_loss"]))
    assert 1 < ep["val_ppl"] < len(char_run["vocab"])


def test_char_lstm_sampling(char_lstm, char_run):
    model, vocab = char_run["model"], char_run["vocab"]
    text = char_lstm.sample(model, vocab, "def ", 25, temperature=0.8, seed=1)
    assert text.startswith("def ") and len(text) == 29
    assert set(text) <= set(vocab.itos)
    assert text == char_lstm.sample(model, vocab, "def ", 25, temperature=0.8, seed=1)
    greedy = char_lstm.sample(model, vocab, "def ", 10, temperature=0)
    assert greedy == char_lstm.sample(model, vocab, "def ", 10, temperature=0, seed=7)
    assert char_run["sample"].startswith("def ")
    assert char_lstm.sample(model, vocab, "\u2603x", 3, seed=0)[:1] in vocab.stoi  # unknown dropped


def test_char_lstm_main_on_a_text_file(char_lstm, tmp_path, capsys):
    path = tmp_path / "tiny.txt"
    path.write_text("hello world, hello tinynet. " * 100)
    assert char_lstm.main(["--text", str(path), "--max-steps", "3", "--seq-len", "8",
                           "--batch-size", "4", "--hidden-size", "8", "--num-layers", "1",
                           "--sample-chars", "5", "--sample-every", "0"]) == 0
    out = capsys.readouterr().out
    assert "perplexity" in out and "sample" in out


def test_sentiment_lstm_learns_generated_reviews(tmp_path):
    sentiment = load_example("sentiment_lstm")
    run = sentiment.train({"n_per_class": 60, "hidden_size": 16, "embed_size": 16,
                           "epochs": 4, "batch_size": 16, "lr": 1e-2, "quiet": True})
    assert falls(run["losses"])
    assert run["classes"] == ["neg", "pos"]
    assert run["history"][-1]["train_acc"] > 0.75 and run["epochs"] == 4
    label, p = sentiment.predict(run["model"], run["vocab"],
                                 "superb wonderful great film", run["classes"])
    assert label in run["classes"] and 0.5 <= p <= 1


def test_timeseries_rnn_trains_and_plots(tmp_path):
    ts = load_example("timeseries_rnn")
    png = tmp_path / "fc.png"
    for cell in ("rnn", "gru", "lstm"):
        run = ts.train({"cell": cell, "hours": 24 * 7 * 4, "test_days": 3, "window": 24,
                        "hidden_size": 16, "steps": 30, "batch_size": 16, "lr": 1e-2,
                        "plot": str(png) if cell == "lstm" else "", "quiet": True})
        assert falls(run["losses"]), cell
        assert set(run["metrics"]) == {"test_mse", "test_mse_last_value",
                                       "test_mse_seasonal_naive"}
        assert run["forecast"].shape == run["truth"].shape == (3, 24)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_timeseries_baselines_and_data(tmp_path):
    ts = load_example("timeseries_rnn")
    s = ts.synthetic_series(24 * 7 * 8, noise=0.0)
    # daily and weekly cycles: the series repeats after a week, up to the trend
    week = 24 * 7
    assert np.abs(s[week:] - s[:-week]).max() < 0.5 * week / len(s) + 1e-5
    starts = np.array([week, week + 24])
    b = ts.baselines(s, starts, 24, 24, week)
    np.testing.assert_allclose(b["seasonal naive"][0], s[week + 24 - week:week + 48 - week])
    assert (b["last value"][1] == s[week + 24 + 23]).all()
    path = tmp_path / "series.csv"
    path.write_text("time,volume\n" + "".join(f"{k},{v}\n" for k, v in enumerate(s[:120])))
    np.testing.assert_allclose(ts.load_csv(str(path), "volume"), s[:120], rtol=1e-6)
    np.testing.assert_allclose(ts.load_csv(str(path)), s[:120], rtol=1e-6)
    with pytest.raises(ValueError, match="column 'speed' not in the header"):
        ts.load_csv(str(path), "speed")
    run = ts.train({"csv": str(path), "window": 8, "horizon": 4, "period": 24,
                    "test_days": 1, "steps": 2, "plot": "", "quiet": True, "hidden_size": 4})
    assert run["forecast"].shape[1] == 4
