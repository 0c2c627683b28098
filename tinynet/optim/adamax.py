"""Adamax: Adam with the infinity norm in place of the second moment."""
from tinynet.optim._checks import check_betas, check_nonneg
from tinynet.optim.optimizer import Optimizer


class Adamax(Optimizer):
    """Adamax (PyTorch's ``torch.optim.Adamax``; Kingma & Ba, 2015, section 7).

    Per step ``t``, with ``g`` the gradient (negated when ``maximize``)::

        g = g + weight_decay * p
        m = m + (1 - beta1) * (g - m)
        u = max(beta2 * u, |g| + eps)
        p = p - lr / (1 - beta1**t) * m / u

    State per parameter: ``step`` (int), ``exp_avg`` (m), ``exp_inf`` (u).
    ``foreach`` is accepted for PyTorch compatibility and ignored.
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 foreach=None, *, maximize=False):
        check_nonneg("Adamax", "learning rate", lr)
        check_nonneg("Adamax", "epsilon value", eps)
        check_betas("Adamax", betas)
        check_nonneg("Adamax", "weight_decay value", weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, group):
        lr, eps = float(group["lr"]), float(group["eps"])
        beta1, beta2 = (float(b) for b in group["betas"])
        for p, x, g, xp in self._params_with_grads(group):
            state = self.state.get(p)
            if state is None:
                state = self.state[p] = {"step": 0, "exp_avg": xp.zeros_like(x),
                                         "exp_inf": xp.zeros_like(x)}
            state["step"] = t = state["step"] + 1
            m, u = state["exp_avg"], state["exp_inf"]

            m += (1.0 - beta1) * (g - m)
            u *= beta2
            xp.maximum(u, xp.abs(g) + eps, out=u)
            x -= (lr / (1.0 - beta1 ** t)) * (m / u)
            p._vc[0] += 1
