"""Numba kernels for tinynet's hot paths, installed as ``tinynet.kernels``.

Each hot path is one module (``conv2d``, ``pool2d``, ``lstm_cell``, ``gru_cell``,
``attention``, ``gelu``, ``adam``, ``rmsprop``) holding several implementations of
the same kernels side by side, llm.c style:
a plain NumPy reference (the oracle), then faster versions. Each module ends with an
``IMPLS`` table of versions, a ``select(x)`` that picks one for array ``x``, and a
``self_check`` that ``python -m tinynet.kernels.<module>`` runs (every version against
the reference, then timed). What the modules share is in ``_common.py``; the versions
and each hot path's defaults are listed in ``kernels/README.md``.

Choosing an implementation:

- automatically: the fastest available one for the device;
- by environment, for the whole process: ``TINYNET_CONV_IMPL=ref`` /
  ``TINYNET_POOL_IMPL=cpu_v1`` / ``TINYNET_LSTM_IMPL`` / ``TINYNET_GRU_IMPL`` /
  ``TINYNET_ATTENTION_IMPL`` / ``TINYNET_GELU_IMPL`` / ``TINYNET_ADAM_IMPL`` /
  ``TINYNET_RMSPROP_IMPL``;
- from code, for the calling thread: ``tinynet.kernels.use(conv="ref")``
  (also a context manager, which puts the thread's previous choice back);
  other threads are not affected;
- from code, for every thread without its own ``use``:
  ``tinynet.kernels.set_default(conv="ref")`` (it wins over the environment).

Threading: the kernels that use several cores run on tinynet's own threads
(``threads.py``), never through Numba's threading layer, so tinynet leaves
Numba's configuration (``NUMBA_THREADING_LAYER``, ``numba.config``) to the
program, and any number of Python threads may call the kernels at once.
"""
import os
import threading

from tinynet.kernels._common import check_device, numba_available  # noqa: F401

_local = threading.local()      # .forced: hot path -> implementation, set by use()
_default = {}                   # the same for the whole process, set by set_default()


def _thread_choices():
    if not hasattr(_local, "forced"):
        _local.forced = {}
    return _local.forced


def forced(path):
    """The implementation forced for ``path`` ('conv', 'pool', 'lstm', 'gru')
    in the calling thread (``use``), else in the process (``set_default``,
    then the environment), or None."""
    return (_thread_choices().get(path) or _default.get(path)
            or os.environ.get(f"TINYNET_{path.upper()}_IMPL") or None)


def pick(path, table, x, cpu, gpu):
    """The implementation of hot path ``path`` (one of ``table``) for array ``x``.

    A forced name (``use``, ``set_default`` or ``TINYNET_<PATH>_IMPL``) wins and must suit
    the device of ``x``; otherwise ``table[gpu]`` for CuPy arrays and
    ``table[cpu]`` for NumPy arrays, or ``table["ref"]`` when that one cannot
    run here (no Numba, or Numba CUDA that does not compile). Every hot path's
    ``select()`` is this call with its own table and defaults.
    """
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


def _check(choices, who):
    from tinynet.kernels import (adam, attention, conv2d, gelu, gru_cell, lstm_cell, pool2d,
                                 rmsprop)
    tables = {"conv": conv2d.IMPLS, "pool": pool2d.IMPLS, "lstm": lstm_cell.IMPLS,
              "gru": gru_cell.IMPLS, "attention": attention.IMPLS, "gelu": gelu.IMPLS,
              "adam": adam.IMPLS, "rmsprop": rmsprop.IMPLS}
    for path, name in choices.items():
        if path not in tables:
            raise ValueError(f"{who}: unknown hot path {path!r}; expected one of "
                             f"{sorted(tables)}")
        if name is not None and name not in tables[path]:
            raise ValueError(f"{who}: unknown {path} implementation {name!r}; "
                             f"expected one of {sorted(tables[path])}")


def set_default(**choices):
    """Force implementations for every thread that has no ``use`` of its own
    (``None``: back to the environment's choice or the automatic one)."""
    _check(choices, "kernels.set_default")
    for path, name in choices.items():
        if name is None:
            _default.pop(path, None)
        else:
            _default[path] = name


class use:
    """Force implementations in the calling thread: ``use(conv="ref")`` from
    now on, or ``with tinynet.kernels.use(pool="ref"): ...`` for a block;
    ``None`` drops the thread's own choice (back to the process's)."""

    def __init__(self, **choices):
        _check(choices, "kernels.use")
        mine = _thread_choices()
        self._previous = dict(mine)
        for path, name in choices.items():
            if name is None:
                mine.pop(path, None)
            else:
                mine[path] = name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        mine = _thread_choices()
        mine.clear()
        mine.update(self._previous)
        return False
