"""Moved: the model is ``tinynet.models.timeseries_rnn.Forecaster`` and its
training loop the ``forecast`` recipe (``tinynet.recipes.forecast``);
``tinynet train rnn`` runs it. The names of this module stay importable from
here.

``train(config)`` keeps its old return value: a dict with ``model``,
``losses``, ``test_mse`` ({"model", "last value", "seasonal naive"}),
``forecast`` and ``truth``.
"""
import sys

from tinynet import models as _models
from tinynet.models.timeseries_rnn import CELLS, Forecaster  # noqa: F401
from tinynet.recipes import forecast as _recipe
from tinynet.recipes.forecast import (  # noqa: F401
    baselines, load_csv, make_windows, plot_forecast, synthetic_series, time_features)

DEFAULTS = {**_recipe.DEFAULTS, **_models.get("rnn").defaults}


def train(config=None):
    """Train the forecaster (``tinynet.recipes.forecast.train``); returns the old dict."""
    r = _recipe.train(config, model="rnn")
    m = r.metrics
    return {"model": r.model, "losses": r.losses,
            "test_mse": {"model": m["test_mse"], "last value": m["test_mse_last_value"],
                         "seasonal naive": m["test_mse_seasonal_naive"]},
            "forecast": r.extras["forecast"], "truth": r.extras["truth"]}


def main(argv=None, prog=None):
    """``tinynet train rnn`` with ``argv``: exit status 0 when the model beats both baselines."""
    from tinynet.cli import train_command
    return train_command("rnn", argv, prog)


if __name__ == "__main__":
    sys.exit(main())
