"""A bounded cache of the CPU kernels' large temporaries.

NumPy has no caching allocator: every large array is a fresh allocation,
and memory the C library has handed back to the operating system comes back
zero-filled, one page fault per 4 KiB, the next time. The batch-parallel
convolution needs the same scratch (column matrices, GEMM results,
weight-gradient parts) at every call, so it takes it from here and the
blocks are reused. Arrays the kernels return are never from here: they are
ordinary NumPy arrays, and what the rest of the program allocates is left
to malloc as it would be without tinynet.

A block is free again when no array uses it. Every array handed out is a
view whose ``base`` is the cached block (NumPy points a view of a view at
the block too), so the block's reference count says whether anything still
uses it: nothing is ever returned explicitly.

Bounded: at most ``limit()`` bytes of blocks (``TINYNET_WORKSPACE_MB``,
default 256; 0 turns the cache off); beyond that the least recently used
free blocks are dropped, and if every block is in use the array comes from
NumPy as usual. ``tinynet.empty_cache()`` drops every block. Arrays under
``MIN_BYTES`` are not cached: malloc serves them from its heap cheaply.
"""
import os
import sys
import threading

import numpy as np

MIN_BYTES = 256 << 10

_lock = threading.Lock()
_blocks = []                 # uint8 arrays, least recently used first
_held = 0                    # their total size in bytes


def limit():
    """The cache's size limit in bytes."""
    env = os.environ.get("TINYNET_WORKSPACE_MB")
    if env is None:
        return 256 << 20
    try:
        mb = float(env)
    except ValueError:
        mb = -1
    if not mb >= 0:
        raise ValueError(f"TINYNET_WORKSPACE_MB must be a number of MiB >= 0, got {env!r}")
    return int(mb * (1 << 20))


def _size_class(nbytes):
    """``nbytes`` rounded up to a step of 1/8 of its power of two: a block
    serves every request of its class, wasting at most 12.5%."""
    step = max(1 << max(nbytes.bit_length() - 4, 0), 4096)
    return -(-nbytes // step) * step


def empty(shape, dtype):
    """An uninitialised C-contiguous array, from the cache when it is large."""
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes < MIN_BYTES:
        return np.empty(shape, dtype)
    size = _size_class(nbytes)
    with _lock:
        block = _take(size) if size <= limit() else None
        if block is None:
            return np.empty(shape, dtype)
        return block[:nbytes].view(dtype).reshape(shape)


def zeros(shape, dtype):
    a = empty(shape, dtype)
    a.fill(0)
    return a


def _take(size):
    """A free block of ``size`` bytes (moved to the most recently used end),
    a new one if the limit allows, or None. Called under the lock."""
    global _held
    for i in range(len(_blocks)):
        # 2 references: the list's and getrefcount's argument; any array
        # still using the block holds one more
        if _blocks[i].nbytes == size and sys.getrefcount(_blocks[i]) == 2:
            _blocks.append(_blocks.pop(i))
            return _blocks[-1]
    cap = limit()
    i = 0
    while _held + size > cap and i < len(_blocks):
        if sys.getrefcount(_blocks[i]) == 2:          # free: drop it
            _held -= _blocks.pop(i).nbytes
        else:
            i += 1
    if _held + size > cap:
        return None
    _blocks.append(np.empty(size, np.uint8))
    _held += size
    return _blocks[-1]


def _after_fork_in_child():
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def clear():
    """Drop every block (arrays still using one keep it until they go)."""
    global _held
    with _lock:
        _blocks.clear()
        _held = 0


def stats():
    """{'blocks', 'bytes', 'free_bytes'} of the cache now."""
    with _lock:
        free = sum(_blocks[i].nbytes for i in range(len(_blocks))
                   if sys.getrefcount(_blocks[i]) == 2)
        return {"blocks": len(_blocks), "bytes": _held, "free_bytes": free}
