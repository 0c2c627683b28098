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
exactly. ``save`` writes a temporary file in the target's folder, fsyncs it
and renames it over the target: a crash mid-save leaves the old checkpoint
(or none), never a half-written one.

``load`` never unpickles and treats the file as untrusted. Before it
allocates anything for an array it checks, from the zip directory and the
headers alone, that:

- every entry is stored or deflated, unencrypted and inside the file, the
  entries' compressed sizes add up to at most the file's size and their
  uncompressed sizes to at most ``_MAX_RATIO`` times it (a deflated entry
  may expand more than that, as zeros do, if the whole file does not);
- the JSON header is at most ``_MAX_HEADER_BYTES`` long, holds at most
  ``_MAX_HEADER_TOKENS`` JSON values and nests at most ``_MAX_DEPTH`` levels
  (counted on the raw bytes, before parsing: parsing is what costs memory);
- the entries are exactly those the header refers to, each once, and each
  entry's ``.npy`` header agrees with the JSON and with the entry's size.

Arrays are then read in chunks from the zip stream, which stops at the
declared size. Anything else raises :class:`CheckpointError` naming the
file and what was wrong. ``save`` refuses to write what ``load`` would
refuse to read.

A path ending in ``.safetensors`` selects the safetensors format instead
(the format of the ``safetensors`` package, read and written through it; it
is imported only then): a flat dict of str -> Tensor plus optional str -> str
metadata, the interchange format for weights written by PyTorch and others.
Saving is atomic as above; loading checks the 8-byte header length, the
JSON header (the same limits as above) and every tensor's dtype, shape and
byte range against the file's size before any tensor is read.
"""
import io
import json
import math
import os
import re
import secrets
import zipfile
import zlib
from contextlib import contextmanager

import numpy as np

from tinynet.backend import device_of, is_cupy_array, normalize_device, to_device
from tinynet.tensor import Tensor

FORMAT = "tinynet-checkpoint"
VERSION = 1
HEADER_KEY = "__tinynet__"
SAFETENSORS_SUFFIX = ".safetensors"
# dtype kinds that np.save writes as raw bytes (no pickle): bool, ints, floats, complex
_ARRAY_KINDS = "biufc"

# What load accepts, so that a small file cannot claim much memory. Parsed
# JSON costs up to about 120 bytes of Python objects per value (one-key
# dicts with distinct keys), so 2**18 values keep a hostile header's parse
# near 30 MiB; a model's and its optimizer's state take about 30 values per
# array, so that still describes some 8 000 arrays.
_MAX_HEADER_BYTES = 4 << 20
_MAX_HEADER_TOKENS = 1 << 18      # JSON values, counted as the , : [ { bytes (an upper bound)
_MAX_DEPTH = 256                  # JSON nesting levels (a Python object nests about a third)
_MAX_RATIO = 32                   # the entries' uncompressed size / the file's size
_MAX_NDIM = 64                    # NumPy's own limit
_READ_CHUNK = 1 << 20             # bytes read from a zip entry at a time


class CheckpointError(RuntimeError):
    """A file that is not a valid tinynet checkpoint (corrupt, foreign, unsafe)."""


# ---------------------------------------------------------------- header limits
_ESCAPE = re.compile(rb"\\.", re.S)
_STRING = re.compile(rb'"[^"]*"')
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_STEP = np.zeros(256, np.int8)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1


def _json_depth(data):
    """How deep the JSON text ``data`` nests, from its brackets outside strings
    (without parsing it); None if its brackets do not balance."""
    bare = _STRING.sub(b"", _ESCAPE.sub(b"", data)).translate(None, _NOT_BRACKETS)
    opens = bare.count(b"[") + bare.count(b"{")
    if 2 * opens != len(bare):
        return None
    if not bare:
        return 0
    depth = np.cumsum(_STEP[np.frombuffer(bare, np.uint8)], dtype=np.int32)
    return None if depth.min() < 0 else int(depth.max())


def _header_problem(data):
    """Why the JSON header ``data`` (bytes) is beyond what load reads, or None."""
    if len(data) > _MAX_HEADER_BYTES:
        return f"its header is {len(data)} bytes; tn.load reads at most {_MAX_HEADER_BYTES}"
    tokens = sum(data.count(c) for c in (b",", b":", b"[", b"{"))
    if tokens > _MAX_HEADER_TOKENS:
        return (f"its header holds up to {tokens} JSON values; tn.load reads at most "
                f"{_MAX_HEADER_TOKENS}")
    depth = _json_depth(data)
    if depth is None:         # also keeps an unclosed "[[[[..." away from the parser
        return "its header is not valid JSON (unbalanced brackets)"
    if depth > _MAX_DEPTH:
        return f"nests its structure too deeply ({depth} JSON levels; at most {_MAX_DEPTH})"
    return None


def _to_parts(obj):
    """``obj`` as a checkpoint's two halves: the JSON header (bytes) and the
    arrays it refers to, by key. Raises ValueError past load's limits."""
    enc = _Encoder()
    root = enc.encode(obj)
    data = json.dumps({"format": FORMAT, "version": VERSION, "root": root}).encode("utf-8")
    problem = _header_problem(data)
    if problem is not None:
        raise ValueError(f"save: cannot store this object, tn.load would refuse it: {problem} "
                         f"(store fewer, larger arrays, e.g. stacked, or nest less)")
    return data, enc.arrays


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
        if hasattr(obj, "state_dict"):
            # tinynet never pickles, so a whole Module or optimizer cannot be
            # stored as PyTorch's torch.save(model) would: say what to do instead
            raise TypeError(
                f"save: cannot store a whole {type(obj).__name__} at {where}: tinynet "
                "checkpoints hold data, never pickled objects (unlike torch.save). Save "
                f"its state_dict() instead, e.g. tn.save(model.state_dict(), path), and "
                "load it with model.load_state_dict(tn.load(path))")
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


