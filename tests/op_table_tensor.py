"""Op-table entries for Tensor methods and tensor functions (indexing, sorting, linear algebra, creation); see op_table.py for ``op``."""
import math

import numpy as np  # noqa: F401

import tinynet as tn  # noqa: F401
import tinynet.nn.functional as F  # noqa: F401
from op_table import op  # noqa: F401
from tinynet.testing import Case

# ---------------------------------------------------------------- matrix products
op("mm", tn.mm, lambda t, a, b: t.mm(a, b), [((2, 3), (3, 4)), ((1, 3), (3, 1))])
op("bmm", lambda a, b: a.bmm(b), lambda t, a, b: a.bmm(b), [((2, 3, 4), (2, 4, 2))])
op("addmm", lambda c, a, b: tn.addmm(c, a, b, beta=0.5, alpha=-2.0),
   lambda t, c, a, b: t.addmm(c, a, b, beta=0.5, alpha=-2.0),
   [((2, 4), (2, 3), (3, 4)), ((4,), (2, 3), (3, 4))])
op("addmm-method", lambda c, a, b: c.addmm(a, b), lambda t, c, a, b: c.addmm(a, b),
   [((2, 2), (2, 3), (3, 2))])

EINSUM = [Case(shapes, {"eq": eq}) for eq, shapes in [
    ("ij,jk->ik", ((2, 3), (3, 4))),
    ("bij,bjk->bik", ((2, 3, 4), (2, 4, 2))),
    ("ii->i", ((3, 3),)),
    ("ii", ((3, 3),)),
    ("ij->", ((2, 3),)),
    ("ji", ((2, 3),)),
    ("i,j->ij", ((2,), (3,))),
    ("...j,j", ((2, 3), (3,))),
    ("bn,anm,bm->ba", ((2, 3), (4, 3, 2), (2, 2))),
    ("iij->j", ((2, 2, 3),)),
]]
op("einsum", lambda *xs, eq: tn.einsum(eq, *xs), lambda t, *xs, eq: t.einsum(eq, *xs), EINSUM)
op("einsum-list", lambda a, b: tn.einsum("ij,ij->i", [a, b]),
   lambda t, a, b: t.einsum("ij,ij->i", [a, b]), [((2, 3), (1, 3))])

# ---------------------------------------------------------------- norms
NORM = [Case(((3, 4),), {"p": p, "dim": d, "keepdim": k}) for p, d, k in [
    ("fro", None, False), (2, 1, False), (2, -1, True), (1, 0, False), (3, None, False),
    (0.5, (0, 1), True), (math.inf, 1, False), (-math.inf, 0, False), ("fro", (0, 1), False)]]
op("norm", lambda x, p, dim, keepdim: x.norm(p, dim, keepdim),
   lambda t, x, p, dim, keepdim: x.norm(p, dim, keepdim), NORM, kinks=(0.0,))
op("norm-fn", lambda x: tn.norm(x), lambda t, x: t.norm(x), [(2, 3), (5,)])
op("vector_norm", lambda x, ord, dim: tn.linalg.vector_norm(x, ord, dim),
   lambda t, x, ord, dim: t.linalg.vector_norm(x, ord, dim),
   [Case(((2, 3, 2),), {"ord": o, "dim": d}) for o, d in
    [(2, None), (1, (0, 2)), (math.inf, -1), (3, 1)]], kinks=(0.0,))
op("linalg_norm", lambda x, ord, dim: tn.linalg.norm(x, ord, dim),
   lambda t, x, ord, dim: t.linalg.norm(x, ord, dim),
   [Case(((3, 4),), {"ord": o, "dim": d}) for o, d in
    [(None, None), ("fro", None), (1, None), (math.inf, None), (-1, None), (2, 1),
     (-math.inf, (1, 0))]] + [Case(((4,),), {"ord": 3, "dim": None})], kinks=(0.0,))

# ---------------------------------------------------------------- shape and layout
op("flip", lambda x, dims: x.flip(dims), lambda t, x, dims: x.flip(dims),
   [Case(((2, 3, 4),), {"dims": d}) for d in (0, (0, 2), (-1,))])
op("roll", lambda x, shifts, dims: x.roll(shifts, dims),
   lambda t, x, shifts, dims: x.roll(shifts, dims),
   [Case(((3, 4),), {"shifts": s, "dims": d}) for s, d in
    [(1, None), (-2, 1), ((1, -1), (0, 1)), (5, 0)]])
