"""Write PyTorch reference bundles for tinynet's layers and seed models.

Layers (tests/reference/layers/<Module>.npz): for every case of ``LAYERS``
the bundle stores the float32 inputs, the module's state_dict (float32, its
float parameters drawn from a seeded generator), PyTorch's outputs, the
gradients of sum(w * outputs) for a fixed random weighting w with respect to
the inputs and every parameter, and for train-mode normalization the running
statistics after the forward pass. PyTorch computes in float64 from the
stored float32 values, so the stored answers are the exact ones for those
inputs (rounded to float32); tinynet is checked in float32.

Seed models (tests/reference/models/<model>.npz): the MLP and CNN of
tinynet/models.py and the char-LSTM of tinynet/seeds/char_lstm.py, built in
PyTorch with the same architecture and state_dict keys, trained for 10 steps
in float32 with the seed's optimizer on a fixed batch sequence (the first
digits training batches in file order; seeded random characters for the
char-LSTM). The bundle stores the batches, the initial weights (PyTorch's
default init, rounded to float16 values so they are stored exactly and
small), the 10 per-step losses and the final weights (tensors above
``FULL_LIMIT`` elements: a fixed seeded sample of entries, with its indices).

Every bundle is written with tinynet.testing.write_bundle (plain arrays and
JSON metadata, no pickle) and records its provenance: torch, numpy and
Python versions, the seed, the date and the command. tests/reference/test_layer_reference.py
and tests/reference/test_model_reference.py check tinynet against them
without torch.

    python tests/reference/make_models.py [--only layers|models]
"""
import argparse
import datetime
import pathlib
import platform

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
COMMAND = "python tests/reference/make_models.py"
SEED = 0
LAYER_TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}
FULL_LIMIT = 20_000          # larger final-weight tensors are stored as a sample
SAMPLE = 4096                # entries kept of each such tensor
STEPS = 10


def normal(*shape):
    return ("normal", list(shape))


def ints(high, *shape):
    return ("ints", high, list(shape))


def probs(*shape):
    return ("probs", list(shape))


def simplex(*shape):          # rows that sum to one (probability targets)
    return ("simplex", list(shape))


def log_simplex(*shape):
    return ("log_simplex", list(shape))