def atomic_write(path, write):
    """Call ``write(tmp_path)`` on a temporary file in ``path``'s folder, fsync
    it and rename it over ``path``: a crash leaves the old file or none."""
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    # Same folder as the target, so os.replace is an atomic rename; mode 0o666
    # lets the umask decide the permissions, as for any newly written file.
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        os.close(fd)
        mode = os.stat(tmp).st_mode & 0o777      # what the umask made of 0o666
        write(tmp)
        os.chmod(tmp, mode)                      # a writer may have made its own file
        with open(tmp, "rb+") as out:
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


def _is_safetensors(f):
    return isinstance(f, (str, os.PathLike)) and \
        os.fspath(f).lower().endswith(SAFETENSORS_SUFFIX)


def save(obj, f, *, metadata=None):
    """Save ``obj`` (any nesting of dict / list / tuple / str / int / float /
    bool / None / Tensor / NumPy array) to the path ``f``, atomically.

    ``f`` may also be a writable binary file object (written in place, not
    atomically). The file is a plain ``.npz``; see the module docstring for
    the layout. Tensors on a GPU are stored as host arrays.

    A path ending in ``.safetensors`` is written in the safetensors format
    instead (the ``safetensors`` package, ``pip install tinynet[interop]``):
    ``obj`` must then be a flat dict of str -> Tensor or array (a state_dict)
    and ``metadata`` an optional dict of str -> str stored in its header.
    """
    if _is_safetensors(f):
        _save_safetensors(obj, f, metadata)
        return
    if metadata is not None:
        raise ValueError("save: metadata= is for .safetensors files; a tinynet checkpoint "
                         "stores strings in the saved object itself (e.g. "
                         "{'model': state_dict, 'note': '...'})")
    data, arrays = _to_parts(obj)
    entries = dict(arrays)
    entries[HEADER_KEY] = np.frombuffer(data, dtype=np.uint8)
    if hasattr(f, "write"):
        np.savez(f, allow_pickle=False, **entries)
        return

    def write(tmp):
        with open(tmp, "wb") as out:
            np.savez(out, allow_pickle=False, **entries)
    atomic_write(f, write)


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


_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)      # what np.savez(_compressed) writes


