"""Adadelta: step sizes from running averages of squared gradients and updates."""
from tinynet.optim._checks import check_nonneg
from tinynet.optim.optimizer import Optimizer


class Adadelta(Optimizer):
    """Adadelta: steps sized by running RMS of past updates over past gradients.

    PyTorch's ``torch.optim.Adadelta`` (Zeiler, 2012): the ratio of the two
    running RMS values gives each step the parameter's units.

    Per step, with ``g`` the gradient (negated when ``maximize``)::

        g = g + weight_decay * p
        v = rho * v + (1 - rho) * g * g
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta * delta
        p = p - lr * delta

    State per parameter: ``step`` (int), ``square_avg`` (v), ``acc_delta`` (u).

    Args:
        params (iterable): the Tensors to optimize, or dicts defining
            parameter groups (``{'params': [...], 'lr': ...}``), each group
            with its own options.
        lr (float, optional): scales ``delta`` before it is applied.
            Default: ``1.0``.
        rho (float, optional): the decay of both running averages, in [0, 1].
            Default: ``0.9``.
        eps (float, optional): keeps both roots away from 0. Default: ``1e-6``.
        weight_decay (float, optional): L2 penalty: ``weight_decay * p`` is
            added to the gradient. Default: ``0``.
        foreach (optional): accepted for PyTorch compatibility and ignored
            (tinynet has one implementation). Default: ``None``.
        maximize (bool, optional, keyword only): maximize the objective
            (step along the gradient instead of against it). Default: ``False``.

    Example::

        >>> w = tn.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = optim.Adadelta([w], rho=0.0, eps=1e-8)
        >>> (w * w).sum().backward()                # gradient 2 * w
        >>> opt.step()                              # rho = 0: delta = 1e-4 * sign(g)
        >>> w.detach()
        tensor([ 0.9999, -1.9999])
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 maximize=False):
        check_nonneg("Adadelta", "learning rate", lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Adadelta: invalid rho value: {rho} (expected 0 <= rho <= 1)")
        check_nonneg("Adadelta", "epsilon value", eps)
        check_nonneg("Adadelta", "weight_decay value", weight_decay)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, group):
        lr, rho, eps = float(group["lr"]), float(group["rho"]), float(group["eps"])
        for p, x, g, xp in self._params_with_grads(group):
            state = self.state.get(p)
            if state is None:
                state = self.state[p] = {"step": 0, "square_avg": xp.zeros_like(x),
                                         "acc_delta": xp.zeros_like(x)}
            state["step"] += 1
            v, u = state["square_avg"], state["acc_delta"]

            v *= rho
            v += (1.0 - rho) * (g * g)
            delta = xp.sqrt(u + eps)
            delta /= xp.sqrt(v + eps)
            delta *= g
            u *= rho
            u += (1.0 - rho) * (delta * delta)
            delta *= lr
            x -= delta
            p._vc[0] += 1