# (module, constructor kwargs, inputs, mode); inputs: float "normal" inputs get
# gradients, the others (class indices, probability targets) do not
LAYERS = [
    ("Linear", {"in_features": 5, "out_features": 3}, [normal(4, 5)], "train"),
    ("Linear", {"in_features": 5, "out_features": 3, "bias": False}, [normal(2, 3, 5)], "train"),
    ("Conv1d", {"in_channels": 3, "out_channels": 4, "kernel_size": 3, "stride": 2,
                "padding": 1}, [normal(2, 3, 9)], "train"),
    ("Conv1d", {"in_channels": 4, "out_channels": 2, "kernel_size": 2, "dilation": 2,
                "groups": 2, "bias": False}, [normal(1, 4, 6)], "train"),
    ("Conv2d", {"in_channels": 3, "out_channels": 4, "kernel_size": 3, "padding": 1},
     [normal(2, 3, 5, 5)], "train"),
    ("Conv2d", {"in_channels": 4, "out_channels": 6, "kernel_size": [3, 2], "stride": 2,
                "padding": [2, 1], "dilation": 2, "groups": 2, "bias": False},
     [normal(2, 4, 7, 6)], "train"),
    ("ConvTranspose2d", {"in_channels": 3, "out_channels": 2, "kernel_size": 3, "stride": 2,
                         "padding": 1, "output_padding": 1}, [normal(2, 3, 4, 4)], "train"),
    ("ConvTranspose2d", {"in_channels": 4, "out_channels": 4, "kernel_size": 2, "groups": 2,
                         "dilation": 2, "bias": False}, [normal(1, 4, 3, 3)], "train"),
    ("MaxPool2d", {"kernel_size": 2}, [normal(2, 3, 6, 6)], "train"),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
     [normal(2, 2, 8, 7)], "train"),
    ("AvgPool2d", {"kernel_size": 2}, [normal(2, 3, 6, 6)], "train"),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
     [normal(2, 2, 7, 7)], "train"),
    ("AdaptiveAvgPool2d", {"output_size": [3, 2]}, [normal(2, 3, 7, 5)], "train"),
    ("AdaptiveAvgPool2d", {"output_size": 1}, [normal(2, 3, 4, 4)], "train"),
    ("BatchNorm1d", {"num_features": 4}, [normal(6, 4)], "train"),
    ("BatchNorm1d", {"num_features": 3, "momentum": 0.3}, [normal(4, 3, 5)], "train"),
    ("BatchNorm1d", {"num_features": 4}, [normal(6, 4)], "eval"),
    ("BatchNorm2d", {"num_features": 3}, [normal(4, 3, 5, 5)], "train"),
    ("BatchNorm2d", {"num_features": 3, "affine": False}, [normal(2, 3, 4, 4)], "train"),
    ("BatchNorm2d", {"num_features": 3}, [normal(4, 3, 5, 5)], "eval"),
    ("LayerNorm", {"normalized_shape": 5}, [normal(3, 4, 5)], "train"),
    ("LayerNorm", {"normalized_shape": [4, 5], "eps": 1e-3}, [normal(3, 4, 5)], "train"),
    ("GroupNorm", {"num_groups": 2, "num_channels": 4}, [normal(3, 4, 5, 5)], "train"),
    ("GroupNorm", {"num_groups": 3, "num_channels": 3, "affine": False}, [normal(2, 3, 4)],
     "train"),
    ("Embedding", {"num_embeddings": 10, "embedding_dim": 4, "padding_idx": 1},
     [("fixed_ints", [[1, 3, 1, 9, 0], [2, 2, 7, 1, 5], [4, 6, 8, 3, 1]])], "train"),
    ("Embedding", {"num_embeddings": 6, "embedding_dim": 3}, [ints(6, 2, 4)], "train"),
    ("Flatten", {}, [normal(2, 3, 4, 5)], "train"),
    ("Flatten", {"start_dim": 0, "end_dim": 1}, [normal(2, 3, 4)], "train"),
    ("Unflatten", {"dim": 1, "unflattened_size": [2, 3]}, [normal(4, 6, 2)], "train"),
    ("Identity", {}, [normal(3, 4)], "train"),
    ("ReLU", {}, [normal(3, 7)], "train"),
    ("Sigmoid", {}, [normal(3, 7)], "train"),
    ("Tanh", {}, [normal(3, 7)], "train"),
    ("GELU", {}, [normal(3, 7)], "train"),
    ("GELU", {"approximate": "tanh"}, [normal(3, 7)], "train"),
    ("ELU", {"alpha": 0.5}, [normal(3, 7)], "train"),
    ("LeakyReLU", {"negative_slope": 0.2}, [normal(3, 7)], "train"),
    ("Softplus", {"beta": 2.0, "threshold": 1.5}, [normal(3, 7)], "train"),
    ("Softmax", {"dim": 1}, [normal(3, 4, 5)], "train"),
    ("LogSoftmax", {"dim": -1}, [normal(3, 4, 5)], "train"),
    ("MSELoss", {}, [normal(4, 3), normal(4, 3)], "train"),
    ("MSELoss", {"reduction": "none"}, [normal(4, 3), normal(4, 3)], "train"),
    ("L1Loss", {"reduction": "sum"}, [normal(4, 3), normal(4, 3)], "train"),
    ("SmoothL1Loss", {"beta": 0.5}, [normal(4, 3), normal(4, 3)], "train"),
    ("HuberLoss", {"delta": 0.7, "reduction": "sum"}, [normal(4, 3), normal(4, 3)], "train"),
    ("BCELoss", {}, [probs(4, 3), probs(4, 3)], "train"),
    ("BCELoss", {"reduction": "none", "weight": normal(3)}, [probs(4, 3), probs(4, 3)],
     "train"),
    ("BCEWithLogitsLoss", {}, [normal(4, 3), probs(4, 3)], "train"),
    ("BCEWithLogitsLoss", {"pos_weight": ("positive", [3])}, [normal(4, 3), probs(4, 3)],
     "train"),
    ("CrossEntropyLoss", {}, [normal(5, 4), ints(4, 5)], "train"),
    ("CrossEntropyLoss", {"weight": ("positive", [4]), "ignore_index": 2,
                          "label_smoothing": 0.1}, [normal(6, 4), ints(4, 6)], "train"),
    ("CrossEntropyLoss", {"reduction": "sum"}, [normal(3, 4, 2), ints(4, 3, 2)], "train"),
    ("CrossEntropyLoss", {}, [normal(5, 4), simplex(5, 4)], "train"),
    ("NLLLoss", {}, [normal(5, 4), ints(4, 5)], "train"),
    ("NLLLoss", {"weight": ("positive", [4]), "ignore_index": 0, "reduction": "none"},
     [normal(6, 4), ints(4, 6)], "train"),
    ("KLDivLoss", {"reduction": "batchmean"}, [normal(4, 5), simplex(4, 5)], "train"),
    ("KLDivLoss", {"reduction": "sum", "log_target": True}, [normal(4, 5), log_simplex(4, 5)],
     "train"),
]

