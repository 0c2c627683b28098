"""Loss modules: each stores its options and calls the functional loss."""
from tinynet.nn.module import Module
from tinynet.ops import loss as L


class _Loss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        L._check_reduction(reduction, type(self).__name__,
                           L._REDUCTIONS + (("batchmean",) if isinstance(self, KLDivLoss)
                                            else ()))
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction)
        # a buffer, as in PyTorch: it follows .to() and appears in the state_dict
        self.register_buffer("weight", weight)


class CrossEntropyLoss(_WeightedLoss):
    """Cross entropy between class scores (logits) and targets.

    It is ``log_softmax`` over the class dim followed by ``NLLLoss``, in one
    stable step.

    For a class-index target ``t`` the loss of a sample is
    ``-weight[t] * log(softmax(x)[t])``. A target may also hold class
    probabilities, of the input's shape; the loss is then
    ``-sum_c weight[c] * p[c] * log(softmax(x)[c])``. With ``label_smoothing``
    the target becomes ``(1 - label_smoothing) * target + label_smoothing / C``.

    Args:
        weight (Tensor, optional): a rescaling weight per class, shape
            ``(C,)``. Default: ``None`` (all 1).
        ignore_index (int, optional): samples whose class-index target equals
            it contribute neither loss nor gradient, and do not count in the
            mean. Default: ``-100``.
        reduction (str, optional): ``'none'``, ``'mean'`` or ``'sum'``. With
            class indices, ``'mean'`` divides by the summed weights of the
            counted samples. Default: ``'mean'``.
        label_smoothing (float, optional): in [0, 1]; how much of the target
            is spread evenly over all classes. Default: ``0.0``.

    Shape:
        - Input: ``(N, C)``, ``(C,)`` or ``(N, C, d_1, ..., d_K)``; ``C`` the
          number of classes.
        - Target: class indices (int64) ``(N,)``, ``()`` or
          ``(N, d_1, ..., d_K)`` with values in ``[0, C)``; or class
          probabilities of the input's shape and dtype.
        - Output: a 0-dim scalar, or the target's shape (without ``C``) with
          ``reduction='none'``.

    Example::

        >>> loss = nn.CrossEntropyLoss()
        >>> logits = tn.zeros(2, 4, requires_grad=True)
        >>> out = loss(logits, tn.tensor([0, 3]))
        >>> round(out.item(), 6)                 # log(4): all four classes equally likely
        1.386294
        >>> out.backward()
        >>> logits.grad
        tensor([[-0.375,  0.125,  0.125,  0.125],
                [ 0.125,  0.125,  0.125, -0.375]])
        >>> per_position = nn.CrossEntropyLoss(reduction="none")
        >>> per_position(tn.randn(3, 5, 7), tn.zeros(3, 7, dtype=tn.int64)).shape
        (3, 7)
    """

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(weight, reduction)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):
        return L.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log likelihood of log-probabilities at the target classes.

    The loss of a sample with target ``t`` is ``-weight[t] * input[t]``.

    The input holds log-probabilities, for instance from ``nn.LogSoftmax``;
    ``nn.CrossEntropyLoss`` is ``LogSoftmax`` plus this loss in one step.

    Args:
        weight (Tensor, optional): a rescaling weight per class, shape
            ``(C,)``. Default: ``None`` (all 1).
        ignore_index (int, optional): samples whose target equals it
            contribute neither loss nor gradient, and do not count in the
            mean. Default: ``-100``.
        reduction (str, optional): ``'none'``, ``'mean'`` (divided by the
            summed weights of the counted samples) or ``'sum'``.
            Default: ``'mean'``.

    Shape:
        - Input: ``(N, C)``, ``(C,)`` or ``(N, C, d_1, ..., d_K)``.
        - Target: int64 class indices ``(N,)``, ``()`` or
          ``(N, d_1, ..., d_K)``, values in ``[0, C)``.
        - Output: a 0-dim scalar, or the target's shape with
          ``reduction='none'``.

    Example::

        >>> loss = nn.NLLLoss()
        >>> logp = tn.tensor([[-1.0, -2.0], [-3.0, -4.0]])
        >>> loss(logp, tn.tensor([1, 0]))
        tensor(2.5)
        >>> nn.NLLLoss(reduction="none")(logp, tn.tensor([1, 0]))
        tensor([2., 3.])
    """

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return L.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class MSELoss(_Loss):
    """Mean squared error: the loss of each element is ``(input - target) ** 2``.

    Args:
        reduction (str, optional): ``'none'`` (one loss per element),
            ``'mean'`` (their mean) or ``'sum'``. Default: ``'mean'``.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Target: ``(*)``, the shape of the input.
        - Output: a 0-dim scalar, or ``(*)`` with ``reduction='none'``.

    Example::

        >>> loss = nn.MSELoss()
        >>> loss(tn.tensor([1.0, 2.0]), tn.tensor([1.0, 4.0]))
        tensor(2.)
    """

    def forward(self, input, target):
        return L.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """Mean absolute error: the loss of each element is ``|input - target|``.

    Args:
        reduction (str, optional): ``'none'`` (one loss per element),
            ``'mean'`` (their mean) or ``'sum'``. Default: ``'mean'``.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Target: ``(*)``, the shape of the input.
        - Output: a 0-dim scalar, or ``(*)`` with ``reduction='none'``.

    Example::

        >>> loss = nn.L1Loss(reduction="sum")
        >>> loss(tn.tensor([1.0, 2.0, 3.0]), tn.tensor([1.0, 4.0, 2.0]))
        tensor(3.)
    """

    def forward(self, input, target):
        return L.l1_loss(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    """An L1 loss with a quadratic bottom, elementwise.

    For ``d = input - target`` each element's loss is ``0.5 * d**2 / beta``
    where ``|d| < beta``, else ``|d| - 0.5 * beta``.

    Less sensitive to outliers than ``MSELoss``, smoother at 0 than
    ``L1Loss``. ``HuberLoss`` is the same curve multiplied by ``beta``.

    Args:
        reduction (str, optional): ``'none'`` (one loss per element),
            ``'mean'`` (their mean) or ``'sum'``. Default: ``'mean'``.
        beta (float, optional): where the quadratic part meets the linear
            part. Default: ``1.0``.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Target: ``(*)``, the shape of the input.
        - Output: a 0-dim scalar, or ``(*)`` with ``reduction='none'``.

    Example::

        >>> loss = nn.SmoothL1Loss(reduction="none")
        >>> loss(tn.tensor([0.5, 3.0]), tn.tensor([0.0, 0.0]))
        tensor([0.125, 2.5  ])
    """

    def __init__(self, reduction="mean", beta=1.0):
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input, target):
        return L.smooth_l1_loss(input, target, self.reduction, self.beta)


class HuberLoss(_Loss):
    """Huber loss: quadratic for small errors, linear for large ones.

    For ``d = input - target`` each element's loss is ``0.5 * d**2`` where
    ``|d| < delta``, else ``delta * (|d| - 0.5 * delta)``.

    Quadratic near 0, linear (with slope ``delta``) for large errors.

    Args:
        reduction (str, optional): ``'none'`` (one loss per element),
            ``'mean'`` (their mean) or ``'sum'``. Default: ``'mean'``.
        delta (float, optional): where the quadratic part meets the linear
            part. Default: ``1.0``.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Target: ``(*)``, the shape of the input.
        - Output: a 0-dim scalar, or ``(*)`` with ``reduction='none'``.

    Example::

        >>> loss = nn.HuberLoss(reduction="none", delta=2.0)
        >>> loss(tn.tensor([0.5, 3.0]), tn.tensor([0.0, 0.0]))
        tensor([0.125, 4.   ])
    """

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input, target):
        return L.huber_loss(input, target, self.reduction, self.delta)


class BCELoss(_WeightedLoss):
    """Binary cross entropy between probabilities and targets.

    Each element's loss is ``-weight * (t * log(p) + (1 - t) * log(1 - p))``.

    The input must hold probabilities in [0, 1] (for instance a sigmoid's
    output); each log is clamped at -100, so ``p = 0`` or ``1`` gives a finite
    loss. ``BCEWithLogitsLoss`` takes logits and is more stable.

    Args:
        weight (Tensor, optional): a weight per element, broadcast against
            the input. Default: ``None``.
        reduction (str, optional): ``'none'``, ``'mean'`` or ``'sum'``.
            Default: ``'mean'``.

    Shape:
        - Input: ``(*)``, probabilities.
        - Target: ``(*)``, the input's shape, values in [0, 1].
        - Output: a 0-dim scalar, or ``(*)`` with ``reduction='none'``.

    Example::

        >>> loss = nn.BCELoss()
        >>> p = tn.tensor([0.5, 0.5])
        >>> loss(p, tn.tensor([1.0, 0.0]))            # log(2)
        tensor(0.6931472)
    """

    def forward(self, input, target):
        return L.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid and binary cross entropy in one numerically stable loss.

    For a logit ``x`` and a target ``t`` each element's loss is
    ``-weight * (pos_weight * t * log(sigmoid(x)) + (1 - t) * log(1 - sigmoid(x)))``.

    It is computed as ``(1 - t) * x + (1 + (pos_weight - 1) * t) * softplus(-x)``,
    which never overflows, so logits of any size are fine.

    Args:
        weight (Tensor, optional): a weight per element, broadcast against
            the input. Default: ``None``.
        reduction (str, optional): ``'none'``, ``'mean'`` or ``'sum'``.
            Default: ``'mean'``.
        pos_weight (Tensor, optional): a weight for the positive term, one
            per class (broadcast over the last dim); above 1 it raises recall.
            Default: ``None`` (1).

    Shape:
        - Input: ``(*)``, logits.
        - Target: ``(*)``, the input's shape, values in [0, 1].
        - Output: a 0-dim scalar, or ``(*)`` with ``reduction='none'``.

    Example::

        >>> loss = nn.BCEWithLogitsLoss()
        >>> loss(tn.zeros(3), tn.tensor([1.0, 0.0, 1.0]))   # log(2)
        tensor(0.6931472)
        >>> per_element = nn.BCEWithLogitsLoss(reduction="none")
        >>> per_element(tn.tensor([1000.0, -1000.0]), tn.tensor([1.0, 0.0]))
        tensor([0., 0.])
    """

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return L.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction,
                                                  self.pos_weight)


