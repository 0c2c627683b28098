"""The seed models: one file per architecture, and the registry that
``tinynet train <name>`` reads.

    mlp.py             mlp(): Linear -> ReLU -> Linear              tinynet train mlp
    cnn.py             cnn(): the seeds' MNIST CNN                  tinynet train cnn
    residual_cnn.py    ResidualBlock, SmallResNet                   tinynet train resnet
    binary_cnn.py      BinaryCNN (one logit)                        tinynet train binary_cnn
    char_lstm.py       CharLSTM, the char-rnn                       tinynet train lstm
    gpt.py             GPT, a character-level decoder-only transformer  tinynet train gpt
    timeseries_rnn.py  Forecaster (RNN/LSTM/GRU), CELLS             tinynet train rnn
    sentiment_lstm.py  SentimentLSTM                                tinynet train sentiment

The files hold architectures only; the training loops are the recipes in
``tinynet.recipes``. ``tinynet.models.mlp`` and ``tinynet.models.cnn`` are the
builder functions (as before the package existed), not the modules; import
from the modules with ``from tinynet.models.cnn import cnn``.

The registry
------------
``register(name, builder, recipe, defaults, description)`` adds a seed;
``get(name)`` returns its ``Seed`` entry; ``names()`` lists them in the
order they were registered (the choices of ``tinynet train``). An entry has

- ``name``: the word after ``tinynet train``;
- ``builder``: a callable returning the model (a class or a function). The
  recipe calls it with the data's sizes (``classify``: ``image_size``,
  ``channels``, ``classes``; ``char_lm``: ``vocab_size``; ``sentiment``:
  ``vocab_size``, ``num_classes``; ``forecast``: ``features``, ``horizon``)
  and with every config key its signature names;
- ``recipe``: the module of ``tinynet.recipes`` that trains it
  (``classify``, ``char_lm``, ``forecast``, ``sentiment``);
- ``defaults``: its default settings, over the recipe's ``DEFAULTS``. Keys
  the recipe does not know are the model's hyper-parameters: the builder
  receives them and ``tinynet train <name>`` gets an option for each
  (``--hidden-size``; integers >= 1, dropouts in [0, 1));
- ``description``: one line, shown by ``tinynet train --help``.

``get(name).train(config)`` trains it with its recipe and returns the
recipe's ``Result``.

Adding a seed
-------------
Write the architecture in ``tinynet/models/<name>.py``, import it here and
register it below with the recipe that trains it. The gpt seed is an
example: ``GPT(vocab_size, n_layer, n_head, n_embd, block_size, dropout)``
in ``tinynet/models/gpt.py``, whose ``forward(ids)`` maps token ids (B, T)
to logits (B, T, vocab_size) and which sets ``self.block_size``, needed one
call (the settings below are a shortened form of its registered defaults)::

    from tinynet.models.gpt import GPT
    register("gpt", GPT, "char_lm",
             {"n_layer": 4, "n_head": 4, "n_embd": 64, "block_size": 64, "dropout": 0.0,
              "seq_len": 64, "optimizer": "adamw", "lr": 3e-3},
             "character-level GPT (decoder-only transformer) on a text file")

after which ``tinynet train gpt --n-layer 2 --max-steps 200`` trains it
like the char-LSTM (the char_lm recipe batches (B, T), samples within
``block_size``; its docstring has the whole model contract), and the
registry tests build it and check its forward shape.
"""
import dataclasses
import importlib
import inspect
import types

from tinynet.models.binary_cnn import BinaryCNN, binary_classifier
from tinynet.models.char_lstm import CharLSTM
from tinynet.models.cnn import cnn
from tinynet.models.gpt import GPT
from tinynet.models.mlp import mlp
from tinynet.models.residual_cnn import ResidualBlock, SmallResNet, small_resnet
from tinynet.models.sentiment_lstm import SentimentLSTM
from tinynet.models.timeseries_rnn import CELLS, Forecaster
from tinynet.recipes import RECIPES

__all__ = ["mlp", "cnn", "ResidualBlock", "SmallResNet", "small_resnet", "BinaryCNN",
           "binary_classifier", "CharLSTM", "GPT", "Forecaster", "CELLS", "SentimentLSTM",
           "Seed", "register", "get", "names", "MODELS", "DEFAULTS"]

