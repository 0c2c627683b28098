"""One declaration per tinynet op: the tinynet callable, the PyTorch callable
that defines the expected behaviour, the input cases and domain.

The PyTorch callables take the ``torch`` module as their first argument, so
this file never imports torch: the bundle tests run without it. Every entry is
a ``tinynet.testing.OpCheck`` with one extra attribute, ``torch_fn``.
"""
import numpy as np

import tinynet as tn
from tinynet.testing import Case, OpCheck

OPS = []


def op(name, fn, torch_fn, cases, **options):
    """Declare one op; see ``OpCheck`` for the options."""
    check = OpCheck(name, fn, cases=cases, **options)
    check.torch_fn = torch_fn
    OPS.append(check)
    return check


def by_name(name):
    for c in OPS:
        if c.name == name:
            return c
    raise KeyError(name)


POS = (0.5, 2.0)          # domain of log, sqrt, rsqrt, ...
BIN = [((2, 3), (2, 3)), ((3, 4), (4,))]

# ---------------------------------------------------------------- arithmetic
op("add", lambda a, b: a + b, lambda t, a, b: a + b, BIN, elementwise=True)
op("sub", lambda a, b: a - b, lambda t, a, b: a - b, BIN, elementwise=True)
op("mul", lambda a, b: a * b, lambda t, a, b: a * b, BIN, elementwise=True)
op("div", lambda a, b: a / b, lambda t, a, b: a / b, BIN, elementwise=True,
   domain=[(-2, 2), POS])
op("pow", lambda a, b: a ** b, lambda t, a, b: a ** b, BIN, elementwise=True,
   domain=[POS, (-1.5, 1.5)])
op("add-alpha", lambda a, b: tn.add(a, b, alpha=-2.5),
   lambda t, a, b: t.add(a, b, alpha=-2.5), BIN)
op("sub-alpha", lambda a, b: tn.sub(a, b, alpha=0.5),
   lambda t, a, b: t.sub(a, b, alpha=0.5), BIN)
# a ** b at a == 0: d/da is 0 for b == 0 (not 0 * inf); d/db is 0 for b > 0
# (d/db is discontinuous at a == 0, b == 0, so the b-gradient case has b > 0)
_ZERO_BASE = np.array([[0.0, 0.0, 0.0], [0.7, 1.3, 0.0]])
op("pow-zero-base", lambda a, b: a ** b, lambda t, a, b: a ** b, [((2, 3), (2, 3))],
   make_inputs=lambda case, rng: [_ZERO_BASE, np.array([[0.0, 1.0, 2.0], [0.0, 1.5, 3.0]])],
   grad_inputs=(0,), gradgrad=False)
op("pow-zero-base-exponent-grad", lambda a, b: a ** b, lambda t, a, b: a ** b,
   [((2, 3), (2, 3))], make_inputs=lambda case, rng: [_ZERO_BASE, rng.uniform(1, 3, (2, 3))],
   grad_inputs=(1,))
op("maximum", tn.maximum, lambda t, a, b: t.maximum(a, b), BIN, elementwise=True)
op("minimum", tn.minimum, lambda t, a, b: t.minimum(a, b), BIN, elementwise=True)
op("where", lambda a, b: tn.where(a > 0, a, b), lambda t, a, b: t.where(a > 0, a, b),
   BIN, elementwise=True, kinks=(0.0,))
op("masked_fill", lambda x: tn.masked_fill(x, x < 0.3, -1.5),
   lambda t, x: x.masked_fill(x < 0.3, -1.5), [(2, 3)], kinks=(0.3,))