class KLDivLoss(_Loss):
    """Kullback-Leibler divergence of the input distribution from the target one.

    The input holds log-probabilities; each element's loss is
    ``target * (log(target) - input)`` (0 where the target is 0).

    Args:
        reduction (str, optional): ``'none'``, ``'sum'``, ``'mean'`` (divided
            by the number of elements) or ``'batchmean'`` (divided by the
            batch size, dim 0: the true KL divergence per sample, and the one
            to use). Default: ``'mean'``.
        log_target (bool, optional): the target holds log-probabilities too;
            the loss is then ``exp(target) * (target - input)``.
            Default: ``False``.

    Shape:
        - Input: ``(*)``, log-probabilities.
        - Target: ``(*)``, the input's shape.
        - Output: a 0-dim scalar, or ``(*)`` with ``reduction='none'``.

    Example::

        >>> loss = nn.KLDivLoss(reduction="batchmean")
        >>> logq = tn.tensor([[0.25, 0.75]]).log()
        >>> loss(logq, tn.tensor([[0.25, 0.75]]))
        tensor(0.)
        >>> loss(logq, tn.tensor([[1.0, 0.0]]))       # log(1 / 0.25)
        tensor(1.3862944)
    """

    def __init__(self, reduction="mean", log_target=False):
        super().__init__(reduction)
        self.log_target = log_target

    def forward(self, input, target):
        return L.kl_div(input, target, self.reduction, self.log_target)
