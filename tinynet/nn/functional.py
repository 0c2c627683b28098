"""The ``F`` namespace (PyTorch's torch.nn.functional): ``import tinynet.nn.functional as F``.

Most entries are the ops of ``tinynet.ops`` under PyTorch's signatures;
``inplace=True`` changes the input in place and returns it, as in PyTorch
(while autograd records, the change joins the graph; see ``Tensor._inplace``).
"""
from tinynet.ops import elementwise as _ew
from tinynet.ops import reduce as _reduce
from tinynet.ops.elementwise import (  # noqa: F401
    gelu, logsigmoid, sigmoid, softplus, softsign, tanh, tanhshrink)
from tinynet.ops.interpolate import interpolate, upsample  # noqa: F401
from tinynet.ops.loss import (  # noqa: F401
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, huber_loss,
    kl_div, l1_loss, mse_loss, nll_loss, smooth_l1_loss)
from tinynet.ops.nn_ops import (  # noqa: F401
    cosine_similarity, dropout, dropout2d, embedding, glu, linear, normalize, one_hot,
    pairwise_distance, pixel_shuffle, pixel_unshuffle, prelu)
from tinynet.ops.normalization import batch_norm, group_norm, instance_norm, layer_norm  # noqa: F401
from tinynet.ops.shape import pad  # noqa: F401
from tinynet.ops.conv import conv1d, conv2d, conv_transpose2d, fold, unfold  # noqa: F401
from tinynet.ops.attention import (  # noqa: F401
    multi_head_attention_forward, scaled_dot_product_attention)
from tinynet.ops.pool import (  # noqa: F401
    adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool1d, avg_pool2d, max_pool1d, max_pool2d)


def relu(input, inplace=False):
    """max(input, 0)."""
    return input.relu_() if inplace else _ew.relu(input)


def relu_(input):
    return input.relu_()


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """input where input > 0, else negative_slope * input."""
    if inplace:
        return input._inplace("leaky_relu_", _ew.leaky_relu, negative_slope)
    return _ew.leaky_relu(input, negative_slope)


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, inplace=True)


def elu(input, alpha=1.0, inplace=False):
    """input where input > 0, else alpha * (exp(input) - 1)."""
    if inplace:
        return input._inplace("elu_", _ew.elu, alpha)
    return _ew.elu(input, alpha)


def elu_(input, alpha=1.0):
    return elu(input, alpha, inplace=True)


def _maybe_inplace(input, inplace, name, op, *args):
    # op(input, *args), written into ``input`` when ``inplace``
    return input._inplace(name, op, *args) if inplace else op(input, *args)


def selu(input, inplace=False):
    """scale * elu(input, alpha) with SELU's fixed constants."""
    return _maybe_inplace(input, inplace, "selu_", _ew.selu)


def selu_(input):
    return selu(input, inplace=True)


def celu(input, alpha=1.0, inplace=False):
    """input where input > 0, else alpha * (exp(input / alpha) - 1)."""
    return _maybe_inplace(input, inplace, "celu_", _ew.celu, alpha)


def celu_(input, alpha=1.0):
    return celu(input, alpha, inplace=True)


def silu(input, inplace=False):
    """input * sigmoid(input)."""
    return _maybe_inplace(input, inplace, "silu_", _ew.silu)


def mish(input, inplace=False):
    """input * tanh(softplus(input))."""
    return _maybe_inplace(input, inplace, "mish_", _ew.mish)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """clip(input, min_val, max_val)."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val cannot be greater than max_val, got "
                         f"min_val={min_val} and max_val={max_val}")
    return _maybe_inplace(input, inplace, "hardtanh_", _ew.hardtanh, min_val, max_val)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input, inplace=False):
    """min(max(input, 0), 6)."""
    return _maybe_inplace(input, inplace, "relu6_", _ew.relu6)


def hardsigmoid(input, inplace=False):
    """relu6(input + 3) / 6."""
    return _maybe_inplace(input, inplace, "hardsigmoid_", _ew.hardsigmoid)


def hardswish(input, inplace=False):
    """input * relu6(input + 3) / 6."""
    return _maybe_inplace(input, inplace, "hardswish_", _ew.hardswish)


def _dim(input, dim):
    # PyTorch's legacy implicit dim when none is given
    return dim if dim is not None else (0 if input.ndim in (0, 1, 3) else 1)


def softmax(input, dim=None, dtype=None):
    """exp / sum(exp) along ``dim`` (cast to ``dtype`` first if given)."""
    if dtype is not None:
        input = input.astype(dtype)
    return _reduce.softmax(input, _dim(input, dim))


def log_softmax(input, dim=None, dtype=None):
    """log(softmax) along ``dim``, computed without overflow."""
    if dtype is not None:
        input = input.astype(dtype)
    return _reduce.log_softmax(input, _dim(input, dim))