# Python and NumPy scalars on either side (float32 must stay float32)
SCALAR_CASES = [(2, 3), (), (1, 4)]
op("add-scalar", lambda x: x + 2.5, lambda t, x: x + 2.5, SCALAR_CASES)
op("radd-npscalar", lambda x: np.float64(2.5) + x, lambda t, x: 2.5 + x, SCALAR_CASES)
op("rsub-scalar", lambda x: 1.5 - x, lambda t, x: 1.5 - x, SCALAR_CASES)
op("sub-npscalar", lambda x: x - np.float64(0.5), lambda t, x: x - 0.5, SCALAR_CASES)
op("mul-npscalar", lambda x: x * np.float64(3.0), lambda t, x: x * 3.0, SCALAR_CASES)
op("rmul-int", lambda x: 3 * x, lambda t, x: 3 * x, SCALAR_CASES)
op("div-scalar", lambda x: x / 4.0, lambda t, x: x / 4.0, SCALAR_CASES)
op("rdiv-scalar", lambda x: 3.0 / x, lambda t, x: 3.0 / x, SCALAR_CASES, domain=POS)
op("pow-2", lambda x: x ** 2, lambda t, x: x ** 2, SCALAR_CASES)
op("pow-3", lambda x: x ** 3, lambda t, x: x ** 3, SCALAR_CASES)
op("pow-half", lambda x: x ** 0.5, lambda t, x: x ** 0.5, SCALAR_CASES, domain=POS)
op("pow-neg", lambda x: x ** -1.5, lambda t, x: x ** -1.5, SCALAR_CASES, domain=POS)
op("pow-npscalar", lambda x: x ** np.float64(1.5), lambda t, x: x ** 1.5, SCALAR_CASES,
   domain=POS)
op("rpow-scalar", lambda x: 2.0 ** x, lambda t, x: 2.0 ** x, SCALAR_CASES)
op("rsub-npscalar", lambda x: np.float64(1.5) - x, lambda t, x: 1.5 - x, SCALAR_CASES)
op("rdiv-npscalar", lambda x: np.float64(3.0) / x, lambda t, x: 3.0 / x, SCALAR_CASES,
   domain=POS)
op("rpow-npscalar", lambda x: np.float64(2.0) ** x, lambda t, x: 2.0 ** x, SCALAR_CASES)
op("rmul-npint", lambda x: np.int64(3) * x, lambda t, x: 3 * x, SCALAR_CASES)
op("rmatmul-ndarray", lambda x: np.arange(6.0, dtype=x.dtype).reshape(2, 3) @ x,
   lambda t, x: t.arange(6.0, dtype=x.dtype).reshape(2, 3) @ x, [(3, 2)], grad=True)
op("neg", lambda x: -x, lambda t, x: -x, SCALAR_CASES)

# ---------------------------------------------------------------- unary
UNARY = [(2, 3), (4,)]


def unary(name, fn, torch_fn, **options):
    options.setdefault("elementwise", True)
    return op(name, fn, torch_fn, options.pop("cases", UNARY), **options)


unary("exp", tn.exp, lambda t, x: t.exp(x))
unary("log", tn.log, lambda t, x: t.log(x), domain=POS)
unary("log1p", tn.log1p, lambda t, x: t.log1p(x), domain=(-0.5, 2.0))
unary("sqrt", tn.sqrt, lambda t, x: t.sqrt(x), domain=POS)
unary("rsqrt", tn.rsqrt, lambda t, x: t.rsqrt(x), domain=POS)
unary("abs", tn.abs, lambda t, x: t.abs(x), kinks=(0.0,))
unary("sign", tn.sign, lambda t, x: t.sign(x), grad=False, kinks=(0.0,))
INTEGERS = (-2.0, -1.0, 0.0, 1.0, 2.0)
unary("floor", tn.floor, lambda t, x: t.floor(x), domain=(-1.9, 1.9), kinks=INTEGERS)
unary("ceil", tn.ceil, lambda t, x: t.ceil(x), domain=(-1.9, 1.9), kinks=INTEGERS)
unary("trunc", tn.trunc, lambda t, x: t.trunc(x), domain=(-1.9, 1.9), kinks=INTEGERS)
unary("round", tn.round, lambda t, x: t.round(x), domain=(-1.9, 1.9),
      kinks=(-1.5, -0.5, 0.5, 1.5))
