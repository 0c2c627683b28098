"""Adam (with the AMSGrad variant) and AdamW (decoupled weight decay)."""
import math

from tinynet.kernels import adam as KA
from tinynet.optim._checks import check_betas, check_nonneg
from tinynet.optim.optimizer import Optimizer


class Adam(Optimizer):
    """Adam: steps scaled per coordinate by running moments of the gradient.

    PyTorch's ``torch.optim.Adam`` (Kingma & Ba, 2015): a step along the
    running average of the gradient, divided per coordinate by the running
    root mean square of the gradient.

    Per step ``t``, with ``g`` the gradient (negated when ``maximize``)::

        g = g + weight_decay * p              (Adam; AdamW instead: p *= 1 - lr * weight_decay)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                 (amsgrad only; then used instead of v)
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    State per parameter: ``step`` (int), ``exp_avg`` (m), ``exp_avg_sq`` (v)
    and, with amsgrad, ``max_exp_avg_sq``.

    Args:
        params (iterable): the Tensors to optimize, or dicts defining
            parameter groups (``{'params': [...], 'lr': ...}``), each group
            with its own options.
        lr (float, optional): the learning rate. Default: ``1e-3``.
        betas (tuple of 2 floats, optional): the decay rates ``(beta1, beta2)``
            of the running averages of the gradient and of its square, each
            in [0, 1). Default: ``(0.9, 0.999)``.
        eps (float, optional): added to the denominator so that it is never
            0. Default: ``1e-8``.
        weight_decay (float, optional): L2 penalty: ``weight_decay * p`` is
            added to the gradient. Default: ``0``.
        amsgrad (bool, optional): divide by the largest ``v`` seen so far
            (the AMSGrad variant, Reddi et al., 2018). Default: ``False``.
        maximize (bool, optional, keyword only): maximize the objective
            (step along the gradient instead of against it). Default: ``False``.
        decoupled_weight_decay (bool, optional, keyword only): apply the
            weight decay as AdamW does. Default: ``False``.

    Example::

        >>> w = tn.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = optim.Adam([w], lr=0.1)
        >>> (w * w).sum().backward()                # gradient 2 * w
        >>> opt.step()                              # the first step is about lr * sign(g)
        >>> [round(v, 4) for v in w.tolist()]
        [0.9, -1.9]

        A training step on a model:

        >>> model = nn.Linear(4, 1)
        >>> opt = optim.Adam(model.parameters(), lr=1e-3)
        >>> x, y = tn.randn(8, 4), tn.randn(8, 1)
        >>> opt.zero_grad()
        >>> loss = nn.MSELoss()(model(x), y)
        >>> loss.backward()
        >>> opt.step()
        >>> sorted(opt.state[model.weight])
        ['exp_avg', 'exp_avg_sq', 'step']
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
            # m, v (and AMSGrad's running maximum) and x in place; kernels/adam.py
            KA.select(x).update(x, g, m, v, beta1, beta2, eps, lr / (1.0 - beta1 ** t),
                                math.sqrt(1.0 - beta2 ** t), state.get("max_exp_avg_sq"))
            p._vc[0] += 1


class AdamW(Adam):
    """Adam with decoupled weight decay.

    PyTorch's ``torch.optim.AdamW`` (Loshchilov & Hutter, 2019): each step
    first shrinks the parameter, ``p = p * (1 - lr * weight_decay)``, then
    takes the Adam step on the gradient alone, instead of adding the decay
    to the gradient.

    The two differ because Adam divides the gradient by its running RMS: an
    L2 term added to the gradient is rescaled with it, a decoupled decay is
    not. See ``Adam`` for the update and the state.

    Args:
        params (iterable): the Tensors to optimize, or dicts defining
            parameter groups (``{'params': [...], 'lr': ...}``), each group
            with its own options.
        lr (float, optional): the learning rate. Default: ``1e-3``.
        betas (tuple of 2 floats, optional): ``(beta1, beta2)``, as in Adam.
            Default: ``(0.9, 0.999)``.
        eps (float, optional): added to the denominator. Default: ``1e-8``.
        weight_decay (float, optional): the decoupled decay rate.
            Default: ``1e-2``.
        amsgrad (bool, optional): the AMSGrad variant. Default: ``False``.
        maximize (bool, optional, keyword only): maximize the objective
            (step along the gradient instead of against it). Default: ``False``.

    Example::

        >>> w = tn.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = optim.AdamW([w], lr=0.1, weight_decay=0.5)
        >>> w.grad = tn.zeros(2)                    # no gradient: only the decay acts
        >>> opt.step()
        >>> w.detach()
        tensor([ 0.95, -1.9 ])
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True)
