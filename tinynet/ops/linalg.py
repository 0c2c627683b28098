"""Matrix products: ``matmul`` (``@``) with NumPy's rules for 1-D operands and
batch broadcasting, and the helpers built on it (mm, bmm, addmm, outer);
``einsum``; vector and matrix norms."""
import builtins
import math

import numpy as np

from tinynet.autograd import Function
from tinynet.backend import get_array_module
from tinynet.ops.elementwise import abs, operands, require_float, where
from tinynet.ops.reduce import StdFromVar, axes_args, expand_back, amax, amin, sum
from tinynet.ops.shape import broadcast_to, normalize_axis, reshape, sum_to, transpose
from tinynet.tensor import Tensor, as_tensor, describe


__all__ = [
    "addmm", "bmm", "dot", "einsum", "linalg_norm", "mT", "matmul", "matrix_norm", "mm",
    "norm", "outer", "vector_norm"
]


class MatMul(Function):
    def forward(self, a, b):
        return get_array_module(a).matmul(a, b)

    def backward(self, gy):
        a, b = self.inputs
        ga_needed, gb_needed = self.needs_input_grad
        # Promote 1-D operands to matrices so one formula covers every case:
        # a (..., n, k) @ b (..., k, m) -> gy (..., n, m)
        a2 = reshape(a, (1,) + a.shape) if a.ndim == 1 else a
        b2 = reshape(b, b.shape + (1,)) if b.ndim == 1 else b
        g2 = gy
        if a.ndim == 1:
            g2 = reshape(g2, g2.shape[:-1] + (1,) + g2.shape[-1:]) if b.ndim > 1 else \
                reshape(g2, (1,) + g2.shape)
        if b.ndim == 1:
            g2 = reshape(g2, g2.shape + (1,))
        ga = gb = None
        if ga_needed:
            ga = sum_to(matmul(g2, mT(b2)), a2.shape)
            ga = reshape(ga, a.shape)
        if gb_needed:
            gb = sum_to(matmul(mT(a2), g2), b2.shape)
            gb = reshape(gb, b.shape)
        return ga, gb


def mT(x):
    """Transpose of the last two dims."""
    return transpose(x, -1, -2)


def matmul(a, b):
    """Matrix product with broadcasting batch dims; 1-D operands as in NumPy."""
    a, b = operands(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dim, got {describe(a)} "
                         f"and {describe(b)}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not match: "
                         f"{k_a} != {k_b}")
    batch_a, batch_b = a.shape[:-2], b.shape[:-2]
    try:
        np.broadcast_shapes(batch_a, batch_b)
    except ValueError:
        raise ValueError(f"matmul: batch dims {batch_a} and {batch_b} of shapes {a.shape} "
                         f"and {b.shape} cannot broadcast") from None
    return MatMul()(a, b)


def dot(a, b):
    """The inner product of two 1-D tensors; bool tensors are refused, as
    PyTorch has no bool dot."""
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"dot: expects two 1-D tensors, got {a.shape} and {b.shape}")
    if a.dtype == np.bool_ or b.dtype == np.bool_:
        raise TypeError(f"dot: bool tensors are not supported (PyTorch refuses them too), got "
                        f"{describe(a)} and {describe(b)}; convert first with x.int()")
    return matmul(a, b)


def outer(a, b):
    """a[i] * b[j]. Shape: (n,), (m,) -> (n, m)."""
    a, b = operands(a, b)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"outer: expects two 1-D tensors, got {a.shape} and {b.shape}")
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


# ---------------------------------------------------------------- mm, bmm, addmm
def mm(a, b):
    """Product of two matrices. Shape: (n, k), (k, m) -> (n, m)."""
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"mm: expects two 2-D tensors, got {describe(a)} and {describe(b)}")
    return matmul(a, b)


