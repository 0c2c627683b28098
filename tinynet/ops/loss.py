"""Loss functions (PyTorch's names, arguments and reductions).

Every loss takes ``reduction`` in {'none', 'mean', 'sum'} (``kl_div`` also
'batchmean'). They are built on the numerically stable primitives
(log_softmax, softplus), so logits of +-1000 in float32 give finite losses
and gradients.

Shapes: ``N`` batch, ``C`` classes, ``d1, ...`` extra dims of dense
predictions (segmentation), ``*`` any shape.
"""
import numpy as np

from tinynet.autograd import Function, is_grad_enabled
from tinynet.backend import check_values, get_array_module, is_cupy_array
from tinynet.ops.elementwise import abs as abs_, clamp, exp, log, require_float, softplus, where
from tinynet.ops.reduce import log_softmax, mean, softmax, sum as sum_
from tinynet.ops.shape import movedim, reshape
from tinynet.tensor import Tensor, as_tensor, describe

_REDUCTIONS = ("none", "mean", "sum")


__all__ = [
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
    "huber_loss", "kl_div", "l1_loss", "mse_loss", "nll_loss", "smooth_l1_loss"
]


def _check_reduction(reduction, op, allowed=_REDUCTIONS):
    if reduction not in allowed:
        raise ValueError(f"{op}: reduction must be one of {allowed}, got {reduction!r}")


def _reduce(loss, reduction):
    if reduction == "mean":
        return mean(loss)
    if reduction == "sum":
        return sum_(loss)
    return loss


def _check_same_shape(input, target, op):
    if input.shape != target.shape:
        raise ValueError(f"{op}: target shape {target.shape} must match input shape "
                         f"{input.shape}; input {describe(input)}, target {describe(target)}")


def _float_target(target, input, op):
    target = as_tensor(target)
    if target.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point target, got {target.dtype} "
                        f"(input is {input.dtype})")
    return target


# ---------------------------------------------------------------- class-index losses
class NLL(Function):
    """loss_i = -weight[t_i] * logp[i, t_i] per row (0 for ignored rows).

    ``coef`` is the (M, C) array holding weight[t_i] at (i, t_i) and zeros
    elsewhere, so the backward is one multiply. The forward picks the target
    entries instead of multiplying by ``coef``, so a -inf log-probability of
    another class (a masked-out class) cannot turn the loss into nan.
    """

    def __init__(self, coef, target, w_rows):
        self.coef, self.target, self.w_rows = coef, target, w_rows

    def forward(self, logp):
        xp = get_array_module(logp)
        picked = logp[xp.arange(logp.shape[0]), self.target]
        return -(picked * self.w_rows)

    def backward(self, gy):
        return reshape(gy, (-1, 1)) * Tensor._wrap(-self.coef)


class CrossEntropyRows(Function):
    """log_softmax over the last axis and the weighted pick of NLL in
    one node: loss_i = -sum_c coef[i, c] * logp[i, c]; with ``reduce`` the
    rows are summed too.

    Fusing them saves the softmax round trip and several nodes on the most
    common training path (class-index targets without label smoothing).
    """

    def __init__(self, coef, reduce):
        self.coef, self.reduce = coef, reduce

    def forward(self, x):
        xp = get_array_module(x)
        shifted = x - x.max(axis=1, keepdims=True)
        logp = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        self.probs = xp.exp(logp)            # softmax, for backward
        # zero-coefficient classes drop out even where logp is -inf (0 * -inf = nan)
        rows = -(xp.where(self.coef != 0, logp, 0) * self.coef).sum(axis=1)
        return rows.sum() if self.reduce else rows

    def backward(self, gy):
        # d loss_i / d x_i = softmax(x_i) * sum_c coef[i, c] - coef[i]
        coef = self.coef
        gy_col = gy if self.reduce else reshape(gy, (-1, 1))
        if not is_grad_enabled():
            g = self.probs * coef.sum(axis=1, keepdims=True) - coef
            return Tensor._make(gy_col.array * g)
        probs = softmax(self.inputs[0], axis=1)
        return gy_col * (probs * Tensor._wrap(coef.sum(axis=1, keepdims=True)) - Tensor._wrap(coef))


def _class_dim_last(input):
    """(N, C, d1, ...) -> (N * d1 * ..., C); (C,) -> (1, C)."""
    if input.ndim == 2:
        return input
    if input.ndim == 1:
        return reshape(input, (1, -1))
    if input.ndim > 2:
        input = movedim(input, 1, -1)
    return reshape(input, (-1, input.shape[-1]))


