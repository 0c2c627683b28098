"""RMSprop, with optional momentum and the centered variant."""
from tinynet.kernels import rmsprop as KR
from tinynet.optim._checks import check_nonneg
from tinynet.optim.optimizer import Optimizer


class RMSprop(Optimizer):
    """RMSprop: the gradient divided by its running root mean square.

    PyTorch's ``torch.optim.RMSprop`` (Hinton's lecture 6e).

    Per step, with ``g`` the gradient (negated when ``maximize``)::

        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        avg = sqrt(v - gbar**2) + eps,  gbar = alpha * gbar + (1 - alpha) * g   (centered)
        avg = sqrt(v) + eps                                                    (otherwise)
        buf = momentum * buf + g / avg;  p = p - lr * buf     (momentum > 0)
        p = p - lr * g / avg                                  (otherwise)

    State per parameter: ``step`` (int), ``square_avg`` (v), and
    ``momentum_buffer`` / ``grad_avg`` (gbar) when used.

    Args:
        params (iterable): the Tensors to optimize, or dicts defining
            parameter groups (``{'params': [...], 'lr': ...}``), each group
            with its own options.
        lr (float, optional): the learning rate. Default: ``1e-2``.
        alpha (float, optional): the decay of the running mean square.
            Default: ``0.99``.
        eps (float, optional): added to the denominator. Default: ``1e-8``.
        weight_decay (float, optional): L2 penalty: ``weight_decay * p`` is
            added to the gradient. Default: ``0``.
        momentum (float, optional): the momentum factor. Default: ``0``.
        centered (bool, optional): divide by an estimate of the gradient's
            variance instead of its raw second moment. Default: ``False``.
        maximize (bool, optional, keyword only): maximize the objective
            (step along the gradient instead of against it). Default: ``False``.

    Example::

        >>> w = tn.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = optim.RMSprop([w], lr=0.01, alpha=0.75)
        >>> (w * w).sum().backward()                # gradient 2 * w
        >>> opt.step()                              # v = g * g / 4: a step of 2 * lr
        >>> w.detach()
        tensor([ 0.98, -1.98])
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, *, maximize=False):
        check_nonneg("RMSprop", "learning rate", lr)
        check_nonneg("RMSprop", "epsilon value", eps)
        check_nonneg("RMSprop", "momentum value", momentum)
        check_nonneg("RMSprop", "weight_decay value", weight_decay)
        check_nonneg("RMSprop", "alpha value", alpha)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, group):
        lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
        momentum, centered = float(group["momentum"]), group["centered"]
        for p, x, g, xp in self._params_with_grads(group):
            state = self.state.get(p)
            if state is None:
                state = self.state[p] = {"step": 0, "square_avg": xp.zeros_like(x)}
                if momentum > 0:
                    state["momentum_buffer"] = xp.zeros_like(x)
                if centered:
                    state["grad_avg"] = xp.zeros_like(x)
            state["step"] += 1

            # v, the momentum buffer, the mean gradient (centered) and x in place;
            # kernels/rmsprop.py
            KR.select(x).update(x, g, state["square_avg"], alpha, eps, lr,
                                state["momentum_buffer"] if momentum > 0 else None, momentum,
                                state["grad_avg"] if centered else None)
            p._vc[0] += 1
