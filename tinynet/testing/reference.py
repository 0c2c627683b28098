"""Reference bundles: a reference implementation's outputs and gradients, stored.

A bundle is a plain ``.npz`` file (no pickle) with the inputs of a set of
cases, the reference's outputs, a fixed random weighting of the outputs and
the gradients of sum(weights * outputs) with respect to each input, plus JSON
metadata (what wrote it, with which versions, the tolerance to check with).
The project keeps PyTorch's answers this way in tests/reference/, so the
comparison with PyTorch also runs where PyTorch is not installed;
``OpCheck.check_bundle`` checks an op against one.
"""
import json

import numpy as np

__all__ = ["write_bundle", "read_bundle", "projections"]


def write_bundle(path, meta, cases):
    """Write a reference bundle as a plain ``.npz`` (no pickle).

    ``meta`` is a JSON-able dict (op name, source version, seed, tolerance);
    each case is a dict with lists ``inputs``, ``outputs``, ``weights`` (the
    fixed random weighting of the outputs; None for outputs without gradient)
    and ``grads`` (gradient of sum(weights * outputs) per input, or None), and
    ``params`` (JSON values or NumPy arrays). Metadata is stored as UTF-8 JSON
    in a uint8 array, so ``np.load(..., allow_pickle=False)`` reads it all.
    """
    arrays = {}
    index = []
    for k, case in enumerate(cases):
        entry = {}
        for key in ("inputs", "outputs", "weights", "grads"):
            present = []
            for i, a in enumerate(case[key]):
                if a is not None:
                    arrays[f"c{k}_{key}{i}"] = np.asarray(a)
                present.append(a is not None)
            entry[key] = present
        params = {}
        for name, v in case.get("params", {}).items():
            if isinstance(v, np.ndarray):
                arrays[f"c{k}_param_{name}"] = v
                params[name] = {"__array__": f"c{k}_param_{name}"}
            else:
                params[name] = v
        entry["params"] = params
        index.append(entry)
    blob = json.dumps({"meta": meta, "cases": index}, sort_keys=True).encode()
    arrays["__meta__"] = np.frombuffer(blob, dtype=np.uint8)
    np.savez_compressed(path, **arrays)


def read_bundle(path):
    """Read a bundle written by ``write_bundle`` (never unpickles)."""
    with np.load(path, allow_pickle=False) as f:
        head = json.loads(f["__meta__"].tobytes().decode())
        cases = []
        for k, entry in enumerate(head["cases"]):
            case = {key: [f[f"c{k}_{key}{i}"] if present else None
                          for i, present in enumerate(entry[key])]
                    for key in ("inputs", "outputs", "weights", "grads")}
            case["params"] = {
                name: f[v["__array__"]] if isinstance(v, dict) and "__array__" in v else
                (tuple(v) if isinstance(v, list) else v)
                for name, v in entry["params"].items()}
            cases.append(case)
    return {"meta": head["meta"], "cases": cases}


def projections(a):
    """Two numbers that pin a tensor's values: the sum of squares and the dot
    product with cos(0), cos(1), ... of its flattened float64 values (no
    random numbers, so any implementation can recompute them). Bundles store
    these for large tensors checked tightly in float64."""
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    return np.array([a @ a, a @ np.cos(np.arange(a.size))])
