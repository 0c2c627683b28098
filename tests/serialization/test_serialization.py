"""tn.save / tn.load: exact round trips, refusal of unsafe or broken files, atomic writes."""
import io
import json
import math
import os
import pickle
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

import tinynet as tn
from tinynet import serialization
from tinynet.serialization import CheckpointError, load, save

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def assert_same(a, b, where="obj"):
    """Recursive equality that also checks types, key types, dtypes and shapes."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, tn.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert a.requires_grad == b.requires_grad, where
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=where)
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        assert list(a.keys()) == list(b.keys()), where
        for (ka, va), kb in zip(a.items(), b.keys()):
            assert type(ka) is type(kb), f"{where}: key {ka!r} changed type"
            assert_same(va, b[kb], f"{where}[{ka!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    elif isinstance(a, float):
        assert a == b and math.copysign(1, a) == math.copysign(1, b), where
    else:
        assert a == b, where


def roundtrip(obj, tmp_path, name="ckpt.tn"):
    path = tmp_path / name
    save(obj, path)
    return load(path)


# ---------------------------------------------------------------- round trips
def test_nested_structure_keeps_key_types_and_containers(tmp_path):
    obj = {
        "str": "héllo ✓", "": "", 0: "int key", -7: [1, 2], 2.5: "float key", True: "bool key",
        None: "none key", (1, "a", (2.0, None)): "tuple key",
        np.int64(3): "numpy int key", (np.float32(0.5), 1): "tuple with numpy scalar",
        "list": [1, [2, [3, ()]], (4,)], "tuple": (None, False, "x", ()),
        "empty": {}, "nested": {"a": {"b": {"c": [{}]}}},
    }
    assert_same(obj, roundtrip(obj, tmp_path))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int8", "int16", "int32",
                                   "int64", "uint8", "bool", "complex64"])
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 0, 4), (2, 3, 4)],
                         ids=lambda s: "x".join(map(str, s)) or "scalar")
def test_arrays_keep_dtype_and_shape(tmp_path, dtype, shape):
    rng = np.random.default_rng(0)
    arr = np.asarray(rng.standard_normal(shape) * 5).astype(dtype)
    out = roundtrip({"arr": arr, "t": tn.tensor(arr)}, tmp_path)
    assert_same(arr, out["arr"])
    assert_same(tn.tensor(arr), out["t"])


def test_tensor_vs_ndarray_and_requires_grad(tmp_path):
    tn.manual_seed(0)
    w = tn.randn(3, 4, requires_grad=True)
    y = (w * 2).sum()                      # non-leaf tensor: saved as its data
    obj = {"w": w, "b": tn.zeros(4), "np": np.ones(2), "y": y, "i": tn.arange(5)}
    out = roundtrip(obj, tmp_path)
    assert isinstance(out["np"], np.ndarray) and not isinstance(out["np"], tn.Tensor)
    assert out["w"].requires_grad and out["w"].is_leaf
    assert not out["b"].requires_grad
    assert out["y"].requires_grad and out["y"].grad_fn is None
    assert out["i"].dtype == tn.int64
    np.testing.assert_array_equal(out["w"].numpy(), w.numpy())


def test_non_contiguous_and_fortran_arrays(tmp_path):
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    obj = [a[:, ::2], np.asfortranarray(a), a.T]
    assert_same([np.ascontiguousarray(x) for x in obj], roundtrip(obj, tmp_path))


def test_scalars_are_exact(tmp_path):
    obj = [2 ** 200, -(2 ** 4000) - 1, 0, -1, 0.1, -0.0, float("inf"), float("-inf"),
           float("nan"), 1e-310, 1.7976931348623157e308, True, False, None,
           np.float32(0.1), np.int64(-3), np.bool_(True), np.float64("nan")]
    out = roundtrip(obj, tmp_path)
    assert_same(obj, out)


def test_rng_state_round_trips_and_resumes_the_stream(tmp_path):
    tn.manual_seed(1234)
    tn.randn(10)
    save({"rng": tn.get_rng_state()}, tmp_path / "rng.tn")
    expected = tn.randn(5).numpy()
    tn.manual_seed(0)                      # scramble the generator
    state = load(tmp_path / "rng.tn")["rng"]
    assert isinstance(state["state"]["state"], int) and state["state"]["state"] > 2 ** 64
    tn.set_rng_state(state)
    np.testing.assert_array_equal(tn.randn(5).numpy(), expected)


def test_file_objects(tmp_path):
    buf = io.BytesIO()
    obj = {"x": tn.ones(2, 2), 3: (1, 2)}
    save(obj, buf)
    buf.seek(0)
    assert_same(obj, load(buf))


def test_map_location(tmp_path):
    save({"t": tn.ones(2)}, tmp_path / "a.tn")
    assert load(tmp_path / "a.tn", map_location="cpu")["t"].device == "cpu"
    assert load(tmp_path / "a.tn", map_location={"cuda:0": "cpu"})["t"].device == "cpu"
    with pytest.raises(ValueError, match="unknown device"):
        load(tmp_path / "a.tn", map_location="tpu")
    if not tn.cuda.is_available():
        with pytest.raises(RuntimeError, match="no usable CUDA GPU"):
            load(tmp_path / "a.tn", map_location="cuda")


def test_shared_references_are_stored_as_copies(tmp_path):
    t = tn.ones(3)
    out = roundtrip([t, t], tmp_path)
    assert out[0] is not out[1]
    np.testing.assert_array_equal(out[0].numpy(), out[1].numpy())


# ---------------------------------------------------------------- what save refuses
class Thing:
    pass


@pytest.mark.parametrize("obj, match", [
    ({"a": [Thing()]}, r"type Thing at obj\['a'\]\[0\]"),
    ({"s": {1, 2}}, "type set"),
    (np.array([object()], dtype=object), "dtype object"),
    (np.array(["ab"]), "dtype <U2"),
    ({tn.ones(1).array.tobytes(): 1}, "dict key of type bytes"),
], ids=["object", "set", "object-array", "str-array", "bytes-key"])
def test_save_refuses_unsupported_objects(tmp_path, obj, match):
    with pytest.raises(TypeError, match=match):
        save(obj, tmp_path / "x.tn")
    assert os.listdir(tmp_path) == []


def test_save_refuses_cycles(tmp_path):
    a = [1]
    a.append(a)
    with pytest.raises(ValueError, match="reference cycle"):
        save(a, tmp_path / "x.tn")


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "c.tn"
    save({"v": 1}, path)

    def broken_savez(*args, **kwargs):
        args[0].write(b"partial")
        raise OSError("disk full")
    monkeypatch.setattr(serialization.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save({"v": 2}, path)
    monkeypatch.undo()
    assert load(path) == {"v": 1}
    assert os.listdir(tmp_path) == ["c.tn"]


# ---------------------------------------------------------------- what load refuses
class _Evil:
    """Unpickling this would create a marker file (it must never happen)."""
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_file_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"w": _Evil(str(marker))}))
    with pytest.raises(CheckpointError, match=r"evil\.pt.*pickle"):
        load(path)
    assert not marker.exists()


def test_object_array_inside_npz_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.tn"
    save({"w": np.zeros(2)}, path)
    with np.load(path) as z:
        header = json.loads(z[serialization.HEADER_KEY].tobytes())
    header["root"]["items"][0][1]["dtype"] = "|O"
    entries = {"a0": np.array([_Evil(str(marker))], dtype=object),
               serialization.HEADER_KEY: np.frombuffer(json.dumps(header).encode(), np.uint8)}
    with open(path, "wb") as f:
        np.savez(f, allow_pickle=True, **entries)
    with pytest.raises(CheckpointError, match=r"evil\.tn.*object arrays would need pickle"):
        load(path)
    assert not marker.exists()


def test_pickled_npy_is_refused(tmp_path):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(CheckpointError, match="obj.npy.*single .npy array"):
        load(path)


def test_npy_claiming_a_huge_shape_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f8", "fortran_order": False, "shape": (10 ** 12,)})
    with pytest.raises(CheckpointError, match="huge.npy.*single .npy array"):
        load(path)


@pytest.mark.parametrize("content, match", [
    (b"", "empty"),
    (b"hello, I am a text file\n", "not a tinynet checkpoint"),
    (b"PK\x03\x04garbage", "truncated or corrupt"),
], ids=["empty", "text", "fake-zip"])
def test_foreign_files_are_refused(tmp_path, content, match):
    path = tmp_path / "foreign.bin"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=f"foreign.bin.*{match}"):
        load(path)


def test_plain_npy_and_npz_without_header_are_refused(tmp_path):
    np.save(tmp_path / "a.npy", np.ones(3))
    with pytest.raises(CheckpointError, match="a.npy.*single .npy array"):
        load(tmp_path / "a.npy")
    np.savez(tmp_path / "b.npz", x=np.ones(3))
    with pytest.raises(CheckpointError, match="b.npz.*without tinynet's header"):
        load(tmp_path / "b.npz")


def test_missing_file_and_folder_keep_their_os_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope.tn")
    with pytest.raises(IsADirectoryError):
        load(tmp_path)


def test_truncated_files_are_refused(tmp_path):
    path = tmp_path / "full.tn"
    save({"w": np.arange(1000.0), "b": [1, 2, 3]}, path)
    data = path.read_bytes()
    for cut in [1, 10, 100, len(data) // 2, len(data) - 30, len(data) - 1]:
        broken = tmp_path / f"cut{cut}.tn"
        broken.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=f"cut{cut}.tn"):
            load(broken)


def test_corrupted_bytes_are_refused(tmp_path):
    path = tmp_path / "flip.tn"
    save({"w": np.zeros(1000)}, path)
    data = bytearray(path.read_bytes())
    data[400] ^= 0xFF                      # inside a0's raw data: the zip CRC catches it
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="flip.tn"):
        load(path)


def _write_raw_checkpoint(path, header, entries):
    entries = dict(entries)
    entries[serialization.HEADER_KEY] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **entries)


def _header(root):
    return {"format": serialization.FORMAT, "version": serialization.VERSION, "root": root}


def test_header_shape_disagreeing_with_data_is_refused(tmp_path):
    node = {"t": "ndarray", "key": "a0", "dtype": "<f8", "shape": [10 ** 9], "device": "cpu"}
    _write_raw_checkpoint(tmp_path / "s.tn", _header(node), {"a0": np.zeros(4)})
    with pytest.raises(CheckpointError, match=r"s.tn.*holds \(4,\) float64 but the header "
                                              r"declares \(1000000000,\)"):
        load(tmp_path / "s.tn")
    node["shape"], node["dtype"] = [4], "<f4"
    _write_raw_checkpoint(tmp_path / "d.tn", _header(node), {"a0": np.zeros(4)})
    with pytest.raises(CheckpointError, match="d.tn.*declares"):
        load(tmp_path / "d.tn")


def _write_header_text(path, text):
    with open(path, "wb") as f:
        np.savez(f, **{serialization.HEADER_KEY: np.frombuffer(text.encode(), np.uint8)})


def test_too_deep_nesting_is_refused(tmp_path):
    depth = 1000
    root = '{"t": "list", "items": [' * depth + "]}" * depth
    _write_header_text(tmp_path / "deep.tn",
                       f'{{"format": "{serialization.FORMAT}", "version": 1, "root": {root}}}')
    with pytest.raises(CheckpointError, match=r"deep.tn' nests its structure too deeply "
                                              r"\(2001 JSON levels; at most 256\)"):
        load(tmp_path / "deep.tn")


def test_save_refuses_what_load_would_refuse(tmp_path):
    nested = []
    for _ in range(126):                   # 127 lists of 2 JSON levels, in the header: 255
        nested = [nested]
    assert_same(nested, roundtrip(nested, tmp_path))
    with pytest.raises(ValueError, match=r"save: cannot store this object, tn.load would refuse "
                                         r"it: nests its structure too deeply \(257 JSON levels"):
        save([nested], tmp_path / "deeper.tn")
    state = {f"layer{i}.weight": tn.zeros(2) for i in range(20)}
    save(state, tmp_path / "ok.tn")
    serialization._MAX_HEADER_TOKENS, limit = 100, serialization._MAX_HEADER_TOKENS
    try:
        with pytest.raises(ValueError, match=r"its header holds up to \d+ JSON values; tn.load "
                                             r"reads at most 100 \(store fewer, larger arrays"):
            save(state, tmp_path / "many.tn")
        with pytest.raises(CheckpointError, match=r"ok.tn': its header holds up to \d+ JSON "
                                                  r"values; tn.load reads at most 100$"):
            load(tmp_path / "ok.tn")
    finally:
        serialization._MAX_HEADER_TOKENS = limit
    assert sorted(os.listdir(tmp_path)) == ["ckpt.tn", "ok.tn"]


def test_a_large_model_and_optimizer_state_fit_the_limits(tmp_path):
    """About 8 000 arrays (2 600 parameters with two optimizer buffers each)
    stay within the header limits."""
    params = {f"block{i // 4}.layer{i % 4}.weight": tn.zeros(2, 2) for i in range(2600)}
    state = {"model": params, "step": 10,
             "optimizer": {"state": {i: {"step": 10, "exp_avg": tn.zeros(2, 2),
                                         "exp_avg_sq": tn.zeros(2, 2)} for i in range(2600)},
                           "param_groups": [{"lr": 1e-3, "params": list(range(2600))}]}}
    data, arrays = serialization._to_parts(state)
    assert len(arrays) == 7800 and serialization._header_problem(data) is None
    out = roundtrip(state, tmp_path)
    assert len(out["model"]) == 2600 and out["optimizer"]["state"][2599]["step"] == 10


@pytest.mark.parametrize("text, match", [
    ("[" * 300 + "]" * 300, r"nests its structure too deeply \(300 JSON levels"),
    ('{"a": ' + "[" * 10, r"not valid JSON \(unbalanced brackets\)"),
    ("[" + ",".join(["[]"] * 140_000) + "]", r"holds up to 280000 JSON values; tn.load reads at "
                                             r"most 262144"),
    ('"' + "x" * (5 << 20) + '"', r"its header is 5242882 bytes; tn.load reads at most 4194304"),
], ids=["deep", "unbalanced", "values", "bytes"])
def test_header_limits_are_checked_before_parsing(tmp_path, monkeypatch, text, match):
    _write_header_text(tmp_path / "h.tn", text)

    def no_parse(*args, **kwargs):
        raise AssertionError("json.loads called")

    monkeypatch.setattr(serialization.json, "loads", no_parse)
    with pytest.raises(CheckpointError, match=f"h.tn'.*{match}"):
        load(tmp_path / "h.tn")


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path):
    deep_text = '[{"t": "str", "v": "' + "[{" * 1000 + r'\"\\' + '"}]'
    obj = {"s": "[{" * 1000 + '"\\', "k": '"]]]]\\'}
    assert_same(obj, roundtrip(obj, tmp_path))
    assert serialization._json_depth(deep_text.encode()) == 2


def test_deflated_checkpoint_loads(tmp_path):
    """A checkpoint re-zipped with compression (as np.savez_compressed writes)
    still loads: entries are read in chunks from the deflate stream."""
    rng = np.random.default_rng(0)
    obj = {"w": rng.standard_normal((300, 70)).astype(np.float32),
           "f": np.asfortranarray(rng.standard_normal((50, 3))), "b": np.zeros(7),
           "t": tn.tensor(rng.standard_normal(5), requires_grad=True), "n": np.int16(3)}
    save(obj, tmp_path / "plain.tn")
    with zipfile.ZipFile(tmp_path / "plain.tn") as zin, \
            zipfile.ZipFile(tmp_path / "deflated.tn", "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
    monkey = serialization._READ_CHUNK
    serialization._READ_CHUNK = 1000           # many chunks per entry
    try:
        assert_same(obj, load(tmp_path / "deflated.tn"))
    finally:
        serialization._READ_CHUNK = monkey


def test_deflate_stream_shorter_than_declared_is_refused(tmp_path):
    # the .npy header and the zip directory agree on 80 000 bytes, but the
    # deflate stream ends after 8 000: refused while reading, not hung or padded
    path = tmp_path / "short.tn"
    node = {"t": "ndarray", "key": "a0", "dtype": "|u1", "shape": [80_000], "device": "cpu"}
    data = np.random.default_rng(0).integers(0, 256, 8_000, dtype=np.uint8).tobytes()
    raw = io.BytesIO()
    np.lib.format.write_array_header_1_0(raw, {"descr": "|u1", "fortran_order": False,
                                               "shape": (80_000,)})
    header_len = len(raw.getvalue())
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(serialization.HEADER_KEY + ".npy",
                   _npy_bytes(np.frombuffer(json.dumps(_header(node)).encode(), np.uint8)))
        z.writestr("a0.npy", raw.getvalue() + data)
    blob = bytearray(path.read_bytes())
    pos = blob.rindex(b"PK\x01\x02a0.npy"[:4], 0, blob.rindex(b"a0.npy"))
    struct.pack_into("<I", blob, pos + 24, header_len + 80_000)
    path.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match=r"short.tn.*entry 'a0' (is truncated|cannot be "
                                              r"read)"):
        load(path)


def test_entries_the_header_does_not_describe_are_refused(tmp_path):
    node = {"t": "ndarray", "key": "a0", "dtype": "<f8", "shape": [2], "device": "cpu"}
    _write_raw_checkpoint(tmp_path / "x.tn", _header(node), {"a0": np.zeros(2), "a1": np.ones(2)})
    with pytest.raises(CheckpointError, match=r"x.tn' holds 1 entries its header does not "
                                              r"describe \(e.g. \['a1.npy'\]\)"):
        load(tmp_path / "x.tn")


def test_entry_referenced_twice_is_refused(tmp_path):
    # one 8 MB entry named 1000 times would expand to 8 GB in memory
    node = {"t": "ndarray", "key": "a0", "dtype": "<f8", "shape": [4], "device": "cpu"}
    _write_raw_checkpoint(tmp_path / "r.tn", _header({"t": "list", "items": [node] * 1000}),
                          {"a0": np.zeros(4)})
    with pytest.raises(CheckpointError, match="r.tn.*'a0' is referenced more than once"):
        load(tmp_path / "r.tn")


def test_npy_header_claiming_more_data_than_stored_is_refused(tmp_path):
    # A member whose .npy header promises 10**12 floats but holds 32 bytes: refused
    # before NumPy could try to allocate 8 TB.
    raw = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        raw, {"descr": "<f8", "fortran_order": False, "shape": (10 ** 12,)})
    raw.write(np.zeros(4).tobytes())
    header = _header({"t": "ndarray", "key": "a0", "dtype": "<f8", "shape": [10 ** 12],
                      "device": "cpu"})
    path = tmp_path / "bomb.tn"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a0.npy", raw.getvalue())
        z.writestr(serialization.HEADER_KEY + ".npy", _npy_bytes(
            np.frombuffer(json.dumps(header).encode(), np.uint8)))
    with pytest.raises(CheckpointError, match=r"bomb.tn.*declares shape \(1000000000000,\)"):
        load(path)


def _npy_bytes(arr):
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def test_zip_bomb_is_refused(tmp_path):
    # A deflated member that would expand about 1000 times: refused from the
    # zip directory alone, before anything is decompressed.
    header = _header({"t": "ndarray", "key": "a0", "dtype": "|u1", "shape": [5 << 20],
                      "device": "cpu"})
    path = tmp_path / "zbomb.tn"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("a0.npy", _npy_bytes(np.zeros(5 << 20, np.uint8)))
        z.writestr(serialization.HEADER_KEY + ".npy", _npy_bytes(
            np.frombuffer(json.dumps(header).encode(), np.uint8)))
    assert path.stat().st_size < 100_000
    with pytest.raises(CheckpointError, match=r"zbomb.tn.*would expand to \d+ bytes, more than "
                                              r"32 times the file's \d+ \(a zip bomb\? entry "
                                              r"'a0.npy' expands"):
        load(path)


@pytest.mark.parametrize("header, match", [
    ({"format": "other", "version": 1, "root": {"t": "none"}}, "not a tinynet-checkpoint header"),
    ({"format": serialization.FORMAT, "version": 99, "root": {"t": "none"}}, "version 99"),
    (_header({"t": "pickle"}), "unknown node type 'pickle'"),
    (_header({"t": "int", "v": "zz"}), "malformed int node"),
    (_header({"t": "dict", "items": [[{"t": "list", "items": []}, {"t": "none"}]]}),
     "not hashable"),
    (_header({"t": "ndarray", "key": "a7", "dtype": "<f8", "shape": [1]}), "no entry 'a7'"),
    (_header({"t": "list", "items": [{"t": "ndarray", "key": "__tinynet__", "dtype": "|u1",
                                      "shape": [1]}]}), "bad array reference"),
], ids=["format", "version", "node-type", "bad-int", "list-key", "missing-entry", "header-ref"])
def test_malformed_headers_are_refused(tmp_path, header, match):
    _write_raw_checkpoint(tmp_path / "h.tn", header, {})
    with pytest.raises(CheckpointError, match=f"h.tn.*{match}"):
        load(tmp_path / "h.tn")


# ---------------------------------------------------------------- atomic saves
_SAVER = textwrap.dedent("""
    import sys
    import numpy as np
    from tinynet.serialization import save
    path = sys.argv[1]
    data = np.empty(1_000_000)             # 8 MB: a save takes a while
    version = 0
    while True:
        version += 1
        data.fill(version)
        save({"version": version, "data": data, "tail": [version] * 3}, path)
        print(version, flush=True)
