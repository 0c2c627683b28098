"""Bad input gets a clear error naming the op and the shapes involved,
never a bare NumPy traceback."""
import re

import pytest

import tinynet as tn

A23 = tn.ones(2, 3)

ERRORS = [
    ("matmul-inner", lambda: tn.ones(2, 3) @ tn.ones(4, 5), ValueError,
     "matmul: shapes (2, 3) and (4, 5) do not match: 3 != 4"),
    ("matmul-vector", lambda: tn.ones(3) @ tn.ones(4), ValueError,
     "matmul: shapes (3,) and (4,) do not match: 3 != 4"),
    ("matmul-0d", lambda: tn.matmul(tn.tensor(2.0), tn.ones(2)), ValueError,
     "matmul: both operands need at least 1 dim"),
    ("matmul-batch", lambda: tn.ones(2, 2, 3) @ tn.ones(3, 3, 4), ValueError,
     "matmul: batch dims (2,) and (3,)"),
    ("dot-2d", lambda: tn.dot(A23, A23), ValueError, "dot: expects two 1-D tensors"),
    ("add", lambda: A23 + tn.ones(4), ValueError, "add: cannot broadcast (2, 3) with (4,)"),
    ("sub", lambda: A23 - tn.ones(4), ValueError, "sub: cannot broadcast (2, 3) with (4,)"),
    ("mul", lambda: A23 * tn.ones(2), ValueError, "mul: cannot broadcast (2, 3) with (2,)"),
    ("div", lambda: A23 / tn.ones(4), ValueError, "div: cannot broadcast (2, 3) with (4,)"),
    ("pow", lambda: A23 ** tn.ones(4), ValueError, "pow: cannot broadcast (2, 3) with (4,)"),
    ("maximum", lambda: tn.maximum(A23, tn.ones(4)), ValueError,
     "maximum: cannot broadcast (2, 3) with (4,)"),
    ("compare", lambda: A23 < tn.ones(4), ValueError, "lt: cannot broadcast (2, 3) with (4,)"),
    ("where-shape", lambda: tn.where(tn.ones(2) > 0, tn.ones(3), tn.ones(3)), ValueError,
     "where: cannot broadcast condition (2,) with (3,) and (3,)"),
    ("where-dtype", lambda: tn.where(tn.ones(2), tn.ones(2), tn.ones(2)), TypeError,
     "where: condition must be a bool tensor, got dtype float32"),
    ("sum-axis", lambda: A23.sum(2), ValueError,
     "sum: axis 2 is out of range for a tensor with 2 dims (expected -2..1)"),
    ("mean-axis", lambda: A23.mean(axis=-3), ValueError, "mean: axis -3 is out of range"),
    ("max-axis", lambda: A23.max(dim=5), ValueError, "max: axis 5 is out of range"),
    ("softmax-axis", lambda: tn.softmax(A23, 2), ValueError, "softmax: axis 2 is out of range"),
    ("sum-repeated-axis", lambda: A23.sum((0, -2)), ValueError, "sum: repeated axis in (0, -2)"),
    ("sum-axis-type", lambda: A23.sum(1.5), TypeError, "sum: axis must be an int, got float"),
    ("axis-and-dim", lambda: A23.sum(0, dim=1), TypeError, "sum: pass axis or dim, not both"),
    ("mean-int", lambda: tn.mean(tn.tensor([1, 2])), TypeError,
     "mean: needs a floating point tensor, got int64"),
    ("max-empty", lambda: tn.max(tn.zeros(0)), ValueError,
     "max: cannot reduce an empty tensor of shape (0,)"),
    ("argmax-empty", lambda: tn.argmax(tn.zeros(0, 2)), ValueError,
     "argmax: cannot reduce an empty tensor"),
    ("reshape", lambda: A23.reshape(4, 2), ValueError,
     "reshape: cannot reshape a tensor of shape (2, 3) (6 elements) into shape (4, 2)"),
    ("reshape-two-minus-one", lambda: A23.reshape(-1, -1), ValueError,
     "reshape: invalid shape (-1, -1)"),
    ("permute-count", lambda: A23.permute(0), ValueError, "permute: got 1 dims (0,)"),
    ("permute-repeat", lambda: A23.permute(0, 0), ValueError,
     "permute: (0, 0) is not a permutation"),
    ("transpose-axis", lambda: A23.transpose(0, 2), ValueError,
     "transpose: axis 2 is out of range"),
    ("flatten-order", lambda: tn.ones(2, 3, 4).flatten(2, 1), ValueError,
     "flatten: start_dim 2 comes after end_dim 1"),
    ("unsqueeze", lambda: A23.unsqueeze(4), ValueError, "unsqueeze: axis 4 is out of range"),
    ("broadcast_to", lambda: tn.broadcast_to(A23, (3, 3)), ValueError,
     "broadcast_to: cannot broadcast shape (2, 3) to (3, 3)"),
    ("broadcast_to-fewer-dims", lambda: tn.broadcast_to(A23, (3,)), ValueError,
     "broadcast_to: cannot broadcast shape (2, 3) to (3,)"),
    ("expand", lambda: A23.expand(3), ValueError, "expand: 1 sizes for a tensor with 2 dims"),
    ("repeat", lambda: A23.repeat(2), ValueError,
     "repeat: 1 repeat sizes for a tensor with 2 dims"),
    ("cat", lambda: tn.cat([A23, tn.ones(3, 2)]), ValueError,
     "cat: tensor 1 has shape (3, 2) but tensor 0 has shape (2, 3); all dims except dim 0"),
    ("cat-ndim", lambda: tn.cat([A23, tn.ones(3)]), ValueError, "cat: tensor 1 has shape (3,)"),
    ("cat-empty", lambda: tn.cat([]), ValueError, "cat: expected a non-empty list"),
    ("stack", lambda: tn.stack([A23, tn.ones(3, 2)]), ValueError,
     "stack: tensor 1 has shape (3, 2) but tensor 0 has shape (2, 3)"),
    ("split-sizes", lambda: A23.split([1, 1], dim=1), ValueError,
     "split: sizes [1, 1] sum to 2 but dim 1 of shape (2, 3) has size 3"),
    ("split-size", lambda: A23.split(0), ValueError, "split: split size must be positive"),
    ("chunk", lambda: A23.chunk(0), ValueError, "chunk: chunks must be positive, got 0"),
    ("pad-odd", lambda: tn.pad(A23, (1,)), ValueError, "pad: expected an even number"),
    ("pad-mode", lambda: tn.pad(A23, (1, 1), mode="wrap"), ValueError,
     "pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got 'wrap'"),
    ("getitem", lambda: A23[5], IndexError,
     "getitem: index 5 is invalid for a tensor of shape (2, 3)"),
    ("getitem-array", lambda: A23[[0, 7]], IndexError, "for a tensor of shape (2, 3)"),
    ("index_select-2d", lambda: tn.index_select(A23, 0, tn.tensor([[0]])), ValueError,
     "index_select: index must be a 1-D integer tensor, got shape (1, 1)"),
    ("index_select-float", lambda: tn.index_select(A23, 0, tn.tensor([0.0])), ValueError,
     "index_select: index must be a 1-D integer tensor, got shape (1,) dtype float32"),
    ("gather-ndim", lambda: tn.gather(A23, 1, tn.tensor([0])), ValueError,
     "gather: index must be an integer tensor with 2 dims, got shape (1,)"),
    ("gather-size", lambda: tn.gather(A23, 1, tn.tensor([[0], [0], [0]])), ValueError,
     "gather: index shape (3, 1) exceeds input shape (2, 3) in dim 0"),
    ("gelu-approximate", lambda: tn.gelu(A23, approximate="fast"), ValueError,
     "gelu: approximate must be 'none' or 'tanh', got 'fast'"),
    ("clamp-no-bounds", lambda: tn.clamp(A23), ValueError,
     "clamp: at least one of min and max must be given"),
    ("softmax-int", lambda: tn.softmax(tn.tensor([1, 2]), 0), TypeError,
     "softmax: expected a floating point tensor, got (2,) int64 cpu"),
    ("log_softmax-int", lambda: tn.log_softmax(tn.tensor([1, 2])), TypeError,
     "log_softmax: expected a floating point tensor"),
    ("gelu-int", lambda: tn.gelu(tn.tensor([1, 2])), TypeError,
     "gelu: expected a floating point tensor"),
    ("cat-0d", lambda: tn.cat([tn.tensor(1.0), tn.tensor(2.0)]), ValueError,
     "cat: tensor 0 is 0-d and cannot be concatenated; use tn.stack"),
    ("cumsum-axis", lambda: tn.cumsum(A23, 2), ValueError, "cumsum: axis 2 is out of range"),
    ("scalar-type", lambda: A23 + "a", TypeError, "cannot make a tensor from str"),
]


@pytest.mark.parametrize("name, fn, exc, message", ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_input_raises_clear_error(name, fn, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        fn()


def test_creation_rejects_negative_shape():
    with pytest.raises(ValueError, match=r"zeros: shape must be non-negative integers"):
        tn.zeros(2, -1)


def test_requires_grad_on_int_tensor_is_refused():
    with pytest.raises(RuntimeError, match="only floating point tensors can require gradients"):
        tn.tensor([1, 2], requires_grad=True)


def test_integer_negative_power_is_refused_like_pytorch():
    with pytest.raises(ValueError, match="Integers to negative integer powers"):
        tn.tensor([2, 3]) ** -1
