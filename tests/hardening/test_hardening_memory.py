"""Memory stays flat while training: a few hundred steps of the seed CNN and
of the char-LSTM under tracemalloc keep the traced memory and its per-window
peak within a few percent after warm-up, and no graph or array of a step
outlives it (weakrefs die by reference counting alone, with the cycle
collector off). benchmarks/memory_soak.py runs the same trainers for 2 000
steps and prints the figures.

And memory stays bounded on hostile input: tn.load refuses 20 crafted
checkpoint files of under 1 MiB within 64 MiB of peak RSS."""
import gc
import io
import json
import os
import pickle
import re
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import warnings
import weakref
import zipfile

import numpy as np
import pytest

from tinynet import serialization
from tinynet.autograd import Function, saved_arrays

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "benchmarks"))
import memory_soak  # noqa: E402

TRAINERS = {
    "cnn": lambda: memory_soak.cnn_trainer(batch_size=16),
    "lstm": lambda: memory_soak.lstm_trainer(batch_size=4, seq_len=16, hidden_size=32),
}
WINDOWS, WINDOW = 3, 30
# Steps before the windows: the tiny LSTM's traced memory rises for about a
# thousand steps before it is flat (the figures: docs/reliability.md, "Flat
# memory"); a leak keeps growing after that.
# The CNN's warm-up runs past its first epoch (84 batches of 16 digits), so
# that the loader's first new iterator is in it too.
WARMUP = {"cnn": 120, "lstm": 1200}
# a window's resident memory: the least of its last few steps, so that an
# object freed a moment later (by another thread, or by the collector) does
# not count; a leak raises every one of them
SETTLE = 5
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
        arrays.extend(saved_arrays(fn))
        stack.extend(x.grad_fn for x in fn.__dict__.get("inputs") or ())
    return fns, arrays


@pytest.mark.parametrize("name", list(TRAINERS))
def test_traced_memory_and_its_peak_stay_flat_after_warmup(name):
    gc.collect()
    tracemalloc.start()
    try:
        step = TRAINERS[name]()
        for _ in range(WARMUP[name]):
            step()
        tracemalloc.reset_peak()
        nows, peaks = [], []
        for _ in range(WINDOWS):
            settled = []
            for k in range(WINDOW):
                step()
                if k >= WINDOW - SETTLE:
                    settled.append(tracemalloc.get_traced_memory()[0])
            nows.append(min(settled))
            peaks.append(tracemalloc.get_traced_memory()[1])
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


# ---------------------------------------------------------------- loading hostile files
# Files under 1 MiB each, crafted to make tn.load allocate: huge or deep
# headers, many values or entries, lying shapes and sizes, compression bombs.
# Each must be refused with a CheckpointError naming the file and the
# problem, and loading all of them must raise the process's peak RSS by at
# most LOAD_BUDGET.
LOAD_BUDGET = 64 << 20