def _check_members(zf, where, file_size):
    """The zip's entries by name, once known to lie inside the file, without
    overlapping, and to expand to at most ``_MAX_RATIO`` times its size."""
    members, compressed, expanded = {}, 0, 0
    for info in zf.infolist():
        name = info.filename
        if name in members:
            raise CheckpointError(f"load: {where}: zip entry {name!r} appears twice")
        if info.flag_bits & 0x1:
            raise CheckpointError(f"load: {where}: zip entry {name!r} is encrypted")
        if info.compress_type not in _METHODS:
            raise CheckpointError(f"load: {where}: zip entry {name!r} uses compression method "
                                  f"{info.compress_type}; tinynet reads stored or deflated "
                                  f"entries only")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise CheckpointError(f"load: {where}: zip entry {name!r} declares "
                                  f"{info.file_size} bytes but stores {info.compress_size}")
        if info.header_offset + info.compress_size > file_size:
            raise CheckpointError(f"load: {where}: zip entry {name!r} declares "
                                  f"{info.compress_size} bytes at offset {info.header_offset}, "
                                  f"beyond the end of the {file_size}-byte file")
        compressed += info.compress_size
        expanded += info.file_size
        members[name] = info
    if compressed > file_size:
        raise CheckpointError(f"load: {where}: its entries declare {compressed} compressed "
                              f"bytes in a {file_size}-byte file (overlapping entries)")
    if expanded > _MAX_RATIO * file_size:
        biggest = max(members.values(), key=lambda i: i.file_size)
        raise CheckpointError(f"load: {where}: its entries would expand to {expanded} bytes, "
                              f"more than {_MAX_RATIO} times the file's {file_size} (a zip "
                              f"bomb? entry {biggest.filename!r} expands {biggest.compress_size} "
                              f"bytes into {biggest.file_size}); tn.save never compresses")
    return members


@contextmanager
def _reading(where, name):
    """Turn the errors of reading zip entry ``name`` into CheckpointErrors."""
    try:
        yield
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise CheckpointError(f"load: {where}: entry {name!r} cannot be read "
                              f"({type(e).__name__}: {e})") from None


def _npy_header(fp, info, where, name):
    """(shape, dtype, fortran_order) from the .npy header at the start of
    ``fp``, checked against the entry's size; ``fp`` is left at the data."""
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version in ((2, 0), (3, 0)):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
    else:
        raise ValueError(f"unknown .npy format version {version}")
    if dtype.hasobject or dtype.kind not in _ARRAY_KINDS:
        raise CheckpointError(f"load: {where}: entry {name!r} has dtype {dtype}; tinynet "
                              f"checkpoints hold only bool, integer, float or complex arrays "
                              f"(object arrays would need pickle)")
    if len(shape) > _MAX_NDIM or any(d < 0 for d in shape):
        raise CheckpointError(f"load: {where}: entry {name!r} has a bad shape {shape}")
    nbytes = math.prod(shape) * dtype.itemsize
    stored = info.file_size - fp.tell()
    if nbytes != stored:
        raise CheckpointError(f"load: {where}: entry {name!r} declares shape {shape} {dtype} "
                              f"({nbytes} bytes) but holds {stored} bytes")
    return tuple(shape), dtype, fortran


def _read_header(zf, members, where):
    """The parsed JSON header, read only once its size, values and depth are known."""
    member = HEADER_KEY + ".npy"
    info = members.get(member)
    if info is None:
        raise CheckpointError(f"load: {where} is an .npz file without tinynet's header "
                              f"(entries: {sorted(members)[:8]}); not a tinynet checkpoint")
    with _reading(where, HEADER_KEY), zf.open(info) as fp:
        shape, dtype, _ = _npy_header(fp, info, where, HEADER_KEY)
        if dtype != np.uint8 or len(shape) != 1:
            raise CheckpointError(f"load: {where}: tinynet header has shape {shape} {dtype}, "
                                  f"expected a 1-d uint8 array")
        if shape[0] > _MAX_HEADER_BYTES:
            raise CheckpointError(f"load: {where}: its header is {shape[0]} bytes; tn.load "
                                  f"reads at most {_MAX_HEADER_BYTES}")
        data = fp.read(shape[0])
    return _parse_header(data, where)


