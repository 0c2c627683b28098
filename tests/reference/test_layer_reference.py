"""tinynet's nn layers against PyTorch's committed answers
(tests/reference/layers/<Module>.npz, written by
tests/reference/make_models.py). Never imports torch: this comparison
runs where PyTorch is not installed.

Each case rebuilds the tinynet module from the stored constructor arguments,
loads PyTorch's state_dict with load_state_dict, runs the stored float32
inputs and checks the output, the gradients of sum(weights * output) with
respect to the inputs and every parameter, and (train-mode batch norm) the
updated running statistics, within the bundle's float32 tolerance.
"""
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
from tinynet.testing import read_bundle

HERE = pathlib.Path(__file__).resolve().parent
REFERENCE = HERE / "layers"
REGENERATE = "regenerate with: python tests/reference/make_models.py --only layers"
# the generator's command as a bundle records it (bundles written before the
# generator moved to tests/reference/ record its former path)
GENERATORS = ("python tests/reference/make_models.py",
              "PYTHONPATH=. python benchmarks/make_model_reference.py")
BUNDLES = sorted(REFERENCE.glob("*.npz"))

# every layer tinynet promises a PyTorch reference for
REQUIRED = """Linear Conv1d Conv2d ConvTranspose2d MaxPool2d AvgPool2d AdaptiveAvgPool2d
BatchNorm1d BatchNorm2d LayerNorm GroupNorm Embedding Flatten Unflatten Identity ReLU Sigmoid
Tanh GELU ELU LeakyReLU Softplus Softmax LogSoftmax MSELoss L1Loss SmoothL1Loss HuberLoss
BCELoss BCEWithLogitsLoss CrossEntropyLoss NLLLoss KLDivLoss""".split()
LOSS_BUFFERS = ("weight", "pos_weight")


def tuples(v):
    """JSON lists back to the tuples the constructors take."""
    return tuple(tuples(x) for x in v) if isinstance(v, list) else v


def build(case):
    """The tinynet module of a stored case, with PyTorch's state loaded."""
    p = case["params"]
    name = p["module"]
    kwargs = {k: tuples(v) for k, v in p["kwargs"].items()}
    state = {k[len("state."):]: v for k, v in p.items() if k.startswith("state.")}
    if name.endswith("Loss"):               # a loss's tensors are constructor arguments
        kwargs.update({k: tn.tensor(state[k]) for k in LOSS_BUFFERS if k in state})
    module = getattr(nn, name)(**kwargs)
    module.load_state_dict(state)
    module.train(p["mode"] == "train")
    return module


def check_case(case, tol, label):
    p = case["params"]
    module = build(case)
    xs = [tn.tensor(a, requires_grad=g is not None) for a, g in zip(case["inputs"], case["grads"])]
    out = module(*xs)
    want = case["outputs"][0]
    assert out.dtype == tn.float32, f"{label}: output dtype {out.dtype}, expected float32"
    assert out.shape == want.shape, f"{label}: output shape {out.shape}, expected {want.shape}"
    np.testing.assert_allclose(out.array, want, **tol, err_msg=f"{label}: output")
    params = list(module.named_parameters())
    wrt = [x for x in xs if x.requires_grad] + [t for _, t in params]
    assert sorted(k for k, _ in params) == sorted(
        k[len("grad."):] for k in p if k.startswith("grad.")), f"{label}: parameter names"
    if wrt:
        grads = list(tn.grad((out * tn.tensor(case["weights"][0])).sum(), wrt))
        for k, g in enumerate(case["grads"]):
            if g is not None:
                got = grads.pop(0)
                assert got.dtype == tn.float32, f"{label}: input {k} grad dtype {got.dtype}"
                np.testing.assert_allclose(got.array, g, **tol, err_msg=f"{label}: grad input {k}")
        for (k, _), got in zip(params, grads):
            np.testing.assert_allclose(got.array, p[f"grad.{k}"], **tol,
                                       err_msg=f"{label}: grad {k}")
    state = module.state_dict()
    for key in (k for k in p if k.startswith("after.")):
        np.testing.assert_allclose(np.asarray(state[key[len("after."):]].array), p[key], **tol,
                                   err_msg=f"{label}: {key} after the forward pass")


@pytest.mark.parametrize("path", BUNDLES, ids=[b.stem for b in BUNDLES])
def test_layer_matches_reference_bundle(path):
    bundle = read_bundle(path)
    meta = bundle["meta"]
    assert meta["module"] == path.stem and meta["kind"] == "layer"
    for k, case in enumerate(bundle["cases"]):
        check_case(case, meta["tolerance"], f"{path.stem} case {k} {case['params']['kwargs']}")


def test_every_required_layer_has_a_bundle_and_all_are_small():
    stems = {b.stem for b in BUNDLES}
    missing = [n for n in REQUIRED if n not in stems]
    assert not missing, f"layers without a reference bundle: {missing}; {REGENERATE}"
    assert sum(b.stat().st_size for b in BUNDLES) < 400_000


def test_layer_bundles_are_plain_float32_with_provenance():
    for path in BUNDLES:
        with np.load(path, allow_pickle=False) as f:
            assert all(f[k].dtype in (np.float32, np.int64, np.uint8) for k in f.files), path
        meta = read_bundle(path)["meta"]
        assert meta["torch"] and meta["date"] and meta["command"] in GENERATORS
        assert meta["seed"] == 0 and meta["tolerance"]["rtol"] > 0


def test_batchnorm_bundles_cover_train_and_eval():
    for name in ("BatchNorm1d", "BatchNorm2d"):
        cases = read_bundle(REFERENCE / f"{name}.npz")["cases"]
        modes = {c["params"]["mode"] for c in cases}
        assert modes == {"train", "eval"}
        assert any("after.running_var" in c["params"] for c in cases)


def test_this_check_does_not_import_torch():
    code = (f"import sys; sys.modules['torch'] = None; sys.path.insert(0, {str(HERE)!r}); "
            "import test_layer_reference as t; "
            "[t.test_layer_matches_reference_bundle(p) for p in t.BUNDLES]; "
            "assert sys.modules['torch'] is None")
    root = HERE.parents[1]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True,
                   env={"PYTHONPATH": str(root), "PATH": ""})
