"""Parameter initialisation (PyTorch's torch.nn.init), in place and without grad.

Every function fills its tensor from tinynet's seeded generator
(``tn.manual_seed`` makes it reproducible) and returns the tensor.
Fan-in/fan-out follow PyTorch: for a weight (OUT, IN, *kernel), fan_in =
IN * prod(kernel) and fan_out = OUT * prod(kernel).
"""
import math

import numpy as np

from tinynet import random
from tinynet.autograd import no_grad
from tinynet.backend import to_device


def calculate_gain(nonlinearity, param=None):
    """The recommended std gain for a nonlinearity (tanh 5/3, relu sqrt 2, ...)."""
    linear_fns = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                  "conv_transpose2d", "conv_transpose3d", "sigmoid")
    if nonlinearity in linear_fns:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight with at least 2 dims."""
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out can not be computed for a tensor with fewer "
                         f"than 2 dimensions (got shape {tuple(tensor.shape)})")
    receptive = int(np.prod(tensor.shape[2:])) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor, values):
    """Write host ``values`` into ``tensor`` in place (cast, moved to its device)."""
    arr = values.astype(tensor.dtype, copy=False)
    if tensor.is_cuda:
        arr = to_device(arr, tensor.device)
    with no_grad():
        tensor.array[...] = arr
        tensor._vc[0] += 1
    return tensor


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with U(a, b)."""
    return _fill(tensor, random.uniform(a, b, tensor.shape, np.float64))


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with N(mean, std^2)."""
    return _fill(tensor, random.normal(mean, std, tensor.shape, np.float64))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """Fill with N(mean, std^2) restricted to [a, b] (redrawing values outside)."""
    values = random.normal(mean, std, tensor.shape, np.float64)
    bad = (values < a) | (values > b)
    while bad.any():
        values[bad] = random.normal(mean, std, int(bad.sum()), np.float64)
        bad = (values < a) | (values > b)
    return _fill(tensor, values)


def constant_(tensor, val):
    """Fill with the value ``val``."""
    return _fill(tensor, np.full(tensor.shape, val))


def zeros_(tensor):
    """Fill with 0."""
    return constant_(tensor, 0.0)


def ones_(tensor):
    """Fill with 1."""
    return constant_(tensor, 1.0)


def eye_(tensor):
    """The identity matrix in a 2-D tensor."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_: only 2-D tensors are supported, got shape {tensor.shape}")
    return _fill(tensor, np.eye(*tensor.shape))


def xavier_uniform_(tensor, gain=1.0):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor, gain=1.0):
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity):
    fan = _calculate_correct_fan(tensor, mode)
    if fan == 0:
        raise ValueError(f"kaiming init: cannot initialise a tensor with zero {mode} "
                         f"(shape {tuple(tensor.shape)})")
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """U(-bound, bound) with bound = gain * sqrt(3 / fan) (He et al.)."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """N(0, std^2) with std = gain / sqrt(fan)."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))


def orthogonal_(tensor, gain=1.0):
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian one.

    Dims after the first are flattened: rows = shape[0], cols = the rest.
    """
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dimensions are "
                         f"supported, got shape {tuple(tensor.shape)}")
    rows = tensor.shape[0]
    cols = tensor.numel() // rows if rows else 0
    if tensor.numel() == 0:
        return tensor
    flat = random.normal(0.0, 1.0, (rows, cols), np.float64)
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    # fix the signs so that the result is uniformly distributed (Haar measure)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, (gain * q).reshape(tensor.shape))
