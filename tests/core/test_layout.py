"""The package's layout rules, checked so that they hold as code moves:

- no module imports a private (``_name``) name from another module;
- ``import tinynet as tn`` exposes an explicit ``__all__``, and no op-family
  module (``tn.shape``, ``tn.reduce``) leaks into it;
- the modules import each other in one direction: ``tensor.py`` imports no
  op and no autograd module, autograd imports no op;
- every ops family declares ``__all__``;
- Function classes carry a ``Function`` suffix only where the bare name is an
  ``nn`` module's (``nn.Tanh`` the layer, ``TanhFunction`` the op).
"""
import ast
import pathlib
import types

import pytest

import tinynet as tn

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = sorted(p for d in ("tinynet", "kernels") for p in (ROOT / d).rglob("*.py"))


def _module_name(path):
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[0] == "kernels":
        parts = ["tinynet"] + parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path):
    """(line, module, name) for every ``from tinynet... import name``."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and \
                node.module.startswith("tinynet"):
            for alias in node.names:
                yield node.lineno, node.module, alias.name


def test_sources_found():
    assert len(SOURCES) > 50


def test_no_module_imports_a_private_name_of_another():
    bad = []
    for path in SOURCES:
        me = _module_name(path)
        for line, module, name in _imports(path):
            if name.startswith("_") and not name.startswith("__") and module != me:
                bad.append(f"{path.relative_to(ROOT)}:{line}: from {module} import {name}")
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


def _top_level_imports(module_path):
    tree = ast.parse(module_path.read_text())
    found = set()
    for node in tree.body:                      # module level only
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


@pytest.mark.parametrize("module, forbidden", [
    ("tinynet/tensor.py", ("tinynet.ops", "tinynet.autograd", "tinynet.random", "tinynet.nn")),
    ("tinynet/autograd/grad_mode.py", ("tinynet.ops", "tinynet.tensor", "tinynet.nn")),
    ("tinynet/autograd/function.py", ("tinynet.ops", "tinynet.nn")),
    ("tinynet/autograd/engine.py", ("tinynet.ops", "tinynet.nn")),
    ("tinynet/autograd/debug.py", ("tinynet.ops", "tinynet.nn")),
])
def test_imports_go_one_way(module, forbidden):
    imported = _top_level_imports(ROOT / module)
    wrong = sorted(m for m in imported if m.startswith(forbidden))
    assert not wrong, f"{module} imports {wrong}"


def test_no_function_level_imports_in_the_core():
    """The core modules import at the top, not inside functions."""
    for module in ("tinynet/tensor.py", "tinynet/autograd/function.py",
                   "tinynet/autograd/engine.py", "tinynet/autograd/debug.py",
                   "tinynet/tensor_methods.py", "tinynet/random.py"):
        tree = ast.parse((ROOT / module).read_text())
        inner = [n.lineno for f in ast.walk(tree)
                 if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                 for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))
                 and "cupy" not in ast.unparse(n)]
        assert not inner, f"{module} imports inside functions at lines {inner}"


def test_explicit_all():
    public = {k for k, v in vars(tn).items()
              if not k.startswith("_") and not isinstance(v, types.ModuleType)}
    missing = public - set(tn.__all__)
    assert not missing, f"public names of tinynet missing from __all__: {sorted(missing)}"
    absent = [k for k in tn.__all__ if not hasattr(tn, k)]
    assert not absent, f"__all__ names that tinynet does not have: {absent}"
    assert len(tn.__all__) == len(set(tn.__all__))


def test_no_op_family_module_leaks_into_tn():
    for name in ("shape", "reduce", "elementwise", "sorting", "indexing", "nn_ops"):
        assert not isinstance(getattr(tn, name, None), types.ModuleType), name
    assert tn.linalg.__name__ == "tinynet.linalg"        # PyTorch's torch.linalg


def test_every_ops_family_declares_all():
    from tinynet import ops
    families = [p for p in (ROOT / "tinynet" / "ops").glob("*.py")
                if not p.name.startswith("_")]
    for p in families:
        tree = ast.parse(p.read_text())
        names = [t.id for n in tree.body if isinstance(n, ast.Assign)
                 for t in n.targets if isinstance(t, ast.Name)]
        assert "__all__" in names, f"{p.name} has no __all__"
    for name in ops.__all__:
        assert callable(getattr(ops, name)), name


def test_function_suffix_rule():
    classes = {k for k in dir(tn.nn) if isinstance(getattr(tn.nn, k), type)}
    wrong = []
    for p in (ROOT / "tinynet" / "ops").glob("*.py"):
        for node in ast.parse(p.read_text()).body:
            if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
                continue
            bases = {ast.unparse(b) for b in node.bases}
            if not any(b.endswith("Function") for b in bases) or \
                    node.name.endswith("BinaryFunction"):
                continue
            bare = node.name[:-len("Function")] if node.name.endswith("Function") else None
            if bare is not None and bare not in classes:
                wrong.append(f"{p.name}: {node.name} (no nn.{bare}: drop the suffix)")
            if bare is None and node.name in classes:
                wrong.append(f"{p.name}: {node.name} (nn.{node.name} exists: add the suffix)")
    assert not wrong, "\n".join(wrong)


def test_pyproject_lists_every_package():
    """A non-editable install ships only the packages pyproject.toml names."""
    import tomllib
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "tinynet").rglob("__init__.py")}
    found |= {"tinynet.kernels"}
    assert found <= listed, f"packages missing from pyproject.toml: {sorted(found - listed)}"
    assert config["package-dir"]["tinynet.kernels"] == "kernels"