def _parse_header(data, where):
    problem = _header_problem(data)
    if problem is not None:
        sep = " " if problem.startswith("nests") else ": "
        raise CheckpointError(f"load: {where}{sep}{problem}")
    try:
        header = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"load: {where}: tinynet header is not valid JSON ({e})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT or "root" not in header:
        raise CheckpointError(f"load: {where}: header is not a {FORMAT} header")
    if header.get("version") != VERSION:
        raise CheckpointError(f"load: {where} has checkpoint version {header.get('version')!r}; "
                              f"this tinynet reads version {VERSION}")
    return header


def _array_nodes(root, where):
    """Every array node under ``root`` by its entry key, each checked for a
    well-formed key, dtype and shape (without touching any entry)."""
    found, stack = {}, [root]
    while stack:
        node = stack.pop()
        if isinstance(node, list):            # a dict's [key, value] pair
            stack.extend(node)
            continue
        if not isinstance(node, dict):        # malformed: decode says where
            continue
        kind = node.get("t")
        if kind in ("list", "tuple", "dict") and isinstance(node.get("items"), list):
            stack.extend(node["items"])
        elif kind in ("ndarray", "tensor", "npscalar"):
            key, shape, dtype = node.get("key"), node.get("shape"), node.get("dtype")
            if not isinstance(key, str) or key == HEADER_KEY:
                raise CheckpointError(f"load: {where}: bad array reference {key!r}")
            # save never shares entries; a header naming one entry many times could
            # make a small file expand into huge memory, so refuse it
            if key in found:
                raise CheckpointError(f"load: {where}: entry {key!r} is referenced more "
                                      f"than once")
            if not isinstance(shape, list) or len(shape) > _MAX_NDIM \
                    or not all(type(d) is int and d >= 0 for d in shape) \
                    or (kind == "npscalar" and shape):
                raise CheckpointError(f"load: {where}: array {key!r} has a malformed shape "
                                      f"{str(shape)[:80]} in the header")
            if not isinstance(dtype, str):
                raise CheckpointError(f"load: {where}: array {key!r} has a malformed dtype "
                                      f"{str(dtype)[:80]} in the header")
            found[key] = node
    return found


def _check_entries(zf, members, nodes, where):
    """The zip holds exactly the header and the arrays it describes, each
    entry's .npy header matching the JSON."""
    missing = sorted(k for k in nodes if k + ".npy" not in members)
    if missing:
        raise CheckpointError(f"load: {where} has no entry {missing[0]!r} although its header "
                              f"refers to it")
    extra = sorted(set(members) - {k + ".npy" for k in nodes} - {HEADER_KEY + ".npy"})
    if extra:
        raise CheckpointError(f"load: {where} holds {len(extra)} entries its header does not "
                              f"describe (e.g. {extra[:3]}); tn.save writes none")
    for key, node in nodes.items():
        info = members[key + ".npy"]
        with _reading(where, key), zf.open(info) as fp:
            shape, dtype, _ = _npy_header(fp, info, where, key)
        _check_declared(key, node, shape, dtype, where)


def _check_declared(key, node, shape, dtype, where):
    if list(shape) != node["shape"] or dtype.str != node["dtype"]:
        raise CheckpointError(f"load: {where}: entry {key!r} holds {shape} {dtype} but the "
                              f"header declares {tuple(node['shape'])} {node['dtype']}")


def _read_array(zf, info, node, where):
    """One entry's array, read in chunks into memory allocated for its checked size."""
    key = node["key"]
    with _reading(where, key), zf.open(info) as fp:
        shape, dtype, fortran = _npy_header(fp, info, where, key)
        _check_declared(key, node, shape, dtype, where)
        arr = np.empty(shape[::-1] if fortran else shape, dtype)
        raw = memoryview(arr.reshape(-1).view(np.uint8))
        pos = 0
        while pos < len(raw):
            n = fp.readinto(raw[pos:pos + _READ_CHUNK])
            if not n:
                raise CheckpointError(f"load: {where}: entry {key!r} is truncated")
            pos += n
    return arr.T if fortran else arr


