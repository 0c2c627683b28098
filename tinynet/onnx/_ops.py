"""Ops that ONNX has as one node and tinynet otherwise computes with several.

``BatchNormEval`` is BatchNorm with running statistics (eval mode) as one
differentiable node, (x, weight, bias, running_mean, running_var) -> y. The
export runs tinynet's BatchNorm layers through it while tracing, so that
they become one BatchNormalization node, and ``tinynet.onnx.load`` runs
BatchNormalization nodes with it, so that a loaded model exports the same
way again. Its values are ``F.batch_norm``'s in eval mode; its backward is
written with tinynet ops (gradients for all five inputs, differentiable
again).
"""
from tinynet.autograd import Function
from tinynet.backend import get_array_module
from tinynet.ops.elementwise import rsqrt
from tinynet.ops.shape import reshape


class BatchNormEval(Function):
    """y = (x - mean) * weight / sqrt(var + eps) + bias, per channel (dim 1)."""

    def __init__(self, eps):
        self.eps = eps

    def forward(self, x, weight, bias, mean, var):
        shape = (1, -1) + (1,) * (x.ndim - 2)
        xp = get_array_module(x)
        scale = weight / xp.sqrt(var + x.dtype.type(self.eps))
        return (x - mean.reshape(shape)) * scale.reshape(shape) + bias.reshape(shape)

    def backward(self, gy):
        x, weight, bias, mean, var = self.inputs
        shape = (1, -1) + (1,) * (x.ndim - 2)
        axes = (0,) + tuple(range(2, x.ndim))
        inv = rsqrt(var + self.eps)                       # 1 / sqrt(var + eps), (C,)
        centered = x - reshape(mean, shape)
        g_scale = (gy * centered).sum(axis=axes)          # d y / d (weight * inv), summed
        g_x = gy * reshape(weight * inv, shape)
        g_w = g_scale * inv
        g_b = gy.sum(axis=axes)
        g_mean = -(g_x.sum(axis=axes))
        g_var = g_scale * weight * inv * inv * inv * -0.5
        needs = self.needs_input_grad
        return tuple(g if need else None
                     for g, need in zip((g_x, g_w, g_b, g_mean, g_var), needs))