def _npy(arr):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _npy_raw(descr, shape, data=b""):
    """A .npy header declaring ``descr`` and ``shape``, then ``data`` (which may disagree)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue() + data


def _header_entry(text):
    return _npy(np.frombuffer(text, np.uint8))


def _header(root):
    return _header_entry(json.dumps({"format": serialization.FORMAT,
                                     "version": serialization.VERSION, "root": root}).encode())


def _raw_header(root_text, version=b', "version": 1'):
    return _header_entry(b'{"format": "' + serialization.FORMAT.encode() + b'"' + version
                         + b', "root": ' + root_text + b"}")


def _zip(path, entries, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in entries:
            z.writestr(name, data)


def _zip_streamed(path, name, header, chunk, count, compression=zipfile.ZIP_DEFLATED,
                  others=()):
    """An entry of ``header`` then ``count`` times ``chunk``, written without
    holding it whole."""
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for other, data in others:
            z.writestr(other, data)
        with z.open(name, "w", force_zip64=True) as f:
            f.write(header)
            for _ in range(count):
                f.write(chunk)


_CENTRAL_FIELDS = {"flags": (8, "<H"), "compress_size": (20, "<I"), "file_size": (24, "<I"),
                   "header_offset": (42, "<I")}


def _patch_central(path, name, **fields):
    """Rewrite fields of ``name``'s record in the zip's central directory."""
    data = bytearray(path.read_bytes())
    pos = 0
    while True:
        pos = data.index(b"PK\x01\x02", pos)
        (length,) = struct.unpack_from("<H", data, pos + 28)
        if data[pos + 46:pos + 46 + length] == name.encode():
            break
        pos += 4
    for field, value in fields.items():
        offset, fmt = _CENTRAL_FIELDS[field]
        struct.pack_into(fmt, data, pos + offset, value)
    path.write_bytes(bytes(data))


_ARRAY = {"t": "ndarray", "key": "a0", "dtype": "<f8", "shape": [4], "device": "cpu"}
_HEADER_NAME = serialization.HEADER_KEY + ".npy"


def _hostile_files(folder):
    """name -> (path, the error it must raise); every file is under 1 MiB."""
    rng = np.random.default_rng(0)
    files = {}

    def add(name, pattern):
        path = folder / f"{name}.tn"
        files[name] = (path, pattern)
        return path

    # headers: claimed size, real size, values, depth, balance
    _zip(add("header_npy_lies", r"'__tinynet__' declares shape \(2147483648,\) uint8"),
         [(_HEADER_NAME, _npy_raw("|u1", (1 << 31,), b"{}" * 50))])
    blocks = [b'"' + rng.integers(97, 123, 80, dtype=np.uint8).tobytes() + b" " * 940 + b'",'
              for _ in range(6 * 1024)]                  # 6 MiB, deflated about 20 times
    _zip(add("header_over_cap", r"its header is \d+ bytes; tn.load reads at most 4194304"),
         [(_HEADER_NAME, _raw_header(b'["' + b"".join(blocks) + b'"]'))], zipfile.ZIP_DEFLATED)
    _zip_streamed(add("header_bomb", r"would expand to \d+ bytes, more than 32 times"),
                  _HEADER_NAME, _npy_raw("|u1", (64 << 20,)), b" " * (1 << 20), 64)
    _zip(add("too_many_values", r"holds up to 600\d\d\d JSON values; tn.load reads at most"),
         [(_HEADER_NAME, _raw_header(b'{"t": "list", "items": [' + b",".join([b"[]"] * 300_000)
                                     + b"]}"))])
    _zip(add("deep_lists", r"nests its structure too deeply \(200001 JSON levels; at most 256"),
         [(_HEADER_NAME, _raw_header(b"[" * 200_000 + b"]" * 200_000))])
    _zip(add("deep_nodes", r"nests its structure too deeply \(40001 JSON levels"),
         [(_HEADER_NAME, _raw_header(b'{"t": "list", "items": [' * 20_000 + b"]}" * 20_000))])
    _zip(add("unclosed", r"not valid JSON \(unbalanced brackets\)"),
         [(_HEADER_NAME, _raw_header(b"[" * 200_000))])
    # the most a header within the limits can cost to parse: one-key dicts with
    # distinct keys, just under the value limit, then an unknown node type
    items = b",".join(b'{"%04x":[]}' % k for k in rng.integers(0, 1 << 16, 65_000))
    _zip(add("costliest_header", r"unknown node type 'bogus'"),
         [(_HEADER_NAME, _raw_header(b'{"t": "bogus", "pad": [' + items + b"]}"))],
         zipfile.ZIP_DEFLATED)
    # entries: unreferenced, shared, shapes that lie
    _zip(add("many_entries", r"holds 4000 entries its header does not describe"),
         [(_HEADER_NAME, _header({"t": "none"}))]
         + [(f"x{i}.npy", _npy(np.zeros(0, np.uint8))) for i in range(4000)])
    _zip(add("many_refs", r"'a0' is referenced more than once"),
         [(_HEADER_NAME, _header({"t": "list", "items": [_ARRAY] * 5000})),
          ("a0.npy", _npy(np.zeros(4)))])
    _zip(add("json_shape_lies", r"holds \(4,\) float64 but the header declares \(1000000000,\)"),
         [(_HEADER_NAME, _header(dict(_ARRAY, shape=[10 ** 9]))), ("a0.npy", _npy(np.zeros(4)))])
    _zip(add("npy_shape_lies", r"'a0' declares shape \(1000000000000,\) float64 "
                               r"\(8000000000000 bytes\) but holds 32 bytes"),
         [(_HEADER_NAME, _header(dict(_ARRAY, shape=[10 ** 12]))),
          ("a0.npy", _npy_raw("<f8", (10 ** 12,), bytes(32)))])
    _zip(add("negative_shape", r"'a0' has a bad shape \(-1, -4\)"),
         [(_HEADER_NAME, _header(_ARRAY)), ("a0.npy", _npy_raw("<f8", (-1, -4), bytes(32)))])
    raw = b"\x93NUMPY\x02\x00" + struct.pack("<I", 1 << 31) + b"{" * 1000
    _zip(add("npy_header_length", r"'a0' cannot be read \(ValueError: "),
         [(_HEADER_NAME, _header(_ARRAY)), ("a0.npy", raw)])
    # the zip directory: sizes beyond the file, overlaps, bombs, methods, flags
    path = add("stored_size_lies", r"'a0.npy' declares 104857600 bytes at offset \d+, beyond the "
                                   r"end of the \d+-byte file")
    _zip(path, [(_HEADER_NAME, _header(dict(_ARRAY, shape=[13107184]))),
                ("a0.npy", _npy(np.zeros(4)))])
    _patch_central(path, "a0.npy", compress_size=100 << 20, file_size=100 << 20)
    path = add("overlapping", r"entries declare \d+ compressed bytes in a \d+-byte file "
                              r"\(overlapping entries\)")
    blob = rng.integers(0, 256, 300_000, dtype=np.uint8)
    _zip(path, [(_HEADER_NAME, _header({"t": "none"}))]
         + [(f"a{i}.npy", _npy(blob)) for i in range(3)], zipfile.ZIP_DEFLATED)
    size = path.stat().st_size
    for i in range(3):           # all three claim (nearly) the whole file, from offset 0
        _patch_central(path, f"a{i}.npy", header_offset=0, compress_size=size - 1000,
                       file_size=20 * (size - 1000))
    _zip_streamed(add("array_bomb", r"would expand to \d+ bytes, more than 32 times the "
                                    r"file's \d+ \(a zip bomb\? entry 'a0.npy' expands"),
                  "a0.npy", _npy_raw("|u1", (64 << 20,)), bytes(1 << 20), 64,
                  others=[(_HEADER_NAME, _header(dict(_ARRAY, dtype="|u1", shape=[64 << 20])))])
    _zip(add("bzip2", r"'__tinynet__.npy' uses compression method 12; tinynet reads stored or "
                      r"deflated entries only"),
         [(_HEADER_NAME, _header(dict(_ARRAY, dtype="|u1", shape=[8 << 20]))),
          ("a0.npy", _npy(np.zeros(8 << 20, np.uint8)))], zipfile.ZIP_BZIP2)
    path = add("encrypted", r"'__tinynet__.npy' is encrypted")
    _zip(path, [(_HEADER_NAME, _header({"t": "none"}))])
    _patch_central(path, _HEADER_NAME, flags=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")               # zipfile warns about the duplicate
        _zip(add("duplicate", r"'a0.npy' appears twice"),
             [(_HEADER_NAME, _header(_ARRAY)), ("a0.npy", _npy(np.zeros(4))),
              ("a0.npy", _npy(np.zeros(5)))])
    # not zips at all
    add("pickled", r"holds pickled data; tinynet never unpickles").write_bytes(
        pickle.dumps({"w": bytes(900_000)}))
    add("bare_npy", r"is a single .npy array").write_bytes(_npy_raw("<f8", (10 ** 12,)))
    return files


_LOAD_ALL = textwrap.dedent("""
    import json, resource, sys
    from tinynet.serialization import CheckpointError, load

    def rss(field):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024

    def reset_peak():
        # writing 5 to clear_refs resets VmHWM (the peak) to the current RSS
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return rss("VmRSS"), lambda: rss("VmHWM")
        except OSError:
            # no resettable peak: ru_maxrss (KiB on Linux) from here on
            peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            return peak(), peak

    paths = json.loads(sys.argv[1])
    errors, growth = {}, {}
    start, peak = reset_peak()
    for name, path in paths.items():
        reset_peak()            # each file's peak, above the RSS before the first one
        try:
            load(path)
            errors[name] = None
        except CheckpointError as e:
            errors[name] = str(e)
        except Exception as e:
            errors[name] = f"not a CheckpointError: {type(e).__name__}: {e}"
        growth[name] = peak() - start
    print(json.dumps({"errors": errors, "growth": growth}))
""")


def test_hostile_files_are_refused_within_64_mib(tmp_path):
    """The 20+ files are refused, each with its own clear error naming the
    file, and the loading process's peak RSS grows by at most 64 MiB."""
    files = _hostile_files(tmp_path)
    assert len(files) >= 20
    for name, (path, _) in files.items():
        assert path.stat().st_size < 1 << 20, name
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", _LOAD_ALL,
                           json.dumps({n: str(p) for n, (p, _) in files.items()})],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    for name, (path, pattern) in files.items():
        error = result["errors"][name]
        assert error is not None, f"{name}: loaded without an error"
        assert str(path) in error and re.search(pattern, error), f"{name}: {error}"
    worst = max(result["growth"], key=result["growth"].get)
    assert result["growth"][worst] <= LOAD_BUDGET, \
        f"peak RSS grew {result['growth'][worst] >> 20} MiB while loading {worst}"
