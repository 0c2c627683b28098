"""The time-series forecasting recipe: ``tinynet train rnn`` (the seeds'
traffic-forecast RNN, tinynet/models/timeseries_rnn.py) with an RNN, LSTM or GRU.

    tinynet train rnn                                   # synthetic hourly series
    tinynet train rnn --cell gru --steps 600
    tinynet train rnn --csv traffic.csv --column volume --period 24

The series is hourly, with a daily and a weekly cycle, a trend and noise
(``synthetic_series``), or one column of your own CSV (``load_csv``). The last
``test_days`` are held out. From a window of ``window`` past hours (the value
plus hour-of-day and day-of-week encodings) the model predicts the next
``horizon`` hours at once. Loss: MSE on standardised values; each step draws
``batch_size`` random windows (no epochs).

Two baselines show whether the model learned anything: *last value* (the
forecast repeats the last observed hour) and *seasonal naive* (each hour
repeats the same hour one season earlier: a week for the synthetic series).
A forecast plot (PNG) draws the model's and the seasonal-naive forecasts
over the whole held-out period against the truth. The command exits with
status 0 when the model beats both baselines on the held-out period, else 1.

Entry point: ``train(config, model="rnn")`` returns a ``Result`` (metrics:
test_mse, test_mse_last_value, test_mse_seasonal_naive; extras: the
``forecast`` and the ``truth``, in the series' units).
"""
import csv

import numpy as np

import tinynet as tn
import tinynet.nn as nn
import tinynet.nn.functional as F
import tinynet.optim as optim
from tinynet import models
from tinynet.models.timeseries_rnn import CELLS
from tinynet.recipes.options import add_model_options, config_from
from tinynet.recipes.run import Result, Run

DEFAULTS = {
    "csv": None, "column": None,     # your own series (one value per hour); None: synthetic
    "hours": 24 * 7 * 16,            # length of the synthetic series (16 weeks)
    "noise": 0.3, "period": 168,     # seasonal-naive period in hours (168: one week)
    "window": 48, "horizon": 24, "test_days": 14,
    "cell": "lstm",
    "batch_size": 64, "lr": 5e-3, "steps": 800, "clip": 1.0,
    "plot": "forecast.png", "seed": 0, "quiet": False,
}


# ---------------------------------------------------------------- data
def synthetic_series(hours, noise=0.3, seed=0):
    """An hourly series like road traffic: a daily cycle (morning and evening
    peaks), quieter weekends, a slow upward trend and Gaussian noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(hours)
    hour, day = t % 24, (t // 24) % 7
    daily = np.exp(-((hour - 8) / 2.0) ** 2) + 0.8 * np.exp(-((hour - 17) / 2.5) ** 2)
    weekly = np.where(day >= 5, 0.5, 1.0)            # days 5 and 6 are the weekend
    trend = 0.5 * t / hours
    return (1.0 + trend + 2.0 * daily * weekly + rng.normal(0, noise, hours)).astype(np.float32)


def load_csv(path, column=None):
    """One numeric column of a CSV file (by header name, or the last column)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"load_csv: {path} is empty")
    header, body = rows[0], rows[1:]
    try:
        float(header[-1])
        header, body = None, rows             # no header row
    except ValueError:
        pass
    if column is None:
        k = len(rows[0]) - 1
    elif header is None or column not in header:
        raise ValueError(f"load_csv: column {column!r} not in the header {header}")
    else:
        k = header.index(column)
    return np.array([float(r[k]) for r in body if r], np.float32)


