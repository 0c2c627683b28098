"""Data-parallel training across processes and machines, on MPI (mpi4py).

tinynet does not ship a communication engine of its own: it runs on MPI, the
standard one, through mpi4py (``pip install 'tinynet[dist]'`` installs mpi4py
and MPICH, whose ``mpiexec`` starts the processes). Every process ("rank")
runs the same script on its own shard of the data; after each backward the
gradients are averaged across ranks, so every rank applies the same update and
the parameters stay identical everywhere::

    import tinynet.distributed as dist
    dist.init()                                   # MPI when started by mpiexec
    model = dist.DistributedDataParallel(model)   # rank 0's parameters everywhere
    loader = dist.DistributedLoader(train_set, batch_size=64 // dist.world_size(), seed=0)
    for epoch in range(epochs):
        loader.set_epoch(epoch)                   # a new shuffle, the same on every rank
        for x, y in loader:                       # this rank's share of each global batch
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            model.sync_gradients()                # average gradients: call after backward
            opt.step()
        dist.save({"model": model.state_dict()}, "ck.npz")    # rank 0 writes, atomically

    $ mpiexec -n 2 python train.py

Without mpiexec (or without mpi4py) the same script runs as one process:
``world_size()`` is 1 and every collective returns its input.

Collectives work on Tensors (or NumPy/CuPy arrays) in place, with PyTorch's
names (``all_reduce``, ``broadcast``, ``all_gather``, ``barrier``). NumPy
buffers go to MPI directly; CuPy arrays are copied to the host and back,
unless the MPI library is CUDA-aware and ``TINYNET_MPI_CUDA_AWARE=1`` says so.

Gradients are averaged in buckets: the gradients are flattened into a few
contiguous buffers of about ``bucket_cap_mb`` megabytes (one per dtype and
device at least), each buffer is all-reduced with one MPI call, and the
parameters' ``.grad`` become views of the reduced buffers. This costs one call
per bucket rather than one per parameter: for small tensors the per-call
latency, not the bandwidth, is what dominates.
"""
import importlib.util
import os
import time

import numpy as np

from tinynet.autograd import no_grad
from tinynet.backend import import_cupy, device_of, is_cupy_array
from tinynet.data.distributed import DistributedLoader, DistributedSampler
from tinynet.tensor import Tensor

__all__ = ["DistributedDataParallel", "DistributedLoader", "DistributedSampler", "ReduceOp",
           "all_gather", "all_gather_object", "all_reduce", "any_rank", "barrier", "broadcast",
           "broadcast_object_list", "data_parallel", "get_rank", "get_world_size", "init",
           "is_available", "is_initialized", "launched_by_mpi", "load", "local_device",
           "local_rank", "rank", "save",
           "sum_across_ranks", "world_size"]

# Environment variables that MPI launchers (MPICH/Intel hydra, Open MPI,
# MVAPICH, PMIx/Slurm) set in the processes they start.
_LAUNCHER_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE")
_LAUNCHER_VARS = _LAUNCHER_SIZE_VARS + ("PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK")

_comm = None          # mpi4py's COMM_WORLD, or None when running as one process
_MPI = None           # the mpi4py.MPI module once imported
_initialized = False


# ---------------------------------------------------------------- set-up
def is_available():
    """True if mpi4py can be imported (without importing it)."""
    return importlib.util.find_spec("mpi4py") is not None


def launched_by_mpi():
    """True if this process was started by an MPI launcher such as ``mpiexec``."""
    return any(v in os.environ for v in _LAUNCHER_VARS)


def _launcher_size():
    for v in _LAUNCHER_SIZE_VARS:
        if os.environ.get(v, "").isdigit():
            return int(os.environ[v])
    return None