# module-valued kwargs: a tensor argument (stored as a buffer of the loss)
TENSOR_KWARGS = ("weight", "pos_weight")


def draw(rng, spec):
    """A float32 (or int64) array from an input spec; True if it takes a gradient."""
    kind = spec[0]
    if kind == "normal":
        return rng.standard_normal(spec[1]).astype(np.float32), True
    if kind == "positive":
        return rng.uniform(0.5, 2.0, spec[1]).astype(np.float32), False
    if kind == "probs":
        return rng.uniform(0.05, 0.95, spec[1]).astype(np.float32), False
    if kind in ("simplex", "log_simplex"):
        e = np.exp(rng.standard_normal(spec[1]))
        p = e / e.sum(axis=-1, keepdims=True)
        return (np.log(p) if kind == "log_simplex" else p).astype(np.float32), False
    if kind == "ints":
        return rng.integers(0, spec[1], spec[2]).astype(np.int64), False
    if kind == "fixed_ints":
        return np.array(spec[1], dtype=np.int64), False
    raise ValueError(f"unknown input spec {spec!r}")


def torch_kwargs(torch, kwargs, rng):
    """Constructor kwargs for PyTorch (tensor kwargs drawn, lists as tuples);
    also returns the JSON-able kwargs stored in the bundle."""
    built, stored = {}, {}
    for k, v in kwargs.items():
        if k in TENSOR_KWARGS:
            a, _ = draw(rng, v)
            a = np.abs(a) + np.float32(0.5) if v[0] == "normal" else a
            built[k] = torch.tensor(a.astype(np.float64))
            continue                        # stored as the loss's buffer in its state_dict
        built[k] = tuple(v) if isinstance(v, list) else v
        stored[k] = v
    return built, stored


def randomize_state(torch, module, rng, name):
    """Seeded float32-exact parameters (and running stats) for the module."""
    sd = module.state_dict()
    with torch.no_grad():
        for k, t in sd.items():
            if not t.is_floating_point() or k in TENSOR_KWARGS and name.endswith("Loss"):
                continue
            if k == "running_var":
                a = rng.uniform(0.5, 2.0, t.shape)
            else:
                a = rng.standard_normal(t.shape) * (0.5 if t.dim() > 1 else 1.0)
            if name == "Embedding" and module.padding_idx is not None and k == "weight":
                a[module.padding_idx] = 0.0       # PyTorch keeps the padding row at zero
            t.copy_(torch.tensor(a.astype(np.float32).astype(np.float64)))


def layer_case(torch, name, kwargs, specs, mode, rng):
    built, stored = torch_kwargs(torch, kwargs, rng)
    module = getattr(torch.nn, name)(**built).double()
    randomize_state(torch, module, rng, name)
    if mode == "eval" and "running_mean" in module.state_dict():
        module.train()                      # a train step first: realistic running stats
        module(torch.tensor(rng.standard_normal(specs[0][1])))
    module.train(mode == "train")
    state = {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}
    arrays, tins = [], []
    for spec in specs:
        a, needs_grad = draw(rng, spec)
        arrays.append(a)
        t = torch.tensor(a.astype(np.float64) if a.dtype == np.float32 else a)
        tins.append(t.requires_grad_(needs_grad))
    out = module(*tins)
    w = rng.standard_normal(tuple(out.shape))
    params = list(module.named_parameters())
    wrt = [t for t in tins if t.requires_grad] + [p for _, p in params]
    grads = list(torch.autograd.grad((out * torch.tensor(w)).sum(), wrt)) if wrt else []
    gin = [grads.pop(0).numpy() if t.requires_grad else None for t in tins]
    f32 = lambda a: None if a is None else (a.astype(np.float32) if a.dtype == np.float64 else a)
    case_params = {"module": name, "kwargs": stored, "mode": mode}
    for k, v in state.items():
        case_params[f"state.{k}"] = f32(v)
    for (k, _), g in zip(params, grads):
        case_params[f"grad.{k}"] = f32(g.numpy())
    if mode == "train" and "running_mean" in state:
        for k, v in module.state_dict().items():
            if "running" in k or "num_batches" in k:
                case_params[f"after.{k}"] = f32(v.numpy().copy())
    return {"inputs": arrays, "outputs": [f32(out.detach().numpy())],
            "weights": [w.astype(np.float32)], "grads": [f32(g) for g in gin],
            "params": case_params}


