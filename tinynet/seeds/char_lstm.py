"""Moved: the model is ``tinynet.models.char_lstm.CharLSTM`` and its training
loop the ``char_lm`` recipe (``tinynet.recipes.char_lm``); ``tinynet train
lstm`` runs it. The names of this module stay importable from here.

``train(config)`` keeps its old return value: a dict with ``model``,
``vocab``, ``losses``, ``epochs`` (one dict per epoch), ``sample`` and
``steps``.
"""
import sys

from tinynet import models as _models
from tinynet.models.char_lstm import CharLSTM  # noqa: F401
from tinynet.recipes import char_lm as _recipe
from tinynet.recipes.char_lm import evaluate, load_text, sample  # noqa: F401

DEFAULTS = {**_recipe.DEFAULTS, **_models.get("lstm").defaults}


def train(config=None):
    """Train the char-LSTM (``tinynet.recipes.char_lm.train``); returns the old dict."""
    r = _recipe.train(config, model="lstm")
    return {"model": r.model, "vocab": r.extras["vocab"], "losses": r.losses,
            "epochs": r.history, "sample": r.extras["sample"], "steps": r.steps}


def main(argv=None, prog=None):
    """``tinynet train lstm`` with ``argv``."""
    from tinynet.cli import train_command
    return train_command("lstm", argv, prog)


if __name__ == "__main__":
    sys.exit(main())
