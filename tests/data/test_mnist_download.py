"""MNIST / FashionMNIST: IDX reading and the checked downloader.

Every file is generated here and served from 127.0.0.1; nothing touches the internet.
"""
import gzip
import hashlib
import http.server
import os
import socket
import threading

import numpy as np
import pytest

import tinynet as tn
from tinynet.data import MNIST, DataLoader, FashionMNIST, read_idx
from tinynet.data import transforms as T

_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
          np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(arr):
    """The IDX encoding of ``arr`` (big-endian header and values)."""
    arr = np.asarray(arr)
    header = bytes([0, 0, _CODES[arr.dtype], arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def small_mnist(n_train=7, n_test=3, size=(28, 28), seed=0):
    """{filename: gzipped IDX bytes} for a tiny MNIST-like set, plus the arrays."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, *size)).astype(np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, *size)).astype(np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test).astype(np.uint8),
    }
    files = {name + ".gz": gzip.compress(idx_bytes(a), mtime=0) for name, a in arrays.items()}
    return files, arrays


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def write_raw(root, cls, files, gz=True):
    raw = root / cls.__name__ / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if gz:
            (raw / name).write_bytes(data)
        else:
            (raw / name[:-3]).write_bytes(gzip.decompress(data))
    return raw


# ---------------------------------------------------------------- read_idx
@pytest.mark.parametrize("dtype", sorted(_CODES, key=str), ids=str)
@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_read_idx_round_trip(tmp_path, dtype, gz):
    arr = (np.arange(24) - 5).reshape(2, 3, 4).astype(dtype)
    data = idx_bytes(arr)
    path = tmp_path / "a.idx"
    path.write_bytes(gzip.compress(data) if gz else data)
    out = read_idx(path)
    assert out.dtype == dtype and out.dtype.isnative and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("data, match", [
    (b"\x01\x00\x08\x01" + b"\x00" * 8, "not an IDX file: magic number 01000801"),
    (b"\x00\x00\x07\x01" + b"\x00" * 8, "not an IDX file: magic number 00000701"),
    (b"\x00\x00\x08\x00", "not an IDX file"),
    (b"\x00\x00", "truncated: expected 4 bytes of magic number"),
    (b"\x00\x00\x08\x02\x00\x00\x00\x03", "truncated: expected 8 bytes of dimensions"),
    (idx_bytes(np.zeros((3, 4), np.uint8))[:-1],
     r"truncated: expected 12 bytes of data for shape \(3, 4\)"),
    (idx_bytes(np.zeros(3, np.uint8)) + b"\x00", "bytes after the"),
], ids=["magic-byte0", "dtype-code", "ndim-0", "short-magic", "short-dims", "short-data",
        "trailing"])
def test_read_idx_refuses_bad_files_naming_them(tmp_path, data, match):
    path = tmp_path / "broken-idx1-ubyte"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=f"broken-idx1-ubyte.*{match}"):
        read_idx(path)


def test_read_idx_truncated_gzip(tmp_path):
    path = tmp_path / "t.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((50, 50), np.uint8)))[:30])
    with pytest.raises(ValueError, match="t.gz"):
        read_idx(path)


def test_read_idx_huge_declared_shape_is_not_allocated(tmp_path):
    # a header promising 4 billion x 4 billion bytes must fail on the missing data
    path = tmp_path / "huge"
    path.write_bytes(b"\x00\x00\x08\x02" + np.array([2 ** 32 - 1] * 2, ">u4").tobytes() + b"\x00")
    with pytest.raises(ValueError, match=r"huge is truncated: expected "
                                         r"18446744065119617025 bytes of data.*got 1"):
        read_idx(path)


# ---------------------------------------------------------------- reading datasets
@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_mnist_reads_local_files(tmp_path, gz):
    files, arrays = small_mnist()
    write_raw(tmp_path, MNIST, files, gz=gz)
    train = MNIST(tmp_path)
    test = MNIST(tmp_path, train=False)
    assert len(train) == 7 and len(test) == 3
    assert train.data.dtype == tn.uint8 and train.data.shape == (7, 28, 28)
    assert train.targets.dtype == tn.int64
    img, label = train[2]
    np.testing.assert_array_equal(img, arrays["train-images-idx3-ubyte"][2])
    assert label == int(arrays["train-labels-idx1-ubyte"][2]) and isinstance(label, int)
    np.testing.assert_array_equal(test.targets.numpy(), arrays["t10k-labels-idx1-ubyte"])


def test_mnist_transforms_and_loader(tmp_path):
    files, arrays = small_mnist()
    write_raw(tmp_path, MNIST, files)
    ds = MNIST(tmp_path, transform=T.ToTensor(), target_transform=lambda y: y + 100)
    x, y = ds[0]
    assert x.shape == (1, 28, 28) and x.dtype == tn.float32
    want = arrays["train-images-idx3-ubyte"][0] / np.float32(255)
    np.testing.assert_array_equal(x.numpy()[0], want)
    assert y == int(arrays["train-labels-idx1-ubyte"][0]) + 100
    xb, yb = next(iter(DataLoader(ds, batch_size=4)))
    assert xb.shape == (4, 1, 28, 28) and yb.dtype == tn.int64


def test_fashion_mnist_uses_its_own_folder(tmp_path):
    files, _ = small_mnist()
    write_raw(tmp_path, FashionMNIST, files)
    ds = FashionMNIST(tmp_path, train=False)
    assert len(ds) == 3 and ds.classes[9] == "Ankle boot"
    with pytest.raises(RuntimeError, match=r"MNIST: train-images-idx3-ubyte\(\.gz\) not found.*"
                                           r"download=True"):
        MNIST(tmp_path)


def test_mnist_inconsistent_files(tmp_path):
    files, _ = small_mnist()
    files["train-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(np.zeros(6, np.uint8)))
    write_raw(tmp_path, MNIST, files)
    with pytest.raises(ValueError, match="MNIST: 7 train images but 6 labels"):
        MNIST(tmp_path)
    files["train-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(np.full(7, 12, np.uint8)))
    write_raw(tmp_path, MNIST, files)
    with pytest.raises(ValueError, match=r"labels go up to 12, expected 0\.\.9"):
        MNIST(tmp_path)
    files["train-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(np.zeros((7, 2), np.uint8)))
    write_raw(tmp_path, MNIST, files)
    with pytest.raises(ValueError, match=r"labels must be uint8 \(N,\), got \(7, 2\)"):
        MNIST(tmp_path)


# ---------------------------------------------------------------- downloading
class _Server:
    """An HTTP server on 127.0.0.1 (port 0) serving ``files`` from memory."""

    def __init__(self, files):
        self.files = files
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                name = self.path[len("/mnist/"):] if self.path.startswith("/mnist/") else None
                data = server.files.get(name)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):    # keep test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/mnist/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    files, arrays = small_mnist()
    s = _Server(files)
    s.arrays = arrays
    yield s
    s.close()


def _closed_port_url():
    # a port that was just free: connecting to it is refused at once
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def _point_at(monkeypatch, cls, mirrors, files):
    monkeypatch.setattr(cls, "mirrors", mirrors)
    monkeypatch.setattr(cls, "resources", {name: sha256(data) for name, data in files.items()})
    monkeypatch.setattr(cls, "timeout", 5)


def test_download_fetches_verifies_and_loads(tmp_path, monkeypatch, server):
    _point_at(monkeypatch, MNIST, [server.url], server.files)
    ds = MNIST(tmp_path / "data", download=True)
    raw = tmp_path / "data" / "MNIST" / "raw"
    assert sorted(os.listdir(raw)) == sorted(server.files)
    for name, data in server.files.items():
        assert (raw / name).read_bytes() == data
    np.testing.assert_array_equal(ds.data.numpy(), server.arrays["train-images-idx3-ubyte"])
    # a second construction with download=True fetches nothing again
    count = len(server.requests)
    MNIST(tmp_path / "data", train=False, download=True)
    assert len(server.requests) == count == 4


def test_download_falls_back_to_the_next_mirror(tmp_path, monkeypatch, server):
    _point_at(monkeypatch, FashionMNIST, [_closed_port_url(), server.url + "missing/x/",
                                          server.url], server.files)
    ds = FashionMNIST(tmp_path, train=False, download=True)
    assert len(ds) == 3


def test_wrong_checksum_is_refused_and_leaves_no_file(tmp_path, monkeypatch, server):
    _point_at(monkeypatch, MNIST, [server.url], server.files)
    bad = dict(MNIST.resources)
    bad["train-labels-idx1-ubyte.gz"] = "0" * 64
    monkeypatch.setattr(MNIST, "resources", bad)
    with pytest.raises(RuntimeError, match=r"could not download train-labels-idx1-ubyte\.gz.*"
                                           r"\n.*has SHA-256 [0-9a-f]{64}, expected 0{64}") as err:
        MNIST(tmp_path, download=True)
    assert server.url in str(err.value)
    raw = tmp_path / "MNIST" / "raw"
    assert "train-labels-idx1-ubyte.gz" not in os.listdir(raw)
    assert not [n for n in os.listdir(raw) if n.endswith(".part")]     # no temp file left


def test_unreachable_server_gives_a_clear_error(tmp_path, monkeypatch):
    files, _ = small_mnist()
    url = _closed_port_url()
    _point_at(monkeypatch, MNIST, [url], files)
    with pytest.raises(RuntimeError, match=r"MNIST: could not download "
                                           r"train-images-idx3-ubyte\.gz from any mirror "
                                           r"\(are you offline\?\)") as err:
        MNIST(tmp_path, download=True)
    message = str(err.value)
    assert url + "train-images-idx3-ubyte.gz" in message and "refused" in message.lower()
    assert "MNIST.mirrors" in message
    raw = tmp_path / "MNIST" / "raw"
    assert not raw.exists() or os.listdir(raw) == []


def test_http_error_is_reported(tmp_path, monkeypatch, server):
    _point_at(monkeypatch, MNIST, [server.url + "nothing-here/"], server.files)
    with pytest.raises(RuntimeError, match="HTTP Error 404"):
        MNIST(tmp_path, download=True)
