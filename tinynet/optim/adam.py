"""Adam (with the AMSGrad variant) and AdamW (decoupled weight decay)."""
import math

from tinynet.optim._checks import check_betas, check_nonneg
from tinynet.optim.optimizer import Optimizer


class Adam(Optimizer):
    """Adam (PyTorch's ``torch.optim.Adam``; Kingma & Ba, 2015).

    Per step ``t``, with ``g`` the gradient (negated when ``maximize``)::

        g = g + weight_decay * p              (Adam; AdamW instead: p *= 1 - lr * weight_decay)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                 (amsgrad only; then used instead of v)
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    State per parameter: ``step`` (int), ``exp_avg`` (m), ``exp_avg_sq`` (v)
    and, with amsgrad, ``max_exp_avg_sq``.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False):
        name = type(self).__name__
        check_nonneg(name, "learning rate", lr)
        check_nonneg(name, "epsilon value", eps)
        check_betas(name, betas)
        check_nonneg(name, "weight_decay value", weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _update(self, group):
        lr = float(group["lr"])
        beta1, beta2 = (float(b) for b in group["betas"])
        eps = float(group["eps"])
        amsgrad = group["amsgrad"]
        for p, x, g, xp in self._params_with_grads(group):
            state = self.state.get(p)
            if state is None:
                state = self.state[p] = {"step": 0, "exp_avg": xp.zeros_like(x),
                                         "exp_avg_sq": xp.zeros_like(x)}
                if amsgrad:
                    state["max_exp_avg_sq"] = xp.zeros_like(x)
            state["step"] = t = state["step"] + 1
            m, v = state["exp_avg"], state["exp_avg_sq"]

            # One scratch array `tmp` serves every intermediate below (allocated
            # explicitly: on 0-d inputs a ufunc without `out` returns a scalar).
            tmp = xp.multiply(g, 1.0 - beta1, out=xp.empty_like(x))
            m *= beta1
            m += tmp
            xp.multiply(g, g, out=tmp)
            tmp *= 1.0 - beta2
            v *= beta2
            v += tmp
            if amsgrad:
                v = xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            # denom = sqrt(v) / sqrt(1 - beta2**t) + eps, step = lr / (1 - beta1**t)
            xp.sqrt(v, out=tmp)
            tmp /= math.sqrt(1.0 - beta2 ** t)
            tmp += eps
            xp.divide(m, tmp, out=tmp)
            tmp *= lr / (1.0 - beta1 ** t)
            x -= tmp
            p._vc[0] += 1


class AdamW(Adam):
    """Adam with decoupled weight decay (PyTorch's ``torch.optim.AdamW``;
    Loshchilov & Hutter, 2019): the parameter shrinks by ``lr * weight_decay``
    before the Adam step instead of the decay being added to the gradient."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True)