""")


def _kill_during_save(tmp_path, rounds):
    path = tmp_path / "ckpt.tn"
    script = tmp_path / "saver.py"
    script.write_text(_SAVER)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    last_version = 0
    for i in range(rounds):
        proc = subprocess.Popen([sys.executable, str(script), str(path)], env=env,
                                stdout=subprocess.PIPE, text=True)
        try:
            # wait until one save has finished, let it write a few more (a different
            # number each round, so the kill lands at different points of a save)
            for _ in range(1 + i % 4):
                assert proc.stdout.readline(), "saver died"
            time.sleep((i % 6) * 0.004)    # a save takes ~20 ms: land at varied points
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
        ckpt = load(path)                  # never an error: old or new, complete
        version = ckpt["version"]
        assert version >= 1 + i % 4
        assert ckpt["tail"] == [version] * 3
        assert ckpt["data"].shape == (1_000_000,)
        assert (ckpt["data"] == version).all()
        last_version = version
    return last_version


def test_sigkill_during_save_never_corrupts_the_checkpoint(tmp_path):
    _kill_during_save(tmp_path, rounds=12)


@pytest.mark.slow
def test_sigkill_during_save_never_corrupts_the_checkpoint_50_times(tmp_path):
    _kill_during_save(tmp_path, rounds=50)


def test_saving_a_whole_module_or_optimizer_says_to_save_its_state_dict(tmp_path):
    # PyTorch pickles torch.save(model); tinynet refuses loudly, naming the fix
    model = tn.nn.Linear(2, 2)
    opt = tn.optim.SGD(model.parameters(), lr=0.1)
    for obj in (model, opt, {"model": model}):
        with pytest.raises(TypeError, match=r"save its state_dict\(\) instead|Save its state_dict"):
            tn.save(obj, tmp_path / "x.tnz")
    assert not (tmp_path / "x.tnz").exists()
    tn.save({"model": model.state_dict(), "opt": opt.state_dict()}, tmp_path / "x.tnz")
