"""Matrix products: ``matmul`` (``@``) with NumPy's rules for 1-D operands and
batch broadcasting, and the helpers built on it."""
import numpy as np

from tinynet.autograd import Function
from tinynet.backend import get_array_module
from tinynet.ops.elementwise import operands
from tinynet.ops.shape import reshape, sum_to, transpose
from tinynet.tensor import describe


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
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"dot: expects two 1-D tensors, got {a.shape} and {b.shape}")
    return matmul(a, b)


def outer(a, b):
    """a[i] * b[j]. Shape: (n,), (m,) -> (n, m)."""
    a, b = operands(a, b)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"outer: expects two 1-D tensors, got {a.shape} and {b.shape}")
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))
