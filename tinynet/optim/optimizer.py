"""The Optimizer base class: parameter groups, per-parameter state, state_dict.

An optimizer holds ``param_groups``, a list of dicts, each with a ``'params'``
list of Tensors and that group's options (``lr``, ``momentum``, ...; options a
group leaves out come from the optimizer's ``defaults``). ``state`` maps each
parameter to a dict of its running buffers (raw NumPy/CuPy arrays, same dtype
and device as the parameter) plus a Python int ``'step'`` where the algorithm
counts steps.

Subclasses implement ``_update(group)``, which walks the group's parameters
once and updates ``p.array`` in place, skipping parameters without a gradient.
Updates never build a graph: they touch raw arrays only.

The layout of ``state_dict()`` is PyTorch's::

    {'state': {0: {'step': 3, 'exp_avg': Tensor, ...}, 1: {...}},
     'param_groups': [{'lr': 0.001, ..., 'params': [0, 1]}]}

where the integers number the parameters across groups in order.
"""
from tinynet import autograd
from tinynet.backend import device_of, get_array_module, to_device
from tinynet.tensor import Tensor, describe


class _Required:
    """Marks a default that every parameter group must supply."""

    def __repr__(self):
        return "<required parameter>"


required = _Required()


class Optimizer:
    """Base class of all tinynet optimizers (PyTorch's ``torch.optim.Optimizer``).

    It keeps ``param_groups``, a list of dicts each holding a ``'params'``
    list and that group's options (options a group leaves out come from
    ``defaults``), and ``state``, a dict from each parameter to its running
    buffers. ``step(closure=None)`` updates every parameter that has a
    gradient, ``zero_grad()`` clears the gradients, and ``state_dict()`` /
    ``load_state_dict()`` save and restore both in PyTorch's layout.

    A subclass passes its options to ``__init__`` as ``defaults`` and
    implements ``_update(group)``, which updates the ``p.array`` of each
    parameter of the group in place (``_params_with_grads(group)`` yields the
    parameters that have a gradient, with weight decay and ``maximize``
    already applied).

    Args:
        params (iterable): the Tensors to optimize, or dicts defining
            parameter groups (``{'params': [...], 'lr': 0.1}``). Must be an
            ordered collection (not a set): ``state_dict`` numbers parameters
            by position.
        defaults (dict): the options used by groups that do not set them.

    Example::

        >>> class SignSGD(optim.Optimizer):
        ...     def __init__(self, params, lr=0.01):
        ...         super().__init__(params, dict(lr=lr))
        ...     def _update(self, group):
        ...         for p, x, g, xp in self._params_with_grads(group):
        ...             x -= group["lr"] * xp.sign(g)
        >>> w = tn.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = SignSGD([w], lr=0.5)
        >>> (w * w).sum().backward()
        >>> opt.step()
        >>> w.detach()
        tensor([ 0.5, -1.5])
        >>> opt.param_groups[0]["lr"]
        0.5
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(
                f"{name}: params should be an iterable of Tensors or dicts, but got "
                f"one Tensor {describe(params)}; pass [tensor] or model.parameters()")
        _check_ordered(name, params)
        param_groups = list(params)
        if not param_groups:
            raise ValueError(f"{name} got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        return "\n".join(lines) + "\n)"

    # ------------------------------------------------------------ groups
    def add_param_group(self, param_group):
        """Add a group of parameters (a dict with ``'params'`` and options).

        Options the group leaves out are filled in from ``defaults``; a
        parameter may belong to one group only.
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a param group must be a dict, got "
                            f"{type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        _check_ordered(name, params)
        params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name} can only optimize Tensors, but one of the "
                                f"params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name} can't optimize a non-leaf Tensor "
                                 f"(the Tensor {describe(p)} was produced by an op)")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a parameter group contains the same parameter "
                             "more than once")
        group["params"] = params

        for key, default in self.defaults.items():
            if default is required and key not in group:
                raise ValueError(f"{name}: parameter group didn't specify a value of "
                                 f"required optimization parameter {key}")
            group.setdefault(key, default)

        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one "
                             "parameter group")
        self.param_groups.append(group)

    # ------------------------------------------------------------ stepping
    def zero_grad(self, set_to_none=True):
        """Reset every parameter's gradient: to None (default) or to zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif p.grad.grad_fn is not None:
                    # A gradient built with create_graph: drop its graph, not an op's output.
                    p.grad = Tensor._make(get_array_module(p.grad.array).zeros_like(p.grad.array))
                else:
                    p.grad.array[...] = 0

    def step(self, closure=None):
        """Update every parameter that has a gradient, once.

        ``closure`` (optional) re-evaluates the model and returns the loss; it
        runs with gradients enabled before the update, and its loss is returned.
        """
        loss = None
        if closure is not None:
            with autograd.enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._update(group)
        return loss

    def _update(self, group):
        raise NotImplementedError(f"{type(self).__name__} must implement _update(group)")

    @staticmethod
    def _params_with_grads(group):
        """``(p, array, gradient, xp)`` for each parameter of ``group`` that has
        a gradient, the gradient negated when ``maximize`` and with the L2
        weight decay added, or (``decoupled_weight_decay``, AdamW's rule) the
        array shrunk by ``lr * weight_decay`` instead. A changed gradient is a
        new array: ``p.grad`` itself is never modified."""
        lr, weight_decay = float(group["lr"]), float(group.get("weight_decay", 0))
        decoupled = group.get("decoupled_weight_decay", False)
        maximize = group.get("maximize", False)
        for p in group["params"]:
            if p.grad is None:
                continue
            x, g = p.array, p.grad.array
            xp = get_array_module(x)
            if maximize:
                g = xp.negative(g)
            if weight_decay != 0:
                if decoupled:
                    x *= 1.0 - lr * weight_decay
                else:
                    g = g + weight_decay * x
            yield p, x, g, xp

    # State entries kept as Python numbers (PyTorch may save them as 0-d tensors).
    _int_state = ("step",)
    _float_state = ()

    def _load_value(self, key, value, p):
        """One saved state entry, made ready for parameter ``p``."""
        if isinstance(value, Tensor):
            value = value.array
        if key in self._int_state:
            # PyTorch keeps 'step' as a 0-d float tensor; tinynet as a Python int.
            return int(value)
        if key in self._float_state:
            return float(value)
        if isinstance(value, (list, tuple)):
            return [self._load_value(None, v, p) for v in value]
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            value = to_device(value, device_of(p.array))
            # A fresh copy in the parameter's dtype: the optimizer updates it in place.
            return value.astype(p.array.dtype, copy=True)
        return value

    # ------------------------------------------------------------ (de)serialization
    def state_dict(self):
        """The optimizer's state in PyTorch's layout (see the module docstring).

        Buffers are returned as Tensors sharing memory with the optimizer's own
        (like PyTorch, no copy); ``load_state_dict`` copies them.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: _pack(v) for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a ``state_dict()`` (from this class, or tn.load of a saved one).

        The groups must have the same sizes as this optimizer's. Buffers are
        copied onto each parameter's device and dtype, so the loaded optimizer
        continues exactly where the saved one stopped.
        """
        name = type(self).__name__
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: loaded state dict has "
                             f"{len(saved_groups)} parameter groups, expected "
                             f"{len(self.param_groups)}")
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: parameter group {i} has "
                    f"{len(saved['params'])} parameters in the loaded state dict, "
                    f"expected {len(group['params'])}")
        # Map the saved integer ids to this optimizer's parameters, in order.
        id_to_param = {}
        for saved, group in zip(saved_groups, self.param_groups):
            for i, p in zip(saved["params"], group["params"]):
                id_to_param[int(i)] = p
        self.state = {}
        for key, buffers in state_dict["state"].items():
            p = id_to_param.get(int(key))
            if p is None:
                continue
            self.state[p] = {k: self._load_value(k, v, p) for k, v in buffers.items()}
        self.param_groups = [
            {**{k: v for k, v in saved.items() if k != "params"}, "params": group["params"]}
            for saved, group in zip(saved_groups, self.param_groups)]


def _check_ordered(name, params):
    # state_dict numbers parameters by position: a set's order changes between runs.
    if isinstance(params, (set, frozenset)):
        raise TypeError(f"{name}: parameters need to be given as an ordered collection "
                        "(a list), not a set: their order must be consistent between runs")


def _is_array(v):
    return hasattr(v, "shape") and hasattr(v, "dtype") and not isinstance(v, Tensor)


def _pack(v):
    """A state entry as state_dict() returns it: arrays (also inside lists) as Tensors."""
    if _is_array(v):
        return Tensor._make(v)
    if isinstance(v, list):
        return [_pack(x) for x in v]
    return v
