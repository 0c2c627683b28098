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
    """Rectified linear unit, elementwise: ``ReLU(x) = max(x, 0)``.

    Args:
        inplace (bool, optional): write the result into the input and return
            the input itself. Default: ``False``.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Output: ``(*)``, the shape of the input.

    Example::

        >>> m = nn.ReLU()
        >>> m(tn.tensor([-1.0, 0.0, 2.0]))
        tensor([0., 0., 2.])
    """

    def forward(self, input):
        return input.relu_() if self.inplace else ew.relu(input)


class LeakyReLU(Module):
    """Leaky rectified linear unit: ``x`` where ``x > 0``, else ``negative_slope * x``.

    A small slope on the negative side keeps a gradient flowing to units that
    would be switched off by a plain ReLU.

    Args:
        negative_slope (float, optional): the slope for ``x < 0``. Default: ``0.01``.
        inplace (bool, optional): write the result into the input and return
            the input itself. Default: ``False``.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Output: ``(*)``, the shape of the input.

    Example::

        >>> m = nn.LeakyReLU(0.5)
        >>> m(tn.tensor([-2.0, 0.0, 3.0]))
        tensor([-1.,  0.,  3.])
    """

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
    """Exponential linear unit: ``x`` where ``x > 0``, else ``alpha * (exp(x) - 1)``.

    Smooth at negative inputs, where it saturates at ``-alpha``.

    Args:
        alpha (float, optional): the value the negative side tends to is
            ``-alpha``. Default: ``1.0``.
        inplace (bool, optional): write the result into the input and return
            the input itself. Default: ``False``.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Output: ``(*)``, the shape of the input.

    Example::

        >>> m = nn.ELU()
        >>> m(tn.tensor([-100.0, 0.0, 2.0]))
        tensor([-1.,  0.,  2.])
    """

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
    """Gaussian error linear unit: ``GELU(x) = x * Phi(x)``, elementwise.

    ``Phi`` is the standard normal CDF.

    With ``approximate='tanh'`` it uses
    ``0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))`` instead.

    Args:
        approximate (str, optional): ``'none'`` (the exact erf form) or
            ``'tanh'``. Default: ``'none'``.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Output: ``(*)``, the shape of the input.

    Example::

        >>> m = nn.GELU()
        >>> m(tn.tensor([0.0, 100.0]))
        tensor([  0., 100.])
        >>> m(tn.randn(2, 3)).shape
        (2, 3)
    """

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
    """Hyperbolic tangent, elementwise: ``tanh(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x))``.

    Takes no arguments.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Output: ``(*)``, the shape of the input.

    Example::

        >>> m = nn.Tanh()
        >>> m(tn.tensor([-100.0, 0.0, 100.0]))
        tensor([-1.,  0.,  1.])
    """

    def forward(self, input):
        return ew.tanh(input)


class Sigmoid(Module):
    """Logistic sigmoid, elementwise: ``sigmoid(x) = 1 / (1 + exp(-x))``.

    Computed without overflow for large ``|x|``. Takes no arguments.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Output: ``(*)``, the shape of the input.

    Example::

        >>> m = nn.Sigmoid()
        >>> m(tn.tensor([-200.0, 0.0, 200.0]))
        tensor([0. , 0.5, 1. ])
    """

    def forward(self, input):
        return ew.sigmoid(input)


class Softplus(Module):
    """A smooth ReLU: ``Softplus(x) = log(1 + exp(beta * x)) / beta``.

    Where ``beta * x > threshold`` the result is ``x`` itself (the two agree
    there to within rounding, and ``exp`` would overflow).

    Args:
        beta (float, optional): the sharpness of the bend at 0. Default: ``1.0``.
        threshold (float, optional): above this value of ``beta * x`` the
            layer is linear. Default: ``20.0``.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Output: ``(*)``, the shape of the input.

    Example::

        >>> m = nn.Softplus()
        >>> m(tn.tensor([0.0, 30.0]))
        tensor([ 0.6931472, 30.       ])
    """

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
    """Rescales a dim into probabilities: ``exp(x_i) / sum_j exp(x_j)`` along ``dim``.

    The outputs along ``dim`` are in [0, 1] and sum to 1. The maximum is
    subtracted first, so large inputs do not overflow.

    Args:
        dim (int): the dim to normalize. ``None`` picks PyTorch's legacy
            default (dim 0 for 0-, 1- and 3-dim inputs, else dim 1) and is
            best avoided. Default: ``None``.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Output: ``(*)``, the shape of the input.

    Example::

        >>> m = nn.Softmax(dim=1)
        >>> m(tn.tensor([[0.0, 0.0], [1.0, 1.0]]))
        tensor([[0.5, 0.5],
                [0.5, 0.5]])
    """

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return softmax(input, self.dim if self.dim is not None else _implicit_dim(input.ndim))

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """``log(softmax(x))`` along ``dim``, computed stably.

    It is computed as ``x - logsumexp(x)``, so that it stays finite where
    softmax underflows to 0.

    Pair it with ``nn.NLLLoss``; ``nn.CrossEntropyLoss`` does both in one.

    Args:
        dim (int): the dim to normalize. ``None`` picks PyTorch's legacy
            default (dim 0 for 0-, 1- and 3-dim inputs, else dim 1).
            Default: ``None``.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Output: ``(*)``, the shape of the input.

    Example::

        >>> m = nn.LogSoftmax(dim=1)
        >>> m(tn.tensor([[0.0, 0.0, 0.0, 0.0]])).exp()
        tensor([[0.25, 0.25, 0.25, 0.25]])
    """

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return log_softmax(input, self.dim if self.dim is not None
                           else _implicit_dim(input.ndim))

    def extra_repr(self):
        return f"dim={self.dim}"