class _Decoder:
    """Rebuilds the saved object from JSON nodes; ``fetch(node)`` gives an
    array node's array (its key, shape and dtype already checked)."""

    def __init__(self, fetch, where, map_location):
        self.fetch = fetch
        self.where = where
        self.map_location = map_location
        self.used = set()             # each entry may be read once (see _array_nodes)

    def _fail(self, msg):
        raise CheckpointError(f"load: {self.where}: {msg}")

    def _array(self, node):
        key = node["key"]
        if key in self.used:
            self._fail(f"entry {key!r} is referenced more than once")
        self.used.add(key)
        return self.fetch(node)

    def _device(self, saved):
        m = self.map_location
        if m is None:
            return "cpu"
        if isinstance(m, dict):
            return m.get(saved, "cpu")
        return m

    def decode(self, node):
        if not isinstance(node, dict):
            self._fail(f"malformed header node {str(node)[:80]}")
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
            self._fail(f"unknown node type {str(kind)[:80]!r} in header")
        try:
            return parse(node["v"] if kind != "none" else None)
        except (KeyError, TypeError, ValueError) as e:
            self._fail(f"malformed {kind} node in header ({type(e).__name__}: {str(e)[:80]})")

    def _dict(self, items):
        out = {}
        for pair in items:
            if not isinstance(pair, list) or len(pair) != 2:
                self._fail(f"malformed dict item {str(pair)[:80]} in header")
            out[self._key(pair[0])] = self.decode(pair[1])
        return out

    def _key(self, node):
        kind = node.get("t") if isinstance(node, dict) else None
        if kind == "npscalar":
            return self._array(node)[()]
        if kind not in ("tuple", "none", "bool", "int", "float", "str"):
            self._fail(f"dict key node of type {str(kind)[:80]!r} is not hashable")
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


def _normalize_map_location(map_location):
    if isinstance(map_location, dict):
        return {normalize_device(k): normalize_device(v) for k, v in map_location.items()}
    return None if map_location is None else normalize_device(map_location)


def _from_parts(header, fetch, where, map_location=None):
    """The object a parsed header describes, its arrays given by ``fetch(node)``."""
    try:
        return _Decoder(fetch, where, _normalize_map_location(map_location)).decode(
            header["root"])
    except RecursionError:
        raise CheckpointError(f"load: {where} nests its structure too deeply") from None


def load(f, map_location=None):
    """Load an object written by :func:`save` from a path or binary file object.

    Tensors come back on the CPU unless ``map_location`` names a device
    (``'cuda'``, ``'cuda:1'``) or maps saved devices to new ones
    (``{'cuda:0': 'cpu'}``). Never unpickles: a file that is not a valid
    tinynet checkpoint, or one beyond the limits in this module's docstring,
    raises :class:`CheckpointError` naming the file and the problem.

    A path ending in ``.safetensors`` is read as a safetensors file (a flat
    dict of str -> Tensor, checked in the same way: see ``_load_safetensors``).
    """
    if _is_safetensors(f):
        return _load_safetensors(f, map_location)
    where = _describe(f)
    _normalize_map_location(map_location)          # a bad device fails before reading
    size = _file_size(f)
    if size == 0:
        raise CheckpointError(f"load: {where} is empty (0 bytes); not a tinynet checkpoint")
    npz = _open_npz(f, where)
    try:
        zf = npz.zip
        members = _check_members(zf, where, size)
        header = _read_header(zf, members, where)
        nodes = _array_nodes(header["root"], where)
        _check_entries(zf, members, nodes, where)
        return _from_parts(header, lambda node: _read_array(zf, members[node["key"] + ".npy"],
                                                            node, where),
                           where, map_location)
    except zipfile.BadZipFile as e:
        raise CheckpointError(f"load: {where} is corrupt ({e})") from None
    finally:
        npz.close()


# ---------------------------------------------------------------- safetensors
# safetensors dtype names <-> NumPy dtypes (those NumPy has: no bfloat16 or float8)
_ST_DTYPES = {"BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "U16": np.uint16,
              "I16": np.int16, "U32": np.uint32, "I32": np.int32, "U64": np.uint64,
              "I64": np.int64, "F16": np.float16, "F32": np.float32, "F64": np.float64}