def _check_index_target(input, target, op):
    target = as_tensor(target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: expected class-index target of integer dtype (int64), got "
                        f"{target.dtype}; for class probabilities pass a float target with "
                        f"the input's shape {input.shape}")
    expected = () if input.ndim == 1 else (input.shape[0],) + input.shape[2:]
    if target.shape != expected:
        raise ValueError(f"{op}: expected target of shape {expected} for input of shape "
                         f"{input.shape}, got {target.shape}")
    return target


def _nll_coef(target, C, weight, ignore_index, dtype, op):
    """The (M, C) coefficient array of NLL, the per-row weights and the
    targets with ignored entries replaced by class 0 (safe to index with)."""
    t = target.array.reshape(-1)
    xp = get_array_module(t)
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= C))
    # on a GPU the check waits for the next host read (see check_values)
    check_values(bad, lambda bad: IndexError(
        f"{op}: target value {int(t[bad][0])} is out of bounds for {C} classes (expected "
        f"0 <= target < {C} or ignore_index={ignore_index})"
        + (" (found on the GPU, raised at this later host read)" if xp is not np else "")))
    safe = xp.where(valid, t, 0)
    w_rows = valid.astype(dtype) if weight is None else (weight.array[safe] * valid).astype(dtype)
    coef = xp.zeros((t.shape[0], C), dtype=dtype)
    coef[xp.arange(t.shape[0]), safe] = w_rows
    return coef, w_rows, safe


def _check_weight(weight, C, op, input):
    if weight is None:
        return
    if weight.shape != (C,):
        raise ValueError(f"{op}: weight must have shape ({C},) (one per class), got "
                         f"{weight.shape}")
    if weight.dtype != input.dtype:
        raise TypeError(f"{op}: weight dtype {weight.dtype} must match input dtype "
                        f"{input.dtype}")


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log likelihood of log-probabilities ``input`` at class indices.

    Shape: input (N, C) or (N, C, d1, ...) or (C,); target (N) / (N, d1, ...) /
    () int64. 'mean' divides by the summed weights of the non-ignored targets.
    """
    _check_reduction(reduction, "nll_loss")
    if input.ndim < 1:
        raise ValueError(f"nll_loss: input must have a class dim, got shape {input.shape}")
    target = _check_index_target(input, target, "nll_loss")
    C = input.shape[0] if input.ndim == 1 else input.shape[1]
    _check_weight(weight, C, "nll_loss", input)
    coef, w_rows, safe = _nll_coef(target, C, weight, ignore_index, input.dtype, "nll_loss")
    loss = NLL(coef, safe, w_rows)(_class_dim_last(input))
    if reduction == "none":
        return reshape(loss, target.shape)
    if reduction == "sum":
        return sum_(loss)
    return _divide_by_weight(sum_(loss), w_rows.sum())


def _divide_by_weight(total, denom):
    """total / denom; an all-ignored batch (denom 0) gives a nan loss with zero
    gradients, as in PyTorch, instead of nan gradients from 0/0."""
    if is_cupy_array(denom):              # no host read of the GPU's sum
        safe, nan = _gpu_denominator(denom, total.dtype)
        return total / Tensor._wrap(safe) + Tensor._wrap(nan)
    denom = float(denom)
    if denom == 0:
        return total + float("nan")
    return total / total.dtype.type(denom)


def _gpu_denominator(denom, dtype):
    """(denom, or 1 where it is 0; nan where it is 0, else 0) as 0-d CuPy
    arrays of ``dtype``: the mean's division without reading ``denom`` back
    to the host, with the all-ignored batch's nan added as a constant."""
    xp = get_array_module(denom)
    zero = denom == 0
    return (xp.where(zero, 1, denom).astype(dtype),
            xp.where(zero, xp.nan, 0).astype(dtype))