class SiLU(_InplaceActivation):
    """Sigmoid-weighted linear unit (also called swish): ``SiLU(x) = x * sigmoid(x)``.

    Args:
        inplace (bool, optional): write the result into the input and return
            the input itself. Default: ``False``.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Output: ``(*)``, the shape of the input.

    Example::

        >>> m = nn.SiLU()
        >>> m(tn.tensor([0.0, 100.0]))
        tensor([  0., 100.])
    """

    def forward(self, input):
        return self._run(input, "silu_", ew.silu)


class Mish(_InplaceActivation):
    """Mish: ``Mish(x) = x * tanh(softplus(x))``.

    Args:
        inplace (bool, optional): write the result into the input and return
            the input itself. Default: ``False``.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Output: ``(*)``, the shape of the input.

    Example::

        >>> m = nn.Mish()
        >>> m(tn.tensor([0.0, 100.0]))
        tensor([  0., 100.])
    """

    def forward(self, input):
        return self._run(input, "mish_", ew.mish)


class Hardsigmoid(_InplaceActivation):
    """A piecewise-linear sigmoid: ``relu6(x + 3) / 6``, elementwise.

    That is 0 for ``x <= -3``, 1 for ``x >= 3``, and ``x / 6 + 1 / 2`` in
    between.

    Args:
        inplace (bool, optional): write the result into the input and return
            the input itself. Default: ``False``.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Output: ``(*)``, the shape of the input.

    Example::

        >>> m = nn.Hardsigmoid()
        >>> m(tn.tensor([-4.0, 0.0, 4.0]))
        tensor([0. , 0.5, 1. ])
    """

    def forward(self, input):
        return self._run(input, "hardsigmoid_", ew.hardsigmoid)

    def extra_repr(self):
        return ""                  # PyTorch's repr leaves inplace out here


class Hardswish(_InplaceActivation):
    """A piecewise version of SiLU: ``Hardswish(x) = x * relu6(x + 3) / 6``.

    That is 0 for ``x <= -3``, ``x`` for ``x >= 3`` and ``x * (x + 3) / 6``
    in between.

    Args:
        inplace (bool, optional): write the result into the input and return
            the input itself. Default: ``False``.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Output: ``(*)``, the shape of the input.

    Example::

        >>> m = nn.Hardswish()
        >>> m(tn.tensor([-4.0, 0.0, 4.0]))
        tensor([-0.,  0.,  4.])
    """

    def forward(self, input):
        return self._run(input, "hardswish_", ew.hardswish)

    def extra_repr(self):
        return ""                  # PyTorch's repr leaves inplace out here


class SELU(_InplaceActivation):
    """Scaled exponential linear unit, elementwise.

    ``SELU(x) = scale * (x if x > 0 else alpha * (exp(x) - 1))`` with the
    fixed constants ``alpha = 1.6732632423543772`` and
    ``scale = 1.0507009873554805`` (Klambauer et al., 2017), chosen so that
    activations keep zero mean and unit variance through many layers.

    Args:
        inplace (bool, optional): write the result into the input and return
            the input itself. Default: ``False``.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Output: ``(*)``, the shape of the input.

    Example::

        >>> m = nn.SELU()
        >>> m(tn.tensor([0.0, 1.0]))
        tensor([0.      , 1.050701])
    """

    def forward(self, input):
        return self._run(input, "selu_", ew.selu)


