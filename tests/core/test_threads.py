"""Threads: any number of Python threads may train and infer at once, with
no abort, no deadlock, and the bits each would get alone.

Each check runs in a fresh interpreter (a Numba abort would take pytest
down with it): the work is done once alone on the main thread, then by
several threads at once, several times over, and every output and gradient
must be bit-identical to the lone run's."""
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import tinynet as tn
from tinynet import kernels

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The work: a few seed-CNN training steps (convolution, pooling, linear,
# RMSprop), max_pool2d forward and backward, an LSTM forward and backward
# big enough that BLAS runs its products on several threads (so a thread
# count changed behind its back would show in the bits), and a checkpoint
# written and read back. Inputs and initial weights are made up front on
# the main thread; each run starts from them.
WORK = textwrap.dedent("""
    import os, sys, tempfile, threading
    import numpy as np
    import tinynet as tn
    import tinynet.nn as nn
    import tinynet.nn.functional as F
    from tinynet import models, optim

    THREADS, ROUNDS = int(sys.argv[1]), int(sys.argv[2])
    rng = np.random.default_rng(0)
    tn.manual_seed(0)
    cnn_init = {k: v.numpy().copy() for k, v in models.cnn().state_dict().items()}
    cnn_x = rng.standard_normal((32, 1, 8, 8)).astype(np.float32)
    cnn_y = rng.integers(0, 10, 32)
    pool_x = rng.standard_normal((16, 8, 14, 14)).astype(np.float32)
    pool_gy = rng.standard_normal((16, 8, 7, 7)).astype(np.float32)
    lstm_init = {k: v.numpy().copy() for k, v in nn.LSTM(65, 128).state_dict().items()}
    lstm_x = rng.standard_normal((8, 32, 65)).astype(np.float32)
    tmp = tempfile.mkdtemp()

    def cnn_steps():
        model = models.cnn()
        model.load_state_dict(cnn_init)
        opt = optim.RMSprop(model.parameters(), lr=1e-3)
        out = {}
        for step in range(3):
            loss = F.cross_entropy(model(tn.tensor(cnn_x)), tn.tensor(cnn_y))
            opt.zero_grad()
            loss.backward()
            opt.step()
            out[f"loss{step}"] = loss.numpy()
        out.update({k: v.numpy() for k, v in model.state_dict().items()})
        return out

    def pooling():
        x = tn.tensor(pool_x, requires_grad=True)
        y = F.max_pool2d(x, 2)
        y.backward(tn.tensor(pool_gy))
        a = F.avg_pool2d(tn.tensor(pool_x), 3, stride=2, padding=1)
        return {"y": y.numpy(), "gx": x.grad.numpy(), "avg": a.numpy()}

    def lstm():
        m = nn.LSTM(65, 128)
        m.load_state_dict(lstm_init)
        out, (h, c) = m(tn.tensor(lstm_x))
        (out.sum() + c.sum()).backward()
        return {"out": out.numpy(), "h": h.numpy(),
                **{k: p.grad.numpy() for k, p in m.named_parameters()}}

    def save_load(tag):
        path = os.path.join(tmp, f"{tag}.npz")
        state = {"w": tn.tensor(pool_x), "nested": [tn.tensor(cnn_y), {"s": "x", "i": 3}]}
        tn.save(state, path)
        back = tn.load(path)
        return {"w": back["w"].numpy(), "y": back["nested"][0].numpy(),
                "meta": np.array([back["nested"][1] == {"s": "x", "i": 3}])}

    JOBS = {"cnn": cnn_steps, "pool": pooling, "lstm": lstm}
    alone = {name: job() for name, job in JOBS.items()}
    alone["save"] = save_load("alone")

    def same(a, b):
        return a.keys() == b.keys() and all(
            a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)

    failures = []

    def worker(i):
        try:
            names = list(JOBS) + ["save"]
            for r in range(ROUNDS):
                k = (i + r) % len(names)             # every thread in another order
                for name in names[k:] + names[:k]:
                    got = save_load(f"t{i}r{r}") if name == "save" else JOBS[name]()
                    if not same(got, alone[name]):
                        failures.append(f"thread {i} round {r}: {name} differs")
        except BaseException as e:
            failures.append(f"thread {i}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    print("\\n".join(failures) or "same bits")
    sys.exit(1 if failures else 0)
""")


def run_script(code, *args, env=None, timeout=900):
    environ = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=environ, cwd=REPO)


