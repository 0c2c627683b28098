"""Stochastic gradient descent, with optional momentum, dampening and Nesterov."""
from tinynet.optim._checks import check_nonneg
from tinynet.optim.optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    PyTorch's ``torch.optim.SGD``.

    Per step, with ``g`` the gradient (negated when ``maximize``)::

        g = g + weight_decay * p
        buf = g                                         (first step)
        buf = momentum * buf + (1 - dampening) * g      (later steps)
        g = g + momentum * buf  if nesterov  else  buf  (when momentum != 0)
        p = p - lr * g

    State per parameter: ``momentum_buffer`` (only when momentum != 0).

    Args:
        params (iterable): the Tensors to optimize, or dicts defining
            parameter groups (``{'params': [...], 'lr': ...}``), each group
            with its own options.
        lr (float, optional): the learning rate. Default: ``1e-3``.
        momentum (float, optional): the momentum factor. Default: ``0``.
        dampening (float, optional): scales down the gradient's share of the
            momentum buffer. Default: ``0``.
        weight_decay (float, optional): L2 penalty: ``weight_decay * p`` is
            added to the gradient. Default: ``0``.
        nesterov (bool, optional): Nesterov momentum; needs ``momentum > 0``
            and ``dampening = 0``. Default: ``False``.
        maximize (bool, optional, keyword only): maximize the objective
            (step along the gradient instead of against it). Default: ``False``.

    Example::

        >>> w = tn.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = optim.SGD([w], lr=0.1)
        >>> (w * w).sum().backward()                # gradient 2 * w
        >>> opt.step()
        >>> w.detach()
        tensor([ 0.8, -1.6])

        A training step on a model:

        >>> model = nn.Linear(4, 1)
        >>> opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> x, y = tn.randn(8, 4), tn.randn(8, 1)
        >>> opt.zero_grad()
        >>> loss = nn.MSELoss()(model(x), y)
        >>> loss.backward()
        >>> opt.step()
        >>> sorted(opt.state[model.weight])
        ['momentum_buffer']
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False):
        check_nonneg("SGD", "learning rate", lr)
        check_nonneg("SGD", "momentum value", momentum)
        check_nonneg("SGD", "weight_decay value", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero "
                             f"dampening, got momentum={momentum}, dampening={dampening}")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, group):
        lr = float(group["lr"])
        momentum = float(group["momentum"])
        dampening = float(group["dampening"])
        nesterov = group["nesterov"]
        for p, x, g, xp in self._params_with_grads(group):
            if momentum != 0:
                state = self.state.setdefault(p, {})
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = g.copy()
                else:
                    buf *= momentum
                    buf += (1.0 - dampening) * g if dampening != 0 else g
                g = g + momentum * buf if nesterov else buf
            # x -= lr * g, without changing g (it may be the momentum buffer).
            x -= lr * g
            p._vc[0] += 1