class CELU(_InplaceActivation):
    """Continuously differentiable ELU, elementwise.

    ``CELU(x) = x`` where ``x > 0``, else ``alpha * (exp(x / alpha) - 1)``.

    Args:
        alpha (float, optional): the negative side tends to ``-alpha``.
            Default: ``1.0``.
        inplace (bool, optional): write the result into the input and return
            the input itself. Default: ``False``.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Output: ``(*)``, the shape of the input.

    Example::

        >>> m = nn.CELU(alpha=2.0)
        >>> m(tn.tensor([-300.0, 0.0, 3.0]))
        tensor([-2.,  0.,  3.])
    """

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__(inplace)
        self.alpha = alpha

    def forward(self, input):
        return self._run(input, "celu_", ew.celu, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Hardtanh(_InplaceActivation):
    """Clamps every element to ``[min_val, max_val]``.

    Args:
        min_val (float, optional): the lower bound. Default: ``-1.0``.
        max_val (float, optional): the upper bound; must not be below
            ``min_val``. Default: ``1.0``.
        inplace (bool, optional): write the result into the input and return
            the input itself. Default: ``False``.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Output: ``(*)``, the shape of the input.

    Example::

        >>> m = nn.Hardtanh(-2.0, 2.0)
        >>> m(tn.tensor([-3.0, 0.5, 3.0]))
        tensor([-2. ,  0.5,  2. ])
    """

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
    """ReLU capped at 6: ``ReLU6(x) = min(max(x, 0), 6)`` (``Hardtanh(0, 6)``).

    Args:
        inplace (bool, optional): write the result into the input and return
            the input itself. Default: ``False``.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Output: ``(*)``, the shape of the input.

    Example::

        >>> m = nn.ReLU6()
        >>> m(tn.tensor([-1.0, 3.0, 8.0]))
        tensor([0., 3., 6.])
    """

    def __init__(self, inplace=False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LogSigmoid(Module):
    """``log(sigmoid(x))``, elementwise, computed stably.

    It is computed as ``-softplus(-x)``, so that it stays finite for large
    negative ``x`` (where sigmoid underflows to 0).

    Takes no arguments.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Output: ``(*)``, the shape of the input.

    Example::

        >>> m = nn.LogSigmoid()
        >>> m(tn.tensor([-200.0, 200.0]))
        tensor([-200.,   -0.])
    """

    def forward(self, input):
        return ew.logsigmoid(input)


class Softsign(Module):
    """``Softsign(x) = x / (1 + |x|)``, elementwise: a sigmoid-shaped map onto (-1, 1).

    Takes no arguments.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Output: ``(*)``, the shape of the input.

    Example::

        >>> m = nn.Softsign()
        >>> m(tn.tensor([-3.0, 0.0, 1.0]))
        tensor([-0.75,  0.  ,  0.5 ])
    """

    def forward(self, input):
        return ew.softsign(input)


class Tanhshrink(Module):
    """``Tanhshrink(x) = x - tanh(x)``, elementwise.

    Takes no arguments.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Output: ``(*)``, the shape of the input.

    Example::

        >>> m = nn.Tanhshrink()
        >>> m(tn.tensor([0.0, 100.0]))
        tensor([ 0., 99.])
    """

    def forward(self, input):
        return ew.tanhshrink(input)


class GLU(Module):
    """Gated linear unit: ``a * sigmoid(b)`` for the two halves ``a``, ``b`` of ``dim``.

    The input is split in two equal halves along ``dim``; the first is
    gated by the sigmoid of the second.

    Args:
        dim (int, optional): the dim to split; its size must be even.
            Default: ``-1``.

    Shape:
        - Input: ``(*_1, 2M, *_2)``, with the ``2M`` at ``dim``.
        - Output: ``(*_1, M, *_2)``.

    Example::

        >>> m = nn.GLU()
        >>> m(tn.tensor([[1.0, 2.0, 100.0, -100.0]]))
        tensor([[1., 0.]])
        >>> m(tn.randn(4, 6)).shape
        (4, 3)
    """

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return nn_ops.glu(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class PReLU(Module):
    """Parametric ReLU: ``x`` where ``x > 0``, else ``weight * x``, with a learned slope.

    Either one slope shared by every element (``num_parameters=1``) or one
    per channel, the channels being dim 1 of the input (an input with fewer
    than 2 dims takes only the shared slope).

    Args:
        num_parameters (int, optional): 1, or the number of channels.
            Default: ``1``.
        init (float, optional): the starting value of every slope.
            Default: ``0.25``.
        device, dtype (optional): where and in which floating dtype the
            parameter is created. Default: ``None`` (CPU, float32).

    Shape:
        - Input: ``(*)``; with ``num_parameters > 1``, ``(N, C, *)`` with
          ``C = num_parameters``.
        - Output: the shape of the input.

    Attributes:
        weight: the learnable slopes, shape ``(num_parameters,)``.

    Example::

        >>> m = nn.PReLU()
        >>> m(tn.tensor([-4.0, 2.0])).tolist()
        [-1.0, 2.0]
        >>> m = nn.PReLU(num_parameters=3)
        >>> m(tn.randn(2, 3, 5)).shape
        (2, 3, 5)
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
