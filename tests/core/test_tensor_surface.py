"""PyTorch's tensor-level names in tinynet, checked against PyTorch: max/min
with a dim and the other (values, indices) ops, devices, view vs reshape,
the new_* constructors, indexing writes and their in-place forms, nonzero and
unique. (Gradients of the differentiable ones are in tests/op_table_tensor.py.)"""
import math

import numpy as np
import pytest
import torch

import tinynet as tn
import tinynet.nn as nn


def both(array):
    return tn.tensor(array), torch.tensor(array)


def assert_same(ours, theirs):
    """Values, shape and dtype equal to PyTorch's."""
    theirs = theirs.detach().numpy()
    ours = ours.numpy()
    assert ours.shape == theirs.shape
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- the names exist
NAMES = """mm bmm addmm einsum view_as reshape_as expand_as type_as contiguous is_contiguous
narrow t new_zeros new_ones new_full new_empty new_tensor norm flip roll tril triu diag sort
argsort topk kthvalue median mode cumprod masked_fill masked_fill_ scatter scatter_ scatter_add
scatter_add_ index_add index_add_ index_fill index_fill_ repeat_interleave nonzero argwhere
unique multinomial randperm bernoulli bernoulli_ normal_ uniform_ clamp_min clamp_max
clamp_min_ clamp_max_ amax amin max min""".split()


@pytest.mark.parametrize("name", NAMES)
def test_name_is_a_method_and_function_where_pytorch_has_one(name):
    if hasattr(torch.Tensor, name):
        assert callable(getattr(tn.Tensor, name, None)), f"Tensor.{name} is missing"
    if hasattr(torch, name) and not name.endswith("_"):
        assert callable(getattr(tn, name, None)), f"tn.{name} is missing"


# ---------------------------------------------------------------- max / min
@pytest.mark.parametrize("batch", [1, 2, 3, 5])
def test_underscore_pred_idiom_gives_indices_for_every_batch_size(batch):
    out = np.random.default_rng(batch).standard_normal((batch, 4)).astype(np.float32)
    _, pred = tn.tensor(out).max(1)
    _, tpred = torch.tensor(out).max(1)
    assert_same(pred, tpred)
    _, pred = tn.max(tn.tensor(out), 1)
    assert_same(pred, tpred)


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("dim", [0, 1, -1, -3])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_with_dim_return_values_and_indices(op, dim, keepdim):
    a = np.random.default_rng(0).standard_normal((2, 3, 4))
    x, tx = both(a)
    ours = getattr(x, op)(dim, keepdim)
    theirs = getattr(torch, op)(tx, dim=dim, keepdim=keepdim)
    assert type(ours).__name__ == op and ours._fields == ("values", "indices")
    assert_same(ours.values, theirs.values)
    assert_same(ours.indices, theirs.indices)
    by_keyword = getattr(tn, op)(x, dim=dim, keepdim=keepdim)
    assert_same(by_keyword.indices, theirs.indices)
    values, indices = ours                              # unpacks like a tuple
    assert values is ours[0] and indices is ours[1]


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_without_dim_return_one_value(op):
    x, tx = both(np.array([[1.0, 5.0], [-2.0, 3.0]]))
    for ours in (getattr(x, op)(), getattr(tn, op)(x), getattr(x, op)(dim=None)):
        assert isinstance(ours, tn.Tensor)
        assert_same(ours, getattr(tx, op)())


def test_max_min_of_two_tensors_is_elementwise():
    a, ta = both(np.array([1.0, 5.0, 2.0]))
    b, tb = both(np.array([3.0, 4.0, 2.0]))
    assert_same(tn.max(a, b), torch.max(ta, tb))
    assert_same(a.min(b), ta.min(tb))


def test_max_dim_gradient_goes_to_the_first_maximum_as_pytorch():
    ties = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, -1.0]])
    x = tn.tensor(ties, requires_grad=True)
    tx = torch.tensor(ties, requires_grad=True)
    x.max(1).values.sum().backward()
    tx.max(1).values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0], [1, 0, 0]])


def test_amax_amin_over_several_dims_share_gradient_among_ties():
    ties = np.array([[[1.0, 3.0], [3.0, 0.0]], [[2.0, 3.0], [0.5, 1.0]]])
    for op in ("amax", "amin"):
        x = tn.tensor(ties, requires_grad=True)
        tx = torch.tensor(ties, requires_grad=True)
        getattr(x, op)(dim=(0, 2)).sum().backward()
        getattr(tx, op)(dim=(0, 2)).sum().backward()
        assert_same(getattr(x, op)(dim=(0, 2)), getattr(tx, op)(dim=(0, 2)))
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


