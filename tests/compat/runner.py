"""Run compat programs under PyTorch or under tinynet (through the shim).

    python runner.py --backend torch --write-state --workdir W programs/a.py programs/b.py
    python runner.py --backend tinynet --workdir W programs/a.py

For each program NAME.py it writes W/NAME.BACKEND.json; W/NAME.npz holds the
initial weights (written with ``--write-state``, read otherwise).

A program is an ordinary PyTorch script that defines

- ``build()``: the model, or a dict of models (a GAN's ``{"G": ..., "D": ...}``);
- ``train(models)``: trains what ``build()`` returned and returns the numbers
  to compare (losses step by step, accuracies, learning rates ...).

The two libraries draw different random numbers, so the initial weights are
shared: the PyTorch run saves the state_dicts of what ``build()`` made (with
``--write-state``) and both runs load them before ``train``. The runner itself
only uses PyTorch's API, so under the shim it runs on tinynet too.

A result file holds ``{"values": [...], "torch_module": ...}`` or
``{"error": traceback}``. Several programs may share one PyTorch process
(PyTorch is the reference, and slow to import); give tinynet one process per
program, so that nothing one program leaves behind reaches the next.
"""
import argparse
import importlib.util
import json
import os
import sys
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _as_dict(models):
    return models if isinstance(models, dict) else {"model": models}


def save_state(models, path):
    arrays = {}
    for name, model in _as_dict(models).items():
        for key, value in model.state_dict().items():
            arrays[f"{name}/{key}"] = value.detach().cpu().numpy()
    np.savez(path, **arrays)


def load_state(models, path):
    import torch
    with np.load(path) as saved:
        arrays = {k: saved[k] for k in saved.files}
    for name, model in _as_dict(models).items():
        prefix = name + "/"
        state = {k[len(prefix):]: torch.tensor(v) for k, v in arrays.items()
                 if k.startswith(prefix)}
        model.load_state_dict(state)


def _flatten(values):
    out = []
    for v in values:
        if isinstance(v, (list, tuple)):
            out.extend(_flatten(v))
        else:
            out.append(float(v))
    return out


def run(program, state_path, write_state):
    name = os.path.splitext(os.path.basename(program))[0]
    spec = importlib.util.spec_from_file_location(f"compat_program_{name}", program)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    models = module.build()
    if write_state:
        save_state(models, state_path)
    load_state(models, state_path)
    return _flatten(module.train(models))


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("programs", nargs="+")
    parser.add_argument("--backend", choices=["torch", "tinynet"], required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--write-state", action="store_true")
    args = parser.parse_args(argv)
    if args.backend == "tinynet":
        sys.path.insert(0, HERE)
        import shim
        shim.install()
    failed = 0
    for program in args.programs:
        name = os.path.splitext(os.path.basename(program))[0]
        try:
            values = run(program, os.path.join(args.workdir, name + ".npz"), args.write_state)
            result = {"values": values, "torch_module": sys.modules["torch"].__name__,
                      "real_torch_loaded": "torch._C" in sys.modules}
        except Exception:     # the traceback is the result
            result = {"error": traceback.format_exc()}
            failed += 1
        with open(os.path.join(args.workdir, f"{name}.{args.backend}.json"), "w") as f:
            json.dump(result, f)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