def init(use_mpi=None):
    """Join the group of processes; safe to call more than once.

    ``use_mpi=None`` (the default) uses MPI's world communicator when the
    process was started by an MPI launcher (``mpiexec``, ``srun``) and runs
    as a single process otherwise, so the same script works both ways.
    ``use_mpi=True`` insists on MPI (even as a singleton), ``False`` never
    imports mpi4py.

    Raises RuntimeError when started by a launcher with several processes but
    mpi4py is missing: each process would otherwise train alone on all the
    data, silently.
    """
    global _comm, _MPI, _initialized
    if _initialized:
        return
    if use_mpi is None:
        use_mpi = launched_by_mpi()
        if use_mpi and not is_available():
            if (_launcher_size() or 1) > 1:
                raise RuntimeError(
                    f"tinynet.distributed.init: started by an MPI launcher with "
                    f"{_launcher_size()} processes, but mpi4py is not installed; install it "
                    f"with `pip install 'tinynet[dist]'` (mpi4py + MPICH)")
            use_mpi = False
    if use_mpi:
        if not is_available():
            raise RuntimeError("tinynet.distributed.init(use_mpi=True): mpi4py is not "
                               "installed; install it with `pip install 'tinynet[dist]'`")
        from mpi4py import MPI          # initialises MPI; mpi4py finalises it at exit
        _MPI, _comm = MPI, MPI.COMM_WORLD
    _initialized = True


def is_initialized():
    return _initialized


def _world():
    # Collectives and queries initialise on first use, so a library function
    # can ask for rank() without the script having called init().
    if not _initialized:
        init()
    return _comm


def rank():
    """This process's index in the group, 0 .. world_size() - 1."""
    comm = _world()
    return 0 if comm is None else comm.Get_rank()


def world_size():
    """How many processes train together (1 without MPI)."""
    comm = _world()
    return 1 if comm is None else comm.Get_size()


get_rank = rank                    # PyTorch's names
get_world_size = world_size

_local_rank = None


