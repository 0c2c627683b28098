"""Normalization ops: batch_norm, instance_norm, layer_norm, group_norm.

All four are one fused ``Normalize`` node (x - mean) / sqrt(var + eps) over
some axes, followed by an ordinary broadcasting affine ``* weight + bias``.
Normalize's backward is written in tinynet ops, so double backward works.

Shapes: ``N`` batch, ``C`` channels, ``*`` extra (spatial) dims, ``G`` groups.
"""
import numpy as np

from tinynet.autograd import Function, is_grad_enabled
from tinynet.backend import get_array_module
from tinynet.ops.elementwise import require_float, rsqrt
from tinynet.ops.reduce import mean
from tinynet.ops.shape import reshape
from tinynet.tensor import Tensor, describe


__all__ = [
    "batch_norm", "group_norm", "instance_norm", "layer_norm"
]


class Normalize(Function):
    """xhat = (x - mean) / sqrt(var + eps), statistics over ``axes`` (biased var)."""

    def __init__(self, axes, eps):
        self.axes, self.eps = axes, eps

    def forward(self, x):
        xp = get_array_module(x)
        mu = x.mean(axis=self.axes, keepdims=True)
        xc = x - mu
        var = (xc * xc).mean(axis=self.axes, keepdims=True)
        rstd = 1 / xp.sqrt(var + x.dtype.type(self.eps))
        xhat = xc * rstd
        # saved for the first-order backward and for batch_norm's running stats
        self.mean, self.var, self.rstd, self.xhat = mu, var, rstd, xhat
        return xhat

    def backward(self, gy):
        # d xhat / d x applied to gy: remove gy's mean and its component along
        # xhat, then scale by 1/std
        if not is_grad_enabled():
            # plain backward: the same formula on the saved arrays, no graph
            g, xhat = gy.array, self.xhat
            g_mean = g.mean(axis=self.axes, keepdims=True)
            g_proj = (g * xhat).mean(axis=self.axes, keepdims=True)
            return Tensor._make(self.rstd * (g - g_mean - xhat * g_proj))
        # create_graph: rebuild the statistics from x with ops so that the
        # gradient itself can be differentiated
        x = self.inputs[0]
        xc = x - mean(x, axis=self.axes, keepdims=True)
        rstd = rsqrt(mean(xc * xc, axis=self.axes, keepdims=True) + self.eps)
        xhat = xc * rstd
        g_mean = mean(gy, axis=self.axes, keepdims=True)
        g_proj = mean(gy * xhat, axis=self.axes, keepdims=True)
        return rstd * (gy - g_mean - xhat * g_proj)


def _affine(y, weight, bias, shape):
    """y * weight + bias with the parameters reshaped to broadcast as ``shape``."""
    if weight is not None:
        y = y * (reshape(weight, shape) if weight.shape != shape else weight)
    if bias is not None:
        y = y + (reshape(bias, shape) if bias.shape != shape else bias)
    return y


def _check_param(p, n, op, name, x):
    if p is not None and p.numel() != n:
        raise ValueError(f"{op}: {name} must have {n} elements, got shape {p.shape}; "
                         f"input {describe(x)}")


