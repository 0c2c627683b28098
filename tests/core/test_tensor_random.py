"""Random sampling ops: multinomial, randperm, bernoulli / bernoulli_,
normal_ / uniform_. tinynet draws from its own NumPy generator, so these
check shapes, dtypes, support, distributions and reproducibility under
tn.manual_seed, not equality with PyTorch's random numbers."""
import numpy as np
import pytest
import torch

import tinynet as tn


def test_multinomial_shapes_dtypes_and_seed_match_pytorch_contract():
    w = tn.tensor([[0.1, 0.0, 0.6, 0.3], [1.0, 1.0, 1.0, 1.0]])
    for args in [(3,), (3, True), (10, True)]:
        tn.manual_seed(5)
        a = tn.multinomial(w, *args)
        tn.manual_seed(5)
        b = w.multinomial(*args)
        t = torch.multinomial(torch.tensor(w.numpy()), *args)
        assert a.shape == tuple(t.shape) and a.dtype == tn.int64
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert (a.numpy()[0] != 1).all()              # zero weight: never drawn
    one = tn.multinomial(tn.tensor([0.2, 0.8]), 1)
    assert one.shape == (1,)


def test_multinomial_without_replacement_draws_each_category_once():
    tn.manual_seed(0)
    rows = tn.multinomial(tn.ones(50, 6), 6).numpy()
    assert all(sorted(r) == list(range(6)) for r in rows)
    assert len({tuple(r) for r in rows}) > 1          # the orders differ between rows


def test_multinomial_frequencies_follow_the_weights():
    tn.manual_seed(1)
    p = np.array([0.1, 0.2, 0.3, 0.4])
    draws = tn.multinomial(tn.tensor(p * 10), 20000, replacement=True).numpy()
    freq = np.bincount(draws, minlength=4) / len(draws)
    np.testing.assert_allclose(freq, p, atol=0.015)


def test_multinomial_errors():
    with pytest.raises(ValueError, match="cannot draw 3 samples without replacement from 2"):
        tn.multinomial(tn.tensor([1.0, 0.0, 2.0]), 3)
    with pytest.raises(ValueError, match="weights must be finite and non-negative"):
        tn.multinomial(tn.tensor([1.0, -1.0]), 1)
    with pytest.raises(ValueError, match="expects a 1-D or 2-D floating point tensor"):
        tn.multinomial(tn.tensor([1, 2]), 1)


def test_randperm_is_a_seeded_permutation():
    tn.manual_seed(3)
    a = tn.randperm(10)
    tn.manual_seed(3)
    b = tn.randperm(10)
    t = torch.randperm(10)
    assert a.dtype == tn.int64 and a.shape == tuple(t.shape)
    assert sorted(a.tolist()) == list(range(10))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert tn.randperm(0).shape == (0,)
    assert tn.randperm(4, dtype=tn.int32).dtype == tn.int32


def test_bernoulli_draws_zeros_and_ones_with_the_given_probabilities():
    p = np.array([0.0, 0.25, 0.75, 1.0], np.float32)
    probs = tn.tensor(np.tile(p, (5000, 1)))
    tn.manual_seed(7)
    draws = tn.bernoulli(probs)
    t = torch.bernoulli(torch.tensor(probs.numpy()))
    assert draws.dtype == tn.float32 and draws.shape == tuple(t.shape)
    d = draws.numpy()
    assert set(np.unique(d)) <= {0.0, 1.0}
    np.testing.assert_allclose(d.mean(0), p, atol=0.02)
    assert d[:, 0].sum() == 0 and d[:, 3].all()
    tn.manual_seed(7)
    np.testing.assert_array_equal(probs.bernoulli().numpy(), d)


def test_bernoulli_inplace_fills_with_probability_p():
    x = tn.zeros(20000, dtype=tn.float64)
    array, version = x.array, x._version
    tn.manual_seed(2)
    assert x.bernoulli_(0.3) is x
    assert x.array is array and x._version > version
    assert set(np.unique(x.numpy())) == {0.0, 1.0}
    assert abs(x.numpy().mean() - 0.3) < 0.02
    tn.manual_seed(2)
    y = tn.zeros(20000, dtype=tn.float64).bernoulli_(0.3)
    np.testing.assert_array_equal(x.numpy(), y.numpy())
    z = tn.zeros(3).bernoulli_(tn.tensor([0.0, 1.0, 0.0]))
    np.testing.assert_array_equal(z.numpy(), [0.0, 1.0, 0.0])


@pytest.mark.parametrize("method, args, mean, std", [("normal_", (2.0, 0.5), 2.0, 0.5),
                                                     ("uniform_", (-1.0, 3.0), 1.0, 4 / 12 ** 0.5)])
def test_normal_and_uniform_fill_in_place_with_the_right_distribution(method, args, mean, std):
    x = tn.zeros(40000)
    array, version = x.array, x._version
    tn.manual_seed(4)
    assert getattr(x, method)(*args) is x
    assert x.array is array and x._version > version and x.dtype == tn.float32
    v = x.numpy()
    assert abs(v.mean() - mean) < 0.02 and abs(v.std() - std) < 0.02
    if method == "uniform_":
        assert v.min() >= args[0] and v.max() < args[1]
    tn.manual_seed(4)
    np.testing.assert_array_equal(getattr(tn.zeros(40000), method)(*args).numpy(), v)