def test_max_dim_edge_cases_match_pytorch():
    # 0-d tensor, an int tensor, and an empty dim that is not reduced
    for a in (np.array(2.5), np.array([[3, 1, 4], [1, 5, 9]])):
        x, tx = both(a)
        ours, theirs = x.max(-1), tx.max(-1)
        assert_same(ours.values, theirs.values)
        assert_same(ours.indices, theirs.indices)
    x, tx = both(np.zeros((0, 3)))
    assert_same(x.max(1).indices, tx.max(1).indices)
    with pytest.raises(ValueError, match="max: cannot reduce dim 0 of size 0"):
        x.max(0)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        tn.zeros(2, 3).min(2)


# ---------------------------------------------------------------- sort and friends
def test_sort_and_argsort_match_pytorch_stable_order_and_nan():
    a = np.array([[2.0, 1.0, 2.0, math.nan, 1.0, 2.0], [0.0, -1.0, 0.0, 3.0, 3.0, -1.0]])
    x, tx = both(a)
    for descending in (False, True):
        ours = x.sort(-1, descending=descending)
        theirs = tx.sort(dim=-1, descending=descending, stable=True)
        assert_same(ours.values, theirs.values)
        assert_same(ours.indices, theirs.indices)
        assert_same(x.argsort(dim=1, descending=descending),
                    tx.argsort(dim=1, descending=descending, stable=True))
        assert_same(tn.sort(x, 0, descending).indices,
                    torch.sort(tx, dim=0, descending=descending, stable=True).indices)


def test_topk_kthvalue_median_mode_match_pytorch():
    a = np.random.default_rng(3).permutation(24).reshape(4, 6).astype(np.float32)
    x, tx = both(a)
    pairs = [(x.topk(3), tx.topk(3)), (tn.topk(x, 2, dim=0, largest=False),
                                       torch.topk(tx, 2, dim=0, largest=False)),
             (x.kthvalue(2, 0, True), tx.kthvalue(2, 0, True)),
             (tn.kthvalue(x, 6), torch.kthvalue(tx, 6)),
             (x.median(1), tx.median(1)), (tn.median(x, -2, keepdim=True),
                                           torch.median(tx, -2, keepdim=True))]
    for ours, theirs in pairs:
        assert type(ours).__name__ == type(theirs).__name__
        assert_same(ours.values, theirs.values)
        assert_same(ours.indices, theirs.indices)
    assert_same(x.median(), tx.median())


def test_median_with_nan_and_median_over_all_with_ties():
    x, tx = both(np.array([[1.0, math.nan, 3.0, math.nan], [4.0, 2.0, 3.0, 1.0]]))
    ours, theirs = x.median(1), tx.median(1)
    assert_same(ours.values, theirs.values)
    assert_same(ours.indices, theirs.indices)
    ties = np.array([1.0, 2.0, 2.0, 1.0, 0.5])
    x = tn.tensor(ties, requires_grad=True)
    tx = torch.tensor(ties, requires_grad=True)
    x.median().backward()
    tx.median().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


