"""Differentiable ops, one family per module. Everything here is also a
``tinynet`` top-level function and, where it makes sense, a Tensor method."""
from tinynet.ops.elementwise import (  # noqa: F401
    abs, add, allclose, clamp, clip, cos, div, elu, eq, erf, exp, ge, gelu, gt, isfinite,
    isnan, le, leaky_relu, log, log1p, logical_not, lt, masked_fill, maximum, minimum,
    mul, ne, neg, pow, relu, rsqrt, sigmoid, sign, sin, softplus, sqrt, sub, tanh, where)
from tinynet.ops.linalg import dot, matmul, mT, outer  # noqa: F401
from tinynet.ops.reduce import (  # noqa: F401
    all, amax, amin, any, argmax, argmin, cumsum, log_softmax, logsumexp, max, mean, min, prod,
    softmax, std, sum, var)
from tinynet.ops.shape import (  # noqa: F401
    astype, broadcast_to, cat, chunk, clone, concatenate, expand, flatten, gather,
    getitem, index_select, movedim, pad, permute, repeat, reshape, split, squeeze, stack,
    sum_to, to_device, transpose, unsqueeze, view)
