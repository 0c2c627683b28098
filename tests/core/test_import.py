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


def test_import_tinynet_is_free_of_process_side_effects():
    # Numba is imported only when a kernel is first built (it is most of the
    # import time otherwise), and the process is untouched: the garbage
    # collector, the warning filters (NumPy's own, added by `import numpy`,
    # are the baseline) and the SIGINT handler; tests/core/test_process_state.py
    # checks this after real work too
    code = ("import gc, signal, sys, warnings; import numpy\n"
            "state = lambda: (gc.get_threshold(), list(warnings.filters), "
            "signal.getsignal(signal.SIGINT))\n"
            "before = state(); import tinynet, tinynet.nn, tinynet.optim, tinynet.data\n"
            "print('numba' in sys.modules, state() == before, "
            "callable(tinynet.tune_process), callable(tinynet.empty_cache))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True", "True", "True"]
