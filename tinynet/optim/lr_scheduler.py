"""Learning-rate schedulers (PyTorch's ``torch.optim.lr_scheduler``).

A scheduler rewrites ``group['lr']`` of its optimizer's parameter groups each
time ``scheduler.step()`` is called (once per epoch, or once per batch for
OneCycleLR), after ``optimizer.step()``::

    sched = StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(opt)
        sched.step()

As in PyTorch: ``last_epoch`` counts the calls to ``step()`` (-1 means "new"),
building a scheduler performs the first step (``last_epoch`` becomes 0),
``group['initial_lr']`` remembers each group's starting lr (``base_lrs``),
and most schedulers are *chainable*: each step multiplies the current lr, so
two schedulers on one optimizer compose.
"""
import math
import types
from bisect import bisect_right
from collections import Counter

from tinynet.optim.optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
           "CosineAnnealingWarmRestarts", "CyclicLR", "LambdaLR", "MultiplicativeLR",
           "LinearLR", "ConstantLR", "PolynomialLR", "OneCycleLR", "SequentialLR",
           "ReduceLROnPlateau"]


def _check_optimizer(scheduler, optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{scheduler}: expected a tinynet Optimizer, got "
                        f"{type(optimizer).__name__}")


class LRScheduler:
    """Base class of the learning-rate schedulers.

    PyTorch's ``torch.optim.lr_scheduler.LRScheduler``.

    ``step()`` advances ``last_epoch`` by one and sets every parameter group's
    ``'lr'`` to the values of ``get_lr()``; building a scheduler performs the
    first step (``last_epoch`` becomes 0). ``base_lrs`` holds each group's
    ``'initial_lr'``, its starting lr. ``get_last_lr()`` gives the lrs of the
    last step; ``state_dict()`` / ``load_state_dict()`` save and restore
    every attribute but the optimizer.

    A subclass implements ``get_lr()``, the lrs for the current
    ``last_epoch``; most compute them from the groups' current lrs
    (chainable, so two schedulers on one optimizer compose) and may add a
    closed form ``_get_closed_form_lr()``, used by ``step(epoch)``.

    Args:
        optimizer (Optimizer): the optimizer whose learning rates change.
        last_epoch (int, optional): the index of the last epoch done; -1
            starts afresh, a value >= 0 resumes (every group then needs an
            ``'initial_lr'``). Default: ``-1``.

    Example::

        >>> class Halve(optim.lr_scheduler.LRScheduler):
        ...     def get_lr(self):
        ...         if self.last_epoch == 0:
        ...             return [g["lr"] for g in self.optimizer.param_groups]
        ...         return [g["lr"] / 2 for g in self.optimizer.param_groups]
        >>> opt = optim.SGD([tn.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = Halve(opt)
        >>> for _ in range(3):
        ...     opt.step()
        ...     sched.step()
        >>> sched.get_last_lr(), sched.last_epoch
        ([0.125], 3)
    """

    def __init__(self, optimizer, last_epoch=-1):
        _check_optimizer(type(self).__name__, optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{type(self).__name__}: param 'initial_lr' is not "
                                   f"specified in param_groups[{i}] when resuming "
                                   f"(last_epoch={last_epoch})")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self.step()     # the initial step: last_epoch becomes last_epoch + 1

    def get_lr(self):
        """The lrs for the current ``last_epoch`` (one per group)."""
        raise NotImplementedError

    def get_last_lr(self):
        """The lrs this scheduler set at its last step (one per group)."""
        return self._last_lr

    def step(self, epoch=None):
        """Advance one epoch (or jump to ``epoch``) and set the groups' lrs."""
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            # Jumping needs the closed form where one exists.
            self.last_epoch = epoch
            closed = getattr(self, "_get_closed_form_lr", None)
            values = closed() if closed is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        """Every attribute except the optimizer (PyTorch's layout)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore the attributes saved by ``state_dict()``."""
        self.__dict__.update(state_dict)


def _lrs(scheduler):
    return [group["lr"] for group in scheduler.optimizer.param_groups]


