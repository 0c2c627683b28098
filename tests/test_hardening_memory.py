"""Memory stays flat while training: a few hundred steps of the seed CNN and
of the char-LSTM under tracemalloc keep the traced memory and its per-window
peak within a few percent after warm-up, and no graph or array of a step
outlives it (weakrefs die by reference counting alone, with the cycle
collector off). benchmarks/memory_soak.py runs the same trainers for 2 000
steps and prints the figures."""
import gc
import os
import sys
import tracemalloc
import weakref

import pytest

from tinynet.autograd import Function, _arrays_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "benchmarks"))
import memory_soak  # noqa: E402

TRAINERS = {
    "cnn": lambda: memory_soak.cnn_trainer(batch_size=16),
    "lstm": lambda: memory_soak.lstm_trainer(batch_size=4, seq_len=16, hidden_size=32),
}
WARMUP, WINDOWS, WINDOW = 20, 3, 30
# interpreter-level caches (interned names, dtype strings) settle within a
# few KiB; allow that much on top of the relative bound
SLACK = 64 * 1024


def _graph(loss):
    """Every Function behind ``loss`` and every array it saved for backward."""
    fns, arrays, stack, seen = [], [], [loss.grad_fn], set()
    while stack:
        fn = stack.pop()
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        fns.append(fn)
        arrays.extend(_arrays_of(fn))
        stack.extend(x.grad_fn for x in fn.__dict__.get("inputs") or ())
    return fns, arrays


@pytest.mark.parametrize("name", list(TRAINERS))
def test_traced_memory_and_its_peak_stay_flat_after_warmup(name):
    gc.collect()
    tracemalloc.start()
    try:
        step = TRAINERS[name]()
        for _ in range(WARMUP):
            step()
        tracemalloc.reset_peak()
        nows, peaks = [], []
        for _ in range(WINDOWS):
            for _ in range(WINDOW):
                step()
            now, peak = tracemalloc.get_traced_memory()
            nows.append(now)
            peaks.append(peak)
            tracemalloc.reset_peak()
    finally:
        tracemalloc.stop()
    # after the warm-up (optimizer state allocated, caches filled) nothing grows
    assert max(nows) <= nows[0] * 1.03 + SLACK, (name, nows)
    assert max(peaks) <= peaks[0] * 1.03 + SLACK, (name, peaks)
    # and the peak is the working set of one step, not an accumulation
    assert min(peaks) > 0 and max(nows) <= max(peaks)


def _outliving(step, keep=None):
    """Graph objects (loss, Functions, saved arrays other than the
    parameters) of two steps still alive two steps later, with the cycle
    collector off. ``keep(loss)`` lets a test leak on purpose."""
    for _ in range(3):
        step()
    refs = []

    def keep_weakrefs(loss):
        fns, arrays = _graph(loss)
        assert len(fns) > 10 and arrays
        refs.extend(weakref.ref(o) for o in [loss, *fns, *arrays])
        if keep is not None:
            keep(loss)

    gc.collect()
    gc.disable()                  # freed by reference counting, not by the collector
    try:
        for _ in range(2):
            step(inspect=keep_weakrefs)
        for _ in range(2):        # the LSTM's detached state lives one step more
            step()
        params = {id(p.array) for p in step.model.parameters()}
        return [o for o in (r() for r in refs) if o is not None and id(o) not in params], refs
    finally:
        gc.enable()


def _functions_alive():
    # type(), not isinstance(): gc also lists weakref proxies other tests left,
    # and isinstance() on a dead one raises ReferenceError
    gc.collect()
    return sum(1 for o in gc.get_objects() if issubclass(type(o), Function))


@pytest.mark.parametrize("name", list(TRAINERS))
def test_no_graph_or_array_outlives_its_step(name):
    before = _functions_alive()      # graphs other tests may still hold
    alive, refs = _outliving(TRAINERS[name]())
    assert not alive, f"{name}: {len(alive)} of {len(refs)} graph objects outlived their " \
                      f"step, e.g. {type(alive[0]).__name__}"
    assert _functions_alive() <= before, f"{name}: autograd Functions still alive after the steps"


def test_a_step_that_keeps_its_loss_is_caught():
    """The check itself sees a kept loss. Backward has already released what
    the graph saved, so holding a loss holds only it and its last Function."""
    kept = []
    alive, refs = _outliving(TRAINERS["lstm"](), keep=kept.append)
    assert {id(o) for o in alive} == {id(o) for loss in kept for o in (loss, loss.grad_fn)}


def test_a_100_000_op_chain_backpropagates_and_frees_its_graph():
    """Deep graphs: backward is iterative (no recursion limit) and, once it has
    run and the output is gone, every node of the chain is freed by reference
    counting (the cycle collector stays off)."""
    import tinynet as tn
    x = tn.tensor([1.0], dtype=tn.float64, requires_grad=True)
    gc.collect()
    gc.disable()
    try:
        y, refs = x, []
        for i in range(100_000):
            y = y * 1.0 if i % 2 else y + 0.0
            if i % 10_000 == 0:
                refs.append(weakref.ref(y.grad_fn))
        y.sum().backward()
        assert x.grad.item() == 1.0
        del y
        assert all(r() is None for r in refs)
    finally:
        gc.enable()