op("tril", lambda x, k: x.tril(k), lambda t, x, k: x.tril(k),
   [Case(((3, 4),), {"k": k}) for k in (0, 1, -1)] + [Case(((2, 3, 3),), {"k": 0})])
op("triu", lambda x, k: tn.triu(x, k), lambda t, x, k: t.triu(x, k),
   [Case(((3, 4),), {"k": k}) for k in (0, 2, -1)] + [Case(((2, 3, 3),), {"k": 0})])
op("diag", lambda x, k: x.diag(k), lambda t, x, k: x.diag(k),
   [Case(((3,),), {"k": k}) for k in (0, 1, -2)] +
   [Case(((3, 4),), {"k": k}) for k in (0, 1, -1)])
op("narrow", lambda x, dim, start, length: x.narrow(dim, start, length),
   lambda t, x, dim, start, length: x.narrow(dim, start, length),
   [Case(((3, 4),), {"dim": 1, "start": 1, "length": 2}),
    Case(((3, 4),), {"dim": -2, "start": -2, "length": 2})])
op("t", lambda x: x.t(), lambda t, x: x.t(), [(2, 3), (3,), ()])
op("contiguous", lambda x: x.T.contiguous(), lambda t, x: x.T.contiguous(), [(2, 3)])
op("view_as", lambda x: x.view_as(tn.zeros(6, 2)), lambda t, x: x.view_as(t.zeros(6, 2)),
   [(3, 4)], noncontiguous=False)        # a transposed input cannot be viewed, as in PyTorch
op("reshape_as", lambda x: x.reshape_as(tn.zeros(6, 2)),
   lambda t, x: x.reshape_as(t.zeros(6, 2)), [(3, 4)])
op("expand_as", lambda x: x.expand_as(tn.zeros(2, 3, 4)),
   lambda t, x: x.expand_as(t.zeros(2, 3, 4)), [(3, 1)])
op("repeat_interleave", lambda x, r, dim: x.repeat_interleave(r, dim),
   lambda t, x, r, dim: x.repeat_interleave(r, dim),
   [Case(((2, 3),), {"r": 2, "dim": None}), Case(((2, 3),), {"r": 3, "dim": 0})])
op("repeat_interleave-tensor", lambda x: x.repeat_interleave(tn.tensor([1, 0, 3]), dim=-1),
   lambda t, x: x.repeat_interleave(t.tensor([1, 0, 3]), dim=-1), [(2, 3)])
op("cumprod", lambda x, dim: x.cumprod(dim), lambda t, x, dim: x.cumprod(dim),
   [Case(((2, 3, 4),), {"dim": d}) for d in (0, -1)] + [Case(((),), {"dim": 0})],
   domain=(0.5, 1.5))


def _with_zeros(case, rng):
    a = rng.uniform(0.5, 1.5, case.shapes[0]) * rng.choice([-1, 1], case.shapes[0])
    a.reshape(-1)[[1, 6, 7]] = 0.0            # one zero, and two in a row
    return [a]


op("cumprod-zeros", lambda x: tn.cumprod(x, 1), lambda t, x: t.cumprod(x, 1), [(2, 5)],
   make_inputs=_with_zeros)
op("clamp_min", lambda x: x.clamp_min(0.2), lambda t, x: x.clamp_min(0.2), [(2, 3)],
   kinks=(0.2,))
op("clamp_max", lambda x: tn.clamp_max(x, -0.3), lambda t, x: t.clamp_max(x, -0.3), [(2, 3)],
   kinks=(-0.3,))

# ---------------------------------------------------------------- selecting by order
# (values and int64 indices; random inputs have no ties, so the indices are unique)
SORT = [Case(((3, 4),), {"dim": d, "descending": s}) for d in (-1, 0) for s in (False, True)]
op("sort", lambda x, dim, descending: x.sort(dim, descending),
   lambda t, x, dim, descending: x.sort(dim, descending), SORT + [
       Case(((),), {"dim": 0, "descending": False})])
op("topk", lambda x, k, dim, largest: x.topk(k, dim, largest),
   lambda t, x, k, dim, largest: x.topk(k, dim, largest),
   [Case(((3, 5),), {"k": 2, "dim": -1, "largest": True}),
    Case(((3, 5),), {"k": 3, "dim": 0, "largest": False}),
    Case(((4,),), {"k": 4, "dim": 0, "largest": True})])
op("kthvalue", lambda x, k, dim, keepdim: x.kthvalue(k, dim, keepdim),
   lambda t, x, k, dim, keepdim: x.kthvalue(k, dim, keepdim),
   [Case(((3, 5),), {"k": 2, "dim": -1, "keepdim": False}),
    Case(((3, 5),), {"k": 3, "dim": 0, "keepdim": True})])
