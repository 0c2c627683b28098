"""NAdam: Adam with Nesterov momentum."""
from tinynet.optim._checks import check_betas, check_nonneg
from tinynet.optim.optimizer import Optimizer


class NAdam(Optimizer):
    """NAdam (PyTorch's ``torch.optim.NAdam``; Dozat, 2016).

    Per step ``t``, with ``g`` the gradient (negated when ``maximize``) and
    ``mu_t = beta1 * (1 - 0.96**(t * momentum_decay) / 2)``::

        g = g + weight_decay * p     (decoupled_weight_decay: p *= 1 - lr * weight_decay)
        prod = mu_1 * ... * mu_t
        m = m + (1 - beta1) * (g - m)
        v = beta2 * v + (1 - beta2) * g * g
        denom = sqrt(v / (1 - beta2**t)) + eps
        p = p - lr * (1 - mu_t) / (1 - prod) * g / denom
              - lr * mu_{t+1} / (1 - prod * mu_{t+1}) * m / denom

    State per parameter: ``step`` (int), ``mu_product`` (float, prod),
    ``exp_avg`` (m), ``exp_avg_sq`` (v). ``foreach`` is ignored.
    """

    _float_state = ("mu_product",)

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None,
                 maximize=False):
        check_nonneg("NAdam", "learning rate", lr)
        check_nonneg("NAdam", "epsilon value", eps)
        check_betas("NAdam", betas)
        check_nonneg("NAdam", "weight_decay value", weight_decay)
        check_nonneg("NAdam", "momentum_decay value", momentum_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, group):
        lr, eps = float(group["lr"]), float(group["eps"])
        beta1, beta2 = (float(b) for b in group["betas"])
        psi = float(group["momentum_decay"])
        for p, x, g, xp in self._params_with_grads(group):
            state = self.state.get(p)
            if state is None:
                state = self.state[p] = {"step": 0, "mu_product": 1.0,
                                         "exp_avg": xp.zeros_like(x),
                                         "exp_avg_sq": xp.zeros_like(x)}
            state["step"] = t = state["step"] + 1
            m, v = state["exp_avg"], state["exp_avg_sq"]

            mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))
            mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
            state["mu_product"] = prod = state["mu_product"] * mu
            m += (1.0 - beta1) * (g - m)
            v *= beta2
            v += (1.0 - beta2) * (g * g)
            denom = xp.sqrt(v / (1.0 - beta2 ** t))
            denom += eps
            x -= (lr * (1.0 - mu) / (1.0 - prod)) * (g / denom)
            x -= (lr * mu_next / (1.0 - prod * mu_next)) * (m / denom)
            p._vc[0] += 1
