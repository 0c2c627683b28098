"""tinynet.data: datasets, random_split, default_collate, DataLoader, digits()."""
import collections

import numpy as np
import pytest

import tinynet as tn
from tinynet.data import (ConcatDataset, DataLoader, Dataset, Subset, TensorDataset,
                          default_collate, digits, random_split)
from tinynet.data import uci_digits as digits_module


class Squares(Dataset):
    """A plain (non-Tensor) dataset: sample i is (float array [i, i*i], int i)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return np.array([i, i * i], dtype=np.float32), i


def labels_of(loader):
    return np.concatenate([y.numpy() for _, y in loader])


# ---------------------------------------------------------------- datasets
def test_tensor_dataset_items_and_errors():
    x = tn.arange(12).reshape(6, 2)
    y = tn.tensor([0, 1, 0, 1, 1, 0])
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    xi, yi = ds[4]
    np.testing.assert_array_equal(xi.numpy(), [8, 9])
    assert yi.item() == 1 and yi.shape == ()
    with pytest.raises(ValueError, match=r"same size in their first dimension.*\(6, 2\).*\(5,\)"):
        TensorDataset(x, tn.zeros(5))
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorDataset()


def test_subset_and_concat():
    ds = Squares(10)
    sub = Subset(ds, [7, 2, 2])
    assert len(sub) == 3 and sub[0][1] == 7 and sub[2][1] == 2
    cat = ConcatDataset([Squares(3), Squares(4)])
    assert len(cat) == 7
    assert [cat[i][1] for i in range(7)] == [0, 1, 2, 0, 1, 2, 3]
    assert cat[-1][1] == 3
    with pytest.raises(IndexError):
        cat[7]
    assert len(Squares(2) + Squares(5)) == 7


def test_random_split_is_a_seeded_partition():
    ds = Squares(10)
    a, b, c = random_split(ds, [5, 3, 2], generator=0)
    all_idx = a.indices + b.indices + c.indices
    assert sorted(all_idx) == list(range(10))
    assert (len(a), len(b), len(c)) == (5, 3, 2)
    again = random_split(ds, [5, 3, 2], generator=0)
    assert again[0].indices == a.indices
    assert random_split(ds, [5, 3, 2], generator=1)[0].indices != a.indices


def test_random_split_uses_tinynet_random_by_default():
    tn.manual_seed(5)
    first = random_split(Squares(20), [10, 10])[0].indices
    tn.manual_seed(5)
    assert random_split(Squares(20), [10, 10])[0].indices == first


def test_random_split_fractions_and_errors():
    parts = random_split(Squares(11), [0.5, 0.3, 0.2], generator=np.random.default_rng(0))
    # floor(5.5, 3.3, 2.2) = (5, 3, 2), the one left over goes to the first split
    assert [len(p) for p in parts] == [6, 3, 2]
    with pytest.raises(ValueError, match=r"sum to 9, expected the dataset's length 10"):
        random_split(Squares(10), [5, 4])
    with pytest.raises(TypeError, match="generator must be"):
        random_split(Squares(10), [5, 5], generator="seed")


# ---------------------------------------------------------------- default_collate
def test_collate_dtypes():
    f64 = default_collate([np.zeros(3), np.ones(3)])
    assert f64.dtype == tn.float64 and f64.shape == (2, 3)
    assert default_collate([1.5, 2.0]).dtype == tn.float64      # as PyTorch's
    assert default_collate([1, 2, 3]).dtype == tn.int64
    assert default_collate([True, False]).dtype == tn.bool_
    assert default_collate([np.float32(1), np.float32(2)]).dtype == tn.float32
    assert default_collate([np.int16(1), np.int16(2)]).dtype == tn.int16
    t = default_collate([tn.ones(2, 3, dtype=tn.float64), tn.zeros(2, 3, dtype=tn.float64)])
    assert isinstance(t, tn.Tensor) and t.shape == (2, 2, 3) and t.dtype == tn.float64
    assert not t.requires_grad


def test_collate_nested_structures():
    Point = collections.namedtuple("Point", "x y")
    batch = [{"img": np.full((2, 2), i, np.uint8), "meta": (i, "name%d" % i),
              "p": Point(i, 2.0 * i)} for i in range(3)]
    out = default_collate(batch)
    assert set(out) == {"img", "meta", "p"}
    assert out["img"].shape == (3, 2, 2) and out["img"].dtype == tn.uint8
    assert isinstance(out["meta"], list)                     # a tuple becomes a list
    np.testing.assert_array_equal(out["meta"][0].numpy(), [0, 1, 2])
    assert out["meta"][1] == ("name0", "name1", "name2")        # PyTorch's quirk
    assert isinstance(out["p"], Point) and out["p"].y.dtype == tn.float64
    lists = default_collate([[1, 2.5], [3, 4.5]])
    assert isinstance(lists, list) and lists[0].dtype == tn.int64


def test_collate_errors():
    with pytest.raises(RuntimeError, match=r"different shapes \[\(2,\), \(3,\)\]"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(RuntimeError, match=r"equal size, got lengths \[1, 2\]"):
        default_collate([(1, 2), (1,)])
    with pytest.raises(TypeError, match="found object"):
        default_collate([object(), object()])


# ---------------------------------------------------------------- DataLoader
@pytest.mark.parametrize("n, bs, drop_last, expected", [
    (10, 3, False, 4), (10, 3, True, 3), (9, 3, False, 3), (9, 3, True, 3),
    (2, 5, False, 1), (2, 5, True, 0), (0, 4, False, 0)])
def test_len_and_batch_sizes(n, bs, drop_last, expected):
    for ds in (Squares(n), TensorDataset(tn.arange(n, dtype=tn.float32), tn.arange(n))):
        loader = DataLoader(ds, batch_size=bs, drop_last=drop_last)
        sizes = [len(y) for _, y in loader]
        assert len(loader) == len(sizes) == expected
        assert all(s == bs for s in sizes[:-1])
        if drop_last and sizes:
            assert sizes[-1] == bs


def test_sequential_order_and_values():
    loader = DataLoader(Squares(5), batch_size=2)
    batches = list(loader)
    x, y = batches[0]
    assert x.dtype == tn.float32 and x.shape == (2, 2) and y.dtype == tn.int64
    np.testing.assert_array_equal(x.numpy(), [[0, 0], [1, 1]])
    np.testing.assert_array_equal(labels_of(loader), np.arange(5))


def test_seeded_shuffle_is_reproducible_and_reshuffles_each_epoch():
    a = DataLoader(Squares(50), batch_size=7, shuffle=True, seed=3)
    b = DataLoader(Squares(50), batch_size=7, shuffle=True, seed=3)
    c = DataLoader(Squares(50), batch_size=7, shuffle=True, seed=4)
    epoch1, epoch2 = labels_of(a), labels_of(a)
    assert sorted(epoch1) == list(range(50))          # a permutation, nothing lost
    assert not np.array_equal(epoch1, epoch2)         # a new order each epoch
    np.testing.assert_array_equal(labels_of(b), epoch1)
    np.testing.assert_array_equal(labels_of(b), epoch2)
    assert not np.array_equal(labels_of(c), epoch1)


def test_unseeded_shuffle_follows_manual_seed():
    tn.manual_seed(11)
    first = labels_of(DataLoader(Squares(30), batch_size=4, shuffle=True))
    tn.manual_seed(11)
    second = labels_of(DataLoader(Squares(30), batch_size=4, shuffle=True))
    tn.manual_seed(12)
    third = labels_of(DataLoader(Squares(30), batch_size=4, shuffle=True))
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, third)


def test_seeded_loader_ignores_global_seed():
    tn.manual_seed(1)
    first = labels_of(DataLoader(Squares(30), batch_size=4, shuffle=True, seed=9))
    tn.manual_seed(2)
    np.testing.assert_array_equal(
        labels_of(DataLoader(Squares(30), batch_size=4, shuffle=True, seed=9)), first)


def test_tensor_dataset_fast_path_matches_per_sample_collation():
    tn.manual_seed(0)
    x, y = tn.randn(23, 3, 2, dtype=tn.float64), tn.randint(0, 5, (23,))
    ds = TensorDataset(x, y)
    fast = DataLoader(ds, batch_size=5, shuffle=True, seed=1)
    # a collate_fn other than default_collate itself turns the fast path off
    slow = DataLoader(ds, batch_size=5, shuffle=True, seed=1,
                      collate_fn=lambda batch: default_collate(batch))
    for (xf, yf), (xs, ys) in zip(fast, slow):
        assert xf.dtype == xs.dtype == tn.float64 and yf.dtype == ys.dtype == tn.int64
        np.testing.assert_array_equal(xf.numpy(), xs.numpy())
        np.testing.assert_array_equal(yf.numpy(), ys.numpy())
    sub = Subset(ds, [4, 0, 22])
    xb, yb = next(iter(DataLoader(sub, batch_size=3)))
    np.testing.assert_array_equal(xb.numpy(), x.numpy()[[4, 0, 22]])


def test_custom_collate_fn():
    loader = DataLoader(Squares(4), batch_size=2, collate_fn=lambda b: [s[1] for s in b])
    assert list(loader) == [[0, 1], [2, 3]]


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, "batch_size must be a positive int, got 0"),
    ({"batch_size": 2.0}, "batch_size must be a positive int"),
    ({"seed": -1}, "seed must be None or a non-negative int"),
])
def test_loader_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataLoader(Squares(3), **kwargs)


def _run_epochs(loader, epochs):
    return [labels_of(loader) for _ in range(epochs)]


@pytest.mark.parametrize("seed", [5, None])
def test_state_dict_resumes_between_epochs(seed):
    tn.manual_seed(0)
    loader = DataLoader(Squares(40), batch_size=6, shuffle=True, seed=seed)
    labels_of(loader)                                   # epoch 0
    state = loader.state_dict()
    expected = _run_epochs(loader, 2)                   # epochs 1, 2
    tn.manual_seed(123)                                 # a different global state
    resumed = DataLoader(Squares(40), batch_size=6, shuffle=True, seed=seed)
    resumed.load_state_dict(state)
    for got, want in zip(_run_epochs(resumed, 2), expected):
        np.testing.assert_array_equal(got, want)


def test_state_dict_is_plain_and_survives_checkpoint(tmp_path):
    from tinynet.serialization import load, save
    loader = DataLoader(Squares(40), batch_size=6, shuffle=True, seed=5)
    labels_of(loader)
    state = loader.state_dict()

    def plain(v):
        if isinstance(v, dict):
            return all(isinstance(k, str) and plain(x) for k, x in v.items())
        return v is None or isinstance(v, (int, str))
    assert plain(state)
    save({"loader": state}, tmp_path / "ckpt.tn")
    resumed = DataLoader(Squares(40), batch_size=6, shuffle=True, seed=5)
    resumed.load_state_dict(load(tmp_path / "ckpt.tn")["loader"])
    np.testing.assert_array_equal(labels_of(resumed), labels_of(loader))


@pytest.mark.parametrize("shuffle", [True, False])
def test_state_dict_resumes_mid_epoch(shuffle):
    ds = TensorDataset(tn.arange(30, dtype=tn.float32), tn.arange(30))
    loader = DataLoader(ds, batch_size=4, shuffle=shuffle, seed=2)
    labels_of(loader)
    it = iter(loader)
    seen = [next(it)[1].numpy() for _ in range(3)]
    state = loader.state_dict()
    assert state["batches_done"] == 3
    rest = [y.numpy() for _, y in it]
    next_epoch = labels_of(loader)

    resumed = DataLoader(ds, batch_size=4, shuffle=shuffle, seed=2)
    resumed.load_state_dict(state)
    got = [y.numpy() for _, y in resumed]
    assert len(got) == len(rest) == len(loader) - 3
    for g, r in zip(got, rest):
        np.testing.assert_array_equal(g, r)
    np.testing.assert_array_equal(labels_of(resumed), next_epoch)
    assert sorted(np.concatenate(seen + rest)) == list(range(30))


def test_state_saved_at_the_last_batch_resumes_with_the_next_epoch():
    loader = DataLoader(Squares(20), batch_size=6, shuffle=True, seed=8)
    for i, _ in enumerate(loader):
        if i == len(loader) - 1:
            state = loader.state_dict()       # saved inside the loop, after the last batch
    assert state["batches_done"] == 0
    resumed = DataLoader(Squares(20), batch_size=6, shuffle=True, seed=8)
    resumed.load_state_dict(state)
    np.testing.assert_array_equal(labels_of(resumed), labels_of(loader))


def test_load_state_dict_errors():
    loader = DataLoader(Squares(10), batch_size=2, shuffle=True, seed=0)
    with pytest.raises(ValueError, match="expected a dict from DataLoader.state_dict"):
        loader.load_state_dict({"seed": 0})
    with pytest.raises(ValueError, match="batches_done=9 is outside 0..5"):
        loader.load_state_dict({"rng_state": None, "batches_done": 9})
    with pytest.raises(ValueError, match="malformed PCG64 state"):
        loader.load_state_dict({"rng_state": {"bit_generator": "PCG64", "state": 3}})
    with pytest.raises(ValueError, match="unknown bit generator 'Evil'"):
        loader.load_state_dict({"rng_state": {"bit_generator": "Evil"}, "batches_done": 0})


# ---------------------------------------------------------------- digits
def test_digits_shapes_dtypes_and_values():
    train = digits()
    x, y = train.tensors
    assert x.shape == (1442, 1, 8, 8) and x.dtype == tn.float32
    assert y.shape == (1442,) and y.dtype == tn.int64
    assert float(x.min().item()) == 0.0 and float(x.max().item()) == 1.0
    assert set(np.unique(y.numpy())) == set(range(10))
    raw = digits("all", normalize=False).tensors[0].numpy()
    assert raw.shape == (1797, 1, 8, 8)
    np.testing.assert_array_equal(raw, np.round(raw))       # pixel counts 0..16
    assert raw.min() == 0 and raw.max() == 16
    flat = digits("test", flatten=True).tensors[0]
    assert flat.shape == (355, 64) and flat.dtype == tn.float32


def test_digits_first_row_matches_the_file():
    # the first row of the UCI file is a zero; check the decoding of rows and pixels
    import gzip
    with gzip.open(digits_module.DIGITS_FILE, "rt") as f:
        first = [int(v) for v in f.readline().split(",")]
    x, y = digits("all", normalize=False)[0]
    assert y.item() == first[64] == 0
    np.testing.assert_array_equal(x.numpy().reshape(64), first[:64])
    np.testing.assert_allclose(digits("all")[0][0].numpy().reshape(64),
                               np.array(first[:64]) / 16, rtol=0, atol=1e-7)


def test_digits_split_is_disjoint_stratified_and_complete():
    all_x, all_y = digits("all", flatten=True, normalize=False).tensors
    all_x, all_y = all_x.numpy(), all_y.numpy()
    assert len(all_y) == 1797
    counts = np.bincount(all_y, minlength=10)
    np.testing.assert_array_equal(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    train_idx, test_idx = digits_module.split_indices(all_y)
    assert len(np.intersect1d(train_idx, test_idx)) == 0
    np.testing.assert_array_equal(np.union1d(train_idx, test_idx), np.arange(1797))
    # each class: every fifth sample in file order is a test sample
    np.testing.assert_array_equal(np.bincount(all_y[test_idx], minlength=10), counts // 5)
    train_x, train_y = digits("train", flatten=True, normalize=False).tensors
    test_x, test_y = digits("test", flatten=True, normalize=False).tensors
    np.testing.assert_array_equal(train_x.numpy(), all_x[train_idx])
    np.testing.assert_array_equal(test_y.numpy(), all_y[test_idx])
    assert len(train_y) + len(test_y) == 1797


def test_digits_is_fixed_across_calls_and_seeds():
    tn.manual_seed(0)
    a = digits("test").tensors[1].numpy()
    tn.manual_seed(99)
    np.testing.assert_array_equal(digits("test").tensors[1].numpy(), a)
    # callers get their own copies: editing one dataset cannot change the next
    ds = digits("test")
    ds.tensors[0].array[:] = 5
    assert digits("test").tensors[0].numpy().max() == 1.0


def test_digits_bad_split():
    with pytest.raises(ValueError, match="split must be 'train', 'test' or 'all', got 'val'"):
        digits("val")


def test_digits_through_a_loader():
    loader = DataLoader(digits("train"), batch_size=64, shuffle=True, seed=0, drop_last=True)
    assert len(loader) == 1442 // 64
    x, y = next(iter(loader))
    assert x.shape == (64, 1, 8, 8) and x.dtype == tn.float32 and y.dtype == tn.int64


class _Augmented(Dataset):
    """Random crops drawn from tinynet.random inside __getitem__."""

    def __init__(self):
        from tinynet.data import transforms as T
        self.images = np.arange(12 * 36, dtype=np.float32).reshape(12, 1, 6, 6)
        self.crop = T.RandomCrop(4, padding=1)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.crop(tn.tensor(self.images[i])), i


def test_resume_from_checkpoint_replays_shuffles_and_augmentations(tmp_path):
    from tinynet.serialization import load, save

    def epochs(loader, n):
        return [np.concatenate([x.numpy().ravel() for x, _ in loader]) for _ in range(n)]

    tn.manual_seed(21)
    loader = DataLoader(_Augmented(), batch_size=5, shuffle=True)   # seed from tinynet.random
    epochs(loader, 1)
    save({"rng": tn.get_rng_state(), "loader": loader.state_dict()}, tmp_path / "ckpt.tn")
    expected = epochs(loader, 2)

    tn.manual_seed(0)                          # a fresh process would start elsewhere
    resumed = DataLoader(_Augmented(), batch_size=5, shuffle=True)
    ckpt = load(tmp_path / "ckpt.tn")
    tn.set_rng_state(ckpt["rng"])
    resumed.load_state_dict(ckpt["loader"])
    for got, want in zip(epochs(resumed, 2), expected):
        np.testing.assert_array_equal(got, want)


def test_dataloader_device_moves_every_tensor_of_a_batch(monkeypatch):
    moved = []
    real_to = tn.Tensor.to

    def spy(self, *args, **kw):
        moved.append(args)
        return real_to(self, *args, **kw)
    monkeypatch.setattr(tn.Tensor, "to", spy)
    ds = tn.data.TensorDataset(tn.arange(6).float(), tn.arange(6))
    batches = list(tn.data.DataLoader(ds, batch_size=4, device="cpu"))
    assert [b[0].device for b in batches] == ["cpu", "cpu"] and len(moved) == 4
    dict_batch = tn.data.dataloader._to_device({"x": [tn.ones(2)], "n": 3}, "cpu")
    assert dict_batch["n"] == 3 and dict_batch["x"][0].device == "cpu"