def time_features(n, start=0):
    """Hour-of-day and day-of-week as points on circles: (n, 4)."""
    t = np.arange(start, start + n)
    h, d = 2 * np.pi * (t % 24) / 24, 2 * np.pi * ((t // 24) % 7) / 7
    return np.stack([np.sin(h), np.cos(h), np.sin(d), np.cos(d)], 1).astype(np.float32)


def make_windows(z, starts, window, horizon):
    """Inputs (N, window, 5) = standardised value + time features, targets (N, horizon)."""
    feats = np.concatenate([z[:, None], time_features(len(z))], 1)
    x = np.stack([feats[s:s + window] for s in starts])
    y = np.stack([z[s + window:s + window + horizon] for s in starts])
    return x, y


# ---------------------------------------------------------------- baselines, plot
def baselines(series, starts, window, horizon, period):
    """Forecasts (N, horizon) of the last-value and seasonal-naive rules."""
    last = np.stack([np.full(horizon, series[s + window - 1]) for s in starts])
    seasonal = np.stack([series[s + window + np.arange(horizon) - period] for s in starts])
    return {"last value": last, "seasonal naive": seasonal}


def plot_forecast(path, series, starts, window, model_fc, naive_fc, title):
    """The held-out period: consecutive forecasts (one per row of ``model_fc``)
    against the truth, after the history the first forecast was made from."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    horizon = model_fc.shape[1]
    t_hist = np.arange(starts[0], starts[0] + window)
    t_fc = (np.asarray(starts)[:, None] + window + np.arange(horizon)).reshape(-1)
    fig, ax = plt.subplots(figsize=(12, 4))
    ax.plot(t_hist, series[t_hist], color="0.5", label="history")
    ax.plot(t_fc, series[t_fc], color="k", lw=1.5, label="held-out truth")
    ax.plot(t_fc, model_fc.reshape(-1), color="tab:red", lw=1.5, label="model forecast")
    ax.plot(t_fc, naive_fc.reshape(-1), color="tab:blue", ls="--", lw=1,
            label="seasonal naive")
    for s in starts:                      # where each forecast was made
        ax.axvline(s + window, color="0.85", lw=0.5, zorder=0)
    ax.set_xlabel("hour")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------- training
def train(config=None, model="rnn", run=None):
    """Train the seed ``model`` (a registered forecaster) on ``config``; returns
    a ``Result`` with the test MSE of the model and of each baseline (in the
    series' own units)."""
    entry = models.get(model)
    cfg = {**DEFAULTS, **entry.defaults, **(config or {})}
    run = run or Run(quiet=cfg["quiet"])
    tn.manual_seed(cfg["seed"])
    series = (load_csv(cfg["csv"], cfg["column"]) if cfg["csv"]
              else synthetic_series(cfg["hours"], cfg["noise"], cfg["seed"]))
    W, Hz, P = cfg["window"], cfg["horizon"], cfg["period"]
    split = len(series) - 24 * cfg["test_days"]
    if split - W - Hz < max(P - W, 0) + 1:
        raise ValueError(f"forecast: a series of {len(series)} hours is too short for "
                         f"window {W}, horizon {Hz}, period {P} and {cfg['test_days']} test days")
    mean, std = float(series[:split].mean()), float(series[:split].std())
    z = (series - mean) / std                                   # standardise on train only
    first = max(P - W, 0)                                       # baselines need a full season
    train_starts = np.arange(first, split - W - Hz + 1)
    test_starts = np.arange(split - W, len(series) - W - Hz + 1, Hz)
    x_test, y_test = make_windows(z, test_starts, W, Hz)
    net = entry.build(cfg, features=5, horizon=Hz)
    opt = optim.Adam(net.parameters(), lr=cfg["lr"])
    rng = np.random.default_rng(cfg["seed"])
    run.log(f"{model}: {len(series)} hours, {len(train_starts)} training windows, "
            f"{len(test_starts)} test forecasts of {Hz} h, {cfg['cell'].upper()} "
            f"hidden {cfg['hidden_size']}")
    report_every = max(cfg["steps"] // 10, 1)
    while run.step < cfg["steps"]:
        xb, yb = make_windows(z, rng.choice(train_starts, cfg["batch_size"]), W, Hz)
        loss = F.mse_loss(net(tn.tensor(xb)), tn.tensor(yb))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), cfg["clip"])
        opt.step()
        run.step_done(net, opt, loss)
        if run.step % report_every == 0:
            recent = float(np.mean(run.losses[-20:]))
            run.append_metrics({"step": run.step, "train_mse": recent})
            run.log(f"step {run.step:5d}  train mse {recent:.4f} (standardised)  "
                    f"{run.seconds:.0f} s")
    net.eval()
    with tn.no_grad():
        fc = net(tn.tensor(x_test)).array * std + mean            # back to series units
    truth = y_test * std + mean
    errors = {"model": float(((fc - truth) ** 2).mean())}
    base = baselines(series, test_starts, W, Hz, P)
    for name, b in base.items():
        errors[name] = float(((b - truth) ** 2).mean())
    for name, e in errors.items():
        run.log(f"test mse {name:15s} {e:.4f}")
    best = min((k for k in errors if k != "model"), key=errors.get)
    run.log(("the model beats" if errors["model"] < errors[best] else "the model does NOT beat")
            + f" the best baseline ({best})")
    if cfg["plot"]:
        plot_forecast(cfg["plot"], series, test_starts, W, fc, base["seasonal naive"],
                      f"{cfg['cell'].upper()} forecast: test mse {errors['model']:.3f}, "
                      f"seasonal naive {errors['seasonal naive']:.3f}")
        run.log(f"forecast plot: {cfg['plot']}")
    return Result(model=net, steps=run.step, epochs=0, stopped=False, history=run.metrics(),
                  losses=run.losses,
                  metrics={"test_mse": errors["model"],
                           "test_mse_last_value": errors["last value"],
                           "test_mse_seasonal_naive": errors["seasonal naive"]},
                  seconds=run.seconds, run_dir=run.path,
                  extras={"forecast": fc, "truth": truth})


# ---------------------------------------------------------------- command line
def add_arguments(parser, entry):
    """The options of ``tinynet train NAME`` for a seed trained by this recipe."""
    from tinynet.cli import SEED, existing_file, float_option, int_option
    d = {**DEFAULTS, **entry.defaults}
    parser.add_argument("--csv", type=existing_file,
                        help="a CSV file with your series (one row per hour)")
    parser.add_argument("--column", help="the CSV column to forecast (default: the last)")
    parser.add_argument("--cell", choices=sorted(CELLS), default=d["cell"])
    for key in ("hours", "period", "window", "horizon", "test_days", "batch_size", "steps"):
        parser.add_argument("--" + key.replace("_", "-"), type=int_option(1), default=d[key])
    parser.add_argument("--seed", type=SEED, default=d["seed"])
    parser.add_argument("--noise", type=float_option(0), default=d["noise"])
    for key in ("lr", "clip"):
        parser.add_argument("--" + key, type=float_option(0, low_open=True), default=d[key])
    parser.add_argument("--plot", default=d["plot"], help="PNG path ('' for none)")
    parser.add_argument("--quiet", action="store_true")
    add_model_options(parser, entry, DEFAULTS)


def check_arguments(args, parser):
    """Cross-option check: the synthetic series must hold the windows."""
    if not args.csv:
        need = 24 * args.test_days + args.window + args.horizon + max(args.period - args.window,
                                                                      0) + 1
        if args.hours < need:
            parser.error(f"argument --hours: expected an integer >= {need} (24 * --test-days "
                         f"+ --window + --horizon + max(--period - --window, 0) + 1), "
                         f"got {args.hours}")


def command(args, entry):
    """``tinynet train NAME``: exit status 0 when the model beats both baselines."""
    result = train(config_from(args), model=entry.name)
    m = result.metrics
    return 0 if m["test_mse"] < min(m["test_mse_last_value"], m["test_mse_seasonal_naive"]) else 1
