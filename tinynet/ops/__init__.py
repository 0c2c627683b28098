"""Differentiable ops, one family per module. Everything here is also a
``tinynet`` top-level function and, where it makes sense, a Tensor method."""
from tinynet.ops.elementwise import (  # noqa: F401
    abs, add, allclose, clamp, clip, cos, div, elu, eq, erf, exp, ge, gelu, gt, isfinite,
    isnan, le, leaky_relu, log, log1p, logical_not, lt, masked_fill, maximum, minimum,
    mul, ne, neg, pow, relu, rsqrt, sigmoid, sign, sin, softplus, sqrt, sub, tanh, where)
from tinynet.ops.linalg import (  # noqa: F401
    addmm, bmm, dot, einsum, matmul, mm, mT, norm, outer)
from tinynet.ops.reduce import (  # noqa: F401
    all, amax, amin, any, argmax, argmin, cumprod, cumsum, log_softmax, logsumexp, max, mean,
    min, prod, softmax, std, sum, var)
from tinynet.ops.shape import (  # noqa: F401
    astype, broadcast_to, cat, chunk, clone, concatenate, contiguous, diag, expand, flatten,
    flip, gather, getitem, index_select, movedim, narrow, pad, permute, repeat,
    repeat_interleave, reshape, roll, split, squeeze, stack, sum_to, t, to_device, transpose,
    tril, triu, unbind, unsqueeze, view)
from tinynet.ops.sorting import (  # noqa: F401
    argsort, kthvalue, median, mode, sort, topk, unique)
from tinynet.ops.indexing import (  # noqa: F401
    argwhere, index_add, index_fill, nonzero, scatter, scatter_add)