@pytest.mark.parametrize("env", [
    {},                                               # the default kernels
    {"TINYNET_CONV_THREADS": "2"},                    # batch-parallel conv on 2 threads
    {"TINYNET_CONV_IMPL": "cpu_v1", "TINYNET_LSTM_IMPL": "cpu_v1"},   # the split kernels
], ids=["default", "conv-threads-2", "cpu_v1"])
def test_threads_train_and_infer_at_once_with_the_bits_they_get_alone(env):
    out = run_script(WORK, 4, 2, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.stdout.strip().endswith("same bits")


def test_a_tuned_process_keeps_convolutions_bit_identical_across_threads():
    # After tune_process() the convolution sets BLAS to one thread while it
    # runs (a product another thread starts then may differ in its last
    # bits, as documented), so only convolutions run here: each must still
    # match its lone run, and BLAS's count must come back.
    code = textwrap.dedent("""
        import sys, threading
        import numpy as np
        import tinynet as tn
        import tinynet.nn.functional as F
        from tinynet.kernels import blas_threads
        tn.tune_process(malloc=False, gc=False)
        before = blas_threads.actual()
        rng = np.random.default_rng(0)
        x = rng.standard_normal((64, 16, 12, 12)).astype(np.float32)
        w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
        def conv():
            xs, ws = tn.tensor(x, requires_grad=True), tn.tensor(w, requires_grad=True)
            y = F.conv2d(xs, ws, padding=1)
            (y * y).sum().backward()
            return [y.numpy(), xs.grad.numpy(), ws.grad.numpy()]
        alone = conv()
        bad = []
        def worker():
            for _ in range(10):
                if not all(np.array_equal(a, b) for a, b in zip(conv(), alone)):
                    bad.append(1)
        ts = [threading.Thread(target=worker) for _ in range(4)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        assert blas_threads.actual() == before, (blas_threads.actual(), before)
        print("differ" if bad else "same bits")
    """)
    out = run_script(code)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "same bits"


def test_a_programs_own_numba_threads_and_tinynets_run_side_by_side():
    # Numba's workqueue layer aborts the process when two threads enter it at
    # once; tinynet never enters it, so the program's own parallel Numba code
    # may run while other threads pool and convolve.
    code = textwrap.dedent("""
        import threading
        import numpy as np
        from numba import njit, prange
        import tinynet as tn
        import tinynet.nn.functional as F
        from tinynet import kernels

        @njit(parallel=True)
        def mine(a):
            s = 0.0
            for i in prange(a.shape[0]):
                s += a[i] * a[i]
            return s

        a = np.ones(1 << 20)
        x = tn.tensor(np.random.default_rng(0).standard_normal((32, 8, 16, 16)).astype(np.float32))
        w = tn.tensor(np.ones((8, 8, 3, 3), np.float32))
        mine(a)
        def user():
            for _ in range(200):
                mine(a)
        def pools(impl):
            with kernels.use(conv=impl):
                for _ in range(50):
                    F.conv2d(F.max_pool2d(x, 2), w)
        ts = [threading.Thread(target=user)] + [
            threading.Thread(target=pools, args=(i,)) for i in ("cpu_v1", "cpu_v3")]
        [t.start() for t in ts]
        [t.join() for t in ts]
        print("ok")
    """)
    out = run_script(code, env={"NUMBA_THREADING_LAYER": "workqueue"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok"


def test_kernel_choice_is_per_thread():
    x = np.zeros((1, 1, 4, 4), np.float32)
    from tinynet.kernels import pool2d
    default = pool2d.select(x).name
    seen, ready, done = {}, threading.Event(), threading.Event()

    def other():
        ready.wait()
        seen["other"] = pool2d.select(x).name   # while the main thread forces 'ref'
        done.set()

    t = threading.Thread(target=other)
    t.start()
    with kernels.use(pool="ref"):
        assert pool2d.select(x).name == "ref"
        ready.set()
        done.wait(30)
    t.join()
    assert seen["other"] == default
    assert pool2d.select(x).name == default


def test_set_default_reaches_threads_without_a_choice_of_their_own():
    x = np.zeros((1, 1, 4, 4), np.float32)
    from tinynet.kernels import pool2d
    seen = {}
    try:
        kernels.set_default(pool="ref")
        t = threading.Thread(target=lambda: seen.setdefault("t", pool2d.select(x).name))
        t.start()
        t.join()
        with kernels.use(pool="cpu_v1"):                # a thread's own choice wins
            assert pool2d.select(x).name == "cpu_v1"
        assert seen["t"] == "ref"
        with pytest.raises(ValueError, match="unknown pool implementation"):
            kernels.set_default(pool="nope")
    finally:
        kernels.set_default(pool=None)
    assert pool2d.select(x).name != "ref" or not pool2d.IMPLS["cpu_v1"].available()


def test_fit_runs_in_a_thread_and_installs_no_signal_handler(tmp_path):
    import signal

    from tinynet import train
    config = {"model": "mlp", "data": "digits", "seed": 0, "device": "cpu", "epochs": 1,
              "batch_size": 64, "optimizer": "sgd", "lr": 0.05, "quiet": True,
              "max_steps": 3, "distributed": False}
    before = signal.getsignal(signal.SIGINT)
    results, errors = [], []

    def new_run(name):
        run = train.Run(str(tmp_path / name))
        run.write_config(config)
        return run

    def run(i):
        try:
            results.append(train.fit(dict(config), new_run(f"r{i}")))
        except BaseException as e:                       # noqa: B902
            errors.append(e)

    ts = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
    assert [r["stopped_at_step"] for r in results] == [3, 3]
    assert signal.getsignal(signal.SIGINT) is before
    # on the main thread it installs one for the run and puts the old one back
    assert train.fit(dict(config), new_run("main"))["stopped_at_step"] == 3
    assert signal.getsignal(signal.SIGINT) is before


def test_parallel_for_runs_every_part_once_and_stops_after_an_error():
    from tinynet.kernels import threads as kt
    hits = np.zeros(1000, np.int64)

    def kernel(lo, hi):
        hits[lo:hi] += 1

    kt.parallel_for(kernel, 1000)
    assert (hits == 1).all()

    def failing(lo, hi):
        raise RuntimeError("planted")

    with pytest.raises(RuntimeError, match="planted"):
        kt.parallel_for(failing, 1000)
    # the pool still works afterwards, and from many threads at once
    ts = [threading.Thread(target=kt.parallel_for, args=(kernel, 1000)) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert (hits == 9).all()


def test_tinynet_num_threads_is_validated(monkeypatch):
    from tinynet.kernels import threads as kt
    monkeypatch.setenv("TINYNET_NUM_THREADS", "3")
    assert kt.count() == 3
    for bad in ("0", "x", "-2"):
        monkeypatch.setenv("TINYNET_NUM_THREADS", bad)
        with pytest.raises(ValueError, match="TINYNET_NUM_THREADS must be a positive integer"):
            kt.count()


def test_the_bits_do_not_depend_on_the_kernel_thread_count():
    code = textwrap.dedent("""
        import numpy as np
        import tinynet as tn
        import tinynet.nn.functional as F
        from tinynet import kernels
        rng = np.random.default_rng(0)
        x = tn.tensor(rng.standard_normal((8, 6, 11, 11)).astype(np.float32), requires_grad=True)
        w = tn.tensor(rng.standard_normal((5, 6, 3, 3)).astype(np.float32), requires_grad=True)
        outs = []
        for conv in ("cpu_v1", "cpu_v3"):
            with kernels.use(conv=conv):
                y = F.max_pool2d(F.conv2d(x, w, padding=1), 2, ceil_mode=True)
                (y * y).sum().backward()
                outs += [y.numpy(), x.grad.numpy(), w.grad.numpy()]
                x.grad = w.grad = None
        np.save("/dev/stdout", np.concatenate([o.ravel() for o in outs]))
    """)
    runs = []
    for n in ("1", "2", "3"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=REPO,
                             env={**os.environ, "TINYNET_NUM_THREADS": n,
                                  "TINYNET_CONV_THREADS": n}, timeout=300)
        assert out.returncode == 0, out.stderr.decode()[-2000:]
        runs.append(out.stdout)
    assert runs[0] == runs[1] == runs[2]
    assert tn is not None