def test_mode_picks_smallest_most_frequent_value_at_its_last_index_with_its_gradient():
    a = np.array([[1.0, 3.0, 3.0, 1.0, 2.0], [2.0, 2.0, 5.0, 5.0, 0.0], [4.0, 4.0, 4.0, 0.0, 4.0]])
    x = tn.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    ours, theirs = x.mode(1), tx.mode(1)
    assert_same(ours.values, theirs.values)
    assert_same(ours.indices, theirs.indices)
    w = np.array([0.5, -2.0, 3.0])
    (ours.values * tn.tensor(w)).sum().backward()
    (theirs.values * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    ours, theirs = tn.mode(tn.tensor(a.T), 0, keepdim=True), torch.mode(torch.tensor(a.T), 0,
                                                                          keepdim=True)
    assert_same(ours.indices, theirs.indices)


def test_selection_errors_name_the_op_and_sizes():
    x = tn.zeros(2, 3)
    with pytest.raises(ValueError, match=r"topk: k=5 is out of range for dim 1 of size 3; "
                                         r"input \(2, 3\) float32 cpu"):
        x.topk(5, dim=1)
    with pytest.raises(ValueError, match="kthvalue: k=0 is out of range"):
        x.kthvalue(0)
    with pytest.raises(ValueError, match="sort: axis 2 is out of range"):
        x.sort(2)


# ---------------------------------------------------------------- unique, nonzero
@pytest.mark.parametrize("kwargs", [{}, {"return_inverse": True}, {"return_counts": True},
                                    {"return_inverse": True, "return_counts": True},
                                    {"dim": 0, "return_inverse": True, "return_counts": True},
                                    {"dim": 1, "return_counts": True}])
def test_unique_matches_pytorch(kwargs):
    a = np.array([[3, 1, 3], [0, 5, 0], [3, 1, 3], [2, 2, 2]])
    x, tx = both(a)
    ours, theirs = x.unique(**kwargs), torch.unique(tx, sorted=True, **kwargs)
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        assert_same(o, t)


def test_unique_of_floats_and_empty():
    x, tx = both(np.array([2.5, -1.0, 2.5, 0.0], np.float32))
    assert_same(tn.unique(x), torch.unique(tx))
    x, tx = both(np.zeros(0, np.float32))
    assert_same(x.unique(), tx.unique())


@pytest.mark.parametrize("a", [np.array([[0, 1.5, 0], [2.0, 0, -1]]), np.array([0, 0]),
                               np.array(5.0), np.array(0.0),
                               np.array([[[True, False], [False, True]]])])
def test_nonzero_matches_pytorch(a):
    x, tx = both(a)
    assert_same(x.nonzero(), tx.nonzero())
    assert_same(tn.argwhere(x), torch.argwhere(tx))
    ours, theirs = tn.nonzero(x, as_tuple=True), torch.nonzero(tx, as_tuple=True)
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        assert_same(o, t)


# ---------------------------------------------------------------- devices
def test_device_objects_behave_like_pytorch_devices():
    cpu, cuda0 = tn.device("cpu"), tn.device("cuda", 0)
    for ours, theirs in [(cpu, torch.device("cpu")), (cuda0, torch.device("cuda", 0)),
                         (tn.device("cuda:1"), torch.device("cuda:1")),
                         (tn.device("cuda"), torch.device("cuda"))]:
        assert (ours.type, ours.index, str(ours), repr(ours)) == (
            theirs.type, theirs.index, str(theirs), repr(theirs))
    assert tn.device(cuda0) is cuda0 and tn.device(2) == "cuda:2"     # an int is a GPU index
    assert cuda0 == "cuda:0" and cuda0 != tn.device("cuda") and {cpu: 1}["cpu"] == 1
    with pytest.raises(ValueError, match="unknown device type 'tpu'"):
        tn.device("tpu")
    with pytest.raises(ValueError, match="already names an index"):
        tn.device("cuda:0", 1)


def test_tensor_device_equals_device_object_and_string():
    x = tn.ones(2)
    assert x.device == tn.device("cpu") and x.device == "cpu"
    assert x.device.type == "cpu" and x.device.index is None and str(x.device) == "cpu"
    assert x.to(tn.device("cpu")) is x
    y = tn.zeros(2, 3, device=tn.device("cpu"))
    assert y.device == "cpu" and y.shape == (2, 3)
    z = tn.tensor([1, 2], device=tn.device("cpu"))
    assert z.device == tn.device("cpu")
    assert x.new_zeros(3).device == x.device


def test_module_to_device_object():
    model = nn.Linear(2, 3)
    assert model.to(tn.device("cpu")) is model
    assert model.weight.device == tn.device("cpu")
    assert model(tn.ones(1, 2)).shape == (1, 3)


def test_accelerator_reports_cuda_only_when_usable():
    available = tn.cuda.is_available()
    assert tn.accelerator.is_available() is available
    current = tn.accelerator.current_accelerator()
    if available:
        assert current == tn.device("cuda") and current.type == "cuda"
    else:
        assert current is None


# ---------------------------------------------------------------- view and layout
def test_view_of_non_contiguous_raises_as_pytorch_and_reshape_copies():
    x, tx = both(np.arange(12.0).reshape(3, 4))
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        tx.t().view(12)
    with pytest.raises(RuntimeError, match=r"view size is not compatible with input tensor's "
                                           r"size and stride.*Use \.reshape\(\.\.\.\) instead"):
        x.t().view(12)
    assert_same(x.t().reshape(12), tx.t().reshape(12))
    assert_same(x.t().contiguous().view(12), tx.t().contiguous().view(12))
    # views that the strides allow still work on a non-contiguous tensor
    assert_same(x.t().view(4, 3, 1), tx.t().view(4, 3, 1))
    assert_same(x[:, ::2].view(3, 2, 1), tx[:, ::2].view(3, 2, 1))


def test_view_shares_memory_and_view_dtype_reinterprets():
    x = tn.zeros(2, 3)
    v = x.view(6)
    v[1] = 7.0
    assert x.numpy()[0, 1] == 7.0
    x, tx = both(np.array([1.0, -2.0], np.float32))
    assert_same(x.view(tn.int32), tx.view(torch.int32))


def test_contiguous_and_is_contiguous_match_pytorch():
    x, tx = both(np.arange(6.0).reshape(2, 3))
    for ours, theirs in [(x, tx), (x.t(), tx.t()), (x[:, 1:], tx[:, 1:]),
                         (x.t().contiguous(), tx.t().contiguous())]:
        assert ours.is_contiguous() == theirs.is_contiguous()
    assert x.contiguous() is x


def test_narrow_is_a_view_and_t_rejects_3d():
    x, tx = both(np.arange(12.0).reshape(3, 4))
    n = x.narrow(1, 1, 2)
    assert_same(n, tx.narrow(1, 1, 2))
    n[0, 0] = -1.0
    assert x.numpy()[0, 1] == -1.0
    with pytest.raises(ValueError, match="narrow: start \\(3\\) \\+ length \\(2\\) exceeds"):
        x.narrow(1, 3, 2)
    with pytest.raises(ValueError, match="t: expects a tensor with at most 2 dims"):
        tn.zeros(2, 2, 2).t()


def test_as_methods():
    x, tx = both(np.arange(6, dtype=np.float32).reshape(2, 3))
    other, tother = both(np.zeros((3, 2), np.float64))
    assert_same(x.view_as(other), tx.view_as(tother))
    assert_same(x.reshape_as(other), tx.reshape_as(tother))
    assert_same(x.type_as(other), tx.type_as(tother))
    assert_same(x[:1].expand_as(x), tx[:1].expand_as(tx))
    assert_same(x.to(other), tx.to(tother))


# ---------------------------------------------------------------- new_* constructors
def test_new_constructors_take_dtype_and_device_from_the_tensor():
    x, tx = both(np.ones((2, 2), np.float64))
    pairs = [(x.new_zeros(2, 3), tx.new_zeros(2, 3)), (x.new_ones((1, 2)), tx.new_ones((1, 2))),
             (x.new_full((2,), 7), tx.new_full((2,), 7)),
             (x.new_tensor([1, 2]), tx.new_tensor([1, 2])),
             (x.new_zeros(2, dtype=tn.int64), tx.new_zeros(2, dtype=torch.int64))]
    for ours, theirs in pairs:
        assert_same(ours, theirs)
    e = x.new_empty(3, 1)
    assert e.shape == (3, 1) and e.dtype == tn.float64
    src = tn.tensor([1.0, 2.0], requires_grad=True)
    copy = x.new_tensor(src)
    assert not copy.requires_grad and copy.dtype == tn.float64
    copy[0] = 5.0
    assert src.numpy()[0] == 1.0
    assert x.new_ones(2, requires_grad=True).requires_grad


# ---------------------------------------------------------------- shape ops and products
def test_shape_ops_match_pytorch():
    a = np.arange(24.0).reshape(2, 3, 4)
    x, tx = both(a)
    pairs = [(x.flip((0, 2)), tx.flip((0, 2))),
             (tn.flip(x, -1), torch.flip(tx, [-1])), (x.roll(2), tx.roll(2)),
             (tn.roll(x, (1, -5), (0, 2)), torch.roll(tx, (1, -5), (0, 2))),
             (x.tril(1), tx.tril(1)), (tn.triu(x, -1), torch.triu(tx, -1)),
             (x[0].diag(), tx[0].diag()), (tn.diag(x[1], -1), torch.diag(tx[1], -1)),
             (x[0, 0].diag(2), tx[0, 0].diag(2)),
             (x.repeat_interleave(2), tx.repeat_interleave(2)),
             (x.repeat_interleave(tn.tensor([2, 0, 1]), dim=1),
              tx.repeat_interleave(torch.tensor([2, 0, 1]), dim=1)),
             (tn.repeat_interleave(tn.tensor([2, 0, 3])),
              torch.repeat_interleave(torch.tensor([2, 0, 3]))),
             (x.cumprod(1), tx.cumprod(1)), (tn.cumprod(tn.tensor([2, 3]), 0),
                                           torch.cumprod(torch.tensor([2, 3]), 0))]
    for ours, theirs in pairs:
        assert_same(ours, theirs)
    flipped = x.flip(0)
    flipped[0, 0, 0] = -1.0                     # a copy, as in PyTorch
    assert x.numpy()[1, 0, 0] == 12.0


def test_products_and_norms_match_pytorch():
    rng = np.random.default_rng(0)
    a, b, c = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    (x, tx), (y, ty), (z, tz) = both(a), both(b), both(c)
    assert_same(x.mm(y), tx.mm(ty))
    assert_same(tn.addmm(z, x, y, beta=0.0, alpha=2.0), torch.addmm(tz, tx, ty, beta=0.0,
                                                                    alpha=2.0))
    assert_same(tn.einsum("ij,jk,k->i", x, y, z), torch.einsum("ij,jk,k->i", tx, ty, tz))
    assert_same(tn.einsum("i j -> j i", x), torch.einsum("i j -> j i", tx))
    assert_same(x.norm(p=0), tx.norm(p=0))
    assert_same(tn.linalg.matrix_norm(x, 1), torch.linalg.matrix_norm(tx, 1))
    assert_same(tn.linalg.vector_norm(x, 3, dim=-1, keepdim=True),
                torch.linalg.vector_norm(tx, 3, dim=-1, keepdim=True))


@pytest.mark.parametrize("p", [2, 3, 1, "fro"])
def test_norm_gradient_of_a_zero_vector_is_zero_as_pytorch(p):
    x = tn.zeros(3, dtype=tn.float64, requires_grad=True)
    tx = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    x.norm(p).backward()
    tx.norm(p).backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_product_and_norm_errors():
    with pytest.raises(ValueError, match=r"mm: expects two 2-D tensors, got \(3,\) float32"):
        tn.mm(tn.zeros(3), tn.zeros(3, 2))
    with pytest.raises(ValueError, match="bmm: expects two 3-D tensors with the same batch"):
        tn.bmm(tn.zeros(2, 2, 3), tn.zeros(3, 3, 2))
    with pytest.raises(ValueError, match="einsum: the equation 'ij,jk' has 2 operands but 1"):
        tn.einsum("ij,jk", tn.zeros(2, 2))
    with pytest.raises(ValueError, match="einsum: subscript 'j' has size 3 and 4"):
        tn.einsum("ij,jk", tn.zeros(2, 3), tn.zeros(4, 2))
    with pytest.raises(TypeError, match="vector_norm: expected a floating point tensor"):
        tn.tensor([1, 2]).norm()
    with pytest.raises(NotImplementedError, match="'nuc'"):
        tn.linalg.matrix_norm(tn.zeros(2, 2), "nuc")
    with pytest.raises(ValueError, match="diag: expects a 1-D or 2-D tensor"):
        tn.zeros(2, 2, 2).diag()


# ---------------------------------------------------------------- writing at indices
@pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter")
def test_index_writes_match_pytorch():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 5))
    x, tx = both(a)
    s, ts = both(rng.standard_normal((3, 5)))
    idx, tidx = both(np.array([[4, 0], [1, 2]]))
    pairs = [(x.scatter(1, idx, s), tx.scatter(1, tidx, ts)),      # src larger than index
             (x.scatter(0, tn.tensor([[2, 0]]), 9.0), tx.scatter(0, torch.tensor([[2, 0]]), 9.0)),
             (x.scatter(1, idx, s, reduce="add"), tx.scatter(1, tidx, ts, reduce="add")),
             (x.scatter_add(1, idx * 0, s), tx.scatter_add(1, tidx * 0, ts)),
             (tn.index_add(x, 1, tn.tensor([4, 4, 0, 1, 2]), s),
              torch.index_add(tx, 1, torch.tensor([4, 4, 0, 1, 2]), ts)),
             (x.index_fill(0, tn.tensor([0, 2]), -1.0), tx.index_fill(0, torch.tensor([0, 2]),
                                                                     -1.0)),
             (x.masked_fill(x > 0, 0.5), tx.masked_fill(tx > 0, 0.5)),
             (x.clamp_min(0.1), tx.clamp_min(0.1)), (tn.clamp_max(x, 0.1), torch.clamp_max(tx, 0.1))]
    for ours, theirs in pairs:
        assert_same(ours, theirs)
    i = tn.tensor([1, 0, 1])
    assert_same(tn.zeros(3, dtype=tn.int64).index_fill(0, i, 4),
                torch.zeros(3, dtype=torch.int64).index_fill(0, torch.tensor([1, 0, 1]), 4))


