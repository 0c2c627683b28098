"""The seed-model registry (tinynet/models/__init__.py): every registered seed
builds and maps its input to the right shape, the registry drives the choices
of `tinynet train`, and a new model plugs in with one register() call."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
from tinynet import models
from tinynet.cli import main


def forward_shape(entry):
    """Build ``entry`` with small data sizes; (output shape, expected shape)."""
    tn.manual_seed(0)
    if entry.recipe == "classify":
        x = tn.randn(4, 3, 8, 8)
        try:
            return entry.build(image_size=8, channels=3, classes=3)(x).shape, (4, 3)
        except ValueError as e:             # a binary classifier: two classes, one logit
            assert "exactly 2 classes" in str(e)
            return entry.build(image_size=8, channels=3, classes=2)(x).shape, (4, 1)
    if entry.recipe == "char_lm":
        model = entry.build(vocab_size=11)
        B, T = 3, 5
        batch_first = getattr(model, "batch_first", True)
        ids = tn.tensor(np.random.default_rng(0).integers(0, 11, (B, T) if batch_first else (T, B)))
        out = model(ids)
        if getattr(model, "carries_state", False):
            out, _ = out
        return out.shape, (B, T, 11) if batch_first else (T, B, 11)
    if entry.recipe == "sentiment":
        model = entry.build(vocab_size=20, num_classes=3)
        ids = tn.tensor(np.array([[3, 4, 5, 6], [7, 8, 0, 0]]))
        return model(ids, [4, 2]).shape, (2, 3)
    if entry.recipe == "forecast":
        model = entry.build(features=5, horizon=6)
        return model(tn.randn(2, 12, 5)).shape, (2, 6)
    raise AssertionError(f"no forward check for the {entry.recipe} recipe")


@pytest.mark.parametrize("name", models.names())
def test_every_registered_seed_builds_and_has_its_forward_shape(name):
    entry = models.get(name)
    assert entry.name == name and entry.description and "\n" not in entry.description
    got, want = forward_shape(entry)
    assert tuple(got) == want


def test_the_builtin_seeds_and_their_old_names():
    assert models.names() == ["mlp", "cnn", "resnet", "binary_cnn", "lstm", "gpt", "rnn",
                              "sentiment"]
    # what tinynet/models.py held, unchanged
    assert models.MODELS["mlp"] is models.mlp and models.MODELS["cnn"] is models.cnn
    assert models.DEFAULTS["cnn"] == {"optimizer": "rmsprop", "lr": 1e-3, "epochs": 12,
                                      "batch_size": 64}
    assert models.DEFAULTS["mlp"] == {"optimizer": "adam", "lr": 1e-3, "epochs": 30,
                                      "batch_size": 64}
    assert sorted(models.cnn(image_size=8).state_dict()) == [
        "0.bias", "0.weight", "3.bias", "3.weight", "7.bias", "7.weight", "9.bias", "9.weight"]
    from tinynet.models.cnn import cnn
    assert cnn is models.cnn
    with pytest.raises(ValueError, match="exactly 2 classes"):
        models.get("binary_cnn").build(classes=10)


def test_build_passes_only_the_keywords_the_builder_names():
    entry = models.get("lstm")
    model = entry.build({"hidden_size": 12, "lr": 0.5, "seq_len": 3}, vocab_size=7)
    assert model.lstm.hidden_size == 12 and model.embed.num_embeddings == 7
    assert model.lstm.num_layers == entry.defaults["num_layers"]


def test_register_and_get_refuse_bad_input():
    with pytest.raises(ValueError, match="already registered"):
        models.register("cnn", models.cnn, "classify", {}, "again")
    with pytest.raises(ValueError, match="unknown recipe 'gan'"):
        models.register("x", models.cnn, "gan", {}, "a model")
    with pytest.raises(ValueError, match="one non-empty line"):
        models.register("x", models.cnn, "classify", {}, "two\nlines")
    with pytest.raises(ValueError, match="a word"):
        models.register("two words", models.cnn, "classify", {}, "a model")
    with pytest.raises(TypeError, match="builder must be callable"):
        models.register("x", 3, "classify", {}, "a model")
    with pytest.raises(KeyError, match="no seed model named 'vgg'; registered: mlp, cnn"):
        models.get("vgg")
    assert "x" not in models.names()
    with pytest.raises(TypeError):              # the defaults are read-only
        models.get("cnn").defaults["lr"] = 1.0


@pytest.mark.parametrize("name", models.names())
def test_the_registry_drives_the_train_command(name, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["train", name, "--help"])
    assert stop.value.code == 0
    out = " ".join(capsys.readouterr().out.split())     # argparse wraps the lines
    assert f"usage: tinynet train {name}" in out and models.get(name).description in out
    # every model hyper-parameter of the entry is an option
    recipe = models.get(name).recipe_module
    for key in models.get(name).defaults:
        if key not in recipe.DEFAULTS:
            assert "--" + key.replace("_", "-") in out, key


class TinyLM(nn.Module):
    """A batch-first model without state: ids (B, T) -> logits (B, T, V),
    the contract a character-level GPT follows."""
    block_size = 6

    def __init__(self, vocab_size, embed_size=8):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.head = nn.Linear(embed_size, vocab_size)
        self.shapes = []

    def forward(self, ids):
        self.shapes.append(tuple(ids.shape))
        return self.head(self.embed(ids))


@pytest.fixture
def registered():
    """Register seeds for one test, and take them out again."""
    added = []

    def add(*args, **kw):
        added.append(models.register(*args, **kw).name)
        return models.get(added[-1])
    yield add
    for name in added:
        models._REGISTRY.pop(name)


def test_a_token_model_plugs_in_with_one_register_call(registered, capsys):
    built = []

    def build(vocab_size, embed_size=8):
        built.append(TinyLM(vocab_size, embed_size))
        return built[-1]

    registered("tiny_lm", build, "char_lm", {"embed_size": 4, "seq_len": 6, "lr": 1e-2},
               "a tiny batch-first language model")
    assert "tiny_lm" in models.names()
    assert main(["train", "tiny_lm", "--max-steps", "3", "--max-chars", "3000",
                 "--batch-size", "4", "--embed-size", "5", "--sample-every", "0",
                 "--sample-chars", "9", "--prompt", "de"]) == 0
    out = capsys.readouterr().out
    assert "perplexity" in out and "sample" in out
    (model,) = built
    assert model.embed.embedding_dim == 5
    # training chunks are (batch, seq_len); sampling feeds at most block_size characters
    assert model.shapes[0] == (4, 6)
    assert max(t for _, t in model.shapes) <= TinyLM.block_size
    assert (1, 6) in model.shapes
    # seq_len beyond the model's block_size is refused
    with pytest.raises(ValueError, match="block_size 6"):
        models.get("tiny_lm").train({"seq_len": 7, "max_chars": 3000, "quiet": True})


def test_an_image_classifier_plugs_in_with_one_register_call(registered, tmp_path, capsys):
    registered("tiny_mlp", models.mlp, "classify",
               {"optimizer": "sgd", "lr": 0.05, "epochs": 1, "batch_size": 128, "hidden": 16},
               "a tiny MLP")
    out = str(tmp_path / "run")
    assert main(["train", "tiny_mlp", "--hidden", "8", "--quiet", "--out", out]) == 0
    state = tn.load(f"{out}/checkpoint.npz")
    assert state["config"]["hidden"] == 8 and state["model"]["1.weight"].shape == (8, 64)
    assert "held-out accuracy" in capsys.readouterr().out
