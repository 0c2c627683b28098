"""The `tinynet` command: train, resume (bit-identical), Ctrl-C, eval, info,
and the run directory it writes."""
import csv
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import tinynet as tn
from tinynet.cli import main


def tinynet_cmd(*args, **kw):
    return subprocess.run([sys.executable, "-m", "tinynet.cli", *args], capture_output=True,
                          text=True, timeout=300, **kw)


def params(run_dir):
    state = tn.load(os.path.join(run_dir, "checkpoint.npz"))["model"]
    return {k: v.numpy() for k, v in state.items()}


def test_train_writes_the_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "mlp", "--epochs", "2", "--quiet", "--out", str(out)]) == 0
    assert sorted(os.listdir(out)) == ["checkpoint.npz", "config.json", "curves.png",
                                       "metrics.csv"]
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert set(rows[0]) == {"epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc",
                            "epoch_seconds", "samples_per_second"}
    assert float(rows[1]["train_loss"]) < float(rows[0]["train_loss"])
    assert open(out / "curves.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert "held-out accuracy" in capsys.readouterr().out


def test_resume_in_a_fresh_process_is_bit_identical(tmp_path):
    # 30 steps straight vs 12 steps, then (new process) resume to 30; mid-epoch both times
    whole, split = str(tmp_path / "whole"), str(tmp_path / "split")
    common = ["--epochs", "3", "--quiet", "--seed", "3"]
    assert tinynet_cmd("train", "mlp", *common, "--max-steps", "30", "--out", whole).returncode == 0
    assert tinynet_cmd("train", "mlp", *common, "--max-steps", "12", "--out", split).returncode == 0
    r = tinynet_cmd("resume", split, "--max-steps", "30")
    assert r.returncode == 0, r.stderr
    a, b = params(whole), params(split)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_resume_across_epochs_is_bit_identical(tmp_path):
    whole, split = str(tmp_path / "whole"), str(tmp_path / "split")
    assert main(["train", "cnn", "--epochs", "2", "--quiet", "--out", whole]) == 0
    assert main(["train", "cnn", "--epochs", "1", "--quiet", "--out", split]) == 0
    assert main(["resume", split, "--epochs", "2", "--quiet"]) == 0
    a, b = params(whole), params(split)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    rows_a = list(csv.DictReader(open(os.path.join(whole, "metrics.csv"))))
    rows_b = list(csv.DictReader(open(os.path.join(split, "metrics.csv"))))
    assert [r["val_acc"] for r in rows_a] == [r["val_acc"] for r in rows_b]


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_resume_finishes(tmp_path):
    out = str(tmp_path / "run")
    proc = subprocess.Popen([sys.executable, "-m", "tinynet.cli", "train", "mlp", "--epochs",
                             "400", "--quiet", "--out", out], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not os.path.exists(os.path.join(out, "metrics.csv")) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted: checkpoint saved" in stdout and "Traceback" not in stderr
    ck = tn.load(os.path.join(out, "checkpoint.npz"))
    assert ck["step"] > 0
    r = tinynet_cmd("resume", out, "--epochs", str(ck["epoch"] + 1), "--quiet")
    assert r.returncode == 0, r.stderr
    assert tn.load(os.path.join(out, "checkpoint.npz"))["epoch"] == ck["epoch"] + 1


def test_eval_and_info(tmp_path, capsys):
    out = str(tmp_path / "run")
    main(["train", "mlp", "--epochs", "1", "--quiet", "--out", out])
    capsys.readouterr()
    assert main(["eval", out]) == 0
    text = capsys.readouterr().out
    assert "held-out loss" in text and "355 samples of digits" in text
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    assert "numpy" in text and "kernels: conv" in text and "CUDA:" in text


def test_max_steps_stops_and_checkpoints(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "cnn", "--max-steps", "3", "--quiet", "--out", out]) == 0
    assert tn.load(os.path.join(out, "checkpoint.npz"))["step"] == 3
    assert "stopped after 3 steps" in capsys.readouterr().out


def _exits_2_naming(argv, option, allowed, capsys):
    """``tinynet ARGV`` stops before doing anything, with status 2 and a
    message naming the option and what it accepts."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2, err
    assert f"argument {option}:" in err and allowed in err, err


# (arguments, the option named, what the message says is allowed); for every
# option of every subcommand and seed model that takes a value
BAD_OPTIONS = [
    (["train", "cnn", "--epochs", "-1"], "--epochs", "an integer >= 1"),
    (["train", "cnn", "--epochs", "0"], "--epochs", "an integer >= 1"),
    (["train", "cnn", "--epochs", "two"], "--epochs", "an integer >= 1"),
    (["train", "mlp", "--batch-size", "0"], "--batch-size", "an integer >= 1"),
    (["train", "mlp", "--lr", "0"], "--lr", "(0, inf)"),
    (["train", "mlp", "--lr", "nan"], "--lr", "(0, inf)"),
    (["train", "mlp", "--lr", "inf"], "--lr", "(0, inf)"),
    (["train", "mlp", "--seed", "-1"], "--seed", "[0, 9223372036854775807]"),
    (["train", "mlp", "--max-steps", "0"], "--max-steps", "an integer >= 1"),
    (["train", "mlp", "--device", "gpu"], "--device", "'cpu', 'cuda' or 'cuda:N'"),
    (["train", "mlp", "--data", "imagenet"], "--data", "'digits', 'mnist:PATH'"),
    (["train", "mlp", "--data", "mnist:/no/such/folder"], "--data", "an existing folder"),
    (["train", "mlp", "--optimizer", "lbfgs"], "--optimizer", "invalid choice"),
    (["train", "vgg"], "model", "invalid choice"),
    (["demo", "--steps", "0"], "--steps", "an integer >= 1"),
    (["demo", "--lr", "-0.1"], "--lr", "(0, inf)"),
    (["demo", "--seed", "x"], "--seed", "[0, 9223372036854775807]"),
    (["resume", "/no/such/run"], "run", "a run directory holding config.json"),
    (["eval", "/no/such/run"], "run", "a run directory holding config.json"),
    (["train", "lstm", "--text", "/no/such/file"], "--text", "an existing file"),
    (["train", "lstm", "--val-fraction", "1"], "--val-fraction", "(0, 1)"),
    (["train", "lstm", "--dropout", "1"], "--dropout", "[0, 1)"),
    (["train", "lstm", "--temperature", "-1"], "--temperature", "[0, inf)"),
    (["train", "lstm", "--clip", "0"], "--clip", "(0, inf)"),
    (["train", "lstm", "--sample-every", "-1"], "--sample-every", "an integer >= 0"),
    (["train", "lstm", "--sample-chars", "-1"], "--sample-chars", "an integer >= 0"),
    (["train", "lstm", "--lr", "0"], "--lr", "(0, inf)"),
    (["train", "lstm", "--seed", "-5"], "--seed", "[0, 9223372036854775807]"),
    (["train", "lstm", "--epochs", "-1"], "--epochs", "an integer >= 1"),
    (["train", "lstm", "--device", "gpu"], "--device", "'cpu', 'cuda' or 'cuda:N'"),
    (["train", "gpt", "--device", "cuda:x"], "--device", "'cpu', 'cuda' or 'cuda:N'"),
] + [(["train", "lstm", "--" + o, "0"], "--" + o, "an integer >= 1")
     for o in ("max-chars", "seq-len", "batch-size", "embed-size", "hidden-size",
               "num-layers", "max-steps")] + [
    (["train", "sentiment", "--data", "/no/such/folder"], "--data", "an existing folder"),
    (["train", "sentiment", "--lr", "-1"], "--lr", "(0, inf)"),
    (["train", "sentiment", "--clip", "0"], "--clip", "(0, inf)"),
    (["train", "sentiment", "--seed", "-1"], "--seed", "[0, 9223372036854775807]"),
] + [(["train", "sentiment", "--" + o, "0"], "--" + o, "an integer >= 1")
     for o in ("n-per-class", "embed-size", "hidden-size", "num-layers", "max-vocab",
               "min-freq", "max-len", "batch-size", "epochs", "max-steps")] + [
    (["train", "rnn", "--csv", "/no/such/file.csv"], "--csv", "an existing file"),
    (["train", "rnn", "--cell", "lstmx"], "--cell", "invalid choice"),
    (["train", "rnn", "--noise", "-1"], "--noise", "[0, inf)"),
    (["train", "rnn", "--lr", "0"], "--lr", "(0, inf)"),
    (["train", "rnn", "--clip", "nan"], "--clip", "(0, inf)"),
    (["train", "rnn", "--seed", "-1"], "--seed", "[0, 9223372036854775807]"),
    (["train", "rnn", "--hours", "100"], "--hours", "an integer >= 529"),
] + [(["train", "rnn", "--" + o, "0"], "--" + o, "an integer >= 1")
     for o in ("hours", "period", "window", "horizon", "test-days", "hidden-size",
               "num-layers", "batch-size", "steps")]


@pytest.mark.parametrize("seed", ["cnn", "lstm", "gpt"])
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_device_cuda_without_a_gpu_is_a_usage_error(seed, device, capsys, monkeypatch):
    # what a machine without a usable GPU (no CuPy, or no driver) reports
    monkeypatch.setattr(tn.cuda, "device_count", lambda: 0)
    _exits_2_naming(["train", seed, "--device", device], "--device",
                    "no usable CUDA GPU here", capsys)


def test_device_index_beyond_the_gpus_is_a_usage_error(capsys, monkeypatch):
    monkeypatch.setattr(tn.cuda, "device_count", lambda: 2)
    _exits_2_naming(["train", "gpt", "--device", "cuda:2"], "--device",
                    "2 CUDA GPU(s), cuda:0 to cuda:1", capsys)


@pytest.mark.parametrize("argv,option,allowed", BAD_OPTIONS,
                         ids=[" ".join(a[0]) for a in BAD_OPTIONS])
def test_every_option_is_validated(argv, option, allowed, capsys):
    _exits_2_naming(argv, option, allowed, capsys)


def test_resume_validates_its_options(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "mlp", "--max-steps", "2", "--quiet", "--out", out]) == 0
    capsys.readouterr()
    _exits_2_naming(["resume", out, "--epochs", "0"], "--epochs", "an integer >= 1", capsys)
    _exits_2_naming(["resume", out, "--max-steps", "-3"], "--max-steps", "an integer >= 1",
                    capsys)


def test_a_bad_option_exits_2_from_the_command_line():
    r = tinynet_cmd("train", "cnn", "--epochs", "-1")
    assert r.returncode == 2
    assert "argument --epochs: expected an integer >= 1, got -1" in r.stderr
    assert "Traceback" not in r.stderr and not r.stdout


@pytest.mark.slow
def test_seed_cnn_reaches_its_accuracy_goal_on_digits(tmp_path):
    out = str(tmp_path / "run")
    assert main(["train", "cnn", "--quiet", "--out", out]) == 0
    rows = list(csv.DictReader(open(os.path.join(out, "metrics.csv"))))
    assert float(rows[-1]["val_acc"]) >= 0.975


@pytest.mark.slow
def test_examples_train(capsys):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))
    try:
        import cnn_digits
        import mlp_digits
        assert mlp_digits.main(epochs=5, log=lambda *a: None) > 0.9
        assert cnn_digits.main(epochs=3, log=lambda *a: None) > 0.85
    finally:
        sys.path.pop(0)


def test_train_lstm_runs_the_char_lstm():
    assert main(["train", "lstm", "--max-steps", "3", "--max-chars", "20000", "--quiet"]) == 0


@pytest.mark.slow
def test_train_rnn_beats_the_seasonal_baseline(tmp_path, capsys):
    # exit status 0 means the forecaster beat both baselines on held-out data
    assert main(["train", "rnn", "--plot", str(tmp_path / "f.png")]) == 0
    assert "the model beats the best baseline" in capsys.readouterr().out
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_demo_fits_and_gradchecks(capsys):
    assert main(["demo", "--steps", "300"]) == 0
    out = capsys.readouterr().out
    assert "gradcheck of the model's loss: passed" in out
