"""BatchNorm1d/2d, InstanceNorm1d/2d, LayerNorm, GroupNorm.

Parameter and buffer names are PyTorch's (weight, bias, running_mean,
running_var, num_batches_tracked), so state_dicts load both ways.
"""
import warnings

import numpy as np

from tinynet.nn import init
from tinynet.nn.module import Module, Parameter
from tinynet.ops.norm import batch_norm, group_norm, instance_norm, layer_norm
from tinynet.ops.shape import squeeze, unsqueeze
from tinynet.tensor import Tensor, describe, empty, ones, zeros


def _affine_parameters(module, shape, affine, bias, kw):
    """``weight`` and ``bias`` Parameters of ``shape`` (filled by
    ``_reset_affine``), or None for each one switched off."""
    module.register_parameter("weight", Parameter(empty(shape, **kw)) if affine else None)
    module.register_parameter("bias", Parameter(empty(shape, **kw)) if affine and bias
                              else None)


def _reset_affine(module):
    """weight = 1, bias = 0 (PyTorch's initial values), where they exist."""
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)


class _BatchNorm(Module):
    """Shared body of BatchNorm1d/2d; subclasses say which input ranks they take."""
    _ranks = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        kw = {"device": device, "dtype": dtype}
        _affine_parameters(self, num_features, affine, bias, kw)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, **kw))
            self.register_buffer("running_var", ones(num_features, **kw))
            self.register_buffer("num_batches_tracked",
                                 Tensor._wrap(np.array(0, dtype=np.int64)).to(device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self):
        """running_mean = 0, running_var = 1, num_batches_tracked = 0."""
        if self.track_running_stats:
            self.running_mean.array[...] = 0
            self.running_var.array[...] = 1
            self.num_batches_tracked.array[...] = 0

    def reset_parameters(self):
        self.reset_running_stats()
        _reset_affine(self)

    def _check_input(self, input):
        if input.ndim not in self._ranks:
            want = " or ".join(f"{r}D" for r in self._ranks)
            raise ValueError(f"{type(self).__name__}: expected {want} input, got "
                             f"{input.ndim}D input of shape {input.shape}")
        if input.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected {self.num_features} channels "
                             f"(dim 1), got input of shape {input.shape}")

    def forward(self, input):
        self._check_input(input)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.array += 1
            self.num_batches_tracked._vc[0] += 1
            if self.momentum is None:
                # cumulative moving average: the k-th batch gets weight 1/k
                momentum = 1.0 / float(self.num_batches_tracked.item())
        # batch statistics while training, or always when no running stats are kept
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return batch_norm(input, self.running_mean if track else None,
                          self.running_var if track else None, self.weight, self.bias,
                          use_batch, momentum, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs, per channel C."""
    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) inputs, per channel C."""
    _ranks = (4,)


class _InstanceNorm(_BatchNorm):
    """Shared body of InstanceNorm1d/2d: the parameters and buffers of the
    batch norms (so state_dicts match PyTorch's), other defaults and forward."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False,
                 track_running_stats=False, device=None, dtype=None, *, bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats,
                         device, dtype, bias=bias)

    def forward(self, input):
        name = type(self).__name__
        if input.ndim not in self._ranks:
            want = " or ".join(f"{r}D" for r in self._ranks)
            raise ValueError(f"{name}: expected {want} input, got {input.ndim}D input "
                             f"{describe(input)}")
        batched = input.ndim == self._ranks[1]
        if input.shape[1 if batched else 0] != self.num_features:
            message = (f"{name}: expected input's size at dim={1 if batched else 0} to "
                       f"match num_features ({self.num_features}), got input of shape "
                       f"{input.shape}")
            if self.affine:
                raise ValueError(message)
            # PyTorch only warns: without affine parameters num_features is unused
            warnings.warn(message + "; num_features is not used because affine=False",
                          stacklevel=2)
        x = input if batched else unsqueeze(input, 0)
        # PyTorch neither counts batches here nor supports momentum=None
        y = instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                          self.training or not self.track_running_stats,
                          0.0 if self.momentum is None else self.momentum, self.eps)
        return y if batched else squeeze(y, 0)


class InstanceNorm1d(_InstanceNorm):
    """Normalize each channel of each sample over its length.

    Shape: (N, C, L) or unbatched (C, L) -> same. By default no affine
    parameters and no running statistics (PyTorch's defaults).
    """
    _ranks = (2, 3)


class InstanceNorm2d(_InstanceNorm):
    """Normalize each channel of each sample over H and W.

    Shape: (N, C, H, W) or unbatched (C, H, W) -> same. By default no affine
    parameters and no running statistics (PyTorch's defaults).
    """
    _ranks = (3, 4)


class LayerNorm(Module):
    """Normalize over the trailing ``normalized_shape`` dims, then scale and shift.

    Shape: input (*, normalized_shape) -> same; weight and bias (normalized_shape).
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        kw = {"device": device, "dtype": dtype}
        _affine_parameters(self, self.normalized_shape, elementwise_affine, bias, kw)
        self.reset_parameters()

    def reset_parameters(self):
        _reset_affine(self)

    def forward(self, input):
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(Module):
    """Normalize groups of channels. Shape: (N, C, *) -> same, C % num_groups == 0."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None,
                 dtype=None, *, bias=True):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible "
                             f"by num_groups ({num_groups})")
        self.num_groups, self.num_channels = num_groups, num_channels
        self.eps, self.affine = eps, affine
        kw = {"device": device, "dtype": dtype}
        _affine_parameters(self, num_channels, affine, bias, kw)
        self.reset_parameters()

    def reset_parameters(self):
        _reset_affine(self)

    def forward(self, input):
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: expected input (N, {self.num_channels}, *), got "
                             f"shape {input.shape}")
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
                f"affine={self.affine}, bias={self.bias is not None}")
