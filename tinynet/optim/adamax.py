"""Adamax: Adam with the infinity norm in place of the second moment."""
from tinynet.optim._checks import check_betas, check_nonneg
from tinynet.optim.optimizer import Optimizer


class Adamax(Optimizer):
    """Adamax: Adam with an infinity norm in place of the running RMS.

    PyTorch's ``torch.optim.Adamax`` (Kingma & Ba, 2015, section 7): the
    denominator is the running maximum of ``|g|``.

    Per step ``t``, with ``g`` the gradient (negated when ``maximize``)::

        g = g + weight_decay * p
        m = m + (1 - beta1) * (g - m)
        u = max(beta2 * u, |g| + eps)
        p = p - lr / (1 - beta1**t) * m / u

    State per parameter: ``step`` (int), ``exp_avg`` (m), ``exp_inf`` (u).

    Args:
        params (iterable): the Tensors to optimize, or dicts defining
            parameter groups (``{'params': [...], 'lr': ...}``), each group
            with its own options.
        lr (float, optional): the learning rate. Default: ``2e-3``.
        betas (tuple of 2 floats, optional): ``(beta1, beta2)``, the decay of
            the running average and of the running maximum, each in [0, 1).
            Default: ``(0.9, 0.999)``.
        eps (float, optional): added to ``|g|`` so that ``u`` is never 0.
            Default: ``1e-8``.
        weight_decay (float, optional): L2 penalty: ``weight_decay * p`` is
            added to the gradient. Default: ``0``.
        foreach (optional): accepted for PyTorch compatibility and ignored
            (tinynet has one implementation). Default: ``None``.
        maximize (bool, optional, keyword only): maximize the objective
            (step along the gradient instead of against it). Default: ``False``.

    Example::

        >>> w = tn.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = optim.Adamax([w], lr=0.1)
        >>> (w * w).sum().backward()                # gradient 2 * w
        >>> opt.step()
        >>> w.detach()
        tensor([ 0.9, -1.9])
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
