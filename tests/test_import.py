"""`import tinynet` stays light: it never imports torch (a test and benchmark
reference only) or cupy (optional, looked up when a GPU is asked for)."""
import subprocess
import sys


def test_import_tinynet_does_not_import_torch_or_cupy():
    code = ("import sys, tinynet, tinynet.nn, tinynet.optim, tinynet.data; "
            "print(sorted(m for m in ('torch', 'cupy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
