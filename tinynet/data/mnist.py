"""MNIST and Fashion-MNIST from their IDX files, with a checked downloader.

Files live in ``<root>/<ClassName>/raw/`` (as in torchvision), gzipped or not.
``download=True`` fetches the missing ones with ``urllib`` from the class's
``mirrors`` (tried in order), checks each file's SHA-256 against
``resources``, and writes it atomically (temporary file in the same folder,
then ``os.replace``), so a failed or interrupted download leaves nothing
behind. Both lists are class attributes: tests and users behind a proxy
can point them elsewhere.

IDX format (big-endian): two zero bytes, a dtype code, the number of
dimensions, one uint32 per dimension, then the raw values.
"""
import gzip
import hashlib
import math
import os
import secrets
import urllib.error
import urllib.request

import numpy as np

from tinynet.data.dataset import Dataset
from tinynet.tensor import Tensor

# IDX dtype codes -> big-endian NumPy dtypes
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CHUNK = 1 << 16


def _open_maybe_gzip(path):
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def _read_exact(f, n, path, what):
    # read in chunks: memory follows the bytes really present, not a header's claim
    chunks, left = [], n
    while left:
        chunk = f.read(min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    data = b"".join(chunks)
    if len(data) != n:
        raise ValueError(f"read_idx: {path} is truncated: expected {n} bytes of {what}, "
                         f"got {len(data)}")
    return data


def read_idx(path):
    """Read one IDX file (optionally gzipped) into a NumPy array (native byte order).

    The header is checked first and only the declared number of bytes is read,
    so a damaged or hostile file cannot make tinynet read or allocate more.
    """
    f = _open_maybe_gzip(path)       # FileNotFoundError passes through as is
    try:
        with f:
            magic = _read_exact(f, 4, path, "magic number")
            if magic[:2] != b"\x00\x00" or magic[2] not in _IDX_DTYPES or not 1 <= magic[3] <= 4:
                raise ValueError(f"read_idx: {path} is not an IDX file: magic number "
                                 f"{magic.hex()} (expected 0000 + dtype code + 1..4 dimensions)")
            ndim = magic[3]
            shape = tuple(int(d) for d in
                          np.frombuffer(_read_exact(f, 4 * ndim, path, "dimensions"), ">u4"))
            dtype = np.dtype(_IDX_DTYPES[magic[2]])
            nbytes = math.prod(shape) * dtype.itemsize     # Python ints: no overflow
            data = _read_exact(f, nbytes, path, f"data for shape {shape}")
            if f.read(1):
                raise ValueError(f"read_idx: {path} has bytes after the {shape} {dtype} "
                                 f"data declared in its header")
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise ValueError(f"read_idx: {path} cannot be read ({e})") from None
    return np.frombuffer(data, dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def download_file(url, path, sha256, timeout=30):
    """Fetch ``url`` to ``path`` atomically, refusing content whose SHA-256 differs.

    Raises ``urllib.error.URLError``/``OSError`` on network errors and
    ``RuntimeError`` on a checksum mismatch; ``path`` is untouched on failure.
    """
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != sha256:
            raise RuntimeError(f"download: {url} has SHA-256 {h.hexdigest()}, expected {sha256}; "
                               f"refusing the file")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class MNIST(Dataset):
    """The MNIST handwritten digits (60,000 training, 10,000 test images, 28x28).

    Args:
        root: folder holding ``MNIST/raw/`` (created when downloading).
        train: the training set (True) or the test set (False).
        transform: applied to each image (a uint8 ``(28, 28)`` NumPy array);
            e.g. ``transforms.ToTensor()`` for a float32 ``(1, 28, 28)`` Tensor.
        target_transform: applied to each label (a Python int).
        download: fetch missing files from ``mirrors`` (checked by SHA-256).

    Attributes: ``data`` (uint8 Tensor ``(N, 28, 28)``), ``targets`` (int64
    Tensor ``(N,)``), ``classes``.
    """

    mirrors = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ]
    resources = {
        "train-images-idx3-ubyte.gz":
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz":
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz":
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz":
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    }
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]
    timeout = 30

    def __init__(self, root, train=True, transform=None, target_transform=None,
                 download=False):
        self.root = os.fspath(root)
        self.train = bool(train)
        self.transform = transform
        self.target_transform = target_transform
        if download:
            self.download()
        prefix = "train" if self.train else "t10k"
        images = read_idx(self._find(f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(self._find(f"{prefix}-labels-idx1-ubyte"))
        self._check(images, labels, prefix)
        self.data = Tensor._wrap(images)
        self.targets = Tensor._wrap(labels.astype(np.int64))

    @property
    def raw_folder(self):
        return os.path.join(self.root, type(self).__name__, "raw")

    def _find(self, stem):
        for name in (stem, stem + ".gz"):
            path = os.path.join(self.raw_folder, name)
            if os.path.exists(path):
                return path
        raise RuntimeError(f"{type(self).__name__}: {stem}(.gz) not found in {self.raw_folder}; "
                           f"pass download=True or put the IDX files there")

    def _check(self, images, labels, prefix):
        name = type(self).__name__
        if images.dtype != np.uint8 or images.ndim != 3:
            raise ValueError(f"{name}: {prefix} images must be uint8 (N, H, W), "
                             f"got {images.shape} {images.dtype}")
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise ValueError(f"{name}: {prefix} labels must be uint8 (N,), "
                             f"got {labels.shape} {labels.dtype}")
        if len(images) != len(labels):
            raise ValueError(f"{name}: {len(images)} {prefix} images but {len(labels)} labels")
        if labels.size and labels.max() >= len(self.classes):
            raise ValueError(f"{name}: {prefix} labels go up to {labels.max()}, expected "
                             f"0..{len(self.classes) - 1}")

    def _have(self, filename):
        stem = filename[:-3] if filename.endswith(".gz") else filename
        return any(os.path.exists(os.path.join(self.raw_folder, n)) for n in (stem, filename))

    def download(self):
        """Fetch every missing file; a clear error if no mirror could provide it."""
        for filename, sha256 in self.resources.items():
            if self._have(filename):
                continue
            errors = []
            for mirror in self.mirrors:
                url = mirror + filename
                try:
                    download_file(url, os.path.join(self.raw_folder, filename), sha256,
                                  timeout=self.timeout)
                    break
                except (urllib.error.URLError, OSError, RuntimeError) as e:
                    errors.append(f"  {url}: {e}")
            else:
                raise RuntimeError(
                    f"{type(self).__name__}: could not download {filename} from any mirror "
                    f"(are you offline?):\n" + "\n".join(errors)
                    + f"\nDownload it by hand into {self.raw_folder}, or set "
                      f"{type(self).__name__}.mirrors to a reachable mirror.")

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        image, target = self.data.array[index], int(self.targets.array[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: the same layout as MNIST, ten kinds of clothing."""

    mirrors = [
        "https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ]
    resources = {
        "train-images-idx3-ubyte.gz":
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz":
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz":
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz":
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    }
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
