"""Gradient clipping and flat parameter vectors (PyTorch's torch.nn.utils);
variable-length sequences in ``tinynet.nn.utils.rnn``."""
import math

from tinynet.autograd import no_grad
from tinynet.backend import get_array_module
from tinynet.nn.utils import rnn  # noqa: F401
from tinynet.ops.shape import cat, reshape
from tinynet.tensor import Tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                    foreach=None):
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    The norm is taken over all gradients as if concatenated into one vector
    (``norm_type`` may be ``inf``). Returns the total norm before clipping as a
    0-d Tensor.
    """
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not grads:
        return Tensor._wrap(0.0)
    xp = get_array_module(grads[0].array)
    with no_grad():
        # The norm and the factor stay arrays (float64, 0-d): on a GPU nothing
        # is read back to the host unless error_if_nonfinite asks for it, and
        # every gradient is multiplied, by 1 when there is nothing to clip.
        if math.isinf(norm_type):
            norms = [xp.abs(g.array).max() if g.numel() else xp.zeros((), g.dtype)
                     for g in grads]
            total = xp.max(xp.stack([xp.asarray(n, dtype=xp.float64) for n in norms]))
        else:
            total = sum(xp.sum(xp.abs(g.array.astype(xp.float64)) ** norm_type)
                        for g in grads) ** (1.0 / norm_type)
        if error_if_nonfinite and not math.isfinite(float(total)):
            raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                               f"gradients is {float(total)}; set error_if_nonfinite=False "
                               "to skip this check")
        # the small epsilon keeps the division finite for all-zero gradients
        coef = xp.minimum(max_norm / (total + 1e-6), 1.0)
        for g in grads:
            g.array *= coef.astype(g.dtype)
            g._vc[0] += 1
    return Tensor._wrap(xp.asarray(total, dtype=grads[0].dtype))


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element into [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        xp = get_array_module(g.array)
        xp.clip(g.array, -clip_value, clip_value, out=g.array)
        g._vc[0] += 1


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    return cat([reshape(p, (-1,)) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D ``vec`` into ``parameters`` in place."""
    if not isinstance(vec, Tensor) or vec.ndim != 1:
        raise TypeError(f"vector_to_parameters: expected a 1-D Tensor, got "
                        f"{type(vec).__name__} of shape {getattr(vec, 'shape', None)}")
    parameters = list(parameters)
    total = sum(p.numel() for p in parameters)
    if total != vec.numel():
        raise ValueError(f"vector_to_parameters: the vector has {vec.numel()} elements but "
                         f"the parameters have {total}")
    offset = 0
    with no_grad():
        for p in parameters:
            n = p.numel()
            p.array[...] = vec.array[offset:offset + n].reshape(p.shape)
            p._vc[0] += 1
            offset += n