op("median-dim", lambda x, dim, keepdim: x.median(dim, keepdim),
   lambda t, x, dim, keepdim: x.median(dim, keepdim),
   [Case(((3, 5),), {"dim": d, "keepdim": k}) for d, k in [(1, False), (0, True)]] +
   [Case(((4, 2),), {"dim": 0, "keepdim": False})])
op("median", lambda x: tn.median(x), lambda t, x: t.median(x), [(3, 4), (5,)])


def _small_ints(case, rng):
    # ties are the point of mode: values from a few integers
    return [rng.integers(-2, 3, s).astype(np.float64) for s in case.shapes]


# mode is piecewise constant in the picked element (moving it leaves its run),
# so finite differences cannot check its gradient: test_tensor_surface compares
# the gradient with PyTorch's instead
op("mode", lambda x, dim, keepdim: x.mode(dim, keepdim),
   lambda t, x, dim, keepdim: x.mode(dim, keepdim),
   [Case(((4, 7),), {"dim": d, "keepdim": k}) for d, k in [(-1, False), (0, True)]],
   make_inputs=_small_ints, grad=False)

# ---------------------------------------------------------------- writing at indices
_SIDX = np.array([[3, 0, 1], [2, 4, 0]])        # distinct in each row: scatter is deterministic
_DUP = np.array([[1, 1, 0], [4, 4, 4]])         # repeats: scatter_add accumulates
op("scatter", lambda x, s: x.scatter(1, tn.tensor(_SIDX), s),
   lambda t, x, s: x.scatter(1, t.tensor(_SIDX), s), [((3, 5), (2, 3))])
op("scatter-value", lambda x: tn.scatter(x, 0, tn.tensor(_SIDX % 3), 1.5),
   lambda t, x: t.scatter(x, 0, t.tensor(_SIDX % 3), 1.5), [(3, 5)])
op("scatter_add", lambda x, s: x.scatter_add(1, tn.tensor(_DUP), s),
   lambda t, x, s: x.scatter_add(1, t.tensor(_DUP), s), [((3, 5), (2, 3))])
op("index_add", lambda x, s: x.index_add(0, tn.tensor([2, 0, 2]), s, alpha=-1.5),
   lambda t, x, s: x.index_add(0, t.tensor([2, 0, 2]), s, alpha=-1.5),
   [((3, 4), (3, 4))])
op("index_fill", lambda x: x.index_fill(1, tn.tensor([0, 3]), -2.0),
   lambda t, x: x.index_fill(1, t.tensor([0, 3]), -2.0), [(3, 4)])
op("index_fill-tensor", lambda x, v: tn.index_fill(x, -1, tn.tensor([1]), v),
   lambda t, x, v: t.index_fill(x, -1, t.tensor([1]), v), [((3, 4), ())])

# in-place forms on a clone: they join the graph like the out-of-place op
op("scatter_", lambda x, s: x.clone().scatter_(1, tn.tensor(_SIDX), s),
   lambda t, x, s: x.clone().scatter_(1, t.tensor(_SIDX), s), [((3, 5), (2, 3))])
op("scatter_add_", lambda x, s: x.clone().scatter_add_(1, tn.tensor(_DUP), s),
   lambda t, x, s: x.clone().scatter_add_(1, t.tensor(_DUP), s), [((3, 5), (2, 3))])
op("index_add_", lambda x, s: x.clone().index_add_(1, tn.tensor([1, 1]), s),
   lambda t, x, s: x.clone().index_add_(1, t.tensor([1, 1]), s), [((3, 4), (3, 2))])
op("index_fill_", lambda x, v: x.clone().index_fill_(0, tn.tensor([2]), v),
   lambda t, x, v: x.clone().index_fill_(0, t.tensor([2]), v), [((3, 4), ())])
op("masked_fill_", lambda x: (x * 1).masked_fill_(x > 0.5, 0.25),
   lambda t, x: (x * 1).masked_fill_(x > 0.5, 0.25), [(3, 4)], kinks=(0.5,))
op("clamp_min_", lambda x: x.clone().clamp_min_(-0.5), lambda t, x: x.clone().clamp_min_(-0.5),
   [(3, 4)], kinks=(-0.5,))
op("clamp_max_", lambda x: x.clone().clamp_max_(0.5), lambda t, x: x.clone().clamp_max_(0.5),
   [(3, 4)], kinks=(0.5,))
