"""Numba kernels for tinynet's hot paths, installed as ``tinynet.kernels``.

Each hot path is one module (``conv2d``, ``pool2d``, ``lstm_cell``, ``gru_cell``)
holding several implementations of the same kernels side by side, llm.c style:
a plain NumPy reference (the oracle), then faster versions. Each module ends with an
``IMPLS`` table and a ``select(device)`` that picks one.

Choosing an implementation:

- automatically: the fastest available one for the device;
- by environment: ``TINYNET_CONV_IMPL=ref`` / ``TINYNET_POOL_IMPL=cpu_v1`` /
  ``TINYNET_LSTM_IMPL`` / ``TINYNET_GRU_IMPL``;
- from code: ``tinynet.kernels.use(conv="ref")`` (also a context manager).

Threading: Numba's parallel loops use the ``workqueue`` layer unless
``NUMBA_THREADING_LAYER`` says otherwise. On a 2-core machine OpenMP's
spinning worker threads fight OpenBLAS's for the cores (the im2col pipeline
ran several times slower than plain NumPy); workqueue threads sleep when idle.
"""
import os

_forced = {}          # hot path -> implementation name, set by use()


_numba_ok = None


def numba_available():
    """True if Numba imports. The first call also sets its threading layer, so
    every kernel builder calls it before compiling; Numba itself is imported
    only then (it is most of ``import tinynet``'s time otherwise)."""
    global _numba_ok
    if _numba_ok is None:
        try:
            import numba
        except ImportError:
            _numba_ok = False
            return False
        if "NUMBA_THREADING_LAYER" not in os.environ:
            numba.config.THREADING_LAYER = "workqueue"
        _numba_ok = True
    return _numba_ok


def forced(path):
    """The implementation forced for ``path`` ('conv', 'pool', 'lstm', 'gru'), or None."""
    return _forced.get(path) or os.environ.get(f"TINYNET_{path.upper()}_IMPL") or None


def pick(path, table, x, cpu, gpu):
    """The implementation of hot path ``path`` (one of ``table``) for array ``x``.

    A forced name (``use(...)`` or ``TINYNET_<PATH>_IMPL``) wins and must suit
    the device of ``x``; otherwise ``table[gpu]`` for CuPy arrays and
    ``table[cpu]`` for NumPy arrays, or ``table["ref"]`` when that one cannot
    run here (no Numba, or Numba CUDA that does not compile). Every hot path's
    ``select()`` is this call with its own table and defaults.
    """
    from tinynet.kernels.conv2d import check_device
    name = forced(path)
    on_gpu = type(x).__module__.startswith("cupy")
    if name is not None:
        impl = table.get(name)
        if impl is None:
            raise ValueError(f"TINYNET_{path.upper()}_IMPL={name!r} is not one of "
                             f"{sorted(table)}")
        check_device(path, impl, on_gpu)
        return impl
    want = table[gpu if on_gpu else cpu]
    return want if want.available() else table["ref"]


class use:
    """Force implementations: ``use(conv="ref")`` globally, or as
    ``with tinynet.kernels.use(pool="ref"): ...`` for a block."""

    def __init__(self, **choices):
        from tinynet.kernels import conv2d, gru_cell, lstm_cell, pool2d
        tables = {"conv": conv2d.IMPLS, "pool": pool2d.IMPLS, "lstm": lstm_cell.IMPLS,
                  "gru": gru_cell.IMPLS}
        for path, name in choices.items():
            if path not in tables:
                raise ValueError(f"kernels.use: unknown hot path {path!r}; expected one of "
                                 f"{sorted(tables)}")
            if name is not None and name not in tables[path]:
                raise ValueError(f"kernels.use: unknown {path} implementation {name!r}; "
                                 f"expected one of {sorted(tables[path])}")
        self._previous = dict(_forced)
        for path, name in choices.items():
            if name is None:
                _forced.pop(path, None)
            else:
                _forced[path] = name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _forced.clear()
        _forced.update(self._previous)
        return False
