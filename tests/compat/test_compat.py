"""PyTorch programs run unchanged on tinynet.

Every file in programs/ is an ordinary ``import torch`` program. Each runs
twice in fresh subprocesses, under real PyTorch and under shim.py (which only
renames ``torch*`` modules to ``tinynet*``), from the same initial weights;
the numbers they return step by step must agree (harness.py has the
tolerances). The runs of the selected programs start together, once per
session.
"""
import ast
import os
import subprocess
import sys
import textwrap

import pytest

import harness

PROGRAMS = harness.program_names()


@pytest.fixture(scope="session")
def compat_results(request):
    selected = [item.callspec.params["program"] for item in request.session.items
                if getattr(item, "originalname", None) == "test_program_matches_pytorch"]
    return harness.run_programs(selected or PROGRAMS)


def _with_gaps(names):
    return [pytest.param(n, marks=pytest.mark.xfail(reason=harness.KNOWN_GAPS[n], strict=True))
            if n in harness.KNOWN_GAPS else n for n in names]


@pytest.mark.torch
@pytest.mark.parametrize("program", _with_gaps(PROGRAMS))
def test_program_matches_pytorch(program, compat_results):
    problem = harness.compare(program, compat_results[program])
    assert problem is None, f"{program}: {problem}"


def test_there_are_at_least_15_programs():
    assert len(PROGRAMS) >= 15
    assert set(harness.KNOWN_GAPS) <= set(PROGRAMS)


@pytest.mark.parametrize("program", PROGRAMS)
def test_program_is_plain_pytorch(program):
    """Imports only torch and the standard library/NumPy; defines build and train."""
    with open(os.path.join(harness.PROGRAMS_DIR, program + ".py")) as f:
        tree = ast.parse(f.read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert "torch" in imported
    assert imported <= {"torch", "numpy", "math", "string", "copy", "os", "tempfile"}, imported
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert {"build", "train"} <= functions
    assert "Randomness:" in ast.get_docstring(tree)


def _run_python(code):
    env = harness._env()
    env["PYTHONPATH"] = os.pathsep.join([harness.HERE, env["PYTHONPATH"]])
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=120)


def test_shim_only_renames_modules():
    proc = _run_python("""
        import sys
        import shim
        shim.install()
        import torch
        import torch.nn.functional as F
        from torch import optim
        import tinynet
        assert torch is tinynet and F is tinynet.nn.functional and optim is tinynet.optim
        assert torch.__spec__.name == "tinynet"     # tinynet's own imports unaffected
        try:
            import torch.no_such_module
        except ModuleNotFoundError as e:
            assert "tinynet.no_such_module" in str(e), e
        else:
            raise AssertionError("a missing module imported")
        assert not any(m == "torch._C" or m.startswith("torch._") for m in sys.modules)
        print("ok")
    """)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_shim_refuses_when_real_torch_is_loaded():
    proc = _run_python("""
        import torch
        import shim
        try:
            shim.install()
        except RuntimeError as e:
            assert "already imported" in str(e)
            print("ok")
    """)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