unary("sin", tn.sin, lambda t, x: t.sin(x))
unary("cos", tn.cos, lambda t, x: t.cos(x))
unary("tanh", tn.tanh, lambda t, x: t.tanh(x))
unary("sigmoid", tn.sigmoid, lambda t, x: t.sigmoid(x), domain=(-4, 4))
unary("erf", tn.erf, lambda t, x: t.erf(x))
unary("relu", tn.relu, lambda t, x: t.relu(x), kinks=(0.0,))
unary("leaky_relu", lambda x: tn.leaky_relu(x, 0.2),
      lambda t, x: t.nn.functional.leaky_relu(x, 0.2), kinks=(0.0,))
unary("leaky_relu-default", tn.leaky_relu, lambda t, x: t.nn.functional.leaky_relu(x),
      kinks=(0.0,))
unary("elu", lambda x: tn.elu(x, 0.7), lambda t, x: t.nn.functional.elu(x, 0.7),
      kinks=(0.0,))
unary("gelu", tn.gelu, lambda t, x: t.nn.functional.gelu(x), domain=(-3, 3))
unary("gelu-tanh", lambda x: tn.gelu(x, approximate="tanh"),
      lambda t, x: t.nn.functional.gelu(x, approximate="tanh"), domain=(-3, 3))
unary("softplus", tn.softplus, lambda t, x: t.nn.functional.softplus(x), domain=(-4, 4))
unary("softplus-beta-threshold", lambda x: tn.softplus(x, beta=2.0, threshold=1.0),
      lambda t, x: t.nn.functional.softplus(x, beta=2.0, threshold=1.0), kinks=(0.5,))
unary("clamp", lambda x: tn.clamp(x, -0.5, 0.7), lambda t, x: t.clamp(x, -0.5, 0.7),
      kinks=(-0.5, 0.7))
unary("clamp-min", lambda x: tn.clamp(x, min=0.2), lambda t, x: t.clamp(x, min=0.2),
      kinks=(0.2,))
unary("clip-max", lambda x: tn.clip(x, max=-0.1), lambda t, x: t.clip(x, max=-0.1),
      kinks=(-0.1,))
unary("clamp-tensor", lambda x: tn.clamp(x, tn.tensor(-0.5), tn.tensor(0.5)),
      lambda t, x: t.clamp(x, t.tensor(-0.5, dtype=x.dtype), t.tensor(0.5, dtype=x.dtype)),
      kinks=(-0.5, 0.5))

# comparisons: bool results, no gradient
for _name in ("eq", "ne", "lt", "le", "gt", "ge"):
    op(_name, getattr(tn, _name), lambda t, a, b, _n=_name: getattr(t, _n)(a, b),
       [((2, 3), (2, 3)), ((3, 4), (4,)), ((2, 1), ())], grad=False,
       make_inputs=lambda case, rng: [rng.integers(0, 3, s) for s in case.shapes])

# ---------------------------------------------------------------- reductions
AXES = [None, 1, -1, (0, 2)]
RED_SHAPE = (2, 3, 2)


def red_cases(axes=AXES, extra=()):
    cases = [Case((RED_SHAPE,), {"axis": a, "keepdims": k}) for a in axes for k in (False, True)]
    cases += [Case(((),), {"axis": None, "keepdims": False}),
              Case(((1, 4),), {"axis": 0, "keepdims": False})]
    return cases + list(extra)


def _dims(t, x, axis):
    return tuple(range(x.ndim)) if axis is None else axis


def _torch_sum(t, x, axis, keepdims):
    return t.sum(x, dim=axis, keepdim=keepdims) if axis is not None else (
        t.sum(x).reshape((1,) * x.ndim) if keepdims else t.sum(x))


op("sum", tn.sum, _torch_sum, red_cases())
op("sum-dim-keepdim", lambda x: tn.sum(x, dim=-1, keepdim=True),
   lambda t, x: x.sum(dim=-1, keepdim=True), [(2, 3)])
op("mean", tn.mean, lambda t, x, axis, keepdims:
   t.mean(x, dim=_dims(t, x, axis), keepdim=keepdims), red_cases())


def _torch_var(name):
    def f(t, x, axis, keepdims, correction=1):
        return getattr(t, name)(x, dim=_dims(t, x, axis), keepdim=keepdims,
                                correction=correction)
    return f


