"""tinynet.distributed: collectives, DistributedDataParallel, DistributedSampler.

Two kinds of tests:
- in this process (no MPI launcher): the single-process fallback and the
  sampler's arithmetic, which needs no communication;
- under ``mpiexec -n 2`` on loopback: this file is also the worker script.
  One mpiexec run (``python tests/distributed/test_distributed.py worker OUT``) executes
  every scenario and each rank writes its results to ``OUT/rank<r>.npz``;
  the tests below read those files. The MPI tests skip, saying why, when
  mpi4py or mpiexec is missing (``pip install -e '.[dist]'`` installs both).
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import tinynet as tn
import tinynet.distributed as dist
from tinynet.tensor import Tensor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# the training scenario: a global batch of B samples, K steps, on N samples
B, K, N, IN, HID, OUT = 8, 5, 36, 6, 16, 3
LR, MOMENTUM = 0.1, 0.9


# ================================================================ the shared model and data
class TinyMLP:
    """A two-layer tanh MLP on raw tensors: parameters(), named_parameters(), call."""

    def __init__(self, seed, dtype=np.float64):
        rng = np.random.default_rng(seed)
        self.names = ["w1", "b1", "w2", "b2"]
        shapes = [(HID, IN), (HID,), (OUT, HID), (OUT,)]
        for name, shape in zip(self.names, shapes):
            setattr(self, name, tn.tensor(rng.normal(0, 0.5, shape).astype(dtype),
                                       requires_grad=True))
        self.training = True

    def named_parameters(self):
        return [(n, getattr(self, n)) for n in self.names]

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def state_dict(self):
        return {n: p.array.copy() for n, p in self.named_parameters()}

    def load_state_dict(self, state):
        with tn.no_grad():
            for n, p in self.named_parameters():
                p.copy_(np.asarray(state[n].array if isinstance(state[n], Tensor) else state[n]))

    def to(self, device):
        from tinynet.backend import to_device
        for p in self.parameters():
            p.array = to_device(p.array, device)
        return self

    def __call__(self, x):
        return (x @ self.w1.T + self.b1).tanh() @ self.w2.T + self.b2


def dataset(dtype=np.float64):
    rng = np.random.default_rng(1234)
    return rng.normal(size=(N, IN)).astype(dtype), rng.normal(size=(N, OUT)).astype(dtype)


class Indexable:
    """Just enough of a dataset for DistributedSampler: a length."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