class StepLR(LRScheduler):
    """Multiplies the learning rate by ``gamma`` every ``step_size`` epochs.

    ``lr = initial_lr * gamma ** (epoch // step_size)``.

    Args:
        optimizer (Optimizer): the optimizer whose learning rates change.
        step_size (int): the number of epochs between two decays.
        gamma (float, optional): the decay factor. Default: ``0.1``.
        last_epoch (int, optional): the index of the last epoch done; -1
            starts afresh, a value >= 0 resumes (every group then needs an
            ``'initial_lr'``). Default: ``-1``.

    Example::

        >>> opt = optim.SGD([tn.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        >>> lrs = []
        >>> for epoch in range(6):
        ...     lrs.append(sched.get_last_lr()[0])
        ...     opt.step()                          # (one epoch of training here)
        ...     sched.step()
        >>> lrs
        [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if int(step_size) != step_size or step_size <= 0:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size}")
        self.step_size = int(step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return _lrs(self)
        return [lr * self.gamma for lr in _lrs(self)]

    def _get_closed_form_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size)
                for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiplies the learning rate by ``gamma`` at each epoch in ``milestones``.

    ``lr = initial_lr * gamma ** (number of milestones passed)``.

    A milestone listed twice multiplies by ``gamma ** 2``.

    Args:
        optimizer (Optimizer): the optimizer whose learning rates change.
        milestones (iterable of int): the epochs at which to decay.
        gamma (float, optional): the decay factor. Default: ``0.1``.
        last_epoch (int, optional): the index of the last epoch done; -1
            starts afresh, a value >= 0 resumes (every group then needs an
            ``'initial_lr'``). Default: ``-1``.

    Example::

        >>> opt = optim.SGD([tn.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = optim.lr_scheduler.MultiStepLR(opt, milestones=[1, 4], gamma=0.5)
        >>> lrs = []
        >>> for epoch in range(6):
        ...     lrs.append(sched.get_last_lr()[0])
        ...     opt.step()                          # (one epoch of training here)
        ...     sched.step()
        >>> lrs
        [1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    """

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch not in self.milestones:
            return _lrs(self)
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [lr * factor for lr in _lrs(self)]

    def _get_closed_form_lr(self):
        passed = sum(n for m, n in self.milestones.items() if m <= self.last_epoch)
        return [base * self.gamma ** passed for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiplies the learning rate by ``gamma`` every epoch.

    ``lr = initial_lr * gamma ** epoch``.

    Args:
        optimizer (Optimizer): the optimizer whose learning rates change.
        gamma (float): the decay factor per epoch.
        last_epoch (int, optional): the index of the last epoch done; -1
            starts afresh, a value >= 0 resumes (every group then needs an
            ``'initial_lr'``). Default: ``-1``.

    Example::

        >>> opt = optim.SGD([tn.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
        >>> lrs = []
        >>> for epoch in range(4):
        ...     lrs.append(sched.get_last_lr()[0])
        ...     opt.step()                          # (one epoch of training here)
        ...     sched.step()
        >>> lrs
        [1.0, 0.5, 0.25, 0.125]
    """

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return _lrs(self)
        return [lr * self.gamma for lr in _lrs(self)]

    def _get_closed_form_lr(self):
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Anneals the learning rate to ``eta_min`` along half a cosine.

    Over ``T_max`` epochs (SGDR, Loshchilov & Hutter, 2017, without the
    restarts):
    ``lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``.

    Past ``T_max`` the cosine goes on, back up. Each step computes the new lr
    from the current one (so that the scheduler composes with others); the
    closed form above is used by ``step(epoch)`` and when resuming.

    Args:
        optimizer (Optimizer): the optimizer whose learning rates change.
        T_max (int): the number of epochs from the initial lr to ``eta_min``.
        eta_min (float, optional): the smallest learning rate. Default: ``0.0``.
        last_epoch (int, optional): the index of the last epoch done; -1
            starts afresh, a value >= 0 resumes (every group then needs an
            ``'initial_lr'``). Default: ``-1``.

    Example::

        >>> opt = optim.SGD([tn.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4, eta_min=0.0)
        >>> lrs = []
        >>> for epoch in range(5):
        ...     lrs.append(sched.get_last_lr()[0])
        ...     opt.step()                          # (one epoch of training here)
        ...     sched.step()
        >>> [round(lr, 4) for lr in lrs]
        [1.0, 0.8536, 0.5, 0.1464, 0.0]
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        if t == 0:
            return _lrs(self)
        if self._step_count == 1 and t > 0:
            # Resumed at epoch t: no previous lr to chain from.
            return [eta_min + (base - eta_min) * (1 + math.cos(t * math.pi / T)) / 2
                    for base in self.base_lrs]
        if (t - 1 - T) % (2 * T) == 0:
            # At the bottom of the cosine the ratio below would divide by ~0.
            return [lr + (base - eta_min) * (1 - math.cos(math.pi / T)) / 2
                    for base, lr in zip(self.base_lrs, _lrs(self))]
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return [ratio * (lr - eta_min) + eta_min for lr in _lrs(self)]

    def _get_closed_form_lr(self):
        cos = math.cos(math.pi * self.last_epoch / self.T_max)
        return [self.eta_min + (base - self.eta_min) * (1 + cos) / 2
                for base in self.base_lrs]


class LambdaLR(LRScheduler):
    """Sets the learning rate to ``initial_lr * lr_lambda(epoch)``.

    ``state_dict()`` leaves out plain functions and lambdas (they cannot be
    saved) and keeps the attributes of callable objects, as in PyTorch.

    Args:
        optimizer (Optimizer): the optimizer whose learning rates change.
        lr_lambda (callable or list): a function of the epoch (an int)
            returning a factor, or a list of one per parameter group.
        last_epoch (int, optional): the index of the last epoch done; -1
            starts afresh, a value >= 0 resumes (every group then needs an
            ``'initial_lr'``). Default: ``-1``.

    Example::

        >>> opt = optim.SGD([tn.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = optim.lr_scheduler.LambdaLR(opt, lr_lambda=lambda epoch: 1 / (epoch + 1))
        >>> lrs = []
        >>> for epoch in range(4):
        ...     lrs.append(sched.get_last_lr()[0])
        ...     opt.step()                          # (one epoch of training here)
        ...     sched.step()
        >>> lrs
        [1.0, 0.5, 0.3333333333333333, 0.25]
    """

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        name = type(self).__name__
        _check_optimizer(name, optimizer)
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"{name}: expected {n} lr_lambdas (one per param "
                                 f"group), got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * fn(self.last_epoch) for base, fn in zip(self.base_lrs, self.lr_lambdas)]

    def state_dict(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        # Functions are not data: save None for them, the attributes of callable objects.
        state["lr_lambdas"] = [None if _is_function(fn) else dict(fn.__dict__)
                               for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        lambdas = state.pop("lr_lambdas", None) or []
        self.__dict__.update(state)
        for fn, saved in zip(self.lr_lambdas, lambdas):
            if saved is not None:
                fn.__dict__.update(saved)


class MultiplicativeLR(LambdaLR):
    """Multiplies the learning rate by ``lr_lambda(epoch)`` every epoch.

    Every epoch after the first: epoch 0 keeps the initial lr.

    Args:
        optimizer (Optimizer): the optimizer whose learning rates change.
        lr_lambda (callable or list): a function of the epoch (an int)
            returning the factor, or a list of one per parameter group.
        last_epoch (int, optional): the index of the last epoch done; -1
            starts afresh, a value >= 0 resumes (every group then needs an
            ``'initial_lr'``). Default: ``-1``.

    Example::

        >>> opt = optim.SGD([tn.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = optim.lr_scheduler.MultiplicativeLR(opt, lr_lambda=lambda epoch: 0.5)
        >>> lrs = []
        >>> for epoch in range(4):
        ...     lrs.append(sched.get_last_lr()[0])
        ...     opt.step()                          # (one epoch of training here)
        ...     sched.step()
        >>> lrs
        [1.0, 0.5, 0.25, 0.125]
    """

    def get_lr(self):
        if self.last_epoch == 0:
            return _lrs(self)
        return [lr * fn(self.last_epoch) for lr, fn in zip(_lrs(self), self.lr_lambdas)]


def _is_function(fn):
    # Plain functions, lambdas and methods hold code, not state; objects hold state.
    return isinstance(fn, (types.FunctionType, types.MethodType)) or not hasattr(fn, "__dict__")


class LinearLR(LRScheduler):
    """Scales the learning rate by a linearly changing factor, then keeps it.

    The factor goes from ``start_factor`` to ``end_factor`` over
    ``total_iters`` steps::

        lr = initial_lr * (start_factor + (end_factor - start_factor)
                                          * min(epoch, total_iters) / total_iters)

    Often used as a warm-up, followed by another scheduler (see
    ``SequentialLR``).

    Args:
        optimizer (Optimizer): the optimizer whose learning rates change.
        start_factor (float, optional): the factor at epoch 0, in (0, 1].
            Default: ``1/3``.
        end_factor (float, optional): the factor from ``total_iters`` on, in
            [0, 1]. Default: ``1.0``.
        total_iters (int, optional): the number of steps the change takes.
            Default: ``5``.
        last_epoch (int, optional): the index of the last epoch done; -1
            starts afresh, a value >= 0 resumes (every group then needs an
            ``'initial_lr'``). Default: ``-1``.

    Example::

        >>> opt = optim.SGD([tn.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = optim.lr_scheduler.LinearLR(opt, start_factor=0.25, total_iters=3)
        >>> lrs = []
        >>> for epoch in range(5):
        ...     lrs.append(sched.get_last_lr()[0])
        ...     opt.step()                          # (one epoch of training here)
        ...     sched.step()
        >>> lrs
        [0.25, 0.5, 0.75, 1.0, 1.0]
    """

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5,
                 last_epoch=-1):
        if not 0 < start_factor <= 1:
            raise ValueError("LinearLR: starting multiplicative factor expected to be "
                             f"greater than 0 and less or equal to 1, got {start_factor}")
        if not 0 <= end_factor <= 1:
            raise ValueError("LinearLR: ending multiplicative factor expected to be "
                             f"between 0 and 1, got {end_factor}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t, s, e, n = self.last_epoch, self.start_factor, self.end_factor, self.total_iters
        if t == 0:
            return [lr * s for lr in _lrs(self)]
        if t > n:
            return _lrs(self)
        # Ratio of this step's factor to the previous step's (chainable form).
        ratio = 1.0 + (e - s) / (n * s + (t - 1) * (e - s))
        return [lr * ratio for lr in _lrs(self)]

    def _get_closed_form_lr(self):
        t, s, e, n = self.last_epoch, self.start_factor, self.end_factor, self.total_iters
        return [base * (s + (e - s) * min(n, t) / n) for base in self.base_lrs]


class ConstantLR(LRScheduler):
    """Scales the learning rate by ``factor`` for ``total_iters`` epochs.

    After that the initial learning rate is restored.

    Args:
        optimizer (Optimizer): the optimizer whose learning rates change.
        factor (float, optional): the factor, in [0, 1]. Default: ``1/3``.
        total_iters (int, optional): the number of epochs it lasts.
            Default: ``5``.
        last_epoch (int, optional): the index of the last epoch done; -1
            starts afresh, a value >= 0 resumes (every group then needs an
            ``'initial_lr'``). Default: ``-1``.

    Example::

        >>> opt = optim.SGD([tn.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = optim.lr_scheduler.ConstantLR(opt, factor=0.5, total_iters=2)
        >>> lrs = []
        >>> for epoch in range(4):
        ...     lrs.append(sched.get_last_lr()[0])
        ...     opt.step()                          # (one epoch of training here)
        ...     sched.step()
        >>> lrs
        [0.5, 0.5, 1.0, 1.0]
    """

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1):
        if not 0 <= factor <= 1:
            raise ValueError("ConstantLR: constant multiplicative factor expected to be "
                             f"between 0 and 1, got {factor}")
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [lr * self.factor for lr in _lrs(self)]
        if self.last_epoch != self.total_iters:
            return _lrs(self)
        return [lr / self.factor for lr in _lrs(self)]

    def _get_closed_form_lr(self):
        f = self.factor if self.last_epoch < self.total_iters else 1.0
        return [base * f for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """Decays the learning rate polynomially to 0 over ``total_iters`` epochs.

    ``lr = initial_lr * (1 - min(epoch, total_iters) / total_iters) ** power``.

    Args:
        optimizer (Optimizer): the optimizer whose learning rates change.
        total_iters (int, optional): the epoch at which the lr reaches 0.
            Default: ``5``.
        power (float, optional): the exponent; 1 is a linear decay.
            Default: ``1.0``.
        last_epoch (int, optional): the index of the last epoch done; -1
            starts afresh, a value >= 0 resumes (every group then needs an
            ``'initial_lr'``). Default: ``-1``.

    Example::

        >>> opt = optim.SGD([tn.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = optim.lr_scheduler.PolynomialLR(opt, total_iters=4, power=2.0)
        >>> lrs = []
        >>> for epoch in range(6):
        ...     lrs.append(sched.get_last_lr()[0])
        ...     opt.step()                          # (one epoch of training here)
        ...     sched.step()
        >>> lrs
        [1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0]
    """

    def __init__(self, optimizer, total_iters=5, power=1.0, last_epoch=-1):
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t, n = self.last_epoch, self.total_iters
        if t == 0 or t > n:
            return _lrs(self)
        # ratio of this epoch's factor to the previous one's (chainable form)
        ratio = ((1.0 - t / n) / (1.0 - (t - 1) / n)) ** self.power
        return [lr * ratio for lr in _lrs(self)]

    def _get_closed_form_lr(self):
        t, n = self.last_epoch, self.total_iters
        return [base * (1.0 - min(n, t) / n) ** self.power for base in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing of the learning rate with warm restarts.

    SGDR (Loshchilov & Hutter, 2017): the learning rate follows half a
    cosine from its initial value to ``eta_min`` over ``T_0`` epochs, then
    restarts at the initial value; each period is ``T_mult`` times longer
    than the one before.

    Within a period, with ``T_cur`` the epochs since the last restart and
    ``T_i`` the period's length:
    ``lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2``.
    ``step(epoch)`` accepts a fractional epoch (e.g. ``epoch + i / iters``
    inside an epoch of ``iters`` batches) and may jump anywhere; ``step()``
    continues one epoch after the last one.

    Args:
        optimizer (Optimizer): the optimizer whose learning rates change.
        T_0 (int): the length of the first period, in epochs.
        T_mult (int, optional): the factor by which each period grows.
            Default: ``1``.
        eta_min (float, optional): the smallest learning rate. Default: ``0.0``.
        last_epoch (int, optional): the index of the last epoch done; -1
            starts afresh, a value >= 0 resumes (every group then needs an
            ``'initial_lr'``). Default: ``-1``.

    Example::

        >>> opt = optim.SGD([tn.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2)
        >>> lrs = []
        >>> for epoch in range(7):
        ...     lrs.append(sched.get_last_lr()[0])
        ...     opt.step()                          # (one epoch of training here)
        ...     sched.step()
        >>> [round(lr, 4) for lr in lrs]
        [1.0, 0.5, 1.0, 0.8536, 0.5, 0.1464, 1.0]
    """

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):
        if isinstance(T_0, bool) or not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(f"CosineAnnealingWarmRestarts: expected positive integer T_0, "
                             f"but got {T_0!r}")
        if isinstance(T_mult, bool) or not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"CosineAnnealingWarmRestarts: expected integer T_mult >= 1, "
                             f"but got {T_mult!r}")
        if isinstance(eta_min, bool) or not isinstance(eta_min, (float, int)):
            raise ValueError(f"CosineAnnealingWarmRestarts: expected float or int eta_min, "
                             f"but got {eta_min!r}")
        self.T_0 = T_0
        self.T_i = T_0            # length of the current period
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur = last_epoch   # epochs since the last restart
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        cos = math.cos(math.pi * self.T_cur / self.T_i)
        return [self.eta_min + (base - self.eta_min) * (1 + cos) / 2 for base in self.base_lrs]

    def step(self, epoch=None):
        """Advance one epoch, or go to ``epoch`` (a float is fine)."""
        self._step_count += 1
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur += 1
            if self.T_cur >= self.T_i:
                self.T_cur -= self.T_i
                self.T_i *= self.T_mult
        else:
            self._jump_to(epoch)
        self.last_epoch = math.floor(epoch)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = _lrs(self)

    def _jump_to(self, epoch):
        """Set T_cur and T_i for ``epoch`` epochs after the start."""
        if epoch < 0:
            raise ValueError(f"CosineAnnealingWarmRestarts: expected non-negative epoch, "
                             f"but got {epoch}")
        T_0, T_mult = self.T_0, self.T_mult
        if epoch < T_0:
            self.T_i, self.T_cur = T_0, epoch
        elif T_mult == 1:
            self.T_cur = epoch % T_0
        else:
            # periods T_0, T_0 m, T_0 m^2 ...: n whole periods end at T_0 (m^n - 1) / (m - 1)
            n = int(math.log(epoch / T_0 * (T_mult - 1) + 1, T_mult))
            self.T_cur = epoch - T_0 * (T_mult ** n - 1) / (T_mult - 1)
            self.T_i = T_0 * T_mult ** n


class CyclicLR(LRScheduler):
    """Cycles the learning rate between ``base_lr`` and ``max_lr``.

    Cyclical learning rates (Smith, 2017): the lr climbs from ``base_lr`` to
    ``max_lr`` in ``step_size_up`` steps and comes back down in
    ``step_size_down`` steps, cycle after cycle; the momentum (or Adam's
    ``beta1``) moves the opposite way between ``max_momentum`` and
    ``base_momentum``. Call ``step()`` after every batch.

    The amplitude ``max_lr - base_lr`` is scaled by ``mode``: 'triangular'
    keeps it, 'triangular2' halves it every cycle, 'exp_range' multiplies it
    by ``gamma ** iteration``; a custom ``scale_fn(x)`` replaces the mode's,
    with ``x`` the cycle number (``scale_mode='cycle'``) or the iteration
    (``'iterations'``).

    Args:
        optimizer (Optimizer): the optimizer whose learning rates change.
        base_lr (float or list): the lowest lr, one for all groups or one per
            group.
        max_lr (float or list): the highest lr (before scaling).
        step_size_up (int, optional): steps from ``base_lr`` up to ``max_lr``.
            Default: ``2000``.
        step_size_down (int, optional): steps back down. Default: ``None``,
            meaning ``step_size_up``.
        mode (str, optional): ``'triangular'``, ``'triangular2'`` or
            ``'exp_range'``. Default: ``'triangular'``.
        gamma (float, optional): the decay of ``'exp_range'``. Default: ``1.0``.
        scale_fn (callable, optional): a custom amplitude scale, replacing
            ``mode``. Default: ``None``.
        scale_mode (str, optional): what ``scale_fn`` receives, ``'cycle'`` or
            ``'iterations'``. Default: ``'cycle'``.
        cycle_momentum (bool, optional): cycle the momentum too (the optimizer
            must have ``momentum`` or ``betas``). Default: ``True``.
        base_momentum (float or list, optional): the momentum at the lr's
            peak. Default: ``0.8``.
        max_momentum (float or list, optional): the momentum at ``base_lr``.
            Default: ``0.9``.
        last_epoch (int, optional): the index of the last epoch done; -1
            starts afresh, a value >= 0 resumes (every group then needs an
            ``'initial_lr'``). Default: ``-1``.

    Example::

        >>> opt = optim.SGD([tn.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
        >>> sched = optim.lr_scheduler.CyclicLR(opt, base_lr=0.0, max_lr=1.0, step_size_up=2)
        >>> lrs = []
        >>> for batch in range(6):
        ...     lrs.append(sched.get_last_lr()[0])
        ...     opt.step()
        ...     sched.step()
        >>> lrs
        [0.0, 0.5, 1.0, 0.5, 0.0, 0.5]
        >>> sched.get_last_lr()[0]                  # at the peak ...
        1.0
        >>> round(opt.param_groups[0]["momentum"], 4)   # ... the momentum is base_momentum
        0.8
    """

    def __init__(self, optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None,
                 mode="triangular", gamma=1.0, scale_fn=None, scale_mode="cycle",
                 cycle_momentum=True, base_momentum=0.8, max_momentum=0.9, last_epoch=-1):
        _check_optimizer("CyclicLR", optimizer)
        self.optimizer = optimizer
        base_lrs = self._per_group("base_lr", base_lr)
        if last_epoch == -1:
            for group, lr in zip(optimizer.param_groups, base_lrs):
                group["lr"] = lr
        self.max_lrs = self._per_group("max_lr", max_lr)
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
            raise ValueError(f"CyclicLR: mode {mode!r} is invalid and scale_fn is None")
        self.mode = mode
        self.gamma = gamma
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode
        if scale_fn is None:
            self.scale_mode = "iterations" if mode == "exp_range" else "cycle"

        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError("CyclicLR: optimizer must support momentum or beta1 with "
                                 "`cycle_momentum` option enabled")
            self.use_beta1 = "betas" in optimizer.defaults
            self.base_momentums = self._per_group("base_momentum", base_momentum)
            self.max_momentums = self._per_group("max_momentum", max_momentum)
            if last_epoch == -1:
                for group, m_max, m_base in zip(optimizer.param_groups, self.max_momentums,
                                                self.base_momentums):
                    self._set_momentum(group, m_max)
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _per_group(self, name, value):
        n = len(self.optimizer.param_groups)
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise ValueError(f"CyclicLR: {name} must have the same length as "
                                 f"optimizer.param_groups ({n}), got {len(value)} values")
            return list(value)
        return [value] * n

    def _set_momentum(self, group, momentum):
        if self.use_beta1:
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum

    def scale_fn(self, x):
        """The amplitude's scale at cycle (or iteration) ``x``."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma ** x

    def get_lr(self):
        t = self.last_epoch
        cycle = math.floor(1 + t / self.total_size)
        x = 1.0 + t / self.total_size - cycle          # position in the cycle, 0..1
        if x <= self.step_ratio:
            height = x / self.step_ratio
        else:
            height = (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else t)
        lrs = [base + (top - base) * height * scale
               for base, top in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            for group, m_base, m_max in zip(self.optimizer.param_groups, self.base_momentums,
                                            self.max_momentums):
                self._set_momentum(group, m_max - (m_max - m_base) * height * scale)
        return lrs

    def state_dict(self):
        """Attributes except the optimizer; a custom ``scale_fn`` is saved as
        None when it is a function, as its attributes when it is an object."""
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("optimizer", "_scale_fn_custom")}
        fn = self._scale_fn_custom
        state["_scale_fn_custom"] = None if fn is None or _is_function(fn) \
            else dict(fn.__dict__)
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        saved_fn = state.pop("_scale_fn_custom", None)
        self.__dict__.update(state)
        if saved_fn is not None and self._scale_fn_custom is not None:
            self._scale_fn_custom.__dict__.update(saved_fn)


class OneCycleLR(LRScheduler):
    """The 1cycle policy: one warm-up of the learning rate, then one annealing.

    Smith & Topin, 2017: the lr warms up from ``max_lr / div_factor`` to
    ``max_lr`` during the first ``pct_start`` of ``total_steps``, then anneals
    to ``max_lr / div_factor / final_div_factor``; the momentum (or Adam's
    ``beta1``) moves the opposite way. Call ``step()`` after every batch,
    ``total_steps`` times at most.

    With ``three_phase=True`` the lr comes back down to its initial value
    symmetrically before the final annealing.

    Args:
        optimizer (Optimizer): the optimizer whose learning rates change.
        max_lr (float or list): the peak lr, one for all groups or one per
            group.
        total_steps (int, optional): the length of the cycle; give it, or
            both ``epochs`` and ``steps_per_epoch``. Default: ``None``.
        epochs (int, optional): with ``steps_per_epoch``, gives
            ``total_steps = epochs * steps_per_epoch``. Default: ``None``.
        steps_per_epoch (int, optional): see ``epochs``. Default: ``None``.
        pct_start (float, optional): the fraction of the cycle spent warming
            up. Default: ``0.3``.
        anneal_strategy (str, optional): ``'cos'`` or ``'linear'``.
            Default: ``'cos'``.
        cycle_momentum (bool, optional): cycle the momentum too (the optimizer
            must have ``momentum`` or ``betas``). Default: ``True``.
        base_momentum (float or list, optional): the momentum at the lr's
            peak. Default: ``0.85``.
        max_momentum (float or list, optional): the momentum at the start and
            the end. Default: ``0.95``.
        div_factor (float, optional): ``initial_lr = max_lr / div_factor``.
            Default: ``25.0``.
        final_div_factor (float, optional): ``min_lr = initial_lr /
            final_div_factor``. Default: ``1e4``.
        three_phase (bool, optional): the three-phase schedule above.
            Default: ``False``.
        last_epoch (int, optional): the index of the last epoch done; -1
            starts afresh, a value >= 0 resumes (every group then needs an
            ``'initial_lr'``). Default: ``-1``.

    Example::

        >>> opt = optim.SGD([tn.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
        >>> sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10,
        ...                                       anneal_strategy="linear")
        >>> lrs = []
        >>> for batch in range(10):
        ...     lrs.append(sched.get_last_lr()[0])
        ...     opt.step()
        ...     sched.step()
        >>> [round(lr, 4) for lr in lrs]
        [0.04, 0.52, 1.0, 0.8571, 0.7143, 0.5714, 0.4286, 0.2857, 0.1429, 0.0]
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None,
                 steps_per_epoch=None, pct_start=0.3, anneal_strategy="cos",
                 cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                 div_factor=25.0, final_div_factor=1e4, three_phase=False, last_epoch=-1):
        _check_optimizer("OneCycleLR", optimizer)
        self.optimizer = optimizer
        self.total_steps = self._total_steps(total_steps, epochs, steps_per_epoch)
        if not 0 <= pct_start <= 1:
            raise ValueError(f"OneCycleLR: expected pct_start between 0 and 1, got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError("OneCycleLR: anneal_strategy must be 'cos' or 'linear', "
                             f"got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        self._phases = self._make_phases(float(pct_start), three_phase)

        groups = optimizer.param_groups
        max_lrs = self._per_group("max_lr", max_lr)
        if last_epoch == -1:
            for group, lr in zip(groups, max_lrs):
                group["initial_lr"] = lr / div_factor
                group["max_lr"] = lr
                group["min_lr"] = group["initial_lr"] / final_div_factor

        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError("OneCycleLR: optimizer must support momentum or beta1 "
                                 "with `cycle_momentum` option enabled")
            self.use_beta1 = "betas" in optimizer.defaults
            max_moms = self._per_group("max_momentum", max_momentum)
            base_moms = self._per_group("base_momentum", base_momentum)
            if last_epoch == -1:
                for group, m_max, m_base in zip(groups, max_moms, base_moms):
                    self._set_momentum(group, m_max)
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _total_steps(total_steps, epochs, steps_per_epoch):
        if total_steps is not None:
            if int(total_steps) != total_steps or total_steps <= 0:
                raise ValueError("OneCycleLR: expected a positive integer total_steps, "
                                 f"got {total_steps}")
            return int(total_steps)
        if epochs is None or steps_per_epoch is None:
            raise ValueError("OneCycleLR: you must define either total_steps OR "
                             "(epochs AND steps_per_epoch)")
        if epochs <= 0 or steps_per_epoch <= 0:
            raise ValueError("OneCycleLR: expected positive epochs and steps_per_epoch, "
                             f"got {epochs} and {steps_per_epoch}")
        return int(epochs * steps_per_epoch)

    def _make_phases(self, pct_start, three_phase):
        # Each phase ends at step `end` and moves lr and momentum between two
        # named group entries.
        n = self.total_steps
        warm_end = pct_start * n - 1        # the step at which the lr peaks
        warm_up = (warm_end, "initial_lr", "max_lr", "max_momentum", "base_momentum")
        if three_phase:
            return [warm_up,
                    (2 * warm_end, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                    (n - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        return [warm_up, (n - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]

    def _per_group(self, name, value):
        n = len(self.optimizer.param_groups)
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise ValueError(f"OneCycleLR: expected {n} values for {name}, got {len(value)}")
            return list(value)
        return [value] * n

    def _set_momentum(self, group, momentum):
        if self.use_beta1:
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self):
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {t} times; the specified number "
                             f"of total steps is {self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, (end, lr0, lr1, m0, m1) in enumerate(self._phases):
                if t <= end or i == len(self._phases) - 1:
                    pct = (t - start) / (end - start)
                    lrs.append(self._anneal(group[lr0], group[lr1], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[m0], group[m1], pct))
                    break
                start = end
        return lrs


class SequentialLR(LRScheduler):
    """Runs several schedulers one after the other.

    It switches at the epochs in ``milestones``: for instance a ``LinearLR``
    warm-up, then ``CosineAnnealingLR``.

    A scheduler taking over starts from its own epoch 0.

    Args:
        optimizer (Optimizer): the optimizer whose learning rates change.
        schedulers (list): the schedulers, all built on ``optimizer``.
        milestones (list of int): the epochs at which the next scheduler takes
            over; one fewer than the schedulers.
        last_epoch (int, optional): the index of the last epoch done; -1
            starts afresh, a value >= 0 resumes (every group then needs an
            ``'initial_lr'``). Default: ``-1``.

    Example::

        >>> opt = optim.SGD([tn.zeros(1, requires_grad=True)], lr=1.0)
        >>> warmup = optim.lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters=2)
        >>> decay = optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
        >>> sched = optim.lr_scheduler.SequentialLR(opt, [warmup, decay], milestones=[2])
        >>> lrs = []
        >>> for epoch in range(5):
        ...     lrs.append(sched.get_last_lr()[0])
        ...     opt.step()
        ...     sched.step()
        >>> lrs
        [0.5, 0.75, 1.0, 0.5, 0.25]
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        _check_optimizer("SequentialLR", optimizer)
        if not schedulers:
            raise ValueError("SequentialLR: expected at least one scheduler")
        for i, scheduler in enumerate(schedulers):
            if getattr(scheduler, "optimizer", None) is not optimizer:
                raise ValueError(f"SequentialLR: scheduler {i} ({type(scheduler).__name__}) "
                                 "belongs to a different optimizer")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: expected {len(schedulers) - 1} milestones for "
                             f"{len(schedulers)} schedulers, got {len(milestones)}")
        self.optimizer = optimizer
        self._schedulers = list(schedulers)
        self._milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        # Building each scheduler stepped it once; undo that, then let only
        # the first one take its initial step from the initial lrs.
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for scheduler in self._schedulers:
            scheduler.last_epoch -= 1
        first = self._schedulers[0]
        first._step_count = 0
        first.step()
        self._last_lr = first.get_last_lr()

    def step(self):
        """Advance the scheduler in charge of the next epoch."""
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler.step(0)       # a new phase starts at its own epoch 0
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self):
        """Own attributes plus each wrapped scheduler's state_dict."""
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict):
        """Restore own attributes and those of each wrapped scheduler."""
        state = dict(state_dict)
        saved = state.pop("_schedulers")
        self.__dict__.update(state)
        for scheduler, sub in zip(self._schedulers, saved):
            scheduler.load_state_dict(sub)


class ReduceLROnPlateau:
    """Reduces the learning rate when a metric stops improving.

    The lr is multiplied by ``factor`` when the metric has not improved for
    more than ``patience`` epochs. Call ``step(metric)`` once per epoch
    with, for instance, the validation loss.

    ``mode='min'`` watches a quantity that should go down (a loss),
    ``'max'`` one that should go up (an accuracy). A value counts as an
    improvement when it beats the best so far by more than ``threshold``:
    relatively (``best * (1 - threshold)`` in 'min' mode) with
    ``threshold_mode='rel'``, absolutely (``best - threshold``) with 'abs'.
    After a reduction, ``cooldown`` epochs pass before bad epochs count again.

    Args:
        optimizer (Optimizer): the optimizer whose learning rates change.
        mode (str, optional): ``'min'`` or ``'max'``. Default: ``'min'``.
        factor (float, optional): the factor applied at a reduction; must be
            below 1. Default: ``0.1``.
        patience (int, optional): the number of epochs without improvement
            tolerated before a reduction. Default: ``10``.
        threshold (float, optional): the smallest change that counts as an
            improvement. Default: ``1e-4``.
        threshold_mode (str, optional): ``'rel'`` or ``'abs'``.
            Default: ``'rel'``.
        cooldown (int, optional): epochs to wait after a reduction.
            Default: ``0``.
        min_lr (float or list, optional): the lowest lr, one for all groups
            or one per group. Default: ``0``.
        eps (float, optional): a reduction smaller than this is skipped.
            Default: ``1e-8``.

    Example::

        >>> opt = optim.SGD([tn.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)
        >>> for val_loss in [3.0, 2.0, 2.0, 2.0, 2.0, 2.0]:
        ...     opt.step()
        ...     sched.step(val_loss)
        ...     print(sched.get_last_lr()[0])
        1.0
        1.0
        1.0
        0.5
        0.5
        0.25
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        _check_optimizer("ReduceLROnPlateau", optimizer)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor should be < 1.0, got {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError("ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', "
                             f"got {threshold_mode!r}")
        self.optimizer = optimizer
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(f"ReduceLROnPlateau: expected {n} min_lrs, got {len(min_lr)}")
            self.min_lrs = list(min_lr)
        else:
            self.min_lrs = [min_lr] * n
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.cooldown = cooldown
        self.mode = mode
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = _lrs(self)
        self._reset()

    def _reset(self):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self):
        return self.cooldown_counter > 0

    def is_better(self, a, best):
        """Whether metric ``a`` improves on ``best`` by more than the threshold."""
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return a < best * (1.0 - self.threshold)
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def get_last_lr(self):
        """The lrs after the last step (one per group)."""
        return self._last_lr

    def step(self, metrics, epoch=None):
        """Record this epoch's metric (a number or one-element Tensor)."""
        current = float(metrics)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0     # bad epochs during cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = _lrs(self)

    def _reduce_lr(self):
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new

    def state_dict(self):
        """Every attribute except the optimizer."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore the attributes saved by ``state_dict()``."""
        self.__dict__.update(state_dict)