VAR_EXTRA = [Case(((3, 4),), {"axis": 0, "keepdims": False, "correction": 0}),
             Case(((3, 4),), {"axis": None, "keepdims": True, "correction": 2})]
# (no 0-d case: a variance of one element with correction=1 is nan, in PyTorch too)
VAR_CASES = red_cases()[:-2] + VAR_EXTRA + [Case(((1, 4),), {"axis": 1, "keepdims": False})]
op("var", tn.var, _torch_var("var"), VAR_CASES)
op("std", tn.std, _torch_var("std"), VAR_CASES)


def _torch_extreme(name):
    def f(t, x, axis, keepdims):
        if isinstance(axis, int):                   # max(dim): the pair (values, indices)
            return tuple(getattr(t, name)(x, dim=axis, keepdim=keepdims))
        return getattr(t, "a" + name)(x, dim=_dims(t, x, axis), keepdim=keepdims)
    return f


op("max", tn.max, _torch_extreme("max"), red_cases())
op("min", tn.min, _torch_extreme("min"), red_cases())
op("amax", tn.amax, lambda t, x, axis, keepdims:
   t.amax(x, dim=_dims(t, x, axis), keepdim=keepdims), red_cases())
op("amin", tn.amin, lambda t, x, axis, keepdims:
   t.amin(x, dim=_dims(t, x, axis), keepdim=keepdims), red_cases())
op("logsumexp", tn.logsumexp, lambda t, x, axis, keepdims:
   t.logsumexp(x, dim=_dims(t, x, axis), keepdim=keepdims), red_cases())


def _torch_prod(t, x, axis, keepdims):
    for d in sorted(np.atleast_1d(_dims(t, x, axis)) % max(x.ndim, 1), reverse=True):
        x = x.prod(int(d), keepdim=True)
    if not keepdims:
        dims = np.atleast_1d(_dims(t, x, axis)) % max(x.ndim, 1)
        x = x.reshape([s for i, s in enumerate(x.shape) if i not in dims])
    return x


def _with_zeros(case, rng):
    # one input element is exactly zero: the backward takes the exact path
    a = rng.uniform(0.5, 1.5, case.shapes[0]) * rng.choice([-1, 1], case.shapes[0])
    a.reshape(-1)[::5] = 0.0
    return [a]


op("prod", tn.prod, _torch_prod, red_cases(), domain=(0.5, 1.5))
op("prod-zeros", tn.prod, _torch_prod,
   [Case((RED_SHAPE,), {"axis": a, "keepdims": False}) for a in (None, 1, (0, 2))],
   make_inputs=_with_zeros)


def _arg(name):
    def f(t, x, axis, keepdims):
        return getattr(t, name)(x, dim=axis, keepdim=keepdims)
    return f


ARG_CASES = [Case((RED_SHAPE,), {"axis": a, "keepdims": k})
             for a in (None, 0, -1) for k in (False, True)] + [
    Case(((),), {"axis": None, "keepdims": False})]
op("argmax", tn.argmax, _arg("argmax"), ARG_CASES, grad=False)
op("argmin", tn.argmin, _arg("argmin"), ARG_CASES, grad=False)

SOFTMAX_CASES = [Case(((2, 3, 4),), {"axis": a}) for a in (-1, 0, 1)] + [
    Case(((1, 5),), {"axis": 1}), Case(((4,),), {"axis": 0})]
op("softmax", tn.softmax, lambda t, x, axis: t.softmax(x, dim=axis), SOFTMAX_CASES,
   domain=(-3, 3))
op("log_softmax", tn.log_softmax, lambda t, x, axis: t.log_softmax(x, dim=axis),
   SOFTMAX_CASES, domain=(-3, 3))
op("cumsum", lambda x, dim: tn.cumsum(x, dim), lambda t, x, dim: t.cumsum(x, dim),
   [Case(((2, 3, 2),), {"dim": d}) for d in (0, 1, -1)] + [Case(((),), {"dim": 0})])
op("softmax-dim", lambda x: x.softmax(dim=0), lambda t, x: x.softmax(dim=0), [(3, 2)])

