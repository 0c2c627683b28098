"""NAdam: Adam with Nesterov momentum."""
from tinynet.optim._checks import check_betas, check_nonneg
from tinynet.optim.optimizer import Optimizer


class NAdam(Optimizer):
    """NAdam: Adam with Nesterov momentum.

    PyTorch's ``torch.optim.NAdam`` (Dozat, 2016); the momentum factor also
    warms up over the first steps.

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
    ``exp_avg`` (m), ``exp_avg_sq`` (v).

    Args:
        params (iterable): the Tensors to optimize, or dicts defining
            parameter groups (``{'params': [...], 'lr': ...}``), each group
            with its own options.
        lr (float, optional): the learning rate. Default: ``2e-3``.
        betas (tuple of 2 floats, optional): ``(beta1, beta2)``, as in Adam.
            Default: ``(0.9, 0.999)``.
        eps (float, optional): added to the denominator. Default: ``1e-8``.
        weight_decay (float, optional): L2 penalty: ``weight_decay * p`` is
            added to the gradient. Default: ``0``.
        momentum_decay (float, optional): how fast ``mu_t`` warms up to
            ``beta1``. Default: ``4e-3``.
        decoupled_weight_decay (bool, optional): shrink the parameter as
            AdamW does instead of adding the decay to the gradient.
            Default: ``False``.
        foreach (optional): accepted for PyTorch compatibility and ignored
            (tinynet has one implementation). Default: ``None``.
        maximize (bool, optional, keyword only): maximize the objective
            (step along the gradient instead of against it). Default: ``False``.

    Example::

        >>> w = tn.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = optim.NAdam([w], lr=0.1)
        >>> (w * w).sum().backward()                # gradient 2 * w
        >>> opt.step()
        >>> w.shape, opt.state[w]["step"]
        ((2,), 1)

        A training step on a model:

        >>> model = nn.Linear(4, 1)
        >>> opt = optim.NAdam(model.parameters())
        >>> x, y = tn.randn(8, 4), tn.randn(8, 1)
        >>> opt.zero_grad()
        >>> loss = nn.MSELoss()(model(x), y)
        >>> loss.backward()
        >>> opt.step()
        >>> sorted(opt.state[model.weight])
        ['exp_avg', 'exp_avg_sq', 'mu_product', 'step']
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