def train(model, sync, steps, num_replicas, rank, start_step=0, opt_state=None, device="cpu",
          after_step=None):
    """``steps`` SGD steps of ``model`` on this rank's shard of each global batch
    (global batch B); returns the optimizer's state_dict."""
    from tinynet import optim
    x, y = dataset(model.w1.dtype)
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    if opt_state is not None:
        opt.load_state_dict(opt_state)
    sampler = dist.DistributedSampler(Indexable(N), num_replicas=num_replicas, rank=rank, seed=7)
    per_rank = B // num_replicas
    per_epoch = N // B              # full global batches per epoch (the tail is dropped)
    step = start_step
    while step < start_step + steps:
        epoch, k = divmod(step, per_epoch)
        sampler.set_epoch(epoch)
        idx = np.array(list(sampler))[k * per_rank:(k + 1) * per_rank]
        xb, yb = tn.tensor(x[idx]).to(device), tn.tensor(y[idx]).to(device)
        loss = ((model(xb) - yb) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        sync()
        opt.step()
        step += 1
        if after_step is not None:
            after_step()
    return opt.state_dict()


def flat_params(model):
    return np.concatenate([p.numpy().ravel() for p in model.parameters()])


# ================================================================ the worker (under mpiexec)
def scenario_collectives(out):
    r, w = dist.rank(), dist.world_size()
    t = tn.tensor(np.arange(6, dtype=np.float32).reshape(2, 3) * (r + 1))
    out["sum_f32"] = dist.all_reduce(t).numpy()
    out["avg_f64"] = dist.all_reduce(tn.tensor(np.full(4, r + 1.0)), op="avg").numpy()
    out["max_i64"] = dist.all_reduce(tn.tensor(np.array([r, -r, 5])), op=dist.ReduceOp.MAX).numpy()
    out["min_i64"] = dist.all_reduce(tn.tensor(np.array([r, -r, 5])), op="min").numpy()
    out["or_bool"] = dist.all_reduce(np.array([r == 0, False, True])).copy()
    base = np.arange(12, dtype=np.float32).reshape(3, 4) * (r + 1)
    dist.all_reduce(base[:, ::2])                   # a strided view, reduced in place
    out["strided"] = base
    out["bcast"] = dist.broadcast(tn.tensor(np.full(3, float(r + 10))), src=w - 1).numpy()
    parts = [tn.zeros(2, dtype=tn.int64) for _ in range(w)]
    dist.all_gather(parts, tn.tensor(np.array([r, r * r])))
    out["gather"] = np.stack([p.numpy() for p in parts])
    out["gather_obj"] = np.array(dist.all_gather_object([None] * w, f"rank{r}"))
    out["world"] = np.array([r, w])
    out["local"] = np.array([dist.local_rank(), dist.local_rank()])      # cached the 2nd time
    out["local_cpu"] = np.array(dist.local_device("cpu"))
    out["sums"] = np.array(dist.sum_across_ranks(r + 1, 0.5))
    out["any"] = np.array([dist.any_rank(r == 1), dist.any_rank(False)])


def scenario_ddp(out):
    r, w = dist.rank(), dist.world_size()
    # different seeds per rank: DDP must still start every rank from rank 0's model
    model = TinyMLP(seed=100 + r)
    ddp = dist.DistributedDataParallel(model)
    out["start"] = flat_params(model)
    history = []
    train(model, ddp.sync_gradients, K, w, r, after_step=lambda: history.append(flat_params(model)))
    out["ddp_history"] = np.stack(history)
    out["ddp_final"] = flat_params(model)
    out["ddp_syncs"] = np.array(ddp.syncs)
    if r == 0:
        # the reference: one process, no DistributedDataParallel, the whole global batch
        ref = TinyMLP(seed=100)
        train(ref, lambda: None, K, 1, 0)
        out["single_final"] = flat_params(ref)
    # float32 and a tiny bucket cap (one bucket per tensor): still identical across ranks
    model32 = TinyMLP(seed=200 + r, dtype=np.float32)
    ddp32 = dist.DistributedDataParallel(model32, bucket_cap_mb=1e-6)
    train(model32, ddp32.sync_gradients, K, w, r)
    out["f32_final"] = flat_params(model32)
    out["f32_dtypes"] = np.array([str(p.grad.dtype) for p in model32.parameters()])


def scenario_module(out):
    """DDP around a tinynet.nn model with buffers (batch norm's running statistics)."""
    import tinynet.nn as nn
    r, w = dist.rank(), dist.world_size()
    tn.manual_seed(10 + r)
    net = nn.Sequential(nn.Linear(IN, HID), nn.BatchNorm1d(HID, momentum=0.0), nn.ReLU(),
                        nn.Linear(HID, OUT))
    net[1].running_mean.fill_(float(r))
    ddp = dist.DistributedDataParallel(net)
    out["mod_keys"] = np.array(list(ddp.state_dict()))
    out["mod_buffer_start"] = net[1].running_mean.numpy().copy()
    net[1].running_mean.fill_(float(r) + 5)      # the ranks' buffers drift apart again
    x = tn.tensor(dataset(np.float32)[0][:4])
    ddp.eval()
    ddp(x)                                       # eval mode: nothing is sent
    out["mod_buffer_eval"] = net[1].running_mean.numpy().copy()
    ddp.train()
    loss = ddp(x).sum()                          # train mode: rank 0's buffers first
    out["mod_buffer_train"] = net[1].running_mean.numpy().copy()
    loss.backward()
    ddp.sync_gradients()
    out["mod_grads"] = np.concatenate([p.grad.numpy().ravel() for p in net.parameters()])


def scenario_buckets(out):
    r = dist.rank()
    calls = []
    original = dist._collective_on_flat

    def counting(flat, kind, comm, root=0):
        calls.append((kind, flat.size, str(flat.dtype)))
        return original(flat, kind, comm, root)

    dist._collective_on_flat = counting
    try:
        model = TinyMLP(seed=5)
        # a float32 parameter among float64 ones: a bucket of its own dtype
        model.extra = tn.tensor(np.ones(4, np.float32), requires_grad=True)
        model.names.append("extra")
        ddp = dist.DistributedDataParallel(model)
        calls.clear()
        x, y = dataset()
        loss = ((model(tn.tensor(x[:4])) - tn.tensor(y[:4])) ** 2).mean() \
            + (model.extra * (r + 1.0)).sum()
        loss.backward()
        ddp.sync_gradients()
        out["bucket_calls"] = np.array([f"{k}:{n}:{d}" for k, n, d in calls])
        out["extra_grad"] = model.extra.grad.numpy()
        # a parameter used on rank 1 only: zero on rank 0, averaged; one unused anywhere stays None
        model.zero_grad = None
        for p in model.parameters():
            p.grad = None
        loss = (model.extra * 3.0).sum() if r == 1 else (model.b2 * 1.0).sum()
        loss.backward()
        ddp.sync_gradients()
        out["partial_extra"] = model.extra.grad.numpy()
        out["partial_b2"] = model.b2.grad.numpy()
        out["partial_none"] = np.array([p.grad is None for p in model.parameters()])
    finally:
        dist._collective_on_flat = original


def scenario_cuda(out):
    """The collectives and DDP on CuPy tensors (through host copies unless
    TINYNET_MPI_CUDA_AWARE=1), compared with the NumPy runs."""
    r, w = dist.rank(), dist.world_size()
    t = tn.tensor(np.arange(6, dtype=np.float32).reshape(2, 3) * (r + 1), device="cuda")
    out["cuda_sum"] = dist.all_reduce(t).numpy()
    out["cuda_device"] = np.array(t.device)
    out["cuda_bcast"] = dist.broadcast(tn.tensor(np.full(3, r + 10.0), device="cuda"),
                                       src=w - 1).numpy()
    parts = [tn.zeros(2, dtype=tn.int64, device="cuda") for _ in range(w)]
    dist.all_gather(parts, tn.tensor(np.array([r, r * r]), device="cuda"))
    out["cuda_gather"] = np.stack([p.numpy() for p in parts])
    model = TinyMLP(seed=100 + r).to("cuda")
    ddp = dist.DistributedDataParallel(model)
    train(model, ddp.sync_gradients, K, w, r, device="cuda")
    out["cuda_final"] = flat_params(model)
    out["cuda_grad_device"] = np.array(model.w1.grad.device)
    out["cuda_local_device"] = np.array(dist.local_device("cuda"))


def scenario_checkpoint(out, folder):
    """Resume on another world size: 2 ranks -> 1 and 1 -> 2, each compared with an
    uninterrupted single-process run of K + K steps."""
    r, w = dist.rank(), dist.world_size()
    ref = TinyMLP(seed=300)
    if r == 0:
        train(ref, lambda: None, 2 * K, 1, 0)
        out["ck_reference"] = flat_params(ref)

    # 2 ranks for K steps, checkpoint, then one process continues
    from tinynet import serialization
    model = TinyMLP(seed=300)
    ddp = dist.DistributedDataParallel(model)
    opt_state = train(model, ddp.sync_gradients, K, w, r)
    path = os.path.join(folder, "two.npz")
    writes, original = [], serialization.save
    serialization.save = lambda *a, **k: (writes.append(1), original(*a, **k))
    try:
        dist.save({"model": model.state_dict(), "optimizer": opt_state, "step": K}, path)
    finally:
        serialization.save = original
    out["ck_writes"] = np.array(len(writes))
    out["ck_files"] = np.array(sorted(os.listdir(folder)))
    if r == 0:
        ck = serialization.load(path)
        cont = TinyMLP(seed=999)
        cont.load_state_dict(ck["model"])
        train(cont, lambda: None, K, 1, 0, start_step=ck["step"], opt_state=ck["optimizer"])
        out["ck_two_then_one"] = flat_params(cont)

    # one process for K steps (rank 0 alone), checkpoint, then 2 ranks continue
    path = os.path.join(folder, "one.npz")
    if r == 0:
        first = TinyMLP(seed=300)
        state = train(first, lambda: None, K, 1, 0)
        serialization.save({"model": first.state_dict(), "optimizer": state, "step": K}, path)
    dist.barrier()
    ck = dist.load(path)               # rank 0 reads, every rank receives
    cont = TinyMLP(seed=500 + r)
    cont.load_state_dict(ck["model"])
    ddp = dist.DistributedDataParallel(cont)
    train(cont, ddp.sync_gradients, K, w, r, start_step=ck["step"], opt_state=ck["optimizer"])
    out["ck_one_then_two"] = flat_params(cont)
    # a missing file is an error on every rank, not a hang of the ranks that wait
    try:
        dist.load(os.path.join(folder, "missing.npz"))
    except RuntimeError as e:
        out["ck_missing"] = np.array(str(e))
    scenario_checkpoint_buffers(out, folder)


class RecordingComm:
    """Wraps the communicator and records every collective called on it."""

    def __init__(self, comm):
        self.comm, self.calls = comm, []

    def __getattr__(self, name):
        attr = getattr(self.comm, name)
        if not callable(attr) or name.startswith("Get_"):
            return attr

        def call(*args, **kwargs):
            self.calls.append((name, args[0].nbytes if hasattr(args[0], "nbytes") else -1))
            return attr(*args, **kwargs)
        return call


def awkward_checkpoint():
    rng = np.random.default_rng(7)
    return {"big": rng.standard_normal(5000), "f32": tn.tensor(rng.standard_normal((3, 4)),
                                                                 dtype=tn.float32,
                                                                 requires_grad=True),
            "fortran": np.asfortranarray(rng.standard_normal((4, 3))), "empty": np.zeros((0, 3)),
            "flags": np.array([True, False, True]), "c": np.array([1 + 2j], np.complex64),
            "scalar": np.int16(-3), (1, "k"): [None, 2 ** 80, float("nan"), "s", ()],
            "int": tn.tensor([1, 2, 3])}


def scenario_checkpoint_buffers(out, folder):
    """dist.load sends buffers in bounded chunks: only Bcast on the
    communicator, never the pickling lower-case bcast, and the object every
    rank gets equals tn.load's."""
    from tinynet import serialization
    path = os.path.join(folder, "awkward.npz")
    if dist.rank() == 0:
        serialization.save(awkward_checkpoint(), path)
    dist.barrier()
    recorder = RecordingComm(dist._comm)
    original_comm, original_chunk = dist._comm, dist._BCAST_CHUNK
    original_objects = dist.broadcast_object_list
    dist._comm, dist._BCAST_CHUNK = recorder, 1000
    dist.broadcast_object_list = None             # calling it would fail
    try:
        got = dist.load(path)
    finally:
        dist._comm, dist._BCAST_CHUNK = original_comm, original_chunk
        dist.broadcast_object_list = original_objects
    out["ckb_calls"] = np.array(sorted({name for name, _ in recorder.calls}))
    out["ckb_sizes"] = np.array([n for _, n in recorder.calls])
    expected = serialization.load(path)           # the file is on the shared /tmp here
    try:
        assert_same(expected, got)
        out["ckb_same"] = np.array("same")
    except AssertionError as e:
        out["ckb_same"] = np.array(str(e))
    # an error message reaches the other ranks without pickle as well
    try:
        dist.load(os.path.join(folder, "no", "such.npz"), src=dist.world_size() - 1)
    except RuntimeError as e:
        out["ckb_missing"] = np.array(str(e))


def assert_same(a, b, where="obj"):
    """Equal values, types, dtypes, shapes and requires_grad, recursively."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, Tensor):
        assert a.requires_grad == b.requires_grad, where
        a, b = a.numpy(), b.numpy()
    if isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and a != a:
        assert b != b, where
    else:
        assert a == b, where


def worker(folder, scenarios):
    dist.init()
    out = {}
    for name in scenarios:
        if name == "checkpoint":
            scenario_checkpoint(out, os.path.join(folder, "ck"))
        else:
            globals()[f"scenario_{name}"](out)
    np.savez(os.path.join(folder, f"rank{dist.rank()}.npz"), **out)


# ================================================================ running the worker
WORLD = 2
SCENARIOS = ["collectives", "ddp", "module", "buckets", "checkpoint"]


def find_mpiexec():
    """mpiexec on PATH, or beside this Python (a venv's bin/ that is not activated)."""
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return shutil.which("mpiexec") or (beside if os.access(beside, os.X_OK) else None)


def mpi_missing():
    if not dist.is_available():
        return "mpi4py is not installed (pip install -e '.[dist]')"
    if find_mpiexec() is None:
        return "mpiexec is not on PATH (pip install -e '.[dist]' installs MPICH's)"
    return None


def run_mpi(folder, scenarios, n=WORLD, timeout=120):
    reason = mpi_missing()
    if reason:
        pytest.skip(reason)
    os.makedirs(os.path.join(folder, "ck"), exist_ok=True)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               # one thread per rank: the ranks already share the machine's cores
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               # harmless for MPICH; lets an Open MPI mpiexec run as root on a 1-core runner
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    cmd = [find_mpiexec(), "-n", str(n), sys.executable, os.path.abspath(__file__), "worker", folder,
           ",".join(scenarios)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return [dict(np.load(os.path.join(folder, f"rank{r}.npz"))) for r in range(n)]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Every rank's results of one ``mpiexec -n 2`` run of the scenarios."""
    return run_mpi(str(tmp_path_factory.mktemp("mpi")), SCENARIOS)


# ---------------------------------------------------------------- collectives
def test_all_reduce_sum_avg_max_min(ranks):
    base = np.arange(6, dtype=np.float32).reshape(2, 3)
    for out in ranks:
        assert out["world"][1] == WORLD
        np.testing.assert_array_equal(out["sum_f32"], base * 1 + base * 2)
        assert out["sum_f32"].dtype == np.float32
        np.testing.assert_array_equal(out["avg_f64"], np.full(4, 1.5))
        np.testing.assert_array_equal(out["max_i64"], [1, 0, 5])
        np.testing.assert_array_equal(out["min_i64"], [0, -1, 5])
        np.testing.assert_array_equal(out["or_bool"], [True, False, True])


def test_all_reduce_strided_view_in_place(ranks):
    base = np.arange(12, dtype=np.float32).reshape(3, 4)
    for r, out in enumerate(ranks):
        expected = base * (r + 1)                # rank r started from base * (r + 1)
        expected[:, ::2] = base[:, ::2] * 3      # the view holds 1x + 2x, the rest is untouched
        np.testing.assert_array_equal(out["strided"], expected)


def test_local_rank_on_one_machine(ranks):
    for r, out in enumerate(ranks):
        assert list(out["local"]) == [r, r] and str(out["local_cpu"]) == "cpu"


def test_broadcast_and_all_gather(ranks):
    for out in ranks:
        np.testing.assert_array_equal(out["sums"], [3.0, 1.0])
        assert list(out["any"]) == [True, False]
        np.testing.assert_array_equal(out["bcast"], np.full(3, 11.0))   # from the last rank
        np.testing.assert_array_equal(out["gather"], [[0, 0], [1, 1]])
        assert list(out["gather_obj"]) == ["rank0", "rank1"]


# ---------------------------------------------------------------- DistributedDataParallel
def test_ddp_starts_from_rank0_parameters(ranks):
    np.testing.assert_array_equal(ranks[0]["start"], ranks[1]["start"])
    assert not np.array_equal(ranks[0]["start"], flat_params(TinyMLP(seed=101)))
    np.testing.assert_array_equal(ranks[0]["start"], flat_params(TinyMLP(seed=100)))


def test_ddp_parameters_identical_across_ranks_after_k_steps(ranks):
    assert int(ranks[0]["ddp_syncs"]) == K
    assert ranks[0]["ddp_history"].shape[0] == K
    np.testing.assert_array_equal(ranks[0]["ddp_history"], ranks[1]["ddp_history"])  # every step
    np.testing.assert_array_equal(ranks[0]["ddp_final"], ranks[1]["ddp_final"])
    np.testing.assert_array_equal(ranks[0]["f32_final"], ranks[1]["f32_final"])
    assert set(ranks[0]["f32_dtypes"]) == {"float32"}
    assert not np.array_equal(ranks[0]["ddp_final"], ranks[0]["start"])   # it did train


def test_two_ranks_at_global_batch_match_one_process(ranks):
    # mean of two half-batch means == the full-batch mean, up to float64 rounding
    np.testing.assert_allclose(ranks[0]["ddp_final"], ranks[0]["single_final"],
                               rtol=1e-12, atol=1e-13)


def test_ddp_around_an_nn_module_with_buffers(ranks):
    for r, out in enumerate(ranks):
        assert list(out["mod_keys"])[:2] == ["0.weight", "0.bias"]     # no "module." prefix
        assert "1.running_mean" in list(out["mod_keys"])
        np.testing.assert_array_equal(out["mod_buffer_start"], np.zeros(HID))   # rank 0's
        np.testing.assert_array_equal(out["mod_buffer_eval"], np.full(HID, r + 5.0))
        np.testing.assert_array_equal(out["mod_buffer_train"], np.full(HID, 5.0))
    np.testing.assert_array_equal(ranks[0]["mod_grads"], ranks[1]["mod_grads"])


def test_gradients_reduced_in_buckets_not_per_parameter(ranks):
    for out in ranks:
        # 4 float64 parameters share one bucket, the float32 one has its own
        assert sorted(out["bucket_calls"]) == sorted(
            [f"sum:{HID * IN + HID + OUT * HID + OUT}:float64", "sum:4:float32"])
        np.testing.assert_array_equal(out["extra_grad"], np.full(4, 1.5, np.float32))


def test_cupy_tensors_through_host_copies(tmp_path):
    if not tn.cuda.is_available():
        pytest.skip("no usable CUDA GPU (CuPy missing, or no device)")
    ranks = run_mpi(str(tmp_path), ["cuda", "ddp"])
    base = np.arange(6, dtype=np.float32).reshape(2, 3)
    for out in ranks:
        np.testing.assert_array_equal(out["cuda_sum"], base * 3)
        assert str(out["cuda_device"]).startswith("cuda")
        np.testing.assert_array_equal(out["cuda_bcast"], np.full(3, 11.0))
        np.testing.assert_array_equal(out["cuda_gather"], [[0, 0], [1, 1]])
        assert str(out["cuda_grad_device"]).startswith("cuda")
        assert str(out["cuda_local_device"]).startswith("cuda:")
        # CuPy's matmul and reductions round differently from NumPy's: float64 tolerance
        np.testing.assert_allclose(out["cuda_final"], out["ddp_final"], rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(ranks[0]["cuda_final"], ranks[1]["cuda_final"])


def test_parameter_unused_on_some_ranks(ranks):
    for out in ranks:
        np.testing.assert_array_equal(out["partial_extra"], np.full(4, 1.5, np.float32))
        np.testing.assert_array_equal(out["partial_b2"], np.full(OUT, 0.5))
        # w1, b1, w2 unused on every rank keep None; b2 and extra got averaged gradients
        assert list(out["partial_none"]) == [True, True, True, False, False]


def test_checkpoint_written_once_by_rank0(ranks):
    assert [int(out["ck_writes"]) for out in ranks] == [1, 0]
    # the file appears complete under its name (tn.save renames a temporary file)
    assert list(ranks[1]["ck_files"]) == ["two.npz"]


def test_checkpoint_errors_reach_every_rank(ranks, tmp_path):
    for out in ranks:
        assert "rank 0 could not read" in str(out["ck_missing"])
    with pytest.raises(RuntimeError, match="rank 0 could not write"):
        dist.save({"a": 1}, str(tmp_path / "no" / "such" / "folder" / "x.npz"))


def test_checkpoint_load_sends_chunked_buffers_without_pickle(ranks):
    big = awkward_checkpoint()["big"].nbytes
    for r, out in enumerate(ranks):
        assert str(out["ckb_same"]) == "same"
        assert list(out["ckb_calls"]) == ["Bcast"]           # no bcast, no pickle
        sizes = list(out["ckb_sizes"])
        assert max(sizes) == 1000                             # chunks of _BCAST_CHUNK
        assert sum(sizes) > big and len(sizes) > big // 1000
        assert "rank 1 could not read" in str(out["ckb_missing"])
        assert "FileNotFoundError" in str(out["ckb_missing"])


def test_resume_on_another_world_size(ranks):
    ref = ranks[0]["ck_reference"]          # one process, 2K steps, uninterrupted
    np.testing.assert_allclose(ranks[0]["ck_two_then_one"], ref, rtol=1e-12, atol=1e-13)
    for out in ranks:
        np.testing.assert_allclose(out["ck_one_then_two"], ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(ranks[0]["ck_one_then_two"], ranks[1]["ck_one_then_two"])


# ================================================================ in-process (one process)
def test_single_process_fallback():
    assert dist.world_size() == 1 and dist.rank() == 0
    assert dist.get_world_size() == 1 and dist.get_rank() == 0
    t = tn.tensor([1.0, 2.0])
    assert dist.all_reduce(t) is t
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(dist.broadcast(tn.tensor([3.0]), src=0).numpy(), [3.0])
    parts = [tn.zeros(2)]
    dist.all_gather(parts, tn.tensor([4.0, 5.0]))
    np.testing.assert_array_equal(parts[0].numpy(), [4.0, 5.0])
    dist.barrier()
    model = TinyMLP(seed=3)
    ddp = dist.DistributedDataParallel(model)
    before = flat_params(model)
    train(model, ddp.sync_gradients, 2, 1, 0)
    assert not np.array_equal(flat_params(model), before)


def test_collective_errors():
    with pytest.raises(ValueError, match="all_reduce: unknown reduction 'median'"):
        dist.all_reduce(tn.tensor([1.0]), op="median")
    with pytest.raises(TypeError, match="op='avg' needs a floating tensor, got int64"):
        dist.all_reduce(tn.tensor([1]), op="avg")
    with pytest.raises(TypeError, match="all_reduce: expected a Tensor, NumPy or CuPy array, "
                                        "got list"):
        dist.all_reduce([1.0])
    with pytest.raises(ValueError, match=r"broadcast: src must be a rank in 0..0, got 1"):
        dist.broadcast(tn.tensor([1.0]), src=1)
    with pytest.raises(ValueError, match="all_gather: expected a list of 1 tensors"):
        dist.all_gather([], tn.tensor([1.0]))
    with pytest.raises(ValueError, match=r"tensor_list\[0\] is \(3,\) float32, expected \(2,\)"):
        dist.all_gather([tn.zeros(3)], tn.zeros(2))
    with pytest.raises(TypeError, match="DistributedDataParallel: expected a Module, got int"):
        dist.DistributedDataParallel(3)
    assert dist.sum_across_ranks(2, 0.5) == (2.0, 0.5) and dist.any_rank(True)
    assert dist.local_rank() == 0 and dist.local_device("cuda:1") == "cuda:1"


def test_init_refuses_a_multi_process_launch_without_mpi4py(monkeypatch):
    monkeypatch.setattr(dist, "_initialized", False)
    monkeypatch.setattr(dist, "_comm", None)
    monkeypatch.setattr(dist, "is_available", lambda: False)
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setenv("PMI_RANK", "1")
    with pytest.raises(RuntimeError, match="2 processes, but mpi4py is not installed"):
        dist.init()
    monkeypatch.setenv("PMI_SIZE", "1")
    dist.init()                           # a one-process launch falls back quietly
    assert dist.world_size() == 1


# ---------------------------------------------------------------- DistributedSampler
def shards(n, world, **kw):
    return [list(dist.DistributedSampler(Indexable(n), num_replicas=world, rank=r, **kw))
            for r in range(world)]


@pytest.mark.parametrize("n, world", [(10, 2), (11, 2), (7, 3), (3, 4), (1, 1), (0, 2)],
                         ids=lambda v: str(v))
def test_sampler_shards_cover_the_data_exactly_once(n, world):
    parts = shards(n, world, seed=3)
    per = -(-n // world)
    assert [len(p) for p in parts] == [per] * world       # equal lengths, so equal steps
    everything = sorted(i for p in parts for i in p)
    padding = per * world - n
    assert sorted(set(everything)) == list(range(n))       # every sample at least once
    assert len(everything) == n + padding                   # and only the padding twice
    # without padding the shards are disjoint
    exact = shards(n - n % world, world, seed=3) if n >= world else parts
    if n >= world:
        flat = [i for p in exact for i in p]
        assert len(flat) == len(set(flat))


def test_sampler_epochs_shuffle_alike_on_every_rank():
    s = [dist.DistributedSampler(Indexable(20), num_replicas=2, rank=r, seed=1) for r in (0, 1)]
    first = [list(x) for x in s]
    for x in s:
        x.set_epoch(1)
    second = [list(x) for x in s]
    assert first != second                                  # a new order per epoch
    order = s[0].global_order()
    assert second[0] == list(order[0::2]) and second[1] == list(order[1::2])
    assert list(dist.DistributedSampler(Indexable(5), 1, 0, shuffle=False)) == [0, 1, 2, 3, 4]
    assert shards(6, 2, seed=1, drop_last=True) == shards(6, 2, seed=1)
    assert [len(p) for p in shards(7, 2, drop_last=True)] == [3, 3]


def test_sampler_global_batches_do_not_depend_on_world_size():
    # batch k of every rank together == positions k*B..(k+1)*B-1 of the global order
    order = list(dist.DistributedSampler(Indexable(24), 1, 0, seed=9))
    for world in (1, 2, 4):
        parts = shards(24, world, seed=9)
        per = 8 // world
        for k in range(3):
            got = sorted(i for p in parts for i in p[k * per:(k + 1) * per])
            assert got == sorted(order[k * 8:(k + 1) * 8])


def test_sampler_start_resumes_mid_epoch_on_another_world_size():
    order = list(dist.DistributedSampler(Indexable(20), 1, 0, seed=4))
    for world in (1, 2):
        samplers = [dist.DistributedSampler(Indexable(20), world, r, seed=4) for r in
                    range(world)]
        for s in samplers:
            s.set_epoch(0, start=8)
        assert sorted(i for s in samplers for i in s) == sorted(order[8:])


def loader_batches(loader, limit=None):
    out = []
    for x, in loader:
        out.append(sorted(x.numpy().tolist()))
        if limit is not None and len(out) == limit:
            break
    return out


def test_distributed_loader_batches_are_global_batches_split():
    from tinynet.data import TensorDataset
    data = TensorDataset(tn.arange(20))
    order = list(dist.DistributedSampler(data, 1, 0, seed=2).global_order())
    loaders = [dist.DistributedLoader(data, batch_size=3, seed=2, num_replicas=2, rank=r)
               for r in (0, 1)]
    assert [len(x) for x in loaders] == [4, 4]              # 10 samples per rank, last batch 1
    per_rank = [loader_batches(x) for x in loaders]
    for k in range(3):
        assert sorted(per_rank[0][k] + per_rank[1][k]) == sorted(order[6 * k:6 * k + 6])
    # the epoch advanced by itself: the next pass is the next shuffle
    assert loaders[0].state_dict() == {"epoch": 1, "start": 0}
    assert loader_batches(loaders[0]) != per_rank[0]


def test_distributed_loader_resumes_mid_epoch_on_another_world_size():
    from tinynet.data import TensorDataset
    data = TensorDataset(tn.arange(24))
    two = [dist.DistributedLoader(data, batch_size=2, seed=5, num_replicas=2, rank=r)
           for r in (0, 1)]
    for x in two:
        loader_batches(x, limit=2)                          # 2 global batches of 4
    state = two[0].state_dict()
    assert state == {"epoch": 0, "start": 8}
    one = dist.DistributedLoader(data, batch_size=4, seed=5, num_replicas=1, rank=0)
    one.load_state_dict(state)
    order = list(one.sampler.global_order())
    assert loader_batches(one) == [sorted(order[i:i + 4]) for i in range(8, 24, 4)]


def test_sampler_errors():
    with pytest.raises(ValueError, match="num_replicas must be a positive int, got 0"):
        dist.DistributedSampler(Indexable(3), num_replicas=0, rank=0)
    with pytest.raises(ValueError, match=r"rank must be in 0..1, got 2"):
        dist.DistributedSampler(Indexable(3), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        dist.DistributedSampler(Indexable(3), 1, 0, seed=-1)
    with pytest.raises(ValueError, match=r"start must be in 0..3, got 4"):
        dist.DistributedSampler(Indexable(3), 1, 0).set_epoch(0, start=4)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "worker":
    worker(sys.argv[2], sys.argv[3].split(","))