def provenance(torch):
    return {"torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "seed": SEED,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
            "command": COMMAND, "source": "tests/reference/make_models.py"}


def write_layers(torch, out):
    from tinynet.testing import write_bundle
    rng = np.random.default_rng(SEED)
    by_module = {}
    for name, kwargs, specs, mode in LAYERS:
        by_module.setdefault(name, []).append(layer_case(torch, name, kwargs, specs, mode, rng))
    out.mkdir(parents=True, exist_ok=True)
    for name, cases in by_module.items():
        meta = dict(provenance(torch), module=name, kind="layer",
                    dtype="float32", reference_dtype="float64", tolerance=LAYER_TOLERANCE,
                    weighting="grads are d sum(weights * output) / d input or parameter")
        write_bundle(out / f"{name}.npz", meta, cases)
    return len(by_module)


# ---------------------------------------------------------------- seed models

def torch_seed_model(torch, name, cfg):
    """The seed model in PyTorch, with tinynet's state_dict keys."""
    nn = torch.nn
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    if name == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 2 * 2, 512), nn.ReLU(), nn.Linear(512, 10))

    class CharLSTM(nn.Module):              # tinynet.seeds.char_lstm.CharLSTM
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(cfg["vocab_size"], cfg["embed_size"])
            self.lstm = nn.LSTM(cfg["embed_size"], cfg["hidden_size"], cfg["num_layers"])
            self.head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"])

        def forward(self, x, state=None):
            out, state = self.lstm(self.embed(x), state)
            return self.head(out), state
    return CharLSTM()


TIGHT = {"rtol": 1e-4, "atol": 1e-6}
# RMSprop's first step moves a weight by about 10 * lr whatever the size of its
# gradient, so float32 rounding in near-zero gradients shows in the CNN's final
# weights (PyTorch float32 against float64: up to 4e-5); the float64 check is tight
LOOSE = {"rtol": 1e-3, "atol": 2e-4}
MODELS = {
    "mlp": {"optimizer": "Adam", "opt_kwargs": {"lr": 1e-3}, "clip": None,
            "config": {"image_size": 8}, "batch_size": 32, "weights_tolerance": TIGHT},
    "cnn": {"optimizer": "RMSprop", "opt_kwargs": {"lr": 1e-3}, "clip": None,
            "config": {"image_size": 8}, "batch_size": 32, "weights_tolerance": LOOSE},
    "char_lstm": {"optimizer": "Adam", "opt_kwargs": {"lr": 3e-3}, "clip": 1.0,
                  "config": {"vocab_size": 12, "embed_size": 8, "hidden_size": 16,
                             "num_layers": 2, "seq_len": 8, "batch_size": 4},
                  "weights_tolerance": TIGHT},
}


def model_batches(name, spec, rng):
    """The fixed batch sequence: (inputs (STEPS, ...), targets (STEPS, ...))."""
    if name == "char_lstm":
        c = spec["config"]
        T, N = c["seq_len"], c["batch_size"]
        text = rng.integers(0, c["vocab_size"], (N, STEPS * T + 1))
        x = np.stack([text[:, k * T:(k + 1) * T].T for k in range(STEPS)])
        y = np.stack([text[:, k * T + 1:(k + 1) * T + 1].T for k in range(STEPS)])
        return x.astype(np.int64), y.astype(np.int64)
    from tinynet.data import digits
    data = digits("train")                  # file order, no shuffling
    n = STEPS * spec["batch_size"]
    x = data.tensors[0].array[:n].reshape(STEPS, spec["batch_size"], 1, 8, 8)
    y = data.tensors[1].array[:n].reshape(STEPS, spec["batch_size"])
    return x.astype(np.float32), y.astype(np.int64)


