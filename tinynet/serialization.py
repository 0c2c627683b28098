"""Checkpoints without pickle: ``tn.save(obj, path)`` and ``tn.load(path)``.

A checkpoint is an ordinary ``.npz`` (zip) file:

- one entry per Tensor or array (``a0``, ``a1``, ...), written by NumPy's own
  ``.npy`` writer, never as object arrays;
- one entry ``__tinynet__`` holding a JSON document (as a ``uint8`` array)
  that describes the nesting (dicts, lists, tuples), the key types, the
  scalars, and for every array its dtype, shape and whether it was a Tensor
  (with ``requires_grad``) or a plain array.

Python ints are written as hexadecimal strings and floats with
``float.hex``, so huge ints (a random generator's state) and NaN/inf survive
exactly. ``load`` reads with ``numpy.load(allow_pickle=False)`` only and
checks every entry against the JSON before it allocates anything, so a file
from a stranger cannot run code or make tinynet allocate more memory than
the file could hold. ``save`` writes a temporary file in the target's folder,
fsyncs it and renames it over the target: a crash mid-save leaves the old
checkpoint (or none), never a half-written one.
"""
import io
import json
import math
import os
import secrets
import zipfile

import numpy as np

from tinynet.backend import device_of, is_cupy_array, normalize_device, to_device
from tinynet.tensor import Tensor

FORMAT = "tinynet-checkpoint"
VERSION = 1
HEADER_KEY = "__tinynet__"
# dtype kinds that np.save writes as raw bytes (no pickle): bool, ints, floats, complex
_ARRAY_KINDS = "biufc"
# A legitimate checkpoint is stored uncompressed; allow some headroom for files
# re-zipped with compression, but refuse zip bombs that would expand far more.
_MAX_EXPANSION = 100
_HEADER_LIMIT = 1 << 30


class CheckpointError(RuntimeError):
    """A file that is not a valid tinynet checkpoint (corrupt, foreign, unsafe)."""


# ---------------------------------------------------------------- save
class _Encoder:
    """Walks an object, turning it into JSON nodes plus a dict of arrays."""

    def __init__(self):
        self.arrays = {}
        self._active = set()          # ids of containers being encoded (cycle check)

    def _add_array(self, arr, where):
        if arr.dtype.kind not in _ARRAY_KINDS:
            raise TypeError(f"save: cannot store an array of dtype {arr.dtype} at {where}; "
                            f"expected bool, integer, float or complex dtypes")
        if is_cupy_array(arr):
            arr = to_device(arr, "cpu")     # checkpoints always hold host arrays
        key = f"a{len(self.arrays)}"
        self.arrays[key] = arr
        return {"key": key, "dtype": arr.dtype.str, "shape": list(arr.shape)}

    def encode(self, obj, where="obj"):
        if obj is None:
            return {"t": "none"}
        if isinstance(obj, np.generic):     # first: np.float64 is a float subclass
            return {"t": "npscalar", **self._add_array(np.asarray(obj), where)}
        if isinstance(obj, bool):           # before int: bool is an int subclass
            return {"t": "bool", "v": obj}
        if isinstance(obj, int):
            # hex strings: exact for any size, and not subject to Python's
            # limit on decimal int conversion
            return {"t": "int", "v": hex(obj)}
        if isinstance(obj, float):
            return {"t": "float", "v": float.hex(obj)}
        if isinstance(obj, str):
            return {"t": "str", "v": obj}
        if isinstance(obj, Tensor):
            return {"t": "tensor", "requires_grad": bool(obj.requires_grad),
                    "device": str(obj.device), **self._add_array(obj.array, where)}
        if isinstance(obj, np.ndarray) or is_cupy_array(obj):
            return {"t": "ndarray", "device": device_of(obj), **self._add_array(obj, where)}
        if isinstance(obj, (dict, list, tuple)):
            return self._encode_container(obj, where)
        raise TypeError(f"save: cannot store an object of type {type(obj).__name__} at {where}; "
                        f"expected dict, list, tuple, str, int, float, bool, None, "
                        f"Tensor or NumPy array")

    def _encode_container(self, obj, where):
        if id(obj) in self._active:
            raise ValueError(f"save: {where} contains itself (a reference cycle)")
        self._active.add(id(obj))
        try:
            if isinstance(obj, dict):
                items = [[self._encode_key(k, where), self.encode(v, f"{where}[{k!r}]")]
                         for k, v in obj.items()]
                return {"t": "dict", "items": items}
            kind = "tuple" if isinstance(obj, tuple) else "list"
            return {"t": kind, "items": [self.encode(v, f"{where}[{i}]")
                                         for i, v in enumerate(obj)]}
        finally:
            self._active.discard(id(obj))

    def _encode_key(self, key, where):
        # keys are hashable scalars or tuples of them; arrays as keys make no sense
        if key is None or isinstance(key, (bool, int, float, str, np.generic)):
            return self.encode(key, where)
        if isinstance(key, tuple):
            return {"t": "tuple", "items": [self._encode_key(k, where) for k in key]}
        raise TypeError(f"save: cannot store a dict key of type {type(key).__name__} in "
                        f"{where}; expected str, int, float, bool, None, a NumPy scalar or a "
                        f"tuple of them")


