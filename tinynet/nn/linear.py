"""Linear, Identity, Flatten, Unflatten."""
import math

from tinynet.nn import init
from tinynet.nn.module import Module, Parameter
from tinynet.ops.nn_ops import linear
from tinynet.ops.shape import flatten, reshape, normalize_axis
from tinynet.tensor import empty


def _factory(device, dtype):
    return {"device": device, "dtype": dtype}


class Identity(Module):
    """A placeholder layer that returns its input unchanged.

    Useful to switch off a part of a model without changing its structure
    (for instance replacing a classifier head).

    Args:
        args, kwargs: any arguments, accepted and ignored.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Output: ``(*)``, the input itself.

    Example::

        >>> m = nn.Identity(54, unused="ignored")
        >>> x = tn.randn(128, 20)
        >>> m(x) is x
        True
    """

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """Affine map of the last dim: ``y = x @ weight.T + bias``.

    Args:
        in_features (int): size of the input's last dim.
        out_features (int): size of the output's last dim.
        bias (bool, optional): learn an additive bias. Default: ``True``.
        device, dtype (optional): where and in which floating dtype the
            parameters are created. Default: ``None`` (CPU, float32).

    Shape:
        - Input: ``(*, H_in)``, with ``H_in = in_features`` and ``*`` any
          number of leading dims (none included).
        - Output: ``(*, H_out)``, with ``H_out = out_features``.

    Attributes:
        weight: ``(out_features, in_features)``, initialised as in PyTorch with
            ``kaiming_uniform_(a=sqrt(5))``, which is ``U(-1/sqrt(in_features),
            1/sqrt(in_features))``.
        bias: ``(out_features,)``, drawn from the same range, or None when
            ``bias=False``.

    Example::

        >>> m = nn.Linear(20, 30)
        >>> m(tn.randn(128, 20)).shape
        (128, 30)
        >>> m.weight.shape, m.bias.shape
        ((30, 20), (30,))
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(empty(out_features, in_features, **_factory(device, dtype)))
        if bias:
            self.bias = Parameter(empty(out_features, **_factory(device, dtype)))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        return linear(input, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Merges the dims ``start_dim`` to ``end_dim`` (both included) into one.

    Its default keeps dim 0, the batch: a conv stack's ``(N, C, H, W)``
    output becomes ``(N, C * H * W)`` for a ``Linear`` layer. It returns a
    view where the memory layout allows one.

    Args:
        start_dim (int, optional): the first dim to merge. Default: ``1``.
        end_dim (int, optional): the last dim to merge. Default: ``-1``.

    Shape:
        - Input: ``(*_1, S_start, ..., S_end, *_2)``.
        - Output: ``(*_1, S_start * ... * S_end, *_2)``.

    Example::

        >>> m = nn.Flatten()
        >>> m(tn.randn(32, 1, 5, 5)).shape
        (32, 25)
        >>> nn.Flatten(0, 2)(tn.randn(32, 1, 5, 5)).shape
        (160, 5)
    """

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        return flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Splits dim ``dim`` into the sizes ``unflattened_size`` (undoes ``Flatten``).

    Args:
        dim (int): the dim to split.
        unflattened_size (tuple of int): the new sizes; their product must be
            the size of ``dim`` (one of them may be -1, inferred).

    Shape:
        - Input: ``(*_1, S, *_2)``, with ``S`` at ``dim``.
        - Output: ``(*_1, U_1, ..., U_n, *_2)``, with
          ``U_1 * ... * U_n = S``.

    Example::

        >>> m = nn.Unflatten(1, (2, 5, 5))
        >>> m(tn.randn(2, 50)).shape
        (2, 2, 5, 5)
    """

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, input):
        d = normalize_axis(self.dim, input.ndim, "Unflatten")
        return reshape(input, input.shape[:d] + self.unflattened_size + input.shape[d + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