# ---------------------------------------------------------------- shape ops
op("reshape", lambda x: x.reshape(3, -1), lambda t, x: x.reshape(3, -1),
   [(2, 3, 2), (6, 2)])
# (contiguous inputs only: a transposed (3, 4) cannot be viewed as (2, 6), in PyTorch too)
op("view", lambda x: x.view((2, 6)), lambda t, x: x.reshape(2, 6), [(3, 4)], noncontiguous=False)
op("reshape-0d", lambda x: x.reshape(1, 1), lambda t, x: x.reshape(1, 1), [()])
op("transpose", lambda x: x.transpose(0, -1), lambda t, x: x.transpose(0, -1),
   [(2, 3), (2, 3, 4)])
op("permute", lambda x: x.permute(2, 0, 1), lambda t, x: x.permute(2, 0, 1), [(2, 3, 4)])
op("T", lambda x: x.T, lambda t, x: x.permute(*reversed(range(x.ndim))), [(2, 3), (4,)])
op("mT", lambda x: x.mT, lambda t, x: x.mT, [(2, 3, 4)])
op("movedim", lambda x: tn.movedim(x, 0, 2), lambda t, x: t.movedim(x, 0, 2), [(2, 3, 4)])
op("flatten", tn.flatten, lambda t, x: t.flatten(x), [(2, 3, 2), (), (5,)])
op("flatten-range", lambda x: x.flatten(1, 2), lambda t, x: x.flatten(1, 2), [(2, 3, 2, 2)])
op("squeeze", lambda x: x.squeeze(), lambda t, x: x.squeeze(), [(1, 3, 1, 2), (1,)])
op("squeeze-dim", lambda x: x.squeeze(-2), lambda t, x: x.squeeze(-2), [(3, 1, 2), (3, 2)])
op("unsqueeze", lambda x: x.unsqueeze(1), lambda t, x: x.unsqueeze(1), [(2, 3), (3,)])
op("unsqueeze-neg", lambda x: x.unsqueeze(-1), lambda t, x: x.unsqueeze(-1), [(2, 3), ()])
op("expand", lambda x: x.expand(2, -1, 3), lambda t, x: x.expand(2, -1, 3), [(4, 1), (1, 1)])
op("broadcast_to", lambda x: tn.broadcast_to(x, (2, 3, 4)),
   lambda t, x: t.broadcast_to(x, (2, 3, 4)), [(3, 1), (4,), ()])
op("repeat", lambda x: x.repeat(2, 3), lambda t, x: x.repeat(2, 3), [(2, 3), (3,)])
op("repeat-3d", lambda x: x.repeat(2, 1, 2), lambda t, x: x.repeat(2, 1, 2), [(2, 2)])
op("cat", lambda a, b, c: tn.cat([a, b, c], dim=1),
   lambda t, a, b, c: t.cat([a, b, c], dim=1),
   [((2, 1), (2, 3), (2, 2)), ((2, 2, 3), (2, 1, 3), (2, 1, 3))])
op("cat-neg", lambda a, b: tn.cat([a, b], dim=-1), lambda t, a, b: t.cat([a, b], dim=-1),
   [((3,), (2,)), ((2, 2), (2, 1))])
op("stack", lambda a, b: tn.stack([a, b], dim=1), lambda t, a, b: t.stack([a, b], dim=1),
   [((2, 3), (2, 3)), ((3,), (3,))])
op("stack-0d", lambda a, b: tn.stack([a, b]), lambda t, a, b: t.stack([a, b]), [((), ())])
op("split", lambda x: x.split(2, dim=1), lambda t, x: x.split(2, dim=1), [(2, 5), (3, 4)])
op("split-sizes", lambda x: tn.split(x, [1, 3], dim=0), lambda t, x: t.split(x, [1, 3], dim=0),
   [(4, 2)])
op("chunk", lambda x: x.chunk(3, dim=-1), lambda t, x: x.chunk(3, dim=-1), [(2, 7), (2, 6)])
op("pad", lambda x: tn.pad(x, (1, 2)), lambda t, x: t.nn.functional.pad(x, (1, 2)),
   [(2, 3), (3,)])