def train_torch(torch, name, spec, model, xs, ys):
    """STEPS optimizer steps in float32 as the seed trains; the per-step losses."""
    F = torch.nn.functional
    opt = getattr(torch.optim, spec["optimizer"])(model.parameters(), **spec["opt_kwargs"])
    losses, state = [], None
    for x, y in zip(xs, ys):
        if name == "char_lstm":             # truncated BPTT: carry the detached state
            logits, state = model(torch.tensor(x), state)
            state = tuple(s.detach() for s in state)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                   torch.tensor(y.reshape(-1)))
        else:
            loss = F.cross_entropy(model(torch.tensor(x)), torch.tensor(y))
        opt.zero_grad()
        loss.backward()
        if spec["clip"] is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), spec["clip"])
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


def write_models(torch, out):
    from tinynet.testing import projections, write_bundle
    out.mkdir(parents=True, exist_ok=True)
    for k, (name, spec) in enumerate(MODELS.items()):
        torch.manual_seed(SEED + k)
        rng = np.random.default_rng(SEED + k)
        model = torch_seed_model(torch, name, spec["config"])
        params = {}
        with torch.no_grad():
            for key, t in model.state_dict().items():
                # float16-representable float32 values: stored exactly in half the bytes
                half = t.numpy().astype(np.float16)
                t.copy_(torch.tensor(half.astype(np.float32)))
                params[f"init.{key}"] = half
        xs, ys = model_batches(name, spec, rng)
        losses = train_torch(torch, name, spec, model, xs, ys).astype(np.float32)
        # the same run in float64: a tight check that float32 rounding cannot blur
        model64 = torch_seed_model(torch, name, spec["config"]).double()
        model64.load_state_dict({k[len("init."):]: torch.tensor(v.astype(np.float64))
                                 for k, v in params.items()})
        xs64 = xs.astype(np.float64) if xs.dtype == np.float32 else xs
        params["loss64"] = train_torch(torch, name, spec, model64, xs64, ys)
        for key, t in model64.state_dict().items():
            params[f"final64.{key}"] = projections(t.numpy())
        for key, t in model.state_dict().items():
            a = t.numpy().copy()
            if a.size > FULL_LIMIT:         # keep the bundle small: a fixed sample
                idx = np.sort(rng.choice(a.size, SAMPLE, replace=False)).astype(np.int64)
                params[f"final_index.{key}"] = idx
                a = a.reshape(-1)[idx]
            params[f"final.{key}"] = a
        meta = dict(provenance(torch), model=name, kind="seed_model", steps=STEPS,
                    optimizer=spec["optimizer"], opt_kwargs=spec["opt_kwargs"],
                    clip=spec["clip"], config=spec["config"], dtype="float32",
                    batch_size=spec.get("batch_size"),
                    data="digits('train') in file order" if name != "char_lstm" else
                    "seeded random character ids, state carried (truncated BPTT)",
                    tolerance={"loss": {"rtol": 1e-5, "atol": 1e-6},
                               "weights": spec["weights_tolerance"],
                               "float64": {"rtol": 1e-9, "atol": 1e-12}},
                    float64_check="loss64: the losses of the same run in float64; "
                    "final64.<key>: projections() of its final weights")
        write_bundle(out / f"{name}.npz", meta, [{
            "inputs": [xs, ys], "outputs": [losses], "weights": [], "grads": [],
            "params": params}])
    return len(MODELS)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("layers", "models"))
    parser.add_argument("--out", default=str(HERE),
                        help="folder that gets layers/ and models/ (default: tests/reference)")
    args = parser.parse_args(argv)
    import torch
    torch.use_deterministic_algorithms(True)
    out = pathlib.Path(args.out)
    if args.only != "models":
        n = write_layers(torch, out / "layers")
        print(f"wrote {n} layer bundles to {out / 'layers'}")
    if args.only != "layers":
        n = write_models(torch, out / "models")
        print(f"wrote {n} seed-model bundles to {out / 'models'}")


if __name__ == "__main__":
    main()
