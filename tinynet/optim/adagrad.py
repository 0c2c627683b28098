"""Adagrad: per-coordinate learning rates from the sum of squared gradients."""
from tinynet.backend import get_array_module
from tinynet.optim._checks import check_nonneg
from tinynet.optim.optimizer import Optimizer


class Adagrad(Optimizer):
    """Adagrad: per-coordinate steps shrinking with the sum of squared gradients.

    PyTorch's ``torch.optim.Adagrad`` (Duchi et al., 2011): each coordinate's
    step is divided by the root of the sum of all its squared gradients so
    far, so often-updated coordinates slow down.

    Per step ``t``, with ``g`` the gradient (negated when ``maximize``)::

        g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g                     (s starts at initial_accumulator_value)
        p = p - clr * g / (sqrt(s) + eps)

    State per parameter: ``step`` (int) and ``sum`` (s), created when the
    optimizer is built, as in PyTorch.

    Args:
        params (iterable): the Tensors to optimize, or dicts defining
            parameter groups (``{'params': [...], 'lr': ...}``), each group
            with its own options.
        lr (float, optional): the learning rate. Default: ``1e-2``.
        lr_decay (float, optional): the learning rate's decay per step.
            Default: ``0``.
        weight_decay (float, optional): L2 penalty: ``weight_decay * p`` is
            added to the gradient. Default: ``0``.
        initial_accumulator_value (float, optional): the starting value of
            ``s``. Default: ``0``.
        eps (float, optional): added to the denominator. Default: ``1e-10``.
        maximize (bool, optional, keyword only): maximize the objective
            (step along the gradient instead of against it). Default: ``False``.

    Example::

        >>> w = tn.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = optim.Adagrad([w], lr=0.5)
        >>> (w * w).sum().backward()                # gradient 2 * w
        >>> opt.step()                              # first step: lr * sign(g)
        >>> w.detach()
        tensor([ 0.5, -1.5])
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0,
                 initial_accumulator_value=0, eps=1e-10, *, maximize=False):
        check_nonneg("Adagrad", "learning rate", lr)
        check_nonneg("Adagrad", "lr_decay value", lr_decay)
        check_nonneg("Adagrad", "weight_decay value", weight_decay)
        check_nonneg("Adagrad", "initial_accumulator_value value", initial_accumulator_value)
        check_nonneg("Adagrad", "epsilon value", eps)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value,
                        maximize=maximize)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p, group):
        xp = get_array_module(p.array)
        value = float(group["initial_accumulator_value"])
        state = self.state[p] = {"step": 0, "sum": xp.full_like(p.array, value)}
        return state

    def _update(self, group):
        lr, lr_decay, eps = float(group["lr"]), float(group["lr_decay"]), float(group["eps"])
        for p, x, g, xp in self._params_with_grads(group):
            state = self.state.get(p) or self._init_state(p, group)
            state["step"] = t = state["step"] + 1

            clr = lr / (1.0 + (t - 1) * lr_decay)
            s = state["sum"]
            tmp = xp.multiply(g, g, out=xp.empty_like(x))     # an array even when 0-d
            s += tmp
            xp.sqrt(s, out=tmp)
            tmp += eps
            xp.divide(g, tmp, out=tmp)
            tmp *= clr
            x -= tmp
            p._vc[0] += 1