def _fsync_dir(folder):
    # Make the rename itself durable; not every platform can open a folder.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save(obj, f):
    """Save ``obj`` (any nesting of dict / list / tuple / str / int / float /
    bool / None / Tensor / NumPy array) to the path ``f``, atomically.

    ``f`` may also be a writable binary file object (written in place, not
    atomically). The file is a plain ``.npz``; see the module docstring for
    the layout. Tensors on a GPU are stored as host arrays.
    """
    enc = _Encoder()
    root = enc.encode(obj)
    header = {"format": FORMAT, "version": VERSION, "root": root}
    entries = dict(enc.arrays)
    entries[HEADER_KEY] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    if hasattr(f, "write"):
        np.savez(f, allow_pickle=False, **entries)
        return
    path = os.path.abspath(os.fspath(f))
    folder, name = os.path.split(path)
    # Same folder as the target, so os.replace is an atomic rename; mode 0o666
    # lets the umask decide the permissions, as for any newly written file.
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            np.savez(out, allow_pickle=False, **entries)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        # also on KeyboardInterrupt: never leave the temporary file behind
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)


# ---------------------------------------------------------------- load
def _describe(f):
    return repr(os.fspath(f)) if isinstance(f, (str, os.PathLike)) else "the file object"


def _file_size(f):
    if isinstance(f, (str, os.PathLike)):
        return os.path.getsize(f)
    pos = f.tell()
    size = f.seek(0, io.SEEK_END)
    f.seek(pos)
    return size


def _peek(f, n):
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            return fh.read(n)
    pos = f.tell()
    head = f.read(n)
    f.seek(pos)
    return head


