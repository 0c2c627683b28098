"""Creation functions and seeding: dtypes, values and shapes as PyTorch
gives them, reproducible randomness from tn.manual_seed."""
import numpy as np
import pytest

import tinynet as tn


def _np_dtype(t):
    return np.dtype(str(t.dtype).replace("torch.", ""))


CREATION = [
    ("tensor-floats", lambda m: m.tensor([[1.0, 2.0], [3.0, 4.5]])),
    ("tensor-ints", lambda m: m.tensor([1, 2, 3])),
    ("tensor-bools", lambda m: m.tensor([True, False])),
    ("tensor-scalar", lambda m: m.tensor(2.5)),
    ("tensor-f64-array", lambda m: m.tensor(np.array([1.0, 2.0]))),
    ("tensor-dtype", lambda m: m.tensor([1, 2], dtype=m.float64)),
    ("zeros", lambda m: m.zeros(2, 3)),
    ("zeros-tuple", lambda m: m.zeros((2, 3))),
    ("zeros-0d", lambda m: m.zeros(())),
    ("ones-int", lambda m: m.ones(3, dtype=m.int64)),
    ("full-float", lambda m: m.full((2, 2), 1.5)),
    ("full-int", lambda m: m.full((2,), 3)),
    ("full-bool", lambda m: m.full((2,), True)),
    ("arange-int", lambda m: m.arange(5)),
    ("arange-start-step", lambda m: m.arange(2, 11, 3)),
    ("arange-float", lambda m: m.arange(0, 1, 0.25)),
    ("arange-float-start", lambda m: m.arange(1.0, 4)),
    ("linspace", lambda m: m.linspace(-1, 1, 5)),
    ("linspace-one", lambda m: m.linspace(0, 1, 1)),
    ("eye", lambda m: m.eye(3)),
    ("eye-rect", lambda m: m.eye(2, 3)),
    ("zeros_like-int", lambda m: m.zeros_like(m.tensor([1, 2]))),
    ("ones_like-f64", lambda m: m.ones_like(m.tensor(np.zeros((2, 1))))),
    ("ones_like-dtype", lambda m: m.ones_like(m.tensor([1, 2]), dtype=m.float32)),
    ("from_numpy-f64", lambda m: m.from_numpy(np.arange(3.0))),
    ("from_numpy-int32", lambda m: m.from_numpy(np.arange(3, dtype=np.int32))),
]


@pytest.mark.parametrize("name, make", CREATION, ids=[c[0] for c in CREATION])
def test_creation_matches_pytorch(name, make):
    torch = pytest.importorskip("torch")
    ours, theirs = make(tn), make(torch)
    assert ours.dtype == _np_dtype(theirs), name
    assert ours.shape == tuple(theirs.shape), name
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_from_numpy_shares_memory_and_tensor_copies():
    a = np.zeros(3)
    shared, copied = tn.from_numpy(a), tn.tensor(a)
    a[0] = 7.0
    assert shared.numpy()[0] == 7.0 and copied.numpy()[0] == 0.0


@pytest.mark.parametrize("make", [
    lambda: tn.randn(2, 3), lambda: tn.rand(4), lambda: tn.randint(0, 10, (5,)),
    lambda: tn.randn(2, dtype=tn.float64), lambda: tn.randn_like(tn.zeros(2, 2)),
], ids=["randn", "rand", "randint", "randn-f64", "randn_like"])
def test_manual_seed_makes_random_creation_reproducible(make):
    tn.manual_seed(123)
    a = make()
    tn.manual_seed(123)
    b = make()
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    tn.manual_seed(124)
    assert not np.array_equal(a.numpy(), make().numpy())


def test_random_dtypes_ranges_and_moments():
    tn.manual_seed(0)
    n = tn.randn(20000)
    u = tn.rand(20000)
    i = tn.randint(3, 7, (1000,))
    assert n.dtype == tn.float32 and u.dtype == tn.float32 and i.dtype == tn.int64
    assert abs(n.numpy().mean()) < 0.05 and abs(n.numpy().std() - 1) < 0.05
    assert u.numpy().min() >= 0 and u.numpy().max() < 1
    assert set(np.unique(i.numpy())) == {3, 4, 5, 6}


def test_creation_with_requires_grad_gives_a_leaf():
    x = tn.zeros(2, requires_grad=True)
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_randint_high_size_form():
    tn.manual_seed(0)
    x = tn.randint(10, (3,))
    assert x.shape == (3,) and x.numpy().max() < 10 and x.dtype == tn.int64
    with pytest.raises(ValueError, match="low < high"):
        tn.randint(5, 5, (2,))
