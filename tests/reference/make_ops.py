"""Write PyTorch reference bundles for every op in tests/op_table.py.

For each op and each of its cases (the same seeded inputs the tests use),
PyTorch computes the outputs and the gradients of sum(w * outputs) for a
fixed random weighting w, in float64. Each op gets one bundle,
tests/reference/ops/<op>.npz, written with tinynet.testing.write_bundle:
plain arrays plus UTF-8 JSON metadata (no pickle).
tests/reference/test_reference_bundles.py checks tinynet against them without
PyTorch installed.

Run after adding or changing ops in the op table (needs torch):

    python tests/reference/make_ops.py --only NAME [NAME ...]
    python tests/reference/make_ops.py              # every op

``--out DIR`` writes elsewhere (default: tests/reference/ops).
"""
import argparse
import pathlib
import platform
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
# the op table is the test suite's shared data in tests/, which is not a package
sys.path.insert(0, str(HERE.parent))

TOLERANCE = {"atol": 1e-9, "rtol": 1e-7}     # float64 on both sides


def bundle_cases(torch, check):
    """One stored case per case of ``check``: inputs, params, PyTorch's
    outputs, the output weights and PyTorch's gradients."""
    from op_table import torch_forward_backward
    cases = []
    for case in check.cases:
        arrays = check.inputs(case)
        outputs, grads, weights = torch_forward_backward(torch, check, arrays, case)
        cases.append({"inputs": arrays, "outputs": outputs, "weights": weights,
                      "grads": grads, "params": dict(case.params), "id": case.id})
    return cases


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE / "ops"))
    parser.add_argument("--only", nargs="+", metavar="OP",
                        help="write only these ops' bundles (names as in the op table)")
    args = parser.parse_args(argv)
    import torch
    from op_table import OPS
    from tinynet.testing import write_bundle

    torch.use_deterministic_algorithms(True)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    unknown = sorted(set(args.only or ()) - {c.name for c in OPS})
    if unknown:
        parser.error(f"not in the op table: {', '.join(unknown)}")
    checks = [c for c in OPS if args.only is None or c.name in args.only]
    for check in checks:
        cases = bundle_cases(torch, check)
        meta = {"op": check.name, "source": "tests/reference/make_ops.py",
                "torch": torch.__version__, "numpy": np.__version__,
                "python": platform.python_version(), "seed": check.seed,
                "dtype": "float64", "tolerance": TOLERANCE,
                "case_ids": [c.pop("id") for c in cases]}
        path = out / f"{check.name}.npz"
        write_bundle(path, meta, cases)
        total += path.stat().st_size
    print(f"wrote {len(checks)} bundles to {out} ({total / 1024:.0f} KiB) with torch "
          f"{torch.__version__}")


if __name__ == "__main__":
    main()