op("pad-2d-value", lambda x: tn.pad(x, (0, 1, 2, 0), value=1.5),
   lambda t, x: t.nn.functional.pad(x, (0, 1, 2, 0), value=1.5), [(2, 2, 3)])
op("clone", tn.clone, lambda t, x: x.clone(), [(2, 3), ()])

# ---------------------------------------------------------------- indexing
IDX = [(3, 4)]
op("index-int", lambda x: x[1], lambda t, x: x[1], IDX)
op("index-negative-int", lambda x: x[-1, -2], lambda t, x: x[-1, -2], IDX)
op("index-slice", lambda x: x[1:, :3], lambda t, x: x[1:, :3], IDX)
op("index-negative-step", lambda x: x[::-1], lambda t, x: x.flip(0), IDX)
op("index-negative-step-2", lambda x: x[1:, ::-2], lambda t, x: x[1:].flip(1)[:, ::2], IDX)
op("index-ellipsis", lambda x: x[..., 1], lambda t, x: x[..., 1], [(2, 3, 4)])
op("index-none", lambda x: x[None, :, 1], lambda t, x: x[None, :, 1], IDX)
op("index-int-array-repeats", lambda x: x[[0, 2, 0, 0]], lambda t, x: x[[0, 2, 0, 0]], IDX)
op("index-2d-int-array", lambda x: x[np.array([[0, 1], [1, 1]])],
   lambda t, x: x[t.tensor([[0, 1], [1, 1]])], IDX)
op("index-array-pairs", lambda x: x[[0, 1, 1], [3, 0, 3]],
   lambda t, x: x[[0, 1, 1], [3, 0, 3]], IDX)
op("index-slice-and-array", lambda x: x[1:, [0, 0, 2]], lambda t, x: x[1:, [0, 0, 2]], IDX)
op("index-negative-int-array", lambda x: x[[-1, 0, -1]], lambda t, x: x[[-1, 0, -1]], IDX)
op("index-mixed-advanced", lambda x: x[[0, 1, 1], :, [1, 3, 1]],
   lambda t, x: x[[0, 1, 1], :, [1, 3, 1]], [(2, 3, 4)])
op("index-tensor", lambda x: x[tn.tensor([2, 2, 1])], lambda t, x: x[t.tensor([2, 2, 1])],
   IDX)
_MASK = np.array([[True, False, True, False], [False, False, True, True],
                  [True, True, False, False]])
op("index-bool-mask", lambda x: x[tn.tensor(_MASK)], lambda t, x: x[t.tensor(_MASK)], IDX)
op("index-bool-rows", lambda x: x[np.array([True, False, True])],
   lambda t, x: x[t.tensor([True, False, True])], IDX)
op("index_select", lambda x: tn.index_select(x, 1, tn.tensor([3, 0, 3])),
   lambda t, x: t.index_select(x, 1, t.tensor([3, 0, 3])), IDX)
op("index_select-dim0", lambda x: x.index_select(0, tn.tensor([1, 1])),
   lambda t, x: x.index_select(0, t.tensor([1, 1])), IDX)
_GIDX = np.array([[0, 0, 3], [1, 2, 2], [3, 3, 3]])
op("gather", lambda x: tn.gather(x, 1, tn.tensor(_GIDX)),
   lambda t, x: t.gather(x, 1, t.tensor(_GIDX)), IDX)
op("gather-dim0", lambda x: x.gather(0, tn.tensor(_GIDX[:2] % 3)),
   lambda t, x: x.gather(0, t.tensor(_GIDX[:2] % 3)), IDX)

# ---------------------------------------------------------------- linalg
MM = [((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,)),
      ((2, 2, 3), (3, 4)), ((3,), (2, 3, 2)), ((2, 2, 3), (3,)),
      ((2, 1, 2, 3), (3, 3, 2)), ((1, 3), (3, 1))]
op("matmul", lambda a, b: a @ b, lambda t, a, b: a @ b, MM)
op("matmul-fn", tn.matmul, lambda t, a, b: t.matmul(a, b), [((2, 3), (3, 2))])
op("dot", tn.dot, lambda t, a, b: t.dot(a, b), [((4,), (4,))])
op("outer", tn.outer, lambda t, a, b: t.outer(a, b), [((3,), (2,))])