def bmm(a, b):
    """Batched matrix product. Shape: (B, n, k), (B, k, m) -> (B, n, m)."""
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise ValueError(f"bmm: expects two 3-D tensors with the same batch size, got "
                         f"{describe(a)} and {describe(b)}")
    return matmul(a, b)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat1 @ mat2)``, input broadcast to (n, m);
    with beta=0 the input is ignored (NaN in it does not propagate)."""
    prod = mm(mat1, mat2)
    input = as_tensor(input)
    try:
        ok = np.broadcast_shapes(input.shape, prod.shape) == prod.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"addmm: input {describe(input)} does not broadcast to the product's "
                         f"shape {prod.shape}")
    if prod.dtype.kind == "b":            # bool: and / or, no gradient
        return Tensor._make((prod.array & bool(alpha)) | (input.array & bool(beta)))
    if prod.dtype.kind in "iu":           # integer tensors: the factors are cut to ints (PyTorch)
        alpha, beta = int(alpha), int(beta)
    if alpha != 1:
        prod = prod * alpha
    if beta == 0:
        return prod
    return prod + (input if beta == 1 else input * beta)


# ---------------------------------------------------------------- einsum
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _parse_einsum(equation, shapes):
    """An explicit equation ``'ij,jk->ik'`` with '...' spelled out in letters
    and the implicit output (letters used once, in alphabetical order, after
    the '...' dims) made explicit."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: the equation {equation!r} has {len(terms)} operands but "
                         f"{len(shapes)} tensors were given")
    free = [c for c in _LETTERS if c not in eq]
    n_ell = max((len(s) - len(t.replace("...", "")) for t, s in zip(terms, shapes)
                 if "..." in t), default=0)
    ell = "".join(free[:n_ell])
    out_terms = []
    for t, s in zip(terms, shapes):
        if "..." in t:
            k = len(s) - len(t.replace("...", ""))
            t = t.replace("...", ell[n_ell - k:] if k else "")
        if len(t) != len(s) or not all(c in _LETTERS for c in t):
            raise ValueError(f"einsum: the term {t!r} of {equation!r} does not match an "
                             f"operand of shape {tuple(s)}")
        out_terms.append(t)
    if arrow:
        out = rhs.replace("...", ell)
    else:
        counts = {c: "".join(out_terms).count(c) for c in set("".join(out_terms))}
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    return out_terms, out


def _sums_alone(terms, out, shapes):
    """Does some operand hold a dim summed over that no other operand has
    (size-1 dims count as absent, as they broadcast)?"""
    held = [{c for c, n in zip(t, s) if n != 1} for t, s in zip(terms, shapes)]
    return any(c not in out and not any(c in h for j, h in enumerate(held) if j != i)
               for i, h in enumerate(held) for c in h)


class Einsum(Function):
    def __init__(self, terms, out):
        self.terms, self.out = terms, out

    def forward(self, *xs):
        xp = get_array_module(*xs)
        return xp.einsum(",".join(self.terms) + "->" + self.out, *xs)

    def backward(self, gy):
        return tuple(self._grad(i, gy) if x.requires_grad else None
                     for i, x in enumerate(self.inputs))

    def _grad(self, i, gy):
        """d/d operand i: einsum of gy with the other operands into operand
        i's term. A letter repeated in that term (a diagonal) gets a fresh
        letter tied to it by an identity matrix; a letter found nowhere else
        (summed over operand i alone) is broadcast by a vector of ones; a
        size-1 dim that broadcast against a larger one is summed back."""
        x = self.inputs[i]
        term = self.terms[i]
        xp = get_array_module(x.array)
        sizes = {}
        for t, o in zip(self.terms, self.inputs):
            for c, n in zip(t, o.shape):
                if n != 1 or c not in sizes:
                    sizes[c] = n
        used = set(self.out) | {c for j, t in enumerate(self.terms) if j != i for c in t}
        free = iter(c for c in _LETTERS if c not in "".join(self.terms) + self.out)
        target, extra_terms, extra = "", [], []
        for c in term:
            if c in target:                          # repeated: a diagonal
                f = next(free)
                extra_terms.append(c + f)
                extra.append(Tensor._const(xp.eye(sizes[c], dtype=gy.dtype)))
                target += f
                continue
            if c not in used:
                extra_terms.append(c)
                extra.append(Tensor._const(xp.ones(sizes[c], dtype=gy.dtype)))
            target += c
        others = [o for j, o in enumerate(self.inputs) if j != i]
        terms = [self.out] + [t for j, t in enumerate(self.terms) if j != i] + extra_terms
        g = Einsum(terms, target)(gy, *others, *extra)
        if g.shape == x.shape:
            return g
        # x's size-1 dims that broadcast are summed back; a letter of size 1 in
        # every other operand leaves g of size 1 where x is larger: broadcast it
        g = sum_to(g, tuple(1 if n == 1 else m for n, m in zip(x.shape, g.shape)))
        return broadcast_to(g, x.shape)


