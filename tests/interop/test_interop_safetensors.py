"""tn.save / tn.load of .safetensors files: round trips, PyTorch's files, and
refusal of crafted or truncated files before anything is read."""
import json
import os
import struct

import numpy as np
import pytest
import safetensors.numpy
import safetensors.torch
import torch

import tinynet as tn
import tinynet.nn as nn
from tinynet.models import cnn
from tinynet.serialization import CheckpointError, safetensors_metadata


def _write_raw(path, header, data=b"", pad=True):
    """A safetensors file with a hand-made JSON header and data bytes."""
    text = json.dumps(header).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


# ---------------------------------------------------------------- round trips
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64, np.int32,
                                   np.int8, np.uint8, np.bool_])
def test_round_trip_keeps_dtype_shape_and_values(tmp_path, dtype):
    rng = np.random.default_rng(0)
    arrays = {"a": (rng.standard_normal((3, 4)) * 10).astype(dtype),
              "scalar": np.array(3, dtype=dtype), "empty": np.zeros((0, 5), dtype)}
    path = tmp_path / "x.safetensors"
    tn.save({k: tn.tensor(v) for k, v in arrays.items()}, path)
    back = tn.load(path)
    assert set(back) == set(arrays)
    for k, v in arrays.items():
        assert isinstance(back[k], tn.Tensor)
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k].numpy(), v)


def test_non_contiguous_arrays_and_metadata(tmp_path):
    a = np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2]
    path = tmp_path / "m.safetensors"
    tn.save({"t": a, "u": tn.tensor(a.T)}, path, metadata={"epoch": "3", "note": "hello"})
    back = tn.load(path)
    np.testing.assert_array_equal(back["t"].numpy(), a)
    np.testing.assert_array_equal(back["u"].numpy(), a.T)
    assert safetensors_metadata(path) == {"epoch": "3", "note": "hello"}
    tn.save({"t": a}, tmp_path / "n.safetensors")
    assert safetensors_metadata(tmp_path / "n.safetensors") == {}


def test_model_state_dict_round_trip_gives_the_same_outputs(tmp_path):
    tn.manual_seed(0)
    model = cnn()
    path = tmp_path / "cnn.safetensors"
    tn.save(model.state_dict(), path)
    other = cnn()
    other.load_state_dict(tn.load(path))
    x = tn.randn(2, 1, 8, 8)
    np.testing.assert_array_equal(model(x).numpy(), other(x).numpy())