@dataclasses.dataclass(frozen=True)
class Seed:
    """One registered seed model (see the module docstring)."""
    name: str
    builder: object
    recipe: str
    defaults: types.MappingProxyType
    description: str

    @property
    def recipe_module(self):
        """The recipe's module (``tinynet.recipes.<recipe>``), imported on first use."""
        return importlib.import_module(f"tinynet.recipes.{self.recipe}")

    def build(self, config=None, **sizes):
        """The model: the builder called with ``sizes`` and with the entries
        of ``defaults`` updated by ``config`` that its signature names."""
        params = inspect.signature(self.builder).parameters
        named = {k for k, p in params.items()
                 if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        settings = {**self.defaults, **(config or {})}
        kwargs = {k: v for k, v in settings.items() if k in named}
        kwargs.update(sizes)
        return self.builder(**kwargs)

    def train(self, config=None, run=None):
        """Train this seed with its recipe; returns the recipe's ``Result``."""
        return self.recipe_module.train(config, model=self.name, run=run)


_REGISTRY = {}


def register(name, builder, recipe, defaults=None, description=""):
    """Add a seed model named ``name``, built by ``builder`` and trained by
    ``tinynet.recipes.<recipe>``; returns its ``Seed`` entry."""
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"register: the name must be a word of letters, digits, '_' or '-' "
                         f"(it follows `tinynet train`), got {name!r}")
    if name in _REGISTRY:
        raise ValueError(f"register: a seed named {name!r} is already registered")
    if not callable(builder):
        raise TypeError(f"register({name!r}): builder must be callable (a model class or a "
                        f"function returning a model), got {type(builder).__name__}")
    if recipe not in RECIPES:
        raise ValueError(f"register({name!r}): unknown recipe {recipe!r}; the recipes are "
                         f"{', '.join(RECIPES)} (tinynet/recipes/)")
    if not isinstance(description, str) or not description.strip() or "\n" in description:
        raise ValueError(f"register({name!r}): description must be one non-empty line, got "
                         f"{description!r}")
    entry = Seed(name, builder, recipe, types.MappingProxyType(dict(defaults or {})),
                 description)
    _REGISTRY[name] = entry
    return entry


def get(name):
    """The ``Seed`` entry registered as ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"tinynet.models.get: no seed model named {name!r}; registered: "
                       f"{', '.join(_REGISTRY)}") from None


def names():
    """The registered seed names, in registration order."""
    return list(_REGISTRY)


# ---------------------------------------------------------------- the seeds
register("mlp", mlp, "classify",
         {"optimizer": "adam", "lr": 1e-3, "epochs": 30, "batch_size": 64},
         "the seed MLP (Linear-ReLU-Linear) on the digits or MNIST")
register("cnn", cnn, "classify",
         {"optimizer": "rmsprop", "lr": 1e-3, "epochs": 12, "batch_size": 64},
         "the seed CNN (two conv + maxpool, dense 512) on the digits or MNIST")
register("resnet", small_resnet, "classify",
         {"optimizer": "sgd", "lr": 0.05, "weight_decay": 5e-4, "epochs": 8, "batch_size": 64,
          "width": 16},
         "a small ResNet (residual blocks, BatchNorm) on the digits or MNIST")
register("binary_cnn", binary_classifier, "classify",
         {"data": "shapes", "optimizer": "adamw", "lr": 3e-3, "weight_decay": 1e-4,
          "epochs": 8, "batch_size": 32, "width": 16, "dropout": 0.3},
         "binary image classifier (BatchNorm, Dropout, one logit) on a two-class image folder")
register("lstm", CharLSTM, "char_lm",
         {"embed_size": 32, "hidden_size": 128, "num_layers": 2, "dropout": 0.0},
         "character-level LSTM language model (char-rnn) on a text file")
register("gpt", GPT, "char_lm",
         {"n_layer": 4, "n_head": 4, "n_embd": 64, "block_size": 64, "dropout": 0.0,
          "seq_len": 64, "batch_size": 32, "optimizer": "adamw", "lr": 3e-3,
          "weight_decay": 0.1, "schedule": "cosine", "warmup_steps": 100, "epochs": 20},
         "character-level GPT (decoder-only transformer) on a text file")
register("rnn", Forecaster, "forecast",
         {"cell": "lstm", "hidden_size": 64, "num_layers": 1},
         "hourly time-series forecaster (RNN, LSTM or GRU) against two baselines")
register("sentiment", SentimentLSTM, "sentiment",
         {"embed_size": 32, "hidden_size": 64, "num_layers": 1, "bidirectional": False},
         "Embedding -> LSTM -> Linear text classifier on a text folder")

# What this module held before the registry: the image classifiers' builders
# and default settings by name (a snapshot of the seeds registered above).
MODELS = {n: e.builder for n, e in _REGISTRY.items() if e.recipe == "classify"}
DEFAULTS = {n: dict(e.defaults) for n, e in _REGISTRY.items() if e.recipe == "classify"}