def einsum(equation, *operands):
    """Einstein summation, e.g. ``einsum('bij,bjk->bik', a, b)``; '...' and the
    implicit output (no '->') as in PyTorch; operands may also come as one list.
    https://pytorch.org/docs/stable/generated/torch.einsum.html"""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    xs = [as_tensor(o) for o in operands]
    if not isinstance(equation, str):
        raise TypeError(f"einsum: the first argument must be the equation string, got "
                        f"{type(equation).__name__}")
    terms, out = _parse_einsum(equation, [x.shape for x in xs])
    sizes = {}
    for t, x in zip(terms, xs):
        for c, n in zip(t, x.shape):
            if sizes.setdefault(c, n) != n and 1 not in (n, sizes[c]):
                raise ValueError(f"einsum: subscript {c!r} has size {sizes[c]} and {n} in "
                                 f"{equation!r}; operands {', '.join(describe(x) for x in xs)}")
            sizes[c] = builtins.max(sizes[c], n)
    dtype = np.result_type(*[x.dtype for x in xs])
    if dtype.kind in "biu" and _sums_alone(terms, out, [x.shape for x in xs]):
        dtype = np.dtype(np.int64)        # PyTorch sums those dims first, and sum gives int64
    xs = [x if x.dtype == dtype else x.astype(dtype) for x in xs]
    return Einsum(tuple(terms), out)(*xs)


# ---------------------------------------------------------------- norms
class _PNorm(Function):
    """(sum |x|^p)^(1/p) over ``axes`` for a finite p other than 0 and 1. The
    gradient, x |x|^(p-2) / norm^(p-1), is 0 where x or the norm is 0 (PyTorch's
    choice) instead of 0 * inf."""
    keep_outputs = True

    def __init__(self, p, axes, keepdims):
        self.p, self.axes, self.keepdims = p, axes, keepdims

    def forward(self, x):
        xp = get_array_module(x)
        if self.p == 2:
            return xp.sqrt((x * x).sum(axis=self.axes, keepdims=self.keepdims))
        s = (xp.abs(x) ** self.p).sum(axis=self.axes, keepdims=self.keepdims)
        return s ** (1.0 / self.p)

    def backward(self, gy):
        x, p = self.inputs[0], self.p
        y = expand_back(self.output(), x.shape, self.axes)
        g = expand_back(gy, x.shape, self.axes)
        y_zero, x_zero = y.array == 0, x.array == 0
        y_safe = where(y_zero, 1.0, y) if y_zero.any() else y
        if p == 2:
            scaled = x / y_safe
        else:
            x_safe = where(x_zero, 1.0, x) if x_zero.any() else x
            scaled = x * abs(x_safe) ** (p - 2) / y_safe ** (p - 1)
        out = g * scaled
        return where(y_zero, 0.0, out) if y_zero.any() else out


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """The vector ``ord``-norm over ``dim`` (all elements when None): 2,
    1, inf (max |x|), -inf (min |x|), 0 (number of non-zeros) or any p.
    https://pytorch.org/docs/stable/generated/torch.linalg.vector_norm.html"""
    x = require_float(x, "vector_norm")
    if dtype is not None:
        x = x.astype(dtype)
    axes, keepdim = axes_args(x, None, dim, False, keepdim, "vector_norm")
    if ord in (math.inf, -math.inf):
        empty = [a for a in axes if x.shape[a] == 0]
        if empty:                   # max / min have no identity (PyTorch refuses it too)
            raise ValueError(f"vector_norm: cannot take the {ord} norm over dim {empty[0]} of "
                             f"size 0; input {describe(x)}")
        return (amax if ord > 0 else amin)(abs(x), axes, keepdim)
    if ord == 0:
        return sum((x != 0).astype(x.dtype), axes, keepdim)
    if ord == 1:
        return sum(abs(x), axes, keepdim)
    if not isinstance(ord, (int, float, np.integer, np.floating)) or isinstance(ord, bool):
        raise ValueError(f"vector_norm: ord must be a number, got {ord!r}")
    return _PNorm(float(ord), axes, keepdim)(x)


