"""A static check: ops compute with the array module of their inputs (``xp``),
never with NumPy directly, so every op also runs on CuPy arrays.

Inside the ``forward`` / ``backward`` methods of the Functions in
tinynet/ops/, a call ``np.NAME(...)`` is allowed only for names that work on
shapes, dtypes or Python numbers, not on the data arrays."""
import ast
import os

import pytest

OPS = os.path.join(os.path.dirname(__file__), "..", "..", "tinynet", "ops")
ALLOWED = {"dtype", "prod", "argsort", "cumsum", "broadcast_shapes", "promote_types",
           "result_type", "errstate", "isscalar", "float32", "float64", "int64", "iinfo",
           "finfo", "add"}   # np.add.at sits in a branch taken only when xp is numpy


def np_calls(path):
    tree = ast.parse(open(path).read())
    found = []
    for cls in [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]:
        for fn in cls.body:
            if isinstance(fn, ast.FunctionDef) and fn.name in ("forward", "backward"):
                for node in ast.walk(fn):
                    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                            and node.value.id == "np" and node.attr not in ALLOWED):
                        found.append(f"{os.path.basename(path)}:{node.lineno} "
                                     f"{cls.name}.{fn.name} uses np.{node.attr}")
    return found


@pytest.mark.parametrize("name", sorted(f for f in os.listdir(OPS) if f.endswith(".py")))
def test_ops_compute_with_xp_not_numpy(name):
    assert np_calls(os.path.join(OPS, name)) == []


def test_the_check_finds_a_stray_numpy_call(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("class Exp:\n    def forward(self, x):\n        return np.exp(x)\n")
    assert np_calls(str(bad)) == ["bad.py:3 Exp.forward uses np.exp"]
