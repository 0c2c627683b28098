"""Activation modules: thin wrappers over the functional ops.

``inplace=True`` changes the input in place and returns it, as in PyTorch.
"""
from tinynet.nn import init
from tinynet.nn.module import Module, Parameter
from tinynet.ops import elementwise as ew
from tinynet.ops import nn_ops
from tinynet.ops.reduce import log_softmax, softmax
from tinynet.tensor import empty


class _InplaceActivation(Module):
    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def _run(self, input, name, op, *args):
        """op(input, *args), written into ``input`` when ``inplace``."""
        if self.inplace:
            return input._inplace(name, op, *args)
        return op(input, *args)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class ReLU(_InplaceActivation):
    """max(x, 0)."""

    def forward(self, input):
        return input.relu_() if self.inplace else ew.relu(input)


class LeakyReLU(Module):
    """x where x > 0, else negative_slope * x."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input):
        if self.inplace:
            return input._inplace("leaky_relu_", ew.leaky_relu, self.negative_slope)
        return ew.leaky_relu(input, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    """x where x > 0, else alpha * (exp(x) - 1)."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        if self.inplace:
            return input._inplace("elu_", ew.elu, self.alpha)
        return ew.elu(input, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """x * Phi(x); ``approximate='tanh'`` uses the tanh approximation."""

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input):
        return ew.gelu(input, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Tanh(Module):
    """Elementwise tanh."""

    def forward(self, input):
        return ew.tanh(input)


class Sigmoid(Module):
    """Elementwise 1 / (1 + exp(-x)), computed without overflow."""

    def forward(self, input):
        return ew.sigmoid(input)


class Softplus(Module):
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input):
        return ew.softplus(input, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


def _implicit_dim(ndim):
    # PyTorch's legacy choice when no dim is given
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """exp(x) / sum(exp(x)) along ``dim``."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return softmax(input, self.dim if self.dim is not None else _implicit_dim(input.ndim))

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim``, computed stably."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return log_softmax(input, self.dim if self.dim is not None
                           else _implicit_dim(input.ndim))

    def extra_repr(self):
        return f"dim={self.dim}"


class SiLU(_InplaceActivation):
    """x * sigmoid(x)."""

    def forward(self, input):
        return self._run(input, "silu_", ew.silu)


class Mish(_InplaceActivation):
    """x * tanh(softplus(x))."""

    def forward(self, input):
        return self._run(input, "mish_", ew.mish)


class Hardsigmoid(_InplaceActivation):
    """relu6(x + 3) / 6."""

    def forward(self, input):
        return self._run(input, "hardsigmoid_", ew.hardsigmoid)

    def extra_repr(self):
        return ""                  # PyTorch's repr leaves inplace out here


class Hardswish(_InplaceActivation):
    """x * relu6(x + 3) / 6."""

    def forward(self, input):
        return self._run(input, "hardswish_", ew.hardswish)

    def extra_repr(self):
        return ""                  # PyTorch's repr leaves inplace out here


class SELU(_InplaceActivation):
    """scale * elu(x, alpha) with SELU's fixed alpha and scale."""

    def forward(self, input):
        return self._run(input, "selu_", ew.selu)


class CELU(_InplaceActivation):
    """x where x > 0, else alpha * (exp(x / alpha) - 1)."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__(inplace)
        self.alpha = alpha

    def forward(self, input):
        return self._run(input, "celu_", ew.celu, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Hardtanh(_InplaceActivation):
    """clip(x, min_val, max_val)."""

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__(inplace)
        if min_val > max_val:
            raise ValueError(f"Hardtanh: min_val cannot be greater than max_val, got "
                             f"min_val={min_val} and max_val={max_val}")
        self.min_val, self.max_val = min_val, max_val

    def forward(self, input):
        return self._run(input, "hardtanh_", ew.hardtanh, self.min_val, self.max_val)

    def extra_repr(self):
        return (f"min_val={self.min_val}, max_val={self.max_val}"
                + (", inplace=True" if self.inplace else ""))


class ReLU6(Hardtanh):
    """min(max(x, 0), 6)."""

    def __init__(self, inplace=False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LogSigmoid(Module):
    """log(sigmoid(x)), stable for large |x|."""

    def forward(self, input):
        return ew.logsigmoid(input)


class Softsign(Module):
    """x / (1 + |x|)."""

    def forward(self, input):
        return ew.softsign(input)


class Tanhshrink(Module):
    """x - tanh(x)."""

    def forward(self, input):
        return ew.tanhshrink(input)


class GLU(Module):
    """Gated linear unit: halves a, b of the input along ``dim``; a * sigmoid(b).

    Shape: (*, 2M, *) -> (*, M, *).
    """

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return nn_ops.glu(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class PReLU(Module):
    """x where x > 0, else weight * x, with a learned slope: one shared
    (``num_parameters=1``) or one per channel (dim 1 of the input).

    Parameters: weight (num_parameters,), initialised to ``init``.
    """

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        self.weight = Parameter(empty(num_parameters, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self):
        init.constant_(self.weight, self.init)

    def forward(self, input):
        return nn_ops.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"
