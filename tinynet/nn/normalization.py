"""BatchNorm1d/2d, InstanceNorm1d/2d, LayerNorm, GroupNorm.

Parameter and buffer names are PyTorch's (weight, bias, running_mean,
running_var, num_batches_tracked), so state_dicts load both ways.
"""
import warnings

import numpy as np

from tinynet.nn import init
from tinynet.nn.module import Module, Parameter
from tinynet.ops.normalization import batch_norm, group_norm, instance_norm, layer_norm
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
    """Batch normalization of ``(N, C)`` or ``(N, C, L)`` inputs, per channel.

    Ioffe & Szegedy, 2015.

    In training mode every channel is normalized with the mean and the
    biased variance of the batch over all dims but the channel dim:
    ``y = (x - mean) / sqrt(var + eps) * weight + bias``. The running averages
    (``running_mean``, ``running_var``, the latter from the unbiased
    variance) are updated, and used instead in eval mode (``model.eval()``).

    Args:
        num_features (int): the number of channels ``C``.
        eps (float, optional): added to the variance before the square root.
            Default: ``1e-5``.
        momentum (float, optional): the weight of the new batch in the running
            averages, ``running = (1 - momentum) * running + momentum * batch``;
            ``None`` gives a plain cumulative average over all batches seen.
            Default: ``0.1``.
        affine (bool, optional): learn ``weight`` and ``bias``. Default: ``True``.
        track_running_stats (bool, optional): keep running averages and use
            them in eval mode; if False, batch statistics are used in both
            modes. Default: ``True``.
        device, dtype (optional): where and in which floating dtype the
            parameters and buffers are created. Default: ``None`` (CPU, float32).
        bias (bool, optional, keyword only): learn ``bias`` (with ``affine``).
            Default: ``True``.

    Shape:
        - Input: ``(N, C)`` or ``(N, C, L)``.
        - Output: the shape of the input.

    Attributes:
        weight, bias: ``(C,)`` learnable scale (starts at 1) and shift (starts
            at 0), or None without ``affine``.
        running_mean, running_var: ``(C,)`` buffers, starting at 0 and 1
            (None without ``track_running_stats``).
        num_batches_tracked: a 0-dim int64 buffer counting training batches.

    Example::

        >>> m = nn.BatchNorm1d(2)
        >>> x = tn.tensor([[1.0, 10.0], [3.0, 30.0]])
        >>> m(x).detach()
        tensor([[-0.999995, -1.      ],
                [ 0.999995,  1.      ]])
        >>> m.running_mean, m.running_var
        (tensor([0.2, 2. ]), tensor([ 1.1, 20.9]))
        >>> nn.BatchNorm1d(100, affine=False)(tn.randn(20, 100, 7)).shape
        (20, 100, 7)
    """
    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of ``(N, C, H, W)`` inputs, per channel.

    Ioffe & Szegedy, 2015. The statistics are taken over ``N``, ``H`` and ``W``.

    In training mode every channel is normalized with the mean and the
    biased variance of the batch over all dims but the channel dim:
    ``y = (x - mean) / sqrt(var + eps) * weight + bias``. The running averages
    (``running_mean``, ``running_var``, the latter from the unbiased
    variance) are updated, and used instead in eval mode (``model.eval()``).

    Args:
        num_features (int): the number of channels ``C``.
        eps (float, optional): added to the variance before the square root.
            Default: ``1e-5``.
        momentum (float, optional): the weight of the new batch in the running
            averages, ``running = (1 - momentum) * running + momentum * batch``;
            ``None`` gives a plain cumulative average over all batches seen.
            Default: ``0.1``.
        affine (bool, optional): learn ``weight`` and ``bias``. Default: ``True``.
        track_running_stats (bool, optional): keep running averages and use
            them in eval mode; if False, batch statistics are used in both
            modes. Default: ``True``.
        device, dtype (optional): where and in which floating dtype the
            parameters and buffers are created. Default: ``None`` (CPU, float32).
        bias (bool, optional, keyword only): learn ``bias`` (with ``affine``).
            Default: ``True``.

    Shape:
        - Input: ``(N, C, H, W)``.
        - Output: the shape of the input.

    Attributes:
        weight, bias: ``(C,)`` learnable scale (starts at 1) and shift (starts
            at 0), or None without ``affine``.
        running_mean, running_var: ``(C,)`` buffers, starting at 0 and 1
            (None without ``track_running_stats``).
        num_batches_tracked: a 0-dim int64 buffer counting training batches.

    Example::

        >>> m = nn.BatchNorm2d(16)
        >>> y = m(tn.randn(8, 16, 5, 5) * 3 + 1)
        >>> y.shape
        (8, 16, 5, 5)
        >>> mean = y.mean((0, 2, 3))
        >>> bool((mean.abs() < 1e-5).all())
        True
        >>> m.eval()(tn.randn(1, 16, 5, 5)).shape       # running statistics now
        (1, 16, 5, 5)
    """
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
    """Instance normalization of ``(N, C, L)`` inputs.

    Ulyanov et al., 2016: each channel of each sample is normalized over its
    length, ``y = (x - mean) / sqrt(var + eps)``, then scaled and shifted
    when ``affine``.

    Unlike ``BatchNorm1d`` the statistics never mix samples. The defaults
    (no affine parameters, no running statistics) are PyTorch's.

    Args:
        num_features (int): the number of channels ``C``.
        eps (float, optional): added to the variance before the square root.
            Default: ``1e-5``.
        momentum (float, optional): the weight of the new value in the
            running averages (used only with ``track_running_stats``).
            Default: ``0.1``.
        affine (bool, optional): learn a per-channel ``weight`` and ``bias``.
            Default: ``False``.
        track_running_stats (bool, optional): keep running averages of the
            per-instance statistics and use them in eval mode.
            Default: ``False``.
        device, dtype (optional): where and in which floating dtype the
            parameters and buffers are created. Default: ``None`` (CPU, float32).
        bias (bool, optional, keyword only): learn ``bias`` (with ``affine``).
            Default: ``True``.

    Shape:
        - Input: ``(N, C, L)`` or unbatched ``(C, L)``.
        - Output: the shape of the input.

    Example::

        >>> m = nn.InstanceNorm1d(3)
        >>> y = m(tn.randn(4, 3, 10) * 5 + 2)
        >>> y.shape
        (4, 3, 10)
        >>> bool((y.mean(2).abs() < 1e-5).all())
        True
    """
    _ranks = (2, 3)


class InstanceNorm2d(_InstanceNorm):
    """Instance normalization of ``(N, C, H, W)`` inputs.

    Ulyanov et al., 2016: each channel of each sample is normalized over its
    ``H`` and ``W``, ``y = (x - mean) / sqrt(var + eps)``, then scaled and
    shifted when ``affine``.

    The statistics never mix samples (useful for style transfer, where each
    image's contrast should not depend on the batch). The defaults (no affine
    parameters, no running statistics) are PyTorch's.

    Args:
        num_features (int): the number of channels ``C``.
        eps (float, optional): added to the variance before the square root.
            Default: ``1e-5``.
        momentum (float, optional): the weight of the new value in the
            running averages (used only with ``track_running_stats``).
            Default: ``0.1``.
        affine (bool, optional): learn a per-channel ``weight`` and ``bias``.
            Default: ``False``.
        track_running_stats (bool, optional): keep running averages of the
            per-instance statistics and use them in eval mode.
            Default: ``False``.
        device, dtype (optional): where and in which floating dtype the
            parameters and buffers are created. Default: ``None`` (CPU, float32).
        bias (bool, optional, keyword only): learn ``bias`` (with ``affine``).
            Default: ``True``.

    Shape:
        - Input: ``(N, C, H, W)`` or unbatched ``(C, H, W)``.
        - Output: the shape of the input.

    Example::

        >>> m = nn.InstanceNorm2d(3, affine=True)
        >>> m(tn.randn(2, 3, 8, 8)).shape
        (2, 3, 8, 8)
        >>> m.weight.shape
        (3,)
    """
    _ranks = (3, 4)


class LayerNorm(Module):
    """Layer normalization over the trailing ``normalized_shape`` dims.

    Ba et al., 2016: each sample is normalized over those dims, then scaled
    and shifted per element: ``y = (x - mean) / sqrt(var + eps) * weight + bias``.

    The variance is the biased one. The statistics are per sample, so the
    layer behaves the same in training and eval mode.

    Args:
        normalized_shape (int or tuple): the trailing dims to normalize over,
            e.g. ``C`` for ``(N, L, C)`` token features or ``(C, H, W)`` for
            whole images.
        eps (float, optional): added to the variance before the square root.
            Default: ``1e-5``.
        elementwise_affine (bool, optional): learn ``weight`` and ``bias``.
            Default: ``True``.
        bias (bool, optional): learn ``bias`` (with ``elementwise_affine``).
            Default: ``True``.
        device, dtype (optional): where and in which floating dtype the
            parameters are created. Default: ``None`` (CPU, float32).

    Shape:
        - Input: ``(*, *normalized_shape)``.
        - Output: the shape of the input.

    Attributes:
        weight, bias: of shape ``normalized_shape``, starting at 1 and 0
            (None without ``elementwise_affine``).

    Example::

        >>> m = nn.LayerNorm(4)
        >>> m(tn.tensor([[1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 2.0, 2.0]])).detach()
        tensor([[-1.3416355 , -0.44721183,  0.44721183,  1.3416355 ],
                [ 0.        ,  0.        ,  0.        ,  0.        ]])
        >>> nn.LayerNorm((5, 10, 10))(tn.randn(20, 5, 10, 10)).shape
        (20, 5, 10, 10)
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
    """Group normalization over groups of channels.

    Wu & He, 2018: the channels are split into ``num_groups`` groups, and
    each group of each sample is normalized over its channels and spatial
    dims; then a per-channel scale and shift.

    ``num_groups=1`` normalizes every sample over all of its values (like
    ``LayerNorm`` over ``(C, *)`` but with per-channel affine parameters);
    ``num_groups=C`` is instance normalization. The statistics never mix
    samples, so small batches are fine.

    Args:
        num_groups (int): the number of groups; must divide ``num_channels``.
        num_channels (int): the number of channels ``C``.
        eps (float, optional): added to the variance before the square root.
            Default: ``1e-5``.
        affine (bool, optional): learn a per-channel ``weight`` and ``bias``.
            Default: ``True``.
        device, dtype (optional): where and in which floating dtype the
            parameters are created. Default: ``None`` (CPU, float32).
        bias (bool, optional, keyword only): learn ``bias`` (with ``affine``).
            Default: ``True``.

    Shape:
        - Input: ``(N, C, *)``.
        - Output: the shape of the input.

    Attributes:
        weight, bias: ``(C,)``, starting at 1 and 0 (None without ``affine``).

    Example::

        >>> m = nn.GroupNorm(3, 6)
        >>> m(tn.randn(20, 6, 10, 10)).shape
        (20, 6, 10, 10)
    """

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
