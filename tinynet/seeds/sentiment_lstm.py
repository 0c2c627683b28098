"""Moved: the model is ``tinynet.models.sentiment_lstm.SentimentLSTM`` and its
training loop the ``sentiment`` recipe (``tinynet.recipes.sentiment``);
``tinynet train sentiment`` runs it. The names of this module stay importable
from here.

``train(config)`` keeps its old return value: a dict with ``model``,
``vocab``, ``classes``, ``losses``, ``epochs`` (one dict per epoch) and
``steps``.
"""
import sys

from tinynet import models as _models
from tinynet.models.sentiment_lstm import SentimentLSTM  # noqa: F401
from tinynet.recipes import sentiment as _recipe
from tinynet.recipes.sentiment import accuracy, load_data, predict  # noqa: F401

DEFAULTS = {**_recipe.DEFAULTS, **_models.get("sentiment").defaults}


def train(config=None):
    """Train the sentiment LSTM (``tinynet.recipes.sentiment.train``); returns the old dict."""
    r = _recipe.train(config, model="sentiment")
    return {"model": r.model, "vocab": r.extras["vocab"], "classes": r.extras["classes"],
            "losses": r.losses, "epochs": r.history, "steps": r.steps}


def main(argv=None, prog=None):
    """``tinynet train sentiment`` with ``argv``."""
    from tinynet.cli import train_command
    return train_command("sentiment", argv, prog)


if __name__ == "__main__":
    sys.exit(main())
