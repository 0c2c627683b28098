"""The ``F`` namespace (PyTorch's torch.nn.functional): ``import tinynet.nn.functional as F``.

Most entries are the ops of ``tinynet.ops`` under PyTorch's signatures;
``inplace=True`` changes the input in place and returns it, as in PyTorch
(while autograd records, the change joins the graph; see ``Tensor._inplace``).
"""
from tinynet.ops import elementwise as _ew
from tinynet.ops import reduce as _reduce
from tinynet.ops.elementwise import gelu, sigmoid, softplus, tanh  # noqa: F401
from tinynet.ops.loss import (  # noqa: F401
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, huber_loss,
    kl_div, l1_loss, mse_loss, nll_loss, smooth_l1_loss)
from tinynet.ops.nn_ops import (  # noqa: F401
    dropout, dropout2d, embedding, linear, normalize, one_hot)
from tinynet.ops.norm import batch_norm, group_norm, layer_norm  # noqa: F401
from tinynet.ops.shape import pad  # noqa: F401
from tinynet.ops.conv import conv1d, conv2d, conv_transpose2d, fold, unfold  # noqa: F401
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
