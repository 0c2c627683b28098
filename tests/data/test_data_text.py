"""tinynet.data: CharDataset and the synthetic sets (spirals, sine_waves)."""
import numpy as np
import pytest

import tinynet as tn
from tinynet.data import CharDataset, DataLoader, sine_waves, spirals


# ---------------------------------------------------------------- CharDataset
def test_char_dataset_windows_and_vocab():
    ds = CharDataset("hello world", seq_len=3)
    assert ds.vocab == sorted(set("hello world")) and ds.vocab_size == 8
    assert len(ds) == 11 - 3
    x, y = ds[0]
    assert x.dtype == y.dtype == tn.int64 and x.shape == y.shape == (3,)
    assert ds.decode(x) == "hel" and ds.decode(y) == "ell"
    assert ds.decode(ds[-1][1]) == "rld"
    with pytest.raises(IndexError, match="out of range for 8 samples"):
        ds[8]


def test_char_dataset_encode_decode_round_trip():
    ds = CharDataset("abcabc ✓", seq_len=2)
    ids = ds.encode("c✓ a")
    assert ids.dtype == np.int64
    assert ds.decode(ids) == "c✓ a"
    assert ds.decode(list(ids)) == "c✓ a"
    with pytest.raises(ValueError, match="character 'z' is not in the vocabulary of 5"):
        ds.encode("az")


def test_char_dataset_batches_and_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("the quick brown fox jumps over the lazy dog\n", encoding="utf-8")
    ds = CharDataset.from_file(path, seq_len=8)
    x, y = next(iter(DataLoader(ds, batch_size=4, shuffle=True, seed=0)))
    assert x.shape == y.shape == (4, 8) and x.dtype == tn.int64
    np.testing.assert_array_equal(x.numpy()[:, 1:], y.numpy()[:, :-1])   # y is x shifted


def test_char_dataset_fixed_vocab_and_errors():
    ds = CharDataset("ab", seq_len=1, vocab="cba")
    np.testing.assert_array_equal(ds.data.numpy(), [2, 1])
    assert len(CharDataset("ab", seq_len=5)) == 0
    with pytest.raises(ValueError, match="seq_len must be a positive int, got 0"):
        CharDataset("abc", 0)
    with pytest.raises(TypeError, match="text must be a str, got bytes"):
        CharDataset(b"abc", 2)
    with pytest.raises(ValueError, match="repeated characters"):
        CharDataset("ab", 1, vocab="aab")


# ---------------------------------------------------------------- synthetic
def test_spirals_shapes_and_geometry():
    ds = spirals(n_per_class=50, n_classes=4, noise=0.0, seed=0)
    x, y = ds.tensors
    assert x.shape == (200, 2) and x.dtype == tn.float32
    assert y.dtype == tn.int64
    np.testing.assert_array_equal(np.bincount(y.numpy()), [50] * 4)
    radius = np.linalg.norm(x.numpy(), axis=1)
    np.testing.assert_allclose(radius, np.tile(np.linspace(0, 1, 50), 4), atol=1e-6)
    # noise=0: the outermost point of arm k sits at angle 2*pi*k/4 + 4
    end = x.numpy()[49::50]
    expected = np.stack([np.cos(2 * np.pi * np.arange(4) / 4 + 4),
                         np.sin(2 * np.pi * np.arange(4) / 4 + 4)], axis=1)
    np.testing.assert_allclose(end, expected, atol=1e-6)


def test_synthetic_sets_follow_seeds():
    a = spirals(seed=1).tensors[0].numpy()
    np.testing.assert_array_equal(spirals(seed=1).tensors[0].numpy(), a)
    assert not np.array_equal(spirals(seed=2).tensors[0].numpy(), a)
    tn.manual_seed(3)
    b = sine_waves(8, 5).tensors[0].numpy()
    tn.manual_seed(3)
    np.testing.assert_array_equal(sine_waves(8, 5).tensors[0].numpy(), b)


def test_sine_waves_targets_are_the_next_values():
    x, y = sine_waves(n_samples=6, seq_len=10, seed=0).tensors
    assert x.shape == y.shape == (6, 10, 1) and x.dtype == tn.float32
    np.testing.assert_array_equal(x.numpy()[:, 1:], y.numpy()[:, :-1])
    assert np.abs(y.numpy()).max() <= 1.0
    noisy, _ = sine_waves(n_samples=6, seq_len=10, noise=0.1, seed=0).tensors
    assert not np.array_equal(noisy.numpy(), x.numpy())
    with pytest.raises(ValueError, match="n_samples and seq_len must be >= 1, got 0 and 10"):
        sine_waves(0, 10)