def cross_entropy(input, target, weight=None, *, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """log_softmax over the class dim followed by nll_loss (PyTorch's F.cross_entropy).

    Shape: input (N, C), (N, C, d1, ...) or (C,); target either class indices
    (N) / (N, d1, ...) int64, or class probabilities with the input's shape.
    """
    _check_reduction(reduction, "cross_entropy")
    input = require_float(input, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}")
    if input.ndim < 1:
        raise ValueError(f"cross_entropy: input must have a class dim, got {input.shape}")
    class_dim = 0 if input.ndim == 1 else 1
    C = input.shape[class_dim]
    _check_weight(weight, C, "cross_entropy", input)
    target = as_tensor(target)
    if target.dtype.kind in "iu" and label_smoothing == 0.0:
        return _cross_entropy_fused(input, target, weight, ignore_index, reduction)
    logp = log_softmax(input, axis=class_dim)
    if target.dtype.kind == "f":
        return _cross_entropy_probs(logp, target, weight, reduction, label_smoothing,
                                    class_dim)
    loss = nll_loss(logp, target, weight, ignore_index, reduction)
    if label_smoothing == 0.0:
        return loss
    return (1 - label_smoothing) * loss + (label_smoothing / C) * _smooth_term(
        logp, target, weight, ignore_index, reduction, class_dim)


def _cross_entropy_fused(input, target, weight, ignore_index, reduction):
    """Class-index cross entropy through CrossEntropyRows (same result as
    nll_loss(log_softmax(input)))."""
    target = _check_index_target(input, target, "cross_entropy")
    C = input.shape[0] if input.ndim == 1 else input.shape[1]
    coef, w_rows, _ = _nll_coef(target, C, weight, ignore_index, input.dtype, "cross_entropy")
    x2 = _class_dim_last(input)
    if reduction == "none":
        return reshape(CrossEntropyRows(coef, False)(x2), target.shape)
    if reduction == "sum":
        return CrossEntropyRows(coef, True)(x2)
    if is_cupy_array(coef):
        # as below, without reading the sum of weights back to the host
        safe, nan = _gpu_denominator(w_rows.sum(), coef.dtype)
        return CrossEntropyRows(coef / safe, True)(x2) + Tensor._wrap(nan)
    denom = float(w_rows.sum())
    if denom == 0:
        return CrossEntropyRows(coef, True)(x2) + float("nan")   # all ignored: nan, as in PyTorch
    # fold the mean into the coefficients: one node, no division node
    return CrossEntropyRows(coef / coef.dtype.type(denom), True)(x2)


def _smooth_term(logp, target, weight, ignore_index, reduction, class_dim):
    """The uniform-target part of label smoothing: -sum_c weight_c * logp_c."""
    shape = [1] * logp.ndim
    shape[class_dim] = -1
    wlogp = logp if weight is None else logp * reshape(weight, tuple(shape))
    valid = target.array != ignore_index
    smooth = -sum_(wlogp, axis=class_dim) * Tensor._wrap(valid.astype(logp.dtype))
    if reduction == "none":
        return smooth
    if reduction == "sum":
        return sum_(smooth)
    if weight is None:
        denom = valid.sum()
    else:
        denom = weight.array[get_array_module(valid).where(valid, target.array, 0)][valid].sum()
    return _divide_by_weight(sum_(smooth), denom)


def _cross_entropy_probs(logp, target, weight, reduction, label_smoothing, class_dim):
    _check_same_shape(logp, target, "cross_entropy")
    if target.dtype != logp.dtype:
        raise TypeError(f"cross_entropy: probability target dtype {target.dtype} must "
                        f"match input dtype {logp.dtype}")
    C = logp.shape[class_dim]
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / C
    prod = logp * target
    if weight is not None:
        shape = [1] * logp.ndim
        shape[class_dim] = -1
        prod = prod * reshape(weight, tuple(shape))
    loss = -sum_(prod, axis=class_dim)
    if reduction == "mean":
        # probability targets average over samples (and extra dims), not weights
        return sum_(loss) / logp.dtype.type(max(loss.numel(), 1) if loss.ndim else 1)
    return _reduce(loss, reduction)


# ---------------------------------------------------------------- regression losses
def mse_loss(input, target, reduction="mean"):
    """(input - target)^2. Shape: input and target (*) of the same shape."""
    _check_reduction(reduction, "mse_loss")
    target = _float_target(target, input, "mse_loss")
    _check_same_shape(input, target, "mse_loss")
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input, target, reduction="mean"):
    """|input - target|. Shape: input and target (*) of the same shape."""
    _check_reduction(reduction, "l1_loss")
    target = _float_target(target, input, "l1_loss")
    _check_same_shape(input, target, "l1_loss")
    return _reduce(abs_(input - target), reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target)."""
    _check_reduction(reduction, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    target = _float_target(target, input, "smooth_l1_loss")
    _check_same_shape(input, target, "smooth_l1_loss")
    d = input - target
    ad = abs_(d)
    if beta == 0:
        return _reduce(ad, reduction)
    loss = where(ad.array < beta, (0.5 / beta) * d * d, ad - 0.5 * beta)
    return _reduce(loss, reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta); times ``weight``
    (of the input's shape) if given."""
    _check_reduction(reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    target = _float_target(target, input, "huber_loss")
    _check_same_shape(input, target, "huber_loss")
    if weight is not None and weight.shape != input.shape:
        raise ValueError(f"huber_loss: weight shape {weight.shape} must match input shape "
                         f"{input.shape}")
    d = input - target
    ad = abs_(d)
    loss = where(ad.array < delta, 0.5 * d * d, delta * (ad - 0.5 * delta))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


# ---------------------------------------------------------------- binary losses
def _clamped_log(xp, a):
    # PyTorch clamps each log at -100 so that p = 0 or 1 gives a finite loss
    with np.errstate(divide="ignore"):
        return xp.maximum(xp.log(a), a.dtype.type(-100))


class BinaryCrossEntropy(Function):
    """-(t log p + (1 - t) log(1 - p)) with logs clamped at -100, pointwise."""

    def forward(self, p, t):
        xp = get_array_module(p)
        return -(t * _clamped_log(xp, p) + (1 - t) * _clamped_log(xp, 1 - p))

    def backward(self, gy):
        p, t = self.inputs
        gp = gt = None
        if p.requires_grad:
            # (p - t) / (p (1 - p)), the denominator kept away from 0 as PyTorch does
            gp = gy * (p - t) / clamp((1 - p) * p, min=1e-12)
        if t.requires_grad:
            gt = gy * (clamp(log(1 - p), min=-100.0) - clamp(log(p), min=-100.0))
        return gp, gt


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """-w (t log p + (1 - t) log(1 - p)) for probabilities ``input`` in [0, 1].

    Each log is clamped at -100 as in PyTorch, so p = 0 or 1 gives a finite loss.
    """
    _check_reduction(reduction, "binary_cross_entropy")
    target = _float_target(target, input, "binary_cross_entropy")
    _check_same_shape(input, target, "binary_cross_entropy")
    # on a GPU the checks wait for the next host read (see check_values); NaN
    # fails them, as in PyTorch
    for name, a in (("input", input.array), ("target", target.array)):
        check_values(~((a >= 0) & (a <= 1)), lambda bad, name=name, a=a: ValueError(
            f"binary_cross_entropy: all elements of {name} should be between 0 and 1, got "
            f"values in [{float(a.min())}, {float(a.max())}]"))
    loss = BinaryCrossEntropy()(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """Sigmoid + binary cross entropy in one stable formula.

    loss = (1 - t) x + (1 + (pos_weight - 1) t) softplus(-x); softplus never
    overflows, so logits of +-1000 are fine. ``pos_weight`` broadcasts over the
    last (class) dim.
    """
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    target = _float_target(target, input, "binary_cross_entropy_with_logits")
    _check_same_shape(input, target, "binary_cross_entropy_with_logits")
    sp = softplus(-input)
    if pos_weight is None:
        loss = (1 - target) * input + sp
    else:
        loss = (1 - target) * input + (1 + (pos_weight - 1) * target) * sp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


# ---------------------------------------------------------------- kl_div
def kl_div(input, target, reduction="mean", log_target=False):
    """KL(target || exp(input)) pointwise: target (log target - input).

    ``input`` holds log-probabilities; ``target`` probabilities (or
    log-probabilities with ``log_target``). 'batchmean' divides the sum by
    the batch size (the mathematically correct KL); 'mean' by the element count.
    """
    _check_reduction(reduction, "kl_div", _REDUCTIONS + ("batchmean",))
    target = _float_target(target, input, "kl_div")
    _check_same_shape(input, target, "kl_div")
    if log_target:
        loss = exp(target) * (target - input)
    else:
        # 0 * log 0 = 0: take the log of 1 where target is 0 to keep it finite;
        # only exact zeros: a NaN or negative target gives NaN, as in PyTorch
        nonzero = target.array != 0
        safe = where(nonzero, target, 1.0)
        loss = where(nonzero, target * (log(safe) - input), 0.0)
    if reduction == "batchmean":
        batch = input.shape[0] if input.ndim else 1
        return sum_(loss) / input.dtype.type(batch)
    return _reduce(loss, reduction)