# ---------------------------------------------------------------- batch_norm
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalization over every dim but C (PyTorch's F.batch_norm).

    Shape: input (N, C, *); running stats, weight and bias (C,).
    With ``training`` the batch statistics are used and the running stats
    (if given) are updated in place: ``running = (1 - momentum) * running +
    momentum * batch``, with the unbiased batch variance.
    """
    input = require_float(input, "batch_norm")
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected input (N, C, *), got shape {input.shape}")
    C = input.shape[1]
    for name, p in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_param(p, C, "batch_norm", name, input)
    stat_shape = (1, C) + (1,) * (input.ndim - 2)
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are required when "
                             "training=False")
        return _batch_norm_eval(input, running_mean, running_var, weight, bias, eps,
                                stat_shape)
    axes = (0,) + tuple(range(2, input.ndim))
    count = input.numel() // C if C else 0      # no channels: nothing to normalize
    if count <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when "
                         f"training, got input of shape {input.shape}")
    fn = Normalize(axes, eps)
    y = fn(input)
    if running_mean is not None:
        _update_running(running_mean, fn.mean, momentum)
    if running_var is not None:
        # the running variance uses the unbiased estimate (n / (n - 1))
        _update_running(running_var, fn.var * fn.var.dtype.type(count / (count - 1)),
                        momentum)
    return _affine(y, weight, bias, stat_shape)


def _update_running(running, batch_stat, momentum):
    m = running.dtype.type(momentum)
    running.array *= 1 - m
    running.array += m * batch_stat.reshape(running.shape).astype(running.dtype)
    running._vc[0] += 1


def _batch_norm_eval(x, running_mean, running_var, weight, bias, eps, stat_shape):
    # fold the running statistics into one scale and shift per channel
    scale = rsqrt(running_var + eps)
    if weight is not None:
        scale = scale * weight
    shift = -running_mean * scale
    if bias is not None:
        shift = shift + bias
    return x * reshape(scale, stat_shape) + reshape(shift, stat_shape)


# ---------------------------------------------------------------- instance_norm
def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Normalize each channel of each sample over its spatial dims (PyTorch's
    F.instance_norm).

    Shape: input (N, C, *) with more than one spatial element per channel (or
    none: an empty result); running stats, weight and bias (C,). With
    ``use_input_stats`` the per-instance statistics are used, and running
    stats (if given) move towards their average over the batch (the variance
    unbiased), as in batch_norm; without, the running stats normalize, as
    batch_norm's eval.
    """
    input = require_float(input, "instance_norm")
    if input.ndim < 2:
        raise ValueError(f"instance_norm: expected input (N, C, *), got shape {input.shape}")
    C = input.shape[1]
    for name, p in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_param(p, C, "instance_norm", name, input)
    stat_shape = (1, C) + (1,) * (input.ndim - 2)
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: running_mean and running_var are required "
                             "when use_input_stats=False")
        return _batch_norm_eval(input, running_mean, running_var, weight, bias, eps,
                                stat_shape)
    count = int(np.prod(input.shape[2:]))
    if count == 1:
        raise ValueError(f"instance_norm: expected more than 1 spatial element when "
                         f"training, got input of shape {input.shape}")
    if count == 0:
        # no spatial elements: an empty result, the running stats left as they are
        # (as PyTorch; an empty batch instead makes them NaN, the mean of nothing)
        return _affine(input.clone(), weight, bias, stat_shape)
    fn = Normalize(tuple(range(2, input.ndim)), eps)
    y = fn(input)
    if running_mean is not None:
        _update_running(running_mean, fn.mean.mean(axis=0), momentum)
    if running_var is not None:
        unbiased = fn.var * fn.var.dtype.type(count / (count - 1))
        _update_running(running_var, unbiased.mean(axis=0), momentum)
    return _affine(y, weight, bias, stat_shape)


# ---------------------------------------------------------------- layer_norm
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the last ``len(normalized_shape)`` dims (PyTorch's F.layer_norm).

    Shape: input (*, normalized_shape); weight and bias (normalized_shape).
    """
    input = require_float(input, "layer_norm")
    if isinstance(normalized_shape, (int, np.integer)):
        normalized_shape = (int(normalized_shape),)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if k == 0 or input.shape[input.ndim - k:] != normalized_shape or input.ndim < k:
        raise ValueError(f"layer_norm: expected input with shape (*, "
                         f"{', '.join(map(str, normalized_shape))}), got {input.shape}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.shape != normalized_shape:
            raise ValueError(f"layer_norm: {name} must have shape {normalized_shape}, "
                             f"got {p.shape}")
    axes = tuple(range(input.ndim - k, input.ndim))
    y = Normalize(axes, eps)(input)
    return _affine(y, weight, bias, normalized_shape)


# ---------------------------------------------------------------- group_norm
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalize over groups of channels (PyTorch's F.group_norm).

    Shape: input (N, C, *) with C divisible by G = num_groups; weight, bias (C,).
    """
    input = require_float(input, "group_norm")
    if input.ndim < 2:
        raise ValueError(f"group_norm: expected input (N, C, *), got shape {input.shape}")
    N, C = input.shape[:2]
    if num_groups <= 0 or C % num_groups:
        raise ValueError(f"group_norm: num_channels {C} must be divisible by num_groups "
                         f"{num_groups}")
    for name, p in (("weight", weight), ("bias", bias)):
        _check_param(p, C, "group_norm", name, input)
    grouped = reshape(input, (N, num_groups, -1))
    y = reshape(Normalize((2,), eps)(grouped), input.shape)
    return _affine(y, weight, bias, (1, C) + (1,) * (input.ndim - 2))
