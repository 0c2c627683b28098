"""tinynet's seed models trained for 10 steps against PyTorch's committed run
(tests/reference/models/<model>.npz, written by
tests/reference/make_models.py). Never imports torch.

Each bundle holds the batches, the initial weights, PyTorch's 10 per-step
losses and its final weights (large tensors as a fixed sample of entries).
The test builds the same model in tinynet (tinynet/models.py, the seed's
CharLSTM), loads the initial weights with load_state_dict, trains with the
seed's optimizer in float32 and compares the loss curve and final weights
within the bundle's tolerances.
"""
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
import tinynet.nn.functional as F
import tinynet.optim as optim
from tinynet import models
from tinynet.seeds.char_lstm import CharLSTM
from tinynet.testing import projections, read_bundle

HERE = pathlib.Path(__file__).resolve().parent
REFERENCE = HERE / "models"
# the generator's command as a bundle records it (bundles written before the
# generator moved to tests/reference/ record its former path)
GENERATORS = ("python tests/reference/make_models.py",
              "PYTHONPATH=. python benchmarks/make_model_reference.py")
NAMES = ["mlp", "cnn", "char_lstm"]


def build(meta):
    c = meta["config"]
    if meta["model"] == "char_lstm":
        return CharLSTM(c["vocab_size"], c["embed_size"], c["hidden_size"], c["num_layers"])
    return models.MODELS[meta["model"]](image_size=c["image_size"])


def train(meta, model, xs, ys):
    """The seed's training steps; returns the per-step losses."""
    opt = getattr(optim, meta["optimizer"])(model.parameters(), **meta["opt_kwargs"])
    losses, state = [], None
    for x, y in zip(xs, ys):
        if meta["model"] == "char_lstm":      # truncated BPTT, as the seed trains
            logits, state = model(tn.tensor(x), state)
            state = tuple(s.detach() for s in state)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                   tn.tensor(y.reshape(-1)))
        else:
            loss = F.cross_entropy(model(tn.tensor(x)), tn.tensor(y))
        opt.zero_grad()
        loss.backward()
        if meta["clip"] is not None:
            nn.utils.clip_grad_norm_(model.parameters(), meta["clip"])
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


def prefixed(params, prefix):
    return {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}


@pytest.mark.parametrize("name", NAMES)
def test_seed_model_matches_reference_run(name):
    bundle = read_bundle(REFERENCE / f"{name}.npz")
    meta, case = bundle["meta"], bundle["cases"][0]
    assert meta["model"] == name and meta["steps"] == 10
    model = build(meta)
    init = {k: v.astype(np.float32) for k, v in prefixed(case["params"], "init.").items()}
    model.load_state_dict(init)
    xs, ys = case["inputs"]
    losses = train(meta, model, xs, ys)
    want = case["outputs"][0]
    assert len(want) == meta["steps"] == len(losses)
    np.testing.assert_allclose(losses, want, **meta["tolerance"]["loss"],
                               err_msg=f"{name}: loss curve")
    assert want[-1] < want[0], f"{name}: the reference run does not learn"
    final = prefixed(case["params"], "final.")
    index = prefixed(case["params"], "final_index.")
    state = model.state_dict()
    assert sorted(final) == sorted(state)
    for key, got in state.items():
        got = got.array
        assert got.dtype == np.float32, f"{name}: {key} dtype {got.dtype}"
        got = got.reshape(-1)[index[key]] if key in index else got
        np.testing.assert_allclose(got, final[key], **meta["tolerance"]["weights"],
                                   err_msg=f"{name}: final {key}")
        moved = not np.array_equal(final[key], init[key].reshape(-1)[index[key]]
                                   if key in index else init[key])
        assert moved, f"{name}: {key} did not change in the reference run"


@pytest.mark.parametrize("name", NAMES)
def test_seed_model_matches_reference_run_in_float64(name):
    # float64 leaves no room for rounding noise: a tight check of the whole run
    bundle = read_bundle(REFERENCE / f"{name}.npz")
    meta, case = bundle["meta"], bundle["cases"][0]
    tol = meta["tolerance"]["float64"]
    model = build(meta).double()
    model.load_state_dict({k: v.astype(np.float64)
                           for k, v in prefixed(case["params"], "init.").items()})
    xs, ys = case["inputs"]
    losses = train(meta, model, xs.astype(np.float64) if xs.dtype == np.float32 else xs, ys)
    np.testing.assert_allclose(losses, case["params"]["loss64"], **tol,
                               err_msg=f"{name}: float64 loss curve")
    want = prefixed(case["params"], "final64.")
    for key, got in model.state_dict().items():
        assert got.dtype == tn.float64
        np.testing.assert_allclose(projections(got.array), want[key], **tol,
                                   err_msg=f"{name}: float64 final {key}")


def test_model_bundles_are_small_with_provenance():
    files = sorted(REFERENCE.glob("*.npz"))
    assert [f.stem for f in files] == sorted(NAMES)
    assert sum(f.stat().st_size for f in files) < 600_000
    for path in files:
        meta = read_bundle(path)["meta"]
        assert meta["torch"] and meta["date"] and meta["seed"] == 0
        assert meta["command"] in GENERATORS


def test_this_check_does_not_import_torch():
    code = (f"import sys; sys.modules['torch'] = None; sys.path.insert(0, {str(HERE)!r}); "
            "import test_model_reference as t; t.test_seed_model_matches_reference_run('mlp'); "
            "assert sys.modules['torch'] is None")
    root = HERE.parents[1]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True,
                   env={"PYTHONPATH": str(root), "PATH": ""})