def test_the_file_is_a_standard_safetensors_file(tmp_path):
    path = tmp_path / "s.safetensors"
    tn.save({"w": tn.ones(2, 3), "i": np.arange(4)}, path, metadata={"k": "v"})
    # read by the safetensors package itself, without tinynet
    got = safetensors.numpy.load_file(str(path))
    np.testing.assert_array_equal(got["w"], np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(got["i"], np.arange(4))


def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "a.safetensors"
    tn.save({"v": tn.ones(3)}, path)

    def broken(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(safetensors.numpy, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        tn.save({"v": tn.zeros(3)}, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(tn.load(path)["v"].numpy(), np.ones(3))
    assert os.listdir(tmp_path) == ["a.safetensors"]


def test_map_location(tmp_path):
    path = tmp_path / "d.safetensors"
    tn.save({"v": tn.ones(2)}, path)
    assert tn.load(path, map_location="cpu")["v"].device == "cpu"
    with pytest.raises(Exception, match="device"):
        tn.load(path, map_location="tpu")


# ---------------------------------------------------------------- PyTorch's files
class TorchCNN(torch.nn.Module):
    """The seed CNN written with torch.nn (same state_dict keys as tinynet's)."""

    def __init__(self):
        super().__init__()
        T = torch.nn
        self.net = T.Sequential(T.Conv2d(1, 32, 3, padding=1), T.ReLU(), T.MaxPool2d(2),
                                T.Conv2d(32, 64, 3, padding=1), T.ReLU(), T.MaxPool2d(2),
                                T.Flatten(), T.Linear(256, 512), T.ReLU(), T.Linear(512, 10))

    def forward(self, x):
        return self.net(x)


def test_a_pytorch_written_file_loads_into_the_same_tinynet_model(tmp_path):
    torch.manual_seed(0)
    tm = TorchCNN().eval()
    path = tmp_path / "torch_cnn.safetensors"
    safetensors.torch.save_file(tm.net.state_dict(), str(path), metadata={"from": "torch"})
    model = cnn()
    model.load_state_dict(tn.load(path))
    x = np.random.default_rng(1).standard_normal((3, 1, 8, 8)).astype(np.float32)
    with torch.no_grad():
        want = tm(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(tn.tensor(x)).numpy(), want, rtol=1e-5, atol=1e-6)
    assert safetensors_metadata(path) == {"from": "torch"}


def test_bfloat16_is_refused_with_its_name(tmp_path):
    path = tmp_path / "bf.safetensors"
    safetensors.torch.save_file({"w": torch.ones(2, dtype=torch.bfloat16)}, str(path))
    with pytest.raises(CheckpointError, match="'w' has dtype 'BF16'"):
        tn.load(path)


# ---------------------------------------------------------------- what save refuses
def test_nested_state_is_refused_and_names_the_format_to_use(tmp_path):
    model = nn.Linear(2, 2)
    opt = tn.optim.SGD(model.parameters(), lr=0.1)
    state = {"model": model.state_dict(), "optimizer": opt.state_dict()}
    with pytest.raises(TypeError, match=r"flat dict.*obj\['model'\] has type OrderedDict.*own format"):
        tn.save(state, tmp_path / "ckpt.safetensors")
    with pytest.raises(TypeError, match="flat dict of str -> Tensor.*got type list"):
        tn.save([tn.ones(2)], tmp_path / "l.safetensors")
    with pytest.raises(TypeError, match="only tensors.*obj\\['epoch'\\] has type int"):
        tn.save({"epoch": 3}, tmp_path / "e.safetensors")
    with pytest.raises(TypeError, match="str keys"):
        tn.save({1: tn.ones(2)}, tmp_path / "k.safetensors")
    with pytest.raises(TypeError, match="metadata must be a dict of str -> str"):
        tn.save({"a": tn.ones(2)}, tmp_path / "m.safetensors", metadata={"n": 1})
    with pytest.raises(TypeError, match="complex"):
        tn.save({"a": np.ones(2, np.complex64)}, tmp_path / "c.safetensors")
    with pytest.raises(ValueError, match="metadata= is for .safetensors"):
        tn.save({"a": tn.ones(2)}, tmp_path / "x.npz", metadata={"a": "b"})
    # the nested state itself goes to tinynet's own format
    tn.save(state, tmp_path / "ckpt.npz")
    assert set(tn.load(tmp_path / "ckpt.npz")) == {"model", "optimizer"}
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]


# ---------------------------------------------------------------- what load refuses
def _good(tmp_path):
    path = tmp_path / "good.safetensors"
    tn.save({"a": tn.ones(2, 3), "b": np.arange(5)}, path)
    return path


def test_truncated_files_are_refused_naming_the_file(tmp_path):
    data = _good(tmp_path).read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    for cut, match in ((0, "shorter than the 8-byte header length"),
                       (5, "shorter than the 8-byte header length"),
                       (8 + n // 2, "header claims .* bytes but the file has only"),
                       (len(data) - 3, r"lies at bytes .*(truncated)")):
        path = tmp_path / f"cut{cut}.safetensors"
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=match) as info:
            tn.load(path)
        assert f"cut{cut}.safetensors" in str(info.value)


def test_a_huge_header_length_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 2 ** 62) + b"{}")
    with pytest.raises(CheckpointError, match="header claims 4611686018427387904 bytes"):
        tn.load(path)


def test_offsets_beyond_the_file_are_refused_before_allocating(tmp_path):
    # a tensor claiming 10**12 float32 elements in a tiny file
    path = _write_raw(tmp_path / "big.safetensors",
                      {"w": {"dtype": "F32", "shape": [10 ** 6, 10 ** 6],
                             "data_offsets": [0, 4 * 10 ** 12]}}, b"\0" * 16)
    with pytest.raises(CheckpointError, match=r"'w' lies at bytes .* holds only 16 bytes"):
        tn.load(path)


@pytest.mark.parametrize("header, data, match", [
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4,
     r"declares shape \(2,\) F32 \(8 bytes\) but data_offsets \[0, 4\] span 4"),
    ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
      "v": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6]}}, b"\0" * 6,
     "overlaps the tensor before it"),
    ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8,
     "leaves a gap before it"),
    ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 12,
     "trailing data"),
    ({"w": {"dtype": "X9", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4,
     "dtype 'X9'"),
    ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4,
     "malformed shape"),
    ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, b"\0" * 4,
     "malformed data_offsets"),
    ({"w": {"dtype": "F32", "shape": [1]}}, b"\0" * 4, "malformed header entry"),
    ({"__metadata__": {"a": 1}}, b"", "metadata is not a dict of str -> str"),
    ([1, 2], b"", "not a JSON object"),
])
def test_crafted_headers_are_refused(tmp_path, header, data, match):
    path = _write_raw(tmp_path / "bad.safetensors", header, data)
    with pytest.raises(CheckpointError, match=match) as info:
        tn.load(path)
    assert "bad.safetensors" in str(info.value)


def test_malformed_json_duplicate_keys_and_deep_nesting_are_refused(tmp_path):
    for name, text, match in (
            ("json", b'{"w": ', "not valid JSON"),
            ("dup", b'{"w": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}, '
                    b'"w": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}',
             "duplicate key"),
            ("deep", b"[" * 1000 + b"]" * 1000, "nests its structure too deeply")):
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(struct.pack("<Q", len(text)) + text + b"\0" * 4)
        with pytest.raises(CheckpointError, match=match):
            tn.load(path)


def test_a_tinynet_checkpoint_named_safetensors_is_refused(tmp_path):
    path = tmp_path / "wrong.safetensors"
    tn.save({"a": tn.ones(2)}, tmp_path / "right.npz")
    os.replace(tmp_path / "right.npz", path)
    with pytest.raises(CheckpointError, match="wrong.safetensors"):
        tn.load(path)