def local_rank():
    """This process's index among the ranks on the same machine (0 without MPI)."""
    global _local_rank
    comm = _world()
    if comm is None:
        return 0
    if _local_rank is None:
        # the ranks that share memory with this one are the ones on its machine
        node = comm.Split_type(_MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
        _local_rank = node.Get_rank()
        node.Free()
    return _local_rank


def local_device(device):
    """The device this rank should use when asked for ``device``: ``'cuda'``
    becomes ``'cuda:<local rank mod GPUs>'``, so the ranks on one machine
    spread over its GPUs; ``'cpu'`` and an explicit ``'cuda:N'`` stay."""
    if str(device) != "cuda":
        return device
    from tinynet.backend import cuda_is_available
    if not cuda_is_available():
        return device                  # moving to it raises tinynet's usual error
    count = import_cupy().cuda.runtime.getDeviceCount()
    return f"cuda:{local_rank() % count}"


def barrier():
    """Wait until every rank has reached this call."""
    comm = _world()
    if comm is not None:
        comm.Barrier()


# ---------------------------------------------------------------- buffers
def _cuda_aware():
    """Whether to hand CuPy buffers to MPI directly (opt-in: most builds are not CUDA-aware)."""
    return os.environ.get("TINYNET_MPI_CUDA_AWARE", "0") == "1"


def _array_of(x, op):
    if isinstance(x, Tensor):
        return x.array
    if isinstance(x, np.ndarray) or is_cupy_array(x):
        return x
    raise TypeError(f"{op}: expected a Tensor, NumPy or CuPy array, got {type(x).__name__}")


class _Staged:
    """A contiguous buffer that MPI can read and write, for one array.

    NumPy arrays that are already contiguous and writeable are used as they
    are; anything else (a strided view, a CuPy array without CUDA-aware MPI)
    is copied into a staging buffer and copied back by ``finish()``.
    """

    def __init__(self, a):
        self.array = a
        if is_cupy_array(a):
            if _cuda_aware():
                self.buffer = import_cupy().ascontiguousarray(a)
                # MPI reads the memory directly: the kernels writing it must be done
                import_cupy().cuda.get_current_stream().synchronize()
            else:
                self.buffer = a.get()           # a contiguous host copy
        elif a.flags.c_contiguous and a.flags.writeable:
            self.buffer = a
        else:
            self.buffer = np.ascontiguousarray(a)

    def finish(self):
        if self.buffer is not self.array:
            if is_cupy_array(self.array):
                self.array[...] = import_cupy().asarray(self.buffer)
            else:
                self.array[...] = self.buffer


# ---------------------------------------------------------------- collectives
class ReduceOp:
    """The reductions ``all_reduce`` knows (PyTorch's ``ReduceOp`` names)."""
    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


_OPS = {"sum": "SUM", "avg": "SUM", "mean": "SUM", "product": "PROD", "prod": "PROD",
        "min": "MIN", "max": "MAX"}
# MPI defines no arithmetic on booleans: sum/max become "or", product/min "and".
_BOOL_OPS = {"SUM": "LOR", "MAX": "LOR", "PROD": "LAND", "MIN": "LAND"}


def _check_op(op, dtype, where):
    """The MPI op's name for reduction ``op`` on ``dtype``."""
    name = _OPS.get(str(op).lower())
    if name is None:
        raise ValueError(f"{where}: unknown reduction {op!r}; expected one of "
                         f"{sorted(set(_OPS))}")
    if str(op).lower() in ("avg", "mean") and dtype.kind not in "fc":
        raise TypeError(f"{where}: op='avg' needs a floating tensor, got {dtype}")
    return _BOOL_OPS[name] if dtype == np.bool_ else name


def _mpi_op(op, dtype, where):
    return getattr(_MPI, _check_op(op, dtype, where))


def all_reduce(tensor, op=ReduceOp.SUM):
    """Reduce ``tensor`` over all ranks, in place: afterwards every rank holds
    the sum (or ``'avg'``, ``'max'``, ``'min'``, ``'product'``). Returns it."""
    a = _array_of(tensor, "all_reduce")
    comm = _world()
    if comm is None:
        _check_op(op, a.dtype, "all_reduce")     # a typo in op fails on one process too
        return tensor
    staged = _Staged(a)
    comm.Allreduce(_MPI.IN_PLACE, staged.buffer, op=_mpi_op(op, a.dtype, "all_reduce"))
    if str(op).lower() in ("avg", "mean"):
        staged.buffer /= comm.Get_size()
    staged.finish()
    if isinstance(tensor, Tensor):
        tensor._vc[0] += 1
    return tensor


def _check_src(src, where):
    size = world_size()
    if isinstance(src, bool) or not isinstance(src, (int, np.integer)) or not 0 <= src < size:
        raise ValueError(f"{where}: src must be a rank in 0..{size - 1}, got {src!r}")


def broadcast(tensor, src=0):
    """Overwrite ``tensor`` on every rank with rank ``src``'s values, in place.

    The tensor must have the same shape and dtype on every rank. Returns it.
    """
    a = _array_of(tensor, "broadcast")
    _check_src(src, "broadcast")
    comm = _world()
    if comm is None:
        return tensor
    staged = _Staged(a)
    comm.Bcast(staged.buffer, root=src)
    staged.finish()
    if isinstance(tensor, Tensor):
        tensor._vc[0] += 1
    return tensor


def all_gather(tensor_list, tensor):
    """Fill ``tensor_list[r]`` with rank r's ``tensor``, on every rank.

    ``tensor_list`` holds ``world_size()`` tensors of ``tensor``'s shape and
    dtype (PyTorch's argument order). Returns ``tensor_list``.
    """
    a = _array_of(tensor, "all_gather")
    size = world_size()
    if not isinstance(tensor_list, list) or len(tensor_list) != size:
        got = len(tensor_list) if isinstance(tensor_list, list) else type(tensor_list).__name__
        raise ValueError(f"all_gather: expected a list of {size} tensors (one per rank), "
                         f"got {got}")
    for i, t in enumerate(tensor_list):
        out = _array_of(t, "all_gather")
        if out.shape != a.shape or out.dtype != a.dtype:
            raise ValueError(f"all_gather: tensor_list[{i}] is {out.shape} {out.dtype}, "
                             f"expected {a.shape} {a.dtype} like the input")
    comm = _world()
    if comm is None:
        gathered = [a]
    else:
        buf = _Staged(a).buffer
        # with CUDA-aware MPI the receive buffer lives on the device too
        xp = import_cupy() if is_cupy_array(buf) else np
        gathered = xp.empty((size,) + a.shape, dtype=a.dtype)
        comm.Allgather(buf, gathered)
    for t, part in zip(tensor_list, gathered):
        out = _array_of(t, "all_gather")
        out[...] = import_cupy().asarray(part) if is_cupy_array(out) else \
            (part.get() if is_cupy_array(part) else part)
        if isinstance(t, Tensor):
            t._vc[0] += 1
    return tensor_list


def all_gather_object(object_list, obj):
    """Fill ``object_list`` (``world_size()`` slots) with every rank's ``obj``.

    Objects travel pickled between this job's own processes (never from a file).
    """
    comm = _world()
    size = 1 if comm is None else comm.Get_size()
    if not isinstance(object_list, list) or len(object_list) != size:
        raise ValueError(f"all_gather_object: expected a list of {size} slots (one per rank)")
    object_list[:] = [obj] if comm is None else comm.allgather(obj)
    return object_list


def broadcast_object_list(object_list, src=0):
    """Replace the items of ``object_list`` on every rank with rank ``src``'s."""
    _check_src(src, "broadcast_object_list")
    comm = _world()
    if comm is not None:
        object_list[:] = comm.bcast(list(object_list) if comm.Get_rank() == src else None,
                                    root=src)
    return object_list


def sum_across_ranks(*values):
    """The sums over all ranks of a few Python numbers (counts, loss totals),
    in one call; returns a tuple of floats."""
    total = np.array(values, dtype=np.float64)
    all_reduce(total)
    return tuple(total.tolist())


def any_rank(flag):
    """True on every rank if ``flag`` is true on any rank (e.g. a Ctrl-C seen by
    one process), so that all ranks take the same branch and no collective
    waits for a rank that left the loop."""
    flags = np.array([bool(flag)])
    all_reduce(flags, op="max")
    return bool(flags[0])


# ---------------------------------------------------------------- bucketed collectives
def _buckets(arrays, cap_bytes):
    """Group ``arrays`` (indices) into buckets of one dtype and device each,
    closing a bucket once it holds ``cap_bytes`` or more."""
    open_, filled, done = {}, {}, []
    for i, a in enumerate(arrays):
        key = (a.dtype, device_of(a))
        open_.setdefault(key, []).append(i)
        filled[key] = filled.get(key, 0) + a.nbytes
        if filled[key] >= cap_bytes:
            done.append(open_.pop(key))
            filled[key] = 0
    return done + list(open_.values())


def _flatten(arrays):
    """One new contiguous 1-d array holding ``arrays`` back to back."""
    xp = import_cupy() if is_cupy_array(arrays[0]) else np
    return xp.concatenate([a.reshape(-1) for a in arrays])


def _unflatten(flat, like):
    """Views of ``flat`` with the shapes of ``like``."""
    out, offset = [], 0
    for a in like:
        out.append(flat[offset:offset + a.size].reshape(a.shape))
        offset += a.size
    return out


def _collective_on_flat(flat, kind, comm, root=0):
    """All-reduce (sum) or broadcast one flat buffer in one MPI call; returns it."""
    on_host = is_cupy_array(flat) and not _cuda_aware()
    buf = flat.get() if on_host else flat
    if is_cupy_array(buf):
        import_cupy().cuda.get_current_stream().synchronize()
    if kind == "sum":
        comm.Allreduce(_MPI.IN_PLACE, buf, op=_mpi_op("sum", buf.dtype, "all_reduce"))
    else:
        comm.Bcast(buf, root=root)
    if on_host:
        flat.set(buf)
    return flat


def all_reduce_coalesced(arrays, average=False, bucket_cap_mb=25):
    """Sum (or average) a list of arrays over all ranks in a few bucketed
    calls; returns new arrays (views of the reduced buckets), in order."""
    comm = _world()
    out = list(arrays)
    if comm is None:
        return out
    size = comm.Get_size()
    for bucket in _buckets(arrays, bucket_cap_mb * 2 ** 20):
        flat = _collective_on_flat(_flatten([arrays[i] for i in bucket]), "sum", comm)
        if average:
            flat /= size
        for i, view in zip(bucket, _unflatten(flat, [arrays[i] for i in bucket])):
            out[i] = view
    return out


def broadcast_coalesced(arrays, src=0, bucket_cap_mb=25):
    """Overwrite each array (in place) with rank ``src``'s, in a few bucketed calls."""
    comm = _world()
    if comm is None:
        return
    for bucket in _buckets(arrays, bucket_cap_mb * 2 ** 20):
        flat = _collective_on_flat(_flatten([arrays[i] for i in bucket]), "bcast", comm, src)
        for i, view in zip(bucket, _unflatten(flat, [arrays[i] for i in bucket])):
            arrays[i][...] = view


# ---------------------------------------------------------------- the model wrapper
class DistributedDataParallel:
    """Train one model on several ranks as if on one: same parameters, averaged gradients.

    ``DistributedDataParallel(module)`` copies rank 0's parameters and buffers
    to every rank (so differently seeded ranks still start from one model),
    then ``sync_gradients()``, **called by you after** ``loss.backward()`` and
    before ``opt.step()``, averages every parameter's gradient over the ranks
    in bucketed all-reduces. Every rank then applies the same optimizer step
    to the same parameters, so they stay identical without being sent again.
    Gradients are averaged, not summed: with each rank's loss a mean over its
    share of the global batch, the update equals one process's update on the
    whole global batch (to float rounding).

    Calling ``sync_gradients()`` explicitly (rather than from backward hooks)
    keeps the moment of communication visible and makes gradient accumulation
    trivial: skip the call on the steps that only accumulate. The price is
    that communication does not overlap with backward.

    A parameter whose gradient is None on some ranks (unused in their forward)
    counts as zero there; it stays None only if it is None on every rank.
    With ``broadcast_buffers=True`` (PyTorch's default) rank 0's buffers
    (batch-norm running statistics) are copied to all ranks before each
    forward in training mode.

    Unlike PyTorch's, this wrapper is not itself a Module: ``state_dict()`` is
    the wrapped module's, without a ``module.`` prefix, so a checkpoint loads
    straight into a plain (single-process) model. Other attributes are looked
    up on ``module``. ``sync_seconds`` and ``syncs`` add up the time spent in
    ``sync_gradients()`` and the number of calls.
    """

    def __init__(self, module, bucket_cap_mb=25, broadcast_buffers=True):
        if not callable(module) or not hasattr(module, "parameters"):
            raise TypeError(f"DistributedDataParallel: expected a Module, got "
                            f"{type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, "
                             f"got {bucket_cap_mb!r}")
        self.module = module
        self.bucket_cap_mb = bucket_cap_mb
        self.broadcast_buffers = bool(broadcast_buffers)
        self.sync_seconds = 0.0
        self.syncs = 0
        _world()
        self._check_same_model()
        with no_grad():
            broadcast_coalesced([t.array for t in self._params() + self._buffers()],
                                bucket_cap_mb=bucket_cap_mb)

    def _params(self):
        return [p for p in self.module.parameters() if p.requires_grad]

    def _buffers(self):
        buffers = getattr(self.module, "buffers", None)
        return [b for b in buffers() if b is not None] if buffers else []

    def _check_same_model(self):
        # Every rank must hold the same parameter list, or the buckets would
        # pair different tensors; compare (name, shape, dtype) with rank 0's.
        named = getattr(self.module, "named_parameters", None)
        items = list(named()) if named else list(enumerate(self.module.parameters()))
        mine = [(str(n), tuple(p.shape), str(p.dtype)) for n, p in items]
        everyone = all_gather_object([None] * world_size(), mine)
        for r, theirs in enumerate(everyone):
            if theirs != everyone[0]:
                diff = next((f"{a} vs {b}" for a, b in zip(everyone[0], theirs) if a != b),
                            f"{len(everyone[0])} vs {len(theirs)} parameters")
                raise RuntimeError(f"DistributedDataParallel: rank {r}'s model differs from "
                                   f"rank 0's (rank 0 vs rank {r}: {diff}); every rank must "
                                   f"build the same model")

    def __call__(self, *args, **kwargs):
        if self.broadcast_buffers and world_size() > 1 and getattr(self.module, "training", False):
            buffers = self._buffers()
            if buffers:
                broadcast_coalesced([b.array for b in buffers], bucket_cap_mb=self.bucket_cap_mb)
        return self.module(*args, **kwargs)

    forward = __call__

    def sync_gradients(self):
        """Average the parameters' ``.grad`` over all ranks (after backward, before step)."""
        comm = _world()
        if comm is None or comm.Get_size() == 1:      # nothing to average
            return
        start = time.perf_counter()
        params = self._params()
        # Which parameters have a gradient anywhere: one small all-reduce, so
        # every rank builds the same buckets.
        has = np.array([p.grad is not None for p in params], dtype=np.uint8)
        comm.Allreduce(_MPI.IN_PLACE, has, op=_MPI.MAX)
        chosen = [p for p, h in zip(params, has) if h]
        grads = [p.grad.array if p.grad is not None else _zeros_like(p.array) for p in chosen]
        for p, g in zip(chosen, all_reduce_coalesced(grads, average=True,
                                                     bucket_cap_mb=self.bucket_cap_mb)):
            p.grad = Tensor._make(g)
        self.sync_seconds += time.perf_counter() - start
        self.syncs += 1

    # The usual Module methods, forwarded explicitly so they read as part of the API.
    def parameters(self, *args, **kwargs):
        return self.module.parameters(*args, **kwargs)

    def named_parameters(self, *args, **kwargs):
        return self.module.named_parameters(*args, **kwargs)

    def state_dict(self, *args, **kwargs):
        return self.module.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, *args, **kwargs):
        return self.module.load_state_dict(state_dict, *args, **kwargs)

    def train(self, mode=True):
        self.module.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, *args, **kwargs):
        return self.module.zero_grad(*args, **kwargs)

    def __getattr__(self, name):
        # only called for names not found on the wrapper itself
        if name == "module":
            raise AttributeError(name)
        return getattr(self.module, name)

    def __repr__(self):
        return f"DistributedDataParallel(world_size={world_size()}, module={self.module!r})"


