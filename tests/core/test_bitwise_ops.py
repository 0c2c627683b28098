"""``&``, ``|``, ``^``, ``~`` and their in-place forms follow PyTorch: logical
for bool tensors, bitwise for integer ones, a TypeError for floats (``~`` on
an integer tensor is bitwise not, never logical not)."""
import numpy as np
import pytest
import torch

import tinynet as tn

A = [[True, False, True, False], [3, 6, -1, 0]]
B = [[True, True, False, False], [5, 3, 2, 7]]


@pytest.mark.parametrize("a, b", zip(A, B))
@pytest.mark.parametrize("op", ["&", "|", "^"])
def test_binary_matches_pytorch(a, b, op):
    expected = eval(f"torch.tensor(a) {op} torch.tensor(b)").numpy()
    got = eval(f"tn.tensor(a) {op} tn.tensor(b)").numpy()
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    # with a Python scalar on either side
    s = True if isinstance(a[0], bool) else 5
    np.testing.assert_array_equal(eval(f"tn.tensor(a) {op} s").numpy(),
                                  eval(f"torch.tensor(a) {op} s").numpy())
    np.testing.assert_array_equal(eval(f"s {op} tn.tensor(a)").numpy(),
                                  eval(f"s {op} torch.tensor(a)").numpy())


@pytest.mark.parametrize("a", A)
def test_invert_matches_pytorch(a):
    np.testing.assert_array_equal((~tn.tensor(a)).numpy(), (~torch.tensor(a)).numpy())


@pytest.mark.parametrize("op", ["__iand__", "__ior__", "__ixor__"])
def test_in_place_forms_write_in_place(op):
    x = tn.tensor([True, False, True])
    alias = x
    view = x[1:]
    y = getattr(x, op)(tn.tensor([False, True, True]))
    expected = getattr(torch.tensor([True, False, True]), op)(torch.tensor([False, True, True]))
    assert y is x and alias is x
    np.testing.assert_array_equal(x.numpy(), expected.numpy())
    np.testing.assert_array_equal(view.numpy(), expected.numpy()[1:])


def test_floats_are_refused_with_the_reason():
    x = tn.tensor([1.0, 2.0])
    for expr in (lambda: x & x, lambda: x | 1, lambda: ~x, lambda: x ^ x):
        with pytest.raises(TypeError, match="only integer and bool tensors"):
            expr()


def test_logical_ops_match_pytorch():
    a, b = [0.0, 1.5, -2.0, 0.0], [1.0, 0.0, 3.0, 0.0]
    for name in ("logical_and", "logical_or", "logical_xor"):
        got = getattr(tn, name)(tn.tensor(a), tn.tensor(b)).numpy()
        np.testing.assert_array_equal(got, getattr(torch, name)(torch.tensor(a),
                                                                torch.tensor(b)).numpy())


def test_rounding_of_integer_tensors_is_a_copy():
    x = tn.tensor([1, -2, 3])
    for name in ("floor", "ceil", "trunc", "round"):
        y = getattr(x, name)()
        assert y.dtype == tn.int64 and y is not x
        np.testing.assert_array_equal(y.numpy(), getattr(torch.tensor([1, -2, 3]), name)().numpy())


def test_round_decimals_and_half_to_even():
    v = [0.5, 1.5, 2.5, -0.5, 1.2345, -2.675]
    np.testing.assert_allclose(tn.round(tn.tensor(v, dtype=tn.float64)).numpy(),
                               torch.round(torch.tensor(v, dtype=torch.float64)).numpy())
    np.testing.assert_allclose(tn.round(tn.tensor(v, dtype=tn.float64), decimals=2).numpy(),
                               torch.round(torch.tensor(v, dtype=torch.float64), decimals=2).numpy())