_ST_NAMES = {np.dtype(v): k for k, v in _ST_DTYPES.items()}
_ST_METADATA = "__metadata__"


def _c_order(arr):
    """``arr`` in C order (a copy only when needed; 0-d arrays stay 0-d)."""
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def _import_safetensors(op):
    try:
        import safetensors
        import safetensors.numpy                      # noqa: F401
    except ImportError:
        raise ImportError(f"{op}: .safetensors files need the safetensors package: "
                          "pip install 'tinynet[interop]' (or pip install safetensors)") from None
    return safetensors


def _save_safetensors(obj, f, metadata):
    """A flat dict of str -> Tensor/array written as a .safetensors file, atomically."""
    where = _describe(f)
    if not isinstance(obj, dict):
        raise TypeError(f"save: a .safetensors file holds a flat dict of str -> Tensor (a "
                        f"state_dict), got type {type(obj).__name__} for {where}; save nested "
                        "training state in tinynet's own format (a file name not ending in "
                        ".safetensors, e.g. 'checkpoint.npz')")
    arrays = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise TypeError(f"save: a .safetensors file needs str keys, got {key!r} "
                            f"({type(key).__name__}) for {where}")
        if isinstance(value, Tensor):
            arr = value.array
        elif isinstance(value, np.ndarray) or is_cupy_array(value):
            arr = value
        elif isinstance(value, (dict, list, tuple)):
            raise TypeError(f"save: a .safetensors file holds a flat dict of str -> Tensor, "
                            f"but obj[{key!r}] has type {type(value).__name__} (nested state) "
                            f"for {where}; save nested training state (optimizer, epoch, "
                            "...) in tinynet's own format (a file name not ending in "
                            ".safetensors, e.g. 'checkpoint.npz')")
        else:
            raise TypeError(f"save: a .safetensors file holds only tensors, but obj[{key!r}] "
                            f"has type {type(value).__name__} for {where}; put numbers and "
                            "strings in metadata= (str -> str) or use tinynet's own format")
        if is_cupy_array(arr):
            arr = to_device(arr, "cpu")
        if arr.dtype not in _ST_NAMES:
            raise TypeError(f"save: obj[{key!r}] has dtype {arr.dtype}, which safetensors "
                            f"cannot hold from NumPy (expected one of "
                            f"{sorted(str(d) for d in _ST_NAMES)}) for {where}")
        arrays[key] = _c_order(arr)
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("save: safetensors metadata must be a dict of str -> str, got "
                            f"{str(metadata)[:80]}")
    st = _import_safetensors("save")

    def write(tmp):
        st.numpy.save_file(arrays, tmp, metadata=metadata)
        with open(tmp, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
        if n > _MAX_HEADER_BYTES:
            raise ValueError(f"save: cannot store this dict as {where}: its safetensors "
                             f"header would be {n} bytes and tn.load reads at most "
                             f"{_MAX_HEADER_BYTES} (store fewer, larger tensors)")
    atomic_write(f, write)


def _unique_keys(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k[:80]!r}")
        out[k] = v
    return out


def _safetensors_header(f):
    """(header entries by name, metadata, data start offset) of a .safetensors
    file, every entry checked against the file's size; CheckpointError otherwise."""
    where = _describe(f)
    size = os.path.getsize(f)
    with open(f, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise CheckpointError(f"load: {where} is not a safetensors file: it is {size} "
                                  "bytes, shorter than the 8-byte header length (truncated?)")
        n = int.from_bytes(head, "little")
        if n > _MAX_HEADER_BYTES:
            raise CheckpointError(f"load: {where}: its safetensors header claims {n} bytes; "
                                  f"tn.load reads at most {_MAX_HEADER_BYTES} (corrupt or not "
                                  "a safetensors file)")
        if 8 + n > size:
            raise CheckpointError(f"load: {where}: its safetensors header claims {n} bytes "
                                  f"but the file has only {size - 8} after the length "
                                  "(truncated)")
        data = fh.read(n)
    problem = _header_problem(data)
    if problem is not None:
        sep = " " if problem.startswith("nests") else ": "
        raise CheckpointError(f"load: {where}{sep}{problem}")
    try:
        header = json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys)
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"load: {where}: its safetensors header is not valid JSON "
                              f"({e})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"load: {where}: its safetensors header is not a JSON object")
    metadata = header.pop(_ST_METADATA, None)
    if metadata is not None and not (isinstance(metadata, dict) and all(
            isinstance(v, str) for v in metadata.values())):
        raise CheckpointError(f"load: {where}: its safetensors metadata is not a dict of "
                              "str -> str")
    buffer = size - 8 - n
    spans = []
    for name, entry in header.items():
        what = f"load: {where}: tensor {name[:80]!r}"
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise CheckpointError(f"{what} has a malformed header entry {str(entry)[:80]}")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in _ST_DTYPES:
            raise CheckpointError(f"{what} has dtype {str(dtype)[:20]!r}, which tinynet "
                                  f"cannot read (NumPy has no such dtype; known: "
                                  f"{', '.join(_ST_DTYPES)})")
        if not isinstance(shape, list) or len(shape) > _MAX_NDIM or \
                not all(type(d) is int and d >= 0 for d in shape):
            raise CheckpointError(f"{what} has a malformed shape {str(shape)[:80]}")
        if not isinstance(offsets, list) or len(offsets) != 2 or \
                not all(type(o) is int for o in offsets) or not 0 <= offsets[0] <= offsets[1]:
            raise CheckpointError(f"{what} has malformed data_offsets {str(offsets)[:80]}")
        nbytes = math.prod(shape) * np.dtype(_ST_DTYPES[dtype]).itemsize
        if offsets[1] - offsets[0] != nbytes:
            raise CheckpointError(f"{what} declares shape {tuple(shape)} {dtype} ({nbytes} "
                                  f"bytes) but data_offsets {offsets} span "
                                  f"{offsets[1] - offsets[0]}")
        if offsets[1] > buffer:
            raise CheckpointError(f"{what} lies at bytes {offsets} but the file holds only "
                                  f"{buffer} bytes of tensor data (truncated)")
        spans.append((offsets[0], offsets[1], name))
    spans.sort()
    end = 0
    for start, stop, name in spans:
        if start != end:
            kind = "overlaps the tensor before it" if start < end else "leaves a gap before it"
            raise CheckpointError(f"load: {where}: tensor {name[:80]!r} at bytes "
                                  f"[{start}, {stop}] {kind}; a safetensors file packs its "
                                  "tensors back to back")
        end = stop
    if end != buffer:
        raise CheckpointError(f"load: {where}: its tensors cover {end} bytes but the file "
                              f"holds {buffer} after the header (trailing data)")
    return {name: header[name] for _, _, name in spans}, metadata


def _load_safetensors(f, map_location=None):
    """The dict of Tensors in a .safetensors file, in the order they are stored."""
    where = _describe(f)
    location = _normalize_map_location(map_location)
    entries, _ = _safetensors_header(f)
    st = _import_safetensors("load")
    device = (location.get("cpu", "cpu") if isinstance(location, dict) else location) or "cpu"
    out = {}
    try:
        with st.safe_open(os.fspath(f), framework="numpy") as fh:
            for name, entry in entries.items():
                arr = fh.get_tensor(name)
                want = (tuple(entry["shape"]), np.dtype(_ST_DTYPES[entry["dtype"]]))
                if (arr.shape, arr.dtype) != want:          # cannot happen after the checks
                    raise CheckpointError(f"load: {where}: tensor {name!r} read as "
                                          f"{arr.shape} {arr.dtype}, expected {want}")
                if not arr.flags.writeable:
                    arr = arr.copy()
                out[name] = Tensor._wrap(arr if device == "cpu" else to_device(arr, device))
    except st.SafetensorError as e:
        raise CheckpointError(f"load: {where} is not a readable safetensors file ({e})") \
            from None
    return out


def safetensors_metadata(f):
    """The str -> str metadata in a .safetensors file's header ({} if none)."""
    if not _is_safetensors(f):
        raise ValueError(f"safetensors_metadata: {_describe(f)} does not end in "
                         f"{SAFETENSORS_SUFFIX}")
    _, metadata = _safetensors_header(f)
    return dict(metadata or {})