def test_index_write_errors():
    x = tn.zeros(3, 4)
    with pytest.raises(TypeError, match="scatter: src dtype float64 differs"):
        x.scatter(1, tn.tensor([[0]]), tn.zeros(1, 1, dtype=tn.float64))
    with pytest.raises(IndexError, match="scatter_add: index 4 is out of bounds for dim 1 "
                                         "with size 4"):
        x.scatter_add(1, tn.tensor([[4]]), tn.zeros(1, 1))
    with pytest.raises(ValueError, match=r"scatter: index must have as many dims"):
        x.scatter(1, tn.tensor([0]), tn.zeros(1))
    with pytest.raises(TypeError, match="index_add: index must be an integer tensor"):
        x.index_add(0, tn.tensor([0.0]), tn.zeros(1, 4))
    with pytest.raises(ValueError, match=r"index_add: expected a 1-D index and a source of "
                                         r"shape \(3, 2\)"):
        x.index_add(1, tn.tensor([0, 1]), tn.zeros(3, 3))
    with pytest.raises(ValueError, match="repeat_interleave: repeats must be an int or a 1-D"):
        x.repeat_interleave(tn.tensor([1, 2]), dim=0)


INPLACE = [
    ("scatter_", lambda m, x, src, idx: x.scatter_(1, idx(np.array([[2, 0], [1, 3]])), src)),
    ("scatter_-value", lambda m, x, src, idx: x.scatter_(0, idx(np.array([[2, 0]])), 1.5)),
    ("scatter_add_", lambda m, x, src, idx: x.scatter_add_(1, idx(np.array([[1, 1], [3, 1]])),
                                                           src)),
    ("index_add_", lambda m, x, src, idx: x.index_add_(0, idx(np.array([2, 2])), src.repeat(1, 2),
                                                       alpha=2.0)),
    ("index_fill_", lambda m, x, src, idx: x.index_fill_(1, idx(np.array([3])), -4.0)),
    ("masked_fill_", lambda m, x, src, idx: x.masked_fill_(x > 0, 0.0)),
    ("clamp_min_", lambda m, x, src, idx: x.clamp_min_(0.0)),
    ("clamp_max_", lambda m, x, src, idx: x.clamp_max_(0.0)),
]


