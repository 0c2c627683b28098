"""The recurrent seed models run a few steps and their loss falls; their
command lines, sampling, baselines and plot work."""
import importlib.util
import math
import os

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_example(name):
    spec = importlib.util.spec_from_file_location(
        f"example_{name}", os.path.join(ROOT, "examples", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


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
    (ep,) = char_run["epochs"]
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
    assert run["epochs"][-1]["train_acc"] > 0.75
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
        assert set(run["test_mse"]) == {"model", "last value", "seasonal naive"}
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
