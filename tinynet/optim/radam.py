"""RAdam: Adam whose adaptive step is switched on once its variance is tractable."""
import math

from tinynet.optim._checks import check_betas, check_nonneg
from tinynet.optim.optimizer import Optimizer


class RAdam(Optimizer):
    """RAdam: Adam with its adaptive scaling rectified while its variance is large.

    PyTorch's ``torch.optim.RAdam`` (Liu et al., 2020): the adaptive scaling
    is switched on only once the variance of its estimate is tractable, with
    a rectification factor ``r``; before that, a step is plain momentum SGD.
    This replaces a hand-tuned learning-rate warm-up.

    Per step ``t``, with ``g`` the gradient (negated when ``maximize``)::

        g = g + weight_decay * p     (decoupled_weight_decay: p *= 1 - lr * weight_decay)
        m = m + (1 - beta1) * (g - m)
        v = beta2 * v + (1 - beta2) * g * g
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
        m_hat = m / (1 - beta1**t)
        rho_t > 5:  r = sqrt((rho_t - 4) (rho_t - 2) rho_inf / ((rho_inf - 4) (rho_inf - 2) rho_t))
                    p = p - lr * r * m_hat * sqrt(1 - beta2**t) / (sqrt(v) + eps)
        otherwise:  p = p - lr * m_hat            (plain momentum SGD)

    State per parameter: ``step`` (int), ``exp_avg`` (m), ``exp_avg_sq`` (v).

    Args:
        params (iterable): the Tensors to optimize, or dicts defining
            parameter groups (``{'params': [...], 'lr': ...}``), each group
            with its own options.
        lr (float, optional): the learning rate. Default: ``1e-3``.
        betas (tuple of 2 floats, optional): ``(beta1, beta2)``, as in Adam.
            Default: ``(0.9, 0.999)``.
        eps (float, optional): added to the denominator. Default: ``1e-8``.
        weight_decay (float, optional): L2 penalty: ``weight_decay * p`` is
            added to the gradient. Default: ``0``.
        decoupled_weight_decay (bool, optional): shrink the parameter as
            AdamW does instead of adding the decay to the gradient.
            Default: ``False``.
        foreach (optional): accepted for PyTorch compatibility and ignored
            (tinynet has one implementation). Default: ``None``.
        maximize (bool, optional, keyword only): maximize the objective
            (step along the gradient instead of against it). Default: ``False``.

    Example::

        >>> w = tn.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = optim.RAdam([w], lr=0.1)
        >>> (w * w).sum().backward()                # gradient 2 * w
        >>> opt.step()                              # rho_1 <= 5: a plain SGD step on m_hat = g
        >>> w.detach()
        tensor([ 0.8, -1.6])
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False):
        check_nonneg("RAdam", "learning rate", lr)
        check_nonneg("RAdam", "epsilon value", eps)
        check_betas("RAdam", betas)
        check_nonneg("RAdam", "weight_decay value", weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, group):
        lr, eps = float(group["lr"]), float(group["eps"])
        beta1, beta2 = (float(b) for b in group["betas"])
        rho_inf = 2.0 / (1.0 - beta2) - 1.0
        for p, x, g, xp in self._params_with_grads(group):
            state = self.state.get(p)
            if state is None:
                state = self.state[p] = {"step": 0, "exp_avg": xp.zeros_like(x),
                                         "exp_avg_sq": xp.zeros_like(x)}
            state["step"] = t = state["step"] + 1
            m, v = state["exp_avg"], state["exp_avg_sq"]

            m += (1.0 - beta1) * (g - m)
            v *= beta2
            v += (1.0 - beta2) * (g * g)
            bias2 = 1.0 - beta2 ** t
            step = m / (1.0 - beta1 ** t)
            step *= lr
            rho_t = rho_inf - 2.0 * t * beta2 ** t / bias2
            if rho_t > 5.0:
                rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                                 / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                denom = xp.sqrt(v)
                denom += eps
                step *= math.sqrt(bias2) / denom
                step *= rect
            x -= step
            p._vc[0] += 1