@pytest.mark.parametrize("name, fn", INPLACE, ids=[n for n, _ in INPLACE])
def test_inplace_writes_into_the_tensor_and_joins_the_graph(name, fn):
    rng = np.random.default_rng(2)
    a, s = rng.standard_normal((3, 4)), rng.standard_normal((2, 2))
    # without autograd: the same array, every alias sees the change, the version moves on
    x = tn.tensor(a)
    alias, array, version = x.view(12), x.array, x._version
    out = fn(tn, x, tn.tensor(s), tn.tensor)
    assert out is x and x.array is array and x._version > version
    tx = torch.tensor(a)
    fn(torch, tx, torch.tensor(s), torch.tensor)
    assert_same(x, tx)
    assert_same(alias, tx.view(12))
    # with autograd: the op is recorded, gradients reach the leaves as in PyTorch
    grads = []
    for lib in (tn, torch):
        leaf = lib.tensor(a, requires_grad=True)
        src = lib.tensor(s, requires_grad=True)
        y = leaf * 1
        fn(lib, y, src, lib.tensor)
        (y * lib.tensor(np.arange(12.0).reshape(3, 4))).sum().backward()
        grads.append([None if t.grad is None else t.grad.numpy() for t in (leaf, src)])
    for ours, theirs in zip(*grads):
        if ours is None or theirs is None:
            assert ours is None and (theirs is None or not theirs.any())
        else:
            np.testing.assert_allclose(ours, theirs)


def test_inplace_change_of_a_saved_tensor_makes_backward_raise():
    x = tn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    z = y.exp()                                  # saves y
    y.index_fill_(0, tn.tensor([1]), 0.0)
    with pytest.raises(RuntimeError):
        z.sum().backward()


def test_inplace_on_a_leaf_that_requires_grad_refuses():
    x = tn.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="scatter_add_: a leaf tensor that requires grad"):
        x.scatter_add_(0, tn.tensor([0]), tn.ones(1))