def _open_npz(f, where):
    """np.load(allow_pickle=False), with every failure turned into a CheckpointError."""
    # A bare .npy would be read whole by np.load, sized by its own header;
    # refuse it before that can allocate anything.
    if _peek(f, 6) == b"\x93NUMPY":
        raise CheckpointError(f"load: {where} is a single .npy array, not a tinynet checkpoint")
    try:
        npz = np.load(f, allow_pickle=False)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except ValueError as e:
        if "pickle" in str(e):
            raise CheckpointError(f"load: {where} holds pickled data; tinynet never unpickles "
                                  f"(it is not a tinynet checkpoint)") from None
        raise CheckpointError(f"load: {where} is not a tinynet checkpoint ({e})") from None
    except EOFError:
        raise CheckpointError(f"load: {where} is empty or truncated") from None
    except (OSError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"load: {where} is not a readable tinynet checkpoint "
                              f"(truncated or corrupt zip: {e})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):     # cannot happen after the peek
        raise CheckpointError(f"load: {where} is not an .npz file")
    return npz


def _check_zip_sizes(npz, where, file_size):
    """Refuse members whose declared sizes could not come from this file."""
    total = 0
    for info in npz.zip.infolist():
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise CheckpointError(f"load: {where}: zip entry {info.filename!r} declares "
                                  f"{info.file_size} bytes but stores {info.compress_size}")
        total += info.file_size
    limit = _MAX_EXPANSION * max(file_size, 1 << 20)
    if total > limit:
        raise CheckpointError(f"load: {where}: its entries declare {total} bytes in a "
                              f"{file_size}-byte file; refusing to expand it (limit {limit})")


def _read_npy_header(npz, name, where):
    """(shape, dtype) of one member, from its .npy header, checked against its size."""
    member = name + ".npy"
    try:
        info = npz.zip.getinfo(member)
        with npz.zip.open(member) as fp:
            version = np.lib.format.read_magic(fp)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
            elif version in ((2, 0), (3, 0)):
                shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
            else:
                raise ValueError(f"unknown .npy format version {version}")
            offset = fp.tell()
    except KeyError:
        raise CheckpointError(f"load: {where} has no entry {name!r} although its header "
                              f"refers to it") from None
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise CheckpointError(f"load: {where}: entry {name!r} has a bad .npy header "
                              f"({e})") from None
    if dtype.hasobject or dtype.kind not in _ARRAY_KINDS:
        raise CheckpointError(f"load: {where}: entry {name!r} has dtype {dtype}; tinynet "
                              f"checkpoints hold only bool, integer, float or complex arrays "
                              f"(object arrays would need pickle)")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes != info.file_size - offset:
        raise CheckpointError(f"load: {where}: entry {name!r} declares shape {shape} {dtype} "
                              f"({nbytes} bytes) but holds {info.file_size - offset} bytes")
    return tuple(shape), dtype


def _read_header(npz, where):
    if HEADER_KEY + ".npy" not in npz.zip.namelist():
        raise CheckpointError(f"load: {where} is an .npz file without tinynet's header "
                              f"(entries: {sorted(npz.files)[:8]}); not a tinynet checkpoint")
    shape, dtype = _read_npy_header(npz, HEADER_KEY, where)
    if dtype != np.uint8 or len(shape) != 1 or shape[0] > _HEADER_LIMIT:
        raise CheckpointError(f"load: {where}: tinynet header has shape {shape} {dtype}, "
                              f"expected a 1-d uint8 array")
    try:
        header = json.loads(npz[HEADER_KEY].tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"load: {where}: tinynet header is not valid JSON ({e})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT or "root" not in header:
        raise CheckpointError(f"load: {where}: header is not a {FORMAT} header")
    if header.get("version") != VERSION:
        raise CheckpointError(f"load: {where} has checkpoint version {header.get('version')!r}; "
                              f"this tinynet reads version {VERSION}")
    return header


class _Decoder:
    """Rebuilds the saved object from JSON nodes, reading each array once checked."""

    def __init__(self, npz, where, map_location):
        self.npz = npz
        self.where = where
        self.map_location = map_location
        self.used = set()             # each entry may be read once (see _array)

    def _fail(self, msg):
        raise CheckpointError(f"load: {self.where}: {msg}")

    def _array(self, node):
        key = node.get("key")
        if not isinstance(key, str) or key == HEADER_KEY:
            self._fail(f"bad array reference {key!r}")
        # save never shares entries; a header naming one entry many times could
        # make a small file expand into huge memory, so refuse it
        if key in self.used:
            self._fail(f"entry {key!r} is referenced more than once")
        self.used.add(key)
        shape, dtype = _read_npy_header(self.npz, key, self.where)
        if list(shape) != node.get("shape") or dtype.str != node.get("dtype"):
            self._fail(f"entry {key!r} holds {shape} {dtype} but the header declares "
                       f"{tuple(node.get('shape') or ())} {node.get('dtype')}")
        try:
            return self.npz[key]
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
            self._fail(f"entry {key!r} cannot be read ({e})")

    def _device(self, saved):
        m = self.map_location
        if m is None:
            return "cpu"
        if isinstance(m, dict):
            return m.get(saved, "cpu")
        return m

    def decode(self, node):
        if not isinstance(node, dict):
            self._fail(f"malformed header node {node!r}")
        kind = node.get("t")
        if kind in ("list", "tuple", "dict"):
            items = node.get("items")
            if not isinstance(items, list):
                self._fail(f"malformed {kind} node in header (no item list)")
            if kind == "dict":
                return self._dict(items)
            items = [self.decode(n) for n in items]
            return tuple(items) if kind == "tuple" else items
        if kind == "npscalar":
            return self._array(node)[()]
        if kind == "ndarray":
            # NumPy arrays stay NumPy arrays; arrays saved from CuPy follow map_location
            arr = self._array(node)
            saved = node.get("device", "cpu")
            return arr if saved == "cpu" else to_device(arr, self._device(saved))
        if kind == "tensor":
            return self._tensor(node)
        return self._scalar(kind, node)

    def _scalar(self, kind, node):
        parse = {"none": lambda v: None, "bool": bool, "str": str,
                 "int": lambda v: int(v, 16), "float": float.fromhex}.get(kind)
        if parse is None:
            self._fail(f"unknown node type {kind!r} in header")
        try:
            return parse(node["v"] if kind != "none" else None)
        except (KeyError, TypeError, ValueError) as e:
            self._fail(f"malformed {kind} node in header ({type(e).__name__}: {e})")

    def _dict(self, items):
        out = {}
        for pair in items:
            if not isinstance(pair, list) or len(pair) != 2:
                self._fail(f"malformed dict item {pair!r} in header")
            out[self._key(pair[0])] = self.decode(pair[1])
        return out

    def _key(self, node):
        kind = node.get("t") if isinstance(node, dict) else None
        if kind == "npscalar":
            return self._array(node)[()]
        if kind not in ("tuple", "none", "bool", "int", "float", "str"):
            self._fail(f"dict key node of type {kind!r} is not hashable")
        if kind == "tuple":
            items = node.get("items")
            if not isinstance(items, list):
                self._fail("malformed tuple key in header (no item list)")
            return tuple(self._key(k) for k in items)
        return self._scalar(kind, node)

    def _tensor(self, node):
        arr = self._array(node)
        device = self._device(node.get("device", "cpu"))
        if device != "cpu":
            arr = to_device(arr, device)
        t = Tensor._wrap(arr)
        if node.get("requires_grad"):
            if arr.dtype.kind not in "fc":
                self._fail(f"entry {node['key']!r} has dtype {arr.dtype} but requires_grad")
            t.requires_grad_(True)
        return t


def load(f, map_location=None):
    """Load an object written by :func:`save` from a path or binary file object.

    Tensors come back on the CPU unless ``map_location`` names a device
    (``'cuda'``, ``'cuda:1'``) or maps saved devices to new ones
    (``{'cuda:0': 'cpu'}``). Never unpickles: a file that is not a valid
    tinynet checkpoint raises :class:`CheckpointError` naming the file.
    """
    where = _describe(f)
    if isinstance(map_location, dict):
        map_location = {normalize_device(k): normalize_device(v) for k, v in map_location.items()}
    elif map_location is not None:
        map_location = normalize_device(map_location)
    size = _file_size(f)
    if size == 0:
        raise CheckpointError(f"load: {where} is empty (0 bytes); not a tinynet checkpoint")
    npz = _open_npz(f, where)
    try:
        _check_zip_sizes(npz, where, size)
        header = _read_header(npz, where)
        return _Decoder(npz, where, map_location).decode(header["root"])
    except zipfile.BadZipFile as e:
        raise CheckpointError(f"load: {where} is corrupt ({e})") from None
    except RecursionError:
        raise CheckpointError(f"load: {where} nests its structure too deeply") from None
    finally:
        npz.close()
