"""tinynet.utils.data: samplers, DataLoader's PyTorch arguments (sampler,
batch_sampler, batch_size=None, worker options), IterableDataset,
default_collate / default_convert against PyTorch's."""
import collections

import numpy as np
import pytest
import torch
import torch.utils.data as tdata

import tinynet as tn
import tinynet.data
import tinynet.utils.data as data
from tinynet.utils.data import (BatchSampler, DataLoader, IterableDataset, RandomSampler,
                                SequentialSampler, SubsetRandomSampler, TensorDataset,
                                WeightedRandomSampler, default_collate, default_convert)


class Squares(data.Dataset):
    """Sample i is (float32 array [i, i*i], int i)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.array([i, i * i], dtype=np.float32), i


def labels(loader):
    return [int(v) for _, y in loader for v in np.atleast_1d(y.numpy())]


def test_utils_data_is_tinynet_data():
    import tinynet.utils
    assert tinynet.utils.data is data
    for name in data.__all__:
        obj = getattr(data, name)
        assert obj is getattr(tinynet.data, name, obj)
    assert data.DataLoader is tinynet.data.DataLoader
    assert data.DistributedSampler is tinynet.data.DistributedSampler
    assert issubclass(data.IterableDataset, data.Dataset)


# ---------------------------------------------------------------- samplers
def test_sequential_sampler():
    s = SequentialSampler(range(5))
    assert list(s) == list(s) == [0, 1, 2, 3, 4] and len(s) == 5
    assert list(SequentialSampler([])) == []


def test_random_sampler_is_a_permutation_reshuffled_each_epoch():
    s = RandomSampler(range(50), generator=3)
    a, b = list(s), list(s)
    assert sorted(a) == sorted(b) == list(range(50)) and a != b and len(s) == 50
    # an int seed makes the whole sequence reproducible
    s2 = RandomSampler(range(50), generator=3)
    assert list(s2) == a and list(s2) == b


def test_random_sampler_follows_manual_seed():
    tn.manual_seed(4)
    a = list(RandomSampler(range(30)))
    b = list(RandomSampler(range(30)))
    tn.manual_seed(4)
    assert list(RandomSampler(range(30))) == a
    assert list(RandomSampler(range(30))) == b
    assert a != b


def test_random_sampler_with_a_numpy_generator_advances_it():
    g = np.random.default_rng(0)
    s = RandomSampler(range(10), generator=g)
    a = list(s)
    assert list(RandomSampler(range(10), generator=np.random.default_rng(0))) == a
    assert list(s) != a


def test_random_sampler_num_samples_without_replacement_chains_permutations():
    s = RandomSampler(range(4), num_samples=10, generator=0)
    out = list(s)
    assert len(out) == len(s) == 10
    assert sorted(out[:4]) == sorted(out[4:8]) == [0, 1, 2, 3]
    assert len(set(out[8:])) == 2
    assert sorted(list(RandomSampler(range(4), num_samples=3, generator=0))) != [0, 1, 2, 3]


def test_random_sampler_with_replacement():
    s = RandomSampler(range(5), replacement=True, num_samples=2000, generator=1)
    out = np.array(list(s))
    assert len(out) == 2000 and out.min() == 0 and out.max() == 4
    counts = np.bincount(out, minlength=5)
    assert np.all(np.abs(counts - 400) < 80)          # uniform
    assert len(RandomSampler(range(7), replacement=True)) == 7


def test_random_sampler_num_samples_follows_the_dataset():
    items = [1, 2, 3]
    s = RandomSampler(items)
    items.append(4)
    assert len(s) == 4 and sorted(s) == [0, 1, 2, 3]


def test_subset_random_sampler():
    s = SubsetRandomSampler([10, 20, 30, 40], generator=2)
    a, b = list(s), list(s)
    assert sorted(a) == sorted(b) == [10, 20, 30, 40] and len(s) == 4
    assert a != b or list(s) != a


def test_weighted_random_sampler_distribution_and_reproducibility():
    w = [0.1, 0.0, 0.6, 0.3]
    s = WeightedRandomSampler(w, 10000, generator=5)
    out = np.array(list(s))
    freq = np.bincount(out, minlength=4) / len(out)
    np.testing.assert_allclose(freq, w, atol=0.02)
    assert freq[1] == 0
    assert list(WeightedRandomSampler(w, 50, generator=5)) == out[:50].tolist()
    tn.manual_seed(1)
    a = list(WeightedRandomSampler(tn.tensor(w), 20))
    tn.manual_seed(1)
    assert list(WeightedRandomSampler(np.array(w), 20)) == a


def test_weighted_random_sampler_without_replacement():
    s = WeightedRandomSampler([1.0, 5.0, 0.0, 2.0], 3, replacement=False, generator=0)
    for _ in range(5):
        out = list(s)
        assert sorted(out) == [0, 1, 3]
    with pytest.raises(ValueError, match="without replacement from 3 non-zero weights"):
        WeightedRandomSampler([1.0, 5.0, 0.0, 2.0], 4, replacement=False)


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("n,bs", [(10, 3), (9, 3), (2, 5), (0, 2), (7, 1)])
def test_batch_sampler_matches_torch(n, bs, drop_last):
    ours = BatchSampler(SequentialSampler(range(n)), bs, drop_last)
    theirs = tdata.BatchSampler(tdata.SequentialSampler(range(n)), bs, drop_last)
    assert list(ours) == list(theirs)
    assert len(ours) == len(theirs)
    # any iterable of indices works, as in PyTorch
    assert list(BatchSampler(range(n), bs, drop_last)) == list(theirs)


@pytest.mark.parametrize("make,error,match", [
    (lambda: RandomSampler(range(3), replacement=1), TypeError, "replacement should be a bool"),
    (lambda: RandomSampler(range(3), num_samples=0), ValueError, "num_samples should be a pos"),
    (lambda: RandomSampler(range(3), num_samples=2.5), ValueError, "num_samples=2.5"),
    (lambda: RandomSampler(range(3), generator="x"), TypeError, "generator must be None"),
    (lambda: list(RandomSampler([], replacement=True, num_samples=2)), ValueError, "empty"),
    (lambda: BatchSampler(range(3), 0, False), ValueError, "batch_size should be a positive"),
    (lambda: BatchSampler(range(3), True, False), ValueError, "batch_size=True"),
    (lambda: BatchSampler(range(3), 2, 1), ValueError, "drop_last should be a boolean"),
    (lambda: WeightedRandomSampler([1.0, 2.0], 0), ValueError, "num_samples should be a pos"),
    (lambda: WeightedRandomSampler([1.0, 2.0], 2, replacement="no"), ValueError,
     "replacement should be a boolean"),
    (lambda: WeightedRandomSampler([[1.0, 2.0]], 2), ValueError, r"1d sequence.*\(1, 2\)"),
    (lambda: WeightedRandomSampler([1.0, -2.0], 2), ValueError, "non-negative"),
    (lambda: WeightedRandomSampler([0.0, 0.0], 2), ValueError, "not all zero"),
])
def test_sampler_argument_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_sampler_argument_errors_agree_with_torch():
    for args in [(range(3), 0, False), (range(3), 2, 1)]:
        with pytest.raises(ValueError):
            tdata.BatchSampler(*args)
    with pytest.raises(TypeError):
        tdata.RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError):
        tdata.RandomSampler(range(3), num_samples=0)
    with pytest.raises(ValueError):
        tdata.WeightedRandomSampler([1.0], 1, replacement="no")


# ---------------------------------------------------------------- DataLoader arguments
def test_loader_with_a_sampler():
    loader = DataLoader(Squares(10), batch_size=3, sampler=[9, 1, 4, 4, 0])
    assert labels(loader) == [9, 1, 4, 4, 0] and len(loader) == 2
    sub = DataLoader(Squares(10), batch_size=2, sampler=SubsetRandomSampler([2, 3, 5], 0))
    assert sorted(labels(sub)) == [2, 3, 5]


def test_loader_with_a_weighted_sampler_balances_classes():
    y = np.array([0] * 90 + [1] * 10)
    ds = TensorDataset(tn.tensor(np.arange(100.0)), tn.tensor(y))
    weights = 1.0 / np.bincount(y)[y]
    loader = DataLoader(ds, batch_size=50, sampler=WeightedRandomSampler(weights, 2000,
                                                                         generator=0))
    frac = np.mean(np.concatenate([b[1].numpy() for b in loader]))
    assert 0.45 < frac < 0.55


def test_loader_with_a_batch_sampler():
    bs = [[3, 1], [0], [2, 2, 4]]
    loader = DataLoader(Squares(5), batch_sampler=bs)
    assert [b[1].numpy().tolist() for b in loader] == bs
    assert len(loader) == 3 and loader.batch_size is None and not loader.drop_last
    fast = DataLoader(TensorDataset(tn.arange(5), tn.arange(5) * 10), batch_sampler=bs)
    assert [b[1].numpy().tolist() for b in fast] == [[30, 10], [0], [20, 20, 40]]


def test_loader_batch_size_none_yields_converted_samples():
    loader = DataLoader(Squares(3), batch_size=None)
    items = list(loader)
    assert len(loader) == 3 and len(items) == 3
    x, y = items[2]
    assert isinstance(items[2], list)          # default_convert: a tuple becomes a list
    assert isinstance(x, tn.Tensor) and x.dtype == tn.float32 and x.shape == (2,)
    assert y == 2 and isinstance(y, int)
    shuffled = DataLoader(Squares(6), batch_size=None, shuffle=True, seed=0)
    assert sorted(int(y) for _, y in shuffled) == list(range(6))


def test_loader_shuffle_with_generator_matches_seed():
    a = labels(DataLoader(Squares(20), batch_size=3, shuffle=True, seed=7))
    b = labels(DataLoader(Squares(20), batch_size=3, shuffle=True, generator=7))
    c = labels(DataLoader(Squares(20), batch_size=3, shuffle=True,
                          generator=np.random.default_rng(7)))
    assert a == b == c and sorted(a) == list(range(20))


def test_num_workers_runs_in_process_with_the_same_batches():
    called = []
    plain = DataLoader(Squares(11), batch_size=4, shuffle=True, seed=1)
    workers = DataLoader(Squares(11), batch_size=4, shuffle=True, seed=1, num_workers=3,
                         prefetch_factor=4, persistent_workers=True, pin_memory=True,
                         timeout=5, worker_init_fn=called.append)
    assert labels(plain) == labels(workers)
    assert called == [] and data.get_worker_info() is None
    assert workers.num_workers == 3 and workers.prefetch_factor == 4
    assert DataLoader(Squares(2), num_workers=2).prefetch_factor == 2


TORCH_ARG_ERRORS = [
    (dict(shuffle=True, sampler=[0]), "sampler option is mutually exclusive with shuffle"),
    (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler option is mutually exclusive"),
    (dict(batch_sampler=[[0]], shuffle=True), "batch_sampler option is mutually exclusive"),
    (dict(batch_sampler=[[0]], sampler=[0]), "batch_sampler option is mutually exclusive"),
    (dict(batch_sampler=[[0]], drop_last=True), "batch_sampler option is mutually exclusive"),
    (dict(batch_size=None, drop_last=True), "batch_size=None option disables auto-batching"),
    (dict(num_workers=-1), "num_workers option should be"),
    (dict(timeout=-1), "timeout option should be non-negative"),
    (dict(prefetch_factor=2), "prefetch_factor option could only be specified"),
    (dict(num_workers=2, prefetch_factor=-1), "prefetch_factor option should be non-negative"),
    (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
    (dict(batch_size=0), "batch_size"),
]


@pytest.mark.parametrize("kwargs,match", TORCH_ARG_ERRORS,
                         ids=[str(sorted(kw)) + str(i) for i, (kw, _) in
                              enumerate(TORCH_ARG_ERRORS)])
def test_loader_argument_errors_like_torch(kwargs, match):
    with pytest.raises(ValueError):
        tdata.DataLoader(tdata.TensorDataset(torch.arange(4)), **kwargs)
    with pytest.raises(ValueError, match=match):
        DataLoader(Squares(4), **kwargs)


def test_loader_seed_and_generator_are_exclusive():
    with pytest.raises(ValueError, match="seed or generator, not both"):
        DataLoader(Squares(4), shuffle=True, seed=1, generator=2)
    with pytest.raises(TypeError, match="generator must be None"):
        DataLoader(Squares(4), shuffle=True, generator="seed")


# ---------------------------------------------------------------- IterableDataset
class Count(IterableDataset):
    def __init__(self, n, sized=True):
        self.n, self.sized = n, sized

    def __iter__(self):
        for i in range(self.n):
            yield np.float64(i), {"id": i}

    def __len__(self):
        if not self.sized:
            raise TypeError("no length")
        return self.n


def test_iterable_dataset_batches_in_order():
    loader = DataLoader(Count(7), batch_size=3)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    x, meta = batches[0]
    np.testing.assert_array_equal(x.numpy(), [0, 1, 2])
    np.testing.assert_array_equal(meta["id"].numpy(), [0, 1, 2])
    assert len(DataLoader(Count(7), batch_size=3, drop_last=True)) == 2
    assert [len(b[0]) for b in DataLoader(Count(7), batch_size=3, drop_last=True)] == [3, 3]
    single = list(DataLoader(Count(3), batch_size=None))
    assert single[1][1] == {"id": 1} and isinstance(single[1][0], tn.Tensor)
    with pytest.raises(TypeError):
        len(DataLoader(Count(3, sized=False)))
    assert len(list(DataLoader(Count(5, sized=False), batch_size=2))) == 3


@pytest.mark.parametrize("kwargs", [dict(shuffle=True), dict(sampler=[0]),
                                    dict(batch_sampler=[[0]])], ids=str)
def test_iterable_dataset_rejects_order_options(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=f"expected unspecified {name} option"):
        DataLoader(Count(3), **kwargs)


def test_chain_dataset_and_iterable_add():
    chained = Count(2) + Count(3)
    assert isinstance(chained, data.ChainDataset) and len(chained) == 5
    assert [int(x) for x, _ in chained] == [0, 1, 0, 1, 2]
    with pytest.raises(TypeError, match="cannot be concatenated"):
        data.ConcatDataset([Count(2)])


def test_iterable_loader_state_dict_resumes_mid_epoch():
    loader = DataLoader(Count(10), batch_size=3)
    it = iter(loader)
    next(it)
    state = loader.state_dict()
    rest = [b[0].numpy().tolist() for b in it]
    resumed = DataLoader(Count(10), batch_size=3)
    resumed.load_state_dict(state)
    assert [b[0].numpy().tolist() for b in resumed] == rest


@pytest.mark.parametrize("make_sampler", [
    lambda: SubsetRandomSampler(list(range(0, 30, 2)), generator=4),
    lambda: BatchSampler(RandomSampler(range(30), generator=4), 4, False),
], ids=["sampler", "batch_sampler"])
def test_state_dict_resumes_mid_epoch_with_a_seeded_sampler(make_sampler):
    def make():
        s = make_sampler()
        if isinstance(s, BatchSampler):
            return DataLoader(Squares(30), batch_sampler=s)
        return DataLoader(Squares(30), batch_size=4, sampler=s)
    loader = make()
    it = iter(loader)
    next(it), next(it)
    state = loader.state_dict()
    rest = [b[1].numpy().tolist() for b in it]
    resumed = make()
    resumed.load_state_dict(state)
    assert [b[1].numpy().tolist() for b in resumed] == rest


# ---------------------------------------------------------------- collation vs PyTorch
def _to_plain(obj):
    """Nested structure with tensors as (dtype name, values) for comparison."""
    if isinstance(obj, (tn.Tensor, torch.Tensor)):
        arr = obj.numpy()
        return ("tensor", str(arr.dtype), arr.shape, arr.tolist())
    if isinstance(obj, dict):
        return (type(obj).__name__, {k: _to_plain(v) for k, v in obj.items()})
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, [_to_plain(v) for v in obj])
    return obj


Point = collections.namedtuple("Point", "x y")

COLLATE_CASES = {
    "floats": [1.5, 2.0, -3.25],
    "ints": [1, 2, 3],
    "bools": [True, False],
    "numpy-scalars": [np.float32(1.5), np.float32(2)],
    "numpy-int16": [np.int16(3), np.int16(-1)],
    "arrays-f64": [np.zeros((2, 3)), np.ones((2, 3))],
    "arrays-u8": [np.full(2, 7, np.uint8), np.zeros(2, np.uint8)],
    "strings": ["a", "bc"],
    "bytes": [b"a", b"b"],
    "tuples": [(1, 2.0), (3, 4.0)],
    "lists": [[1, 2.5], [3, 4.5]],
    "dicts": [{"a": 1, "b": [np.ones(2), "s"]}, {"a": 2, "b": [np.zeros(2), "t"]}],
    "namedtuples": [Point(1, 2.0), Point(3, 4.0)],
    "nested": [{"img": np.full((2, 2), i, np.float32), "meta": (i, {"name": f"n{i}",
                                                                     "w": 0.5 * i}),
                "p": Point(i, [i, 2 * i])} for i in range(3)],
    "ordered-dict": [collections.OrderedDict(b=1, a=2.0), collections.OrderedDict(b=3, a=4.0)],
}


@pytest.mark.parametrize("name", list(COLLATE_CASES))
def test_default_collate_matches_torch(name):
    batch = COLLATE_CASES[name]
    ours = default_collate(batch)
    theirs = tdata.default_collate(batch)
    assert _to_plain(ours) == _to_plain(theirs)


def test_default_collate_of_tensors_matches_torch():
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((3, 2)).astype(np.float32) for _ in range(4)]
    ours = default_collate([(tn.tensor(x), tn.tensor(i)) for i, x in enumerate(xs)])
    theirs = tdata.default_collate([(torch.tensor(x), torch.tensor(i)) for i, x in enumerate(xs)])
    assert _to_plain(ours) == _to_plain(theirs)


@pytest.mark.parametrize("sample", [
    np.arange(3.0), np.float32(2), 5, "s", (np.zeros(2), 1), [np.ones(1), "x"],
    {"a": np.ones(2), "b": (1, np.int64(2))}, Point(np.ones(1), 2),
], ids=["array", "np-scalar", "int", "str", "tuple", "list", "dict", "namedtuple"])
def test_default_convert_matches_torch(sample):
    assert _to_plain(default_convert(sample)) == _to_plain(tdata.default_convert(sample))


def test_default_collate_errors():
    with pytest.raises(TypeError, match="found arrays of dtype <U1"):
        default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(TypeError, match="found object"):
        default_collate([object(), object()])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [1]])


def test_tensor_dataset_batches_are_lists_like_torch():
    ds = TensorDataset(tn.arange(4), tn.arange(4) * 2)
    tds = tdata.TensorDataset(torch.arange(4), torch.arange(4) * 2)
    ours = next(iter(DataLoader(ds, batch_size=3)))
    theirs = next(iter(tdata.DataLoader(tds, batch_size=3)))
    assert _to_plain(ours) == _to_plain(theirs)