def _zeros_like(a):
    xp = import_cupy() if is_cupy_array(a) else np
    return xp.zeros(a.shape, dtype=a.dtype)


def data_parallel(model, dataset, batch_size, seed=0):
    """``(DistributedDataParallel(model), DistributedLoader)`` for a training
    loop whose ``batch_size`` is the *global* batch, split evenly over the
    ranks: the run then makes the same steps on any number of ranks.

    The loop calls ``model.sync_gradients()`` between backward and step.
    """
    size = world_size()
    if batch_size % size:
        raise ValueError(f"data_parallel: the global batch size {batch_size} must be divisible "
                         f"by the number of processes {size}")
    return (DistributedDataParallel(model),
            DistributedLoader(dataset, batch_size=batch_size // size, shuffle=True, seed=seed))


# ---------------------------------------------------------------- checkpoints
# dist.load sends a checkpoint as buffers, never pickled: rank src's error
# message (empty when it read the file), the JSON description (tn.save's
# header), then every array's bytes back to back; each as a length, then
# broadcasts of at most this many bytes.
_BCAST_CHUNK = 16 << 20


def _bcast_bytes(comm, data, src):
    """``data`` (bytes, read on rank ``src`` only) on every rank, as uint8 buffers."""
    n = np.array([len(data) if comm.Get_rank() == src else 0], dtype=np.int64)
    comm.Bcast(n, root=src)
    buf = np.frombuffer(data, np.uint8) if comm.Get_rank() == src else \
        np.empty(int(n[0]), np.uint8)
    _bcast_stream(comm, [buf], src)
    return buf.tobytes()


def _bcast_stream(comm, arrays, src):
    """Broadcast the bytes of ``arrays`` (contiguous; filled on ``src``,
    allocated with the same shapes and dtypes elsewhere) back to back, in
    chunks of at most ``_BCAST_CHUNK`` bytes, so neither count overflows
    MPI's int nor many small arrays cost one call each."""
    root = comm.Get_rank() == src
    views = [a.reshape(-1).view(np.uint8) for a in arrays if a.nbytes]
    total = sum(len(v) for v in views)
    if not total:
        return
    chunk = np.empty(min(total, _BCAST_CHUNK), np.uint8)
    i, offset, left = 0, 0, total
    while left:
        n = min(len(chunk), left)
        pieces, filled = [], 0           # (array bytes, start there, start in chunk, length)
        while filled < n:
            take = min(len(views[i]) - offset, n - filled)
            pieces.append((views[i], offset, filled, take))
            filled += take
            offset += take
            if offset == len(views[i]):
                i, offset = i + 1, 0
        if root:
            for view, start, at, take in pieces:
                chunk[at:at + take] = view[start:start + take]
        comm.Bcast(chunk[:n], root=src)
        if not root:
            for view, start, at, take in pieces:
                view[start:start + take] = chunk[at:at + take]
        left -= n


def _bcast_error(comm, error, src):
    """Rank ``src``'s error message (or None) on every rank, without pickle."""
    data = b"" if error is None else b"E" + error.encode("utf-8", "replace")
    data = _bcast_bytes(comm, data, src)
    return data[1:].decode("utf-8") if data else None


def save(obj, path):
    """Rank 0 writes ``obj`` to ``path`` with ``tn.save`` (atomically: a
    temporary file, then a rename); the other ranks wait until it is complete.

    Call it on every rank. The model and optimizer states are the same on
    every rank, so one copy is the checkpoint; an error on rank 0 is raised
    on every rank.
    """
    error = None
    if rank() == 0:
        from tinynet.serialization import save as save_file
        try:
            save_file(obj, path)
        except Exception as e:           # re-raised below on every rank, not a hang
            error = f"{type(e).__name__}: {e}"
    comm = _world()
    if comm is not None:
        error = _bcast_error(comm, error, 0)
    if error is not None:
        raise RuntimeError(f"tinynet.distributed.save: rank 0 could not write {path}: {error}")


def load(path, src=0):
    """Rank ``src`` reads ``path`` with ``tn.load`` and sends it to every rank.

    Only rank ``src`` needs the file (no shared file system), and the
    checkpoint may come from a run on any number of ranks. Nothing is
    pickled: the other ranks receive the checkpoint's JSON description and
    then the arrays' bytes, in broadcasts of at most 16 MiB, and rebuild the
    object as ``tn.load`` would.
    """
    from tinynet import serialization
    _check_src(src, "load")
    comm = _world()
    result, error, header, arrays = None, None, b"", {}
    if comm is None or comm.Get_rank() == src:
        try:
            result = serialization.load(path)
            if comm is not None:
                header, arrays = serialization._to_parts(result)
        except Exception as e:
            error = f"{type(e).__name__}: {e}"
    if comm is not None:
        error = _bcast_error(comm, error, src)
    if error is not None:
        raise RuntimeError(f"tinynet.distributed.load: rank {src} could not read {path}: "
                           f"{error}")
    if comm is None:
        return result
    header = _bcast_bytes(comm, header, src)
    where = f"the checkpoint {path!r} sent by rank {src}"
    parsed = serialization._parse_header(header, where)
    nodes = serialization._array_nodes(parsed["root"], where)
    if comm.Get_rank() == src:
        buffers = [np.ascontiguousarray(arrays[key]) for key in nodes]
    else:
        buffers = [np.empty(node["shape"], np.dtype(node["dtype"])) for node in nodes.values()]
    _bcast_stream(comm, buffers, src)
    if comm.Get_rank() == src:
        return result
    received = dict(zip(nodes, buffers))
    return serialization._from_parts(parsed, lambda node: received[node["key"]], where)