def matrix_norm(x, ord="fro", dim=(-2, -1), keepdim=False):
    """The matrix norm over the two dims ``dim``: 'fro', 1 / -1 (max / min
    column sum of |x|), inf / -inf (max / min row sum). ('nuc' and 2 need an
    SVD, which tinynet does not have.)"""
    x = require_float(x, "matrix_norm")
    if len(dim) != 2:
        raise ValueError(f"matrix_norm: dim must be two dims, got {dim}")
    d0, d1 = (normalize_axis(d, x.ndim, "matrix_norm") for d in dim)
    if d0 == d1:
        raise ValueError(f"matrix_norm: the two dims {dim} are the same")
    if ord == "fro":
        return vector_norm(x, 2, (d0, d1), keepdim)
    if ord in (1, -1, math.inf, -math.inf):
        summed, over = (d0, d1) if ord in (1, -1) else (d1, d0)
        s = sum(abs(x), summed, keepdims=True)
        if x.shape[over] == 0:
            # no sums to pick from: the largest is taken as 0, the norm of an empty
            # matrix, a constant (no gradient); the smallest has no value (both as PyTorch)
            if ord < 0:
                raise ValueError(f"matrix_norm: cannot take the {ord} norm with dim {over} of "
                                 f"size 0 (the smallest of no sums); input {describe(x)}")
            shape = tuple(1 if i == over else n for i, n in enumerate(s.shape))
            r = Tensor._make(get_array_module(x.array).zeros(shape, dtype=x.dtype))
        else:
            r = (amax if ord > 0 else amin)(s, over, keepdims=True)
        return r if keepdim else reshape(r, [n for i, n in enumerate(r.shape)
                                              if i not in (d0, d1)])
    raise NotImplementedError(f"matrix_norm: ord={ord!r} is not supported (supported: 'fro', "
                              "1, -1, inf, -inf)")


def linalg_norm(x, ord=None, dim=None, keepdim=False, *, dtype=None):
    """``tn.linalg.norm``: a vector norm for 1-D input or an int ``dim``, a
    matrix norm for 2-D input or two dims; with ``ord=None`` and no dim, the
    2-norm of all elements.
    https://pytorch.org/docs/stable/generated/torch.linalg.norm.html"""
    x = require_float(x, "linalg.norm")
    if dtype is not None:
        x = x.astype(dtype)
    if isinstance(dim, (int, np.integer)):
        dim = (dim,)
    if dim is None:
        if ord is None:
            return vector_norm(x, 2, None, keepdim)
        if x.ndim not in (1, 2):
            raise ValueError(f"linalg.norm: with ord={ord!r} and no dim the input must be 1-D "
                             f"or 2-D, got {describe(x)}")
        dim = tuple(range(x.ndim))
    if len(dim) == 1:
        return vector_norm(x, 2 if ord is None else ord, dim, keepdim)
    if len(dim) == 2:
        return matrix_norm(x, "fro" if ord is None else ord, dim, keepdim)
    raise ValueError(f"linalg.norm: dim must be one or two dims, got {dim}")


def norm(x, p="fro", dim=None, keepdim=False, dtype=None):
    """PyTorch's ``torch.norm`` / ``x.norm``: the vector ``p``-norm over
    ``dim`` (all elements when None); 'fro' is the 2-norm.
    https://pytorch.org/docs/stable/generated/torch.norm.html"""
    if p == "fro" or p is None:
        p = 2
    elif isinstance(p, str):
        raise NotImplementedError(f"norm: p={p!r} is not supported (numbers and 'fro')")
    return vector_norm(x, p, dim, keepdim, dtype=dtype)
