"""`import tinynet` and using it leave the process as they found it: the
garbage collector's thresholds, malloc's settings, Numba's threading layer
and configuration, the warning filters, the signal handlers, BLAS's thread
count, the environment. Process tuning happens only when the program asks
(`tinynet.tune_process()`, which the `tinynet` command does).

Every check runs in a fresh interpreter: the state of this pytest process is
not a clean slate."""
import os
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Records every attribute looked up on a ctypes library (mallopt among them)
# and snapshots the process-wide state, before tinynet is imported.
PRELUDE = textwrap.dedent("""
    import ctypes, gc, json, os, signal, sys, threading, warnings
    looked_up = []
    class Recording(ctypes.CDLL):
        def __getattr__(self, name):
            looked_up.append(name)
            return super().__getattr__(name)
        def __getitem__(self, name):
            looked_up.append(name)
            return super().__getitem__(name)
    ctypes.CDLL = Recording
    import numpy as np
    import numba

    def blas_threads():
        from tinynet.kernels import blas_threads as bt   # reads, never sets
        return bt.actual()

    def snapshot():
        handlers = {}
        for s in signal.valid_signals():
            try:
                handlers[int(s)] = signal.getsignal(s)
            except (OSError, ValueError):
                pass
        return {"gc": gc.get_threshold(), "gc_enabled": gc.isenabled(),
                "warnings": list(warnings.filters), "showwarning": warnings.showwarning,
                "signals": handlers, "env": dict(os.environ),
                "numba_layer": numba.config.THREADING_LAYER,
                "numba_threads": numba.config.NUMBA_NUM_THREADS,
                "numba_config": {k: getattr(numba.config, k) for k in dir(numba.config)
                                 if k.isupper()},
                "np_err": np.geterr(), "np_print": np.get_printoptions(),
                "recursion": sys.getrecursionlimit(), "switch": sys.getswitchinterval(),
                "excepthook": sys.excepthook, "thread_excepthook": threading.excepthook}

    def changed(a, b):
        return sorted(k for k in a if a[k] != b[k])
""")

USE_TINYNET = textwrap.dedent("""
    import tempfile
    import tinynet as tn
    import tinynet.nn as nn
    import tinynet.nn.functional as F
    from tinynet import kernels, models, optim, train
    before_blas = blas_threads()

    # a seed-CNN training step (conv, pool, linear, RMSprop) with each CPU conv version
    tn.manual_seed(0)
    x = tn.randn(64, 1, 8, 8)
    y = tn.randint(0, 10, (64,))
    for impl in ("ref", "cpu_v1", "cpu_v3"):
        with kernels.use(conv=impl):
            model = models.cnn()
            opt = optim.RMSprop(model.parameters(), lr=1e-3)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    # pooling, recurrent layers (the Numba cells too), a checkpoint, fit()
    F.avg_pool2d(F.max_pool2d(tn.randn(8, 4, 12, 12), 2), 2).sum()
    for impl in ("ref", "cpu_v1", "cpu_v2"):
        with kernels.use(lstm=impl, gru=impl):
            out, _ = nn.LSTM(8, 16)(tn.randn(5, 3, 8))
            out2, _ = nn.GRU(8, 16)(tn.randn(5, 3, 8))
            (out.sum() + out2.sum()).backward()
    d = tempfile.mkdtemp()
    tn.save({"w": x}, os.path.join(d, "ck.npz"))
    tn.load(os.path.join(d, "ck.npz"))
    config = {"model": "cnn", "data": "digits", "seed": 0, "device": "cpu", "epochs": 1,
              "batch_size": 32, "optimizer": "rmsprop", "lr": 1e-3, "quiet": True,
              "max_steps": 2, "distributed": False}
    run = train.Run(os.path.join(d, "run"))
    run.write_config(config)
    train.fit(config, run)
    tn.empty_cache()
""")


def run(code, env=None):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=600, env={**os.environ, **(env or {})})
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


def test_importing_and_using_tinynet_changes_no_process_wide_setting():
    code = PRELUDE + "before = snapshot()\n" + USE_TINYNET + textwrap.dedent("""
        after = snapshot()
        problems = changed(before, after)
        if "mallopt" in looked_up:
            problems.append("mallopt called")
        if blas_threads() != before_blas:
            problems.append(f"BLAS threads {before_blas} -> {blas_threads()}")
        try:                             # tinynet never started Numba's thread pool
            problems.append(f"Numba threading layer {numba.threading_layer()} started")
        except ValueError:
            pass
        print(json.dumps(problems))
    """)
    assert run(code) == "[]"


def test_the_checks_see_what_tune_process_changes():
    # the same snapshot after tune_process(): proof that the checks above can fail
    code = PRELUDE + textwrap.dedent("""
        import tinynet as tn
        before = snapshot()
        applied = tn.tune_process()
        problems = changed(before, snapshot())
        print(json.dumps([applied, problems, "mallopt" in looked_up]))
    """)
    applied, problems, mallopt = __import__("json").loads(run(code))
    assert applied["gc"] and problems == ["gc"]
    if sys.platform.startswith("linux") and applied["malloc"]:
        assert mallopt


def test_a_program_that_chose_its_numba_threading_layer_keeps_it():
    code = PRELUDE + "before = snapshot()\n" + USE_TINYNET + textwrap.dedent("""
        assert numba.config.THREADING_LAYER == "omp", numba.config.THREADING_LAYER
        print(json.dumps(changed(before, snapshot())))
    """)
    assert run(code, env={"NUMBA_THREADING_LAYER": "omp"}) == "[]"


def test_tune_process_is_what_the_command_uses_and_can_be_declined():
    code = textwrap.dedent("""
        import gc, json, sys
        from unittest import mock
        import tinynet
        from tinynet import cli
        with mock.patch.object(sys, "argv", ["tinynet", "info"]):
            cli.main()                              # as the command: tuned
        tuned = gc.get_threshold()[0]
        print(json.dumps([tuned]))
    """)
    assert __import__("json").loads(run(code)) == [10000]
    assert __import__("json").loads(run(code, env={"TINYNET_GC_TUNING": "0"})) == [700]
    # called from other code with its own arguments, main() leaves the process alone
    code = "import gc; from tinynet import cli; cli.main(['info']); print(gc.get_threshold()[0])"
    assert run(code) == "700"


def test_blas_tuning_switches_only_during_a_convolution():
    code = textwrap.dedent("""
        import numpy as np
        import tinynet as tn
        import tinynet.nn.functional as F
        from tinynet.kernels import blas_threads, conv2d
        before = blas_threads.actual()
        x = tn.randn(64, 16, 12, 12)
        w = tn.randn(16, 16, 3, 3)
        untuned = conv2d.conv_threads()
        applied = tn.tune_process(malloc=False, gc=False)
        seen = []
        real = conv2d._kernels_v3()
        def spy(*a):
            seen.append(blas_threads.actual())
            return real[0](*a)
        conv2d._v3 = (spy,) + real[1:]
        F.conv2d(x, w)
        import json
        print(json.dumps([before, untuned, conv2d.conv_threads(), applied["blas"],
                          sorted(set(seen)), blas_threads.actual()]))
    """)
    before, untuned, tuned, applied, seen, after = __import__("json").loads(run(code))
    if before is None:
        return                          # not OpenBLAS: nothing to switch
    assert applied and after == before
    if before > 1:
        assert untuned == 1 and tuned > 1 and seen == [1]