# ---------------------------------------------------------------- composites
op("var-composite-chain", lambda x: (x - x.mean(1, keepdims=True)).exp().sum(),
   lambda t, x: (x - x.mean(1, keepdim=True)).exp().sum(), [(2, 3)])


# ---------------------------------------------------------------- convolution and pooling
import tinynet.nn.functional as F  # noqa: E402

op("conv2d", lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
   lambda t, x, w, b: t.nn.functional.conv2d(x, w, b, stride=2, padding=1),
   [((2, 3, 7, 6), (4, 3, 3, 3), (4,))])
op("conv2d-groups-dilation", lambda x, w: F.conv2d(x, w, padding=2, dilation=2, groups=2),
   lambda t, x, w: t.nn.functional.conv2d(x, w, padding=2, dilation=2, groups=2),
   [((1, 4, 6, 7), (4, 2, 3, 2))])
op("conv1d", lambda x, w: F.conv1d(x, w, stride=2, padding=1),
   lambda t, x, w: t.nn.functional.conv1d(x, w, stride=2, padding=1), [((2, 3, 9), (4, 3, 3))])
op("conv_transpose2d", lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1,
                                                       output_padding=1),
   lambda t, x, w: t.nn.functional.conv_transpose2d(x, w, stride=2, padding=1,
                                                    output_padding=1),
   [((2, 3, 3, 4), (3, 2, 3, 3))])
op("unfold", lambda x: F.unfold(x, (2, 3), padding=1, stride=2),
   lambda t, x: t.nn.functional.unfold(x, (2, 3), padding=1, stride=2), [(2, 2, 5, 4)])
op("fold", lambda x: F.fold(x, (4, 5), 2, stride=2),
   lambda t, x: t.nn.functional.fold(x, (4, 5), 2, stride=2), [(2, 8, 4)])
op("max_pool2d", lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True),
   lambda t, x: t.nn.functional.max_pool2d(x, 3, 2, 1, ceil_mode=True), [(2, 3, 7, 6)])
op("avg_pool2d", lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
   lambda t, x: t.nn.functional.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
   [(2, 3, 7, 6)])
op("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (2, 3)),
   lambda t, x: t.nn.functional.adaptive_avg_pool2d(x, (2, 3)), [(2, 3, 5, 7)])

# ---------------------------------------------------------------- more families
# Later op families declare their entries in files of their own, with this
# file's ``op``: tensor methods (op_table_tensor.py) and nn ops (op_table_nn.py).
import op_table_tensor  # noqa: E402,F401
import op_table_nn  # noqa: E402,F401


# ---------------------------------------------------------------- PyTorch side
def torch_forward_backward(torch, check, arrays, case):
    """PyTorch outputs and gradients of sum(w * outputs), with the weights
    tinynet's harness uses (``OpCheck._forward_backward``)."""
    tensors = [torch.tensor(a, requires_grad=check.grad and a.dtype.kind == "f"
                            and check.wants_grad(k))
               for k, a in enumerate(arrays)]
    params = {k: (torch.tensor(v) if isinstance(v, np.ndarray) else v)
              for k, v in case.params.items()}
    out = check.torch_fn(torch, *tensors, **params)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    values = [o.detach().numpy().copy() for o in outs]
    wanted = [x for x in tensors if x.requires_grad]
    diff = [o for o in outs if o.requires_grad]
    grads = [None] * len(tensors)
    weights = [None] * len(outs)
    if wanted and diff:
        rng = np.random.default_rng(1)
        ws = [rng.standard_normal(o.shape).astype(v.dtype)
              for o, v in zip(outs, values) if o.requires_grad]
        gs = iter(torch.autograd.grad(diff, wanted, [torch.tensor(w) for w in ws],
                                      allow_unused=True))
        grads = [next(gs) if x.requires_grad else None for x in tensors]
        grads = [None if g is None else g.numpy().copy() for g in grads]
        it = iter(ws)
        weights = [next(it) if o.requires_grad else None for o in outs]
    return values, grads, weights
