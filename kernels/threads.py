"""tinynet's own kernel threads.

The CPU kernels that use several cores (convolution ``cpu_v1`` and
``cpu_v3``, pooling ``cpu_v1``, the LSTM/GRU cells' ``cpu_v1``) are serial,
GIL-free Numba loops over a part of the work; this module runs the parts on
the calling thread plus a small pool of tinynet threads. Numba's own
threading layer (``parallel=True``) is never used: it is one per process,
chosen once, and its ``workqueue`` version aborts the process when two
Python threads enter it at once. Here any number of Python threads may call
the kernels at the same time: their parts queue for the shared pool, and a
caller whose parts are still queued when it has finished its own runs them
itself, so no caller waits behind another's work.

Every part writes its own slice of the output, so results never depend on
how many threads ran or in which order they finished.
"""
import itertools
import os
import threading

_lock = threading.Lock()
_pool, _pool_size, _pool_pid = None, 0, None
_local = threading.local()         # .worker: True on tinynet's pool threads


def cores():
    """The CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):           # not Linux
        return max(1, os.cpu_count() or 1)


def count():
    """How many threads a kernel call splits its work over:
    ``TINYNET_NUM_THREADS`` if set, else as many as NumPy's BLAS uses (one
    per core unless OPENBLAS_NUM_THREADS / OMP_NUM_THREADS say otherwise),
    else one per core."""
    env = os.environ.get("TINYNET_NUM_THREADS")
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"TINYNET_NUM_THREADS must be a positive integer, got {env!r}")
        return int(env)
    from tinynet.kernels import blas_threads
    return blas_threads.threads() or cores()


def _executor(workers):
    """The shared pool, grown to at least ``workers`` threads (a fork loses them)."""
    global _pool, _pool_size, _pool_pid
    with _lock:
        if _pool is None or _pool_size < workers or _pool_pid != os.getpid():
            from concurrent.futures import ThreadPoolExecutor
            # the old pool, if any, finishes what it was given and then exits
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="tinynet-kernel",
                                       initializer=_mark_worker)
            _pool_size, _pool_pid = workers, os.getpid()
        return _pool


def _mark_worker():
    _local.worker = True


def _after_fork_in_child():
    # the pool's threads do not exist in a forked child, and the lock may
    # have been held by one of the parent's other threads
    global _lock, _pool, _pool_size
    _lock, _pool, _pool_size = threading.Lock(), None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Tasks:
    """Tasks 0..n-1 handed out in order to whichever thread asks next; after
    a failure no more are handed out."""

    def __init__(self, n):
        self.n, self.failed = n, False
        self._next = itertools.count()      # next() on it is atomic under the GIL

    def take(self):
        if self.failed:
            return None
        k = next(self._next)
        return k if k < self.n else None


def run(work, threads):
    """Run ``work()`` on the calling thread and on ``threads - 1`` pool
    threads at once, and return when every copy has returned. ``work`` must
    take its tasks from shared state (a ``Tasks``), so that a copy that
    starts late finds nothing left to do; copies still queued when the
    caller's own copy returns are cancelled. The first exception is raised
    once every running copy has stopped."""
    if threads <= 1 or getattr(_local, "worker", False):    # (no pools within the pool)
        work()
        return
    pool = _executor(threads - 1)
    futures = [pool.submit(work) for _ in range(threads - 1)]
    error = None
    try:
        work()
    except BaseException as e:          # noqa: B902  (KeyboardInterrupt too: wait, then raise)
        error = e
    for f in futures:
        if f.cancel():
            continue
        try:
            f.result()
        except BaseException as e:      # noqa: B902
            error = error or e
    if error is not None:
        raise error


def parallel_for(kernel, n, *args, grain=1):
    """``kernel(*args, lo, hi)`` over contiguous parts [lo, hi) of range(n),
    one part per thread (``count()``); parts of fewer than ``grain`` items
    are not worth a thread, so small calls run on the caller alone."""
    T = max(1, min(count(), n // max(grain, 1)))
    bounds = [n * k // T for k in range(T + 1)]
    tasks = Tasks(T)

    def work():
        while (k := tasks.take()) is not None:
            try:
                kernel(*args, bounds[k], bounds[k + 1])
            except BaseException:       # noqa: B902
                tasks.failed = True
                raise

    run(work, T)
