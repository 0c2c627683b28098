"""Differentiable ops, one family per module. Everything here is also a
``tinynet`` top-level function and, where it makes sense, a Tensor method."""
from tinynet.ops.elementwise import (  # noqa: F401
    abs, add, allclose, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, ceil, clamp, clip,
    cos, div, elu, eq, erf, exp, floor, ge, gelu, gt, isfinite, isnan, le, leaky_relu, log,
    log1p, logical_and, logical_not, logical_or, logical_xor, lt, masked_fill, maximum,
    minimum, mul, ne, neg, pow, relu, round, rsqrt, sigmoid, sign, sin, softplus, sqrt, sub,
    tanh, trunc, where)
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

__all__ = [
    "abs", "add", "addmm", "all", "allclose", "amax", "amin", "any", "argmax", "argmin",
    "argsort", "argwhere", "astype", "bitwise_and", "bitwise_not", "bitwise_or",
    "bitwise_xor", "bmm", "broadcast_to", "cat", "ceil", "chunk", "clamp", "clip", "clone",
    "concatenate", "contiguous", "cos", "cumprod", "cumsum", "diag", "div", "dot",
    "einsum", "elu", "eq", "erf", "exp", "expand", "flatten", "flip", "floor", "gather",
    "ge", "gelu", "getitem", "gt", "index_add", "index_fill", "index_select", "isfinite",
    "isnan", "kthvalue", "le", "leaky_relu", "log", "log1p", "log_softmax", "logical_and",
    "logical_not", "logical_or", "logical_xor", "logsumexp", "lt", "mT", "masked_fill",
    "matmul", "max", "maximum", "mean", "median", "min", "minimum", "mm", "mode",
    "movedim", "mul", "narrow", "ne", "neg", "nonzero", "norm", "outer", "pad", "permute",
    "pow", "prod", "relu", "repeat", "repeat_interleave", "reshape", "roll", "round",
    "rsqrt", "scatter", "scatter_add", "sigmoid", "sign", "sin", "softmax", "softplus",
    "sort", "split", "sqrt", "squeeze", "stack", "std", "sub", "sum", "sum_to", "t",
    "tanh", "to_device", "topk", "transpose", "tril", "triu", "trunc", "unbind", "unique",
    "unsqueeze", "var", "view", "where"
]
