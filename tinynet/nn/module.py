"""Module (the base of every layer) and Parameter.

A Module keeps three ordered registries filled by plain attribute
assignment: ``_parameters`` (Parameters), ``_buffers`` (Tensors that are
state but not trained, e.g. BatchNorm's running statistics) and
``_modules`` (submodules). Everything else (parameters(), state_dict(),
to(), repr) walks these registries, so their order is PyTorch's order and
the state_dict keys are PyTorch's keys.

Hooks (PyTorch's ``register_forward_pre_hook``, ``register_forward_hook``,
``register_full_backward_pre_hook`` and ``register_full_backward_hook``, and
their global ``register_module_*`` forms) run around ``forward`` in
``Module.__call__``; a module without hooks calls ``forward`` directly.
"""
import warnings
from collections import OrderedDict, namedtuple
from types import MappingProxyType

import numpy as np

from tinynet.autograd import Function, is_grad_enabled, no_grad
from tinynet.backend import device_of, get_array_module, is_cupy_array, to_device
from tinynet.tensor import Tensor, as_array
from tinynet.utils.hooks import RemovableHandle

# Hooks that run for every module (``register_module_*_hook``), before the
# module's own; ids come from RemovableHandle, unique across all hook dicts.
_global_forward_pre_hooks = OrderedDict()
_global_forward_hooks = OrderedDict()
_global_forward_hooks_with_kwargs = OrderedDict()
_global_forward_hooks_always_called = OrderedDict()
_global_backward_pre_hooks = OrderedDict()
_global_backward_hooks = OrderedDict()

# the per-module hook dicts, made by Module.__init__
_HOOK_DICTS = ("_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_forward_hooks",
               "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
               "_backward_pre_hooks", "_backward_hooks")
_NO_HOOKS = MappingProxyType({})


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable (requires_grad=True by default).

    ``Parameter(t)`` shares ``t``'s array; ``Parameter(array)`` wraps it.
    """
    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = np.empty((0,), np.float32)
        self._init(as_array(data), requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        # copy.deepcopy / pickle: rebuild as a Parameter with copied data
        return (Parameter, (self.array, self.requires_grad))


_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of all layers and models (PyTorch's nn.Module).

    Subclasses call ``super().__init__()`` first, assign Parameters,
    submodules and buffers as attributes, and define ``forward``.
    """

    training: bool
    # read-only empty defaults: a module restored without __init__ has no hooks
    _forward_pre_hooks = _forward_hooks = _backward_pre_hooks = _backward_hooks = _NO_HOOKS

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these dicts to exist
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        for name in _HOOK_DICTS:
            object.__setattr__(self, name, OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward() defined")

    def __call__(self, *args, **kwargs):
        if (self._forward_pre_hooks or self._forward_hooks or self._backward_pre_hooks
                or self._backward_hooks or _global_forward_pre_hooks or _global_forward_hooks
                or _global_backward_pre_hooks or _global_backward_hooks):
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------ hooks
    def _hook_dict(self, name):
        """The module's own hook dict ``name``, made on first use."""
        d = self.__dict__.get(name)
        if d is None:
            d = OrderedDict()
            object.__setattr__(self, name, d)
        return d

    def _add_hook(self, name, hook, prepend, method, extra=()):
        if not callable(hook):
            raise TypeError(f"{type(self).__name__}.{method}: the hook must be callable, "
                            f"got {type(hook).__name__}")
        hooks = self._hook_dict(name)
        handle = RemovableHandle(hooks, extra_dict=[self._hook_dict(e) for e in extra])
        hooks[handle.id] = hook
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """Call ``hook(module, args)`` before every ``forward``.

        ``args`` is the tuple of positional arguments; the hook may return a
        new value for it (a single value becomes a 1-tuple). With
        ``with_kwargs=True`` it is called as ``hook(module, args, kwargs)``
        and may return a new ``(args, kwargs)`` pair. ``prepend=True`` runs it
        before the hooks already registered on this module (global hooks from
        ``register_module_forward_pre_hook`` always come first). Returns a
        ``RemovableHandle``.
        """
        extra = ("_forward_pre_hooks_with_kwargs",)
        handle = self._add_hook("_forward_pre_hooks", hook, prepend,
                                "register_forward_pre_hook", extra)
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[handle.id] = True
        return handle

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False,
                              always_call=False):
        """Call ``hook(module, args, output)`` after every ``forward``.

        A hook that returns something other than None replaces the output for
        the hooks after it and for the caller. ``with_kwargs=True`` calls
        ``hook(module, args, kwargs, output)``; ``always_call=True`` also runs
        the hook (with ``output=None`` if forward did not get that far) when
        the call raises, and the error goes on. Returns a ``RemovableHandle``.
        """
        extra = ("_forward_hooks_with_kwargs", "_forward_hooks_always_called")
        handle = self._add_hook("_forward_hooks", hook, prepend, "register_forward_hook",
                                extra)
        if with_kwargs:
            self._forward_hooks_with_kwargs[handle.id] = True
        if always_call:
            self._forward_hooks_always_called[handle.id] = True
        return handle

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """Call ``hook(module, grad_output)`` when the gradients with respect to
        the module's outputs are ready, before they flow into the module.

        ``grad_output`` has one entry per output (one for a Tensor output,
        one per element of a tuple); None for an output that is not a Tensor,
        does not require grad, or received no gradient. The hook may return
        new gradients (a tuple of the same length) to use instead. The
        forward then receives and returns aliases of the tensors (made by a
        pass-through ``BackwardHookFunction``), so changing them in place is
        an error, as in PyTorch. Returns a ``RemovableHandle``.
        """
        return self._add_hook("_backward_pre_hooks", hook, prepend,
                              "register_full_backward_pre_hook")

    def register_full_backward_hook(self, hook, prepend=False):
        """Call ``hook(module, grad_input, grad_output)`` when the gradients
        with respect to the module's inputs have been computed.

        ``grad_input`` has one entry per positional argument of the call:
        the gradient for a Tensor that requires grad, zeros for a Tensor that
        does not (None for every entry if no input requires grad), None for
        anything else; keyword arguments are not included. The hook may
        return a new ``grad_input`` (a tuple of the same length) to pass on
        instead. If no input requires grad the hook runs as soon as
        ``grad_output`` is known, with ``grad_input`` all None, and may then
        only return None; if no output requires grad it never runs. Returns a
        ``RemovableHandle``.
        """
        return self._add_hook("_backward_hooks", hook, prepend, "register_full_backward_hook")

    def register_backward_hook(self, hook):
        raise NotImplementedError(
            f"{type(self).__name__}.register_backward_hook: tinynet does not implement "
            "PyTorch's deprecated non-full backward hook, which reports the gradients of the "
            "module's last op rather than of its inputs; use register_full_backward_hook "
            "(same hook signature, gradients with respect to the module's inputs)")

    def _call_with_hooks(self, args, kwargs):
        """``__call__`` when any hook is registered: PyTorch's order (forward
        pre-hooks, wrap inputs for backward hooks, forward, forward hooks,
        wrap outputs)."""
        result = None
        called = set()              # always_call hooks that ran already
        with_kwargs = self.__dict__.get("_forward_hooks_with_kwargs", _NO_HOOKS)
        always = self.__dict__.get("_forward_hooks_always_called", _NO_HOOKS)
        forward_hooks = [*_global_forward_hooks.items(), *self._forward_hooks.items()]
        try:
            pre_with_kwargs = self.__dict__.get("_forward_pre_hooks_with_kwargs", _NO_HOOKS)
            for hid, hook in [*_global_forward_pre_hooks.items(),
                              *self._forward_pre_hooks.items()]:
                if hid in pre_with_kwargs:
                    new = hook(self, args, kwargs)
                    if new is not None:
                        if not (isinstance(new, tuple) and len(new) == 2):
                            raise RuntimeError("forward pre-hook must return None or a tuple "
                                               f"of (new_args, new_kwargs), but got {new}.")
                        args, kwargs = new
                else:
                    new = hook(self, args)
                    if new is not None:
                        args = new if isinstance(new, tuple) else (new,)

            backward_hooks = [*_global_backward_hooks.values(), *self._backward_hooks.values()]
            backward_pre_hooks = [*_global_backward_pre_hooks.values(),
                                  *self._backward_pre_hooks.values()]
            bw = None
            if backward_hooks or backward_pre_hooks:
                bw = _BackwardHooks(self, backward_hooks, backward_pre_hooks)
                args = bw.wrap_inputs(args)

            result = self.forward(*args, **kwargs)

            for hid, hook in forward_hooks:
                if hid in always or hid in _global_forward_hooks_always_called:
                    called.add(hid)
                if hid in with_kwargs or hid in _global_forward_hooks_with_kwargs:
                    new = hook(self, args, kwargs, result)
                else:
                    new = hook(self, args, result)
                if new is not None:
                    result = new

            if bw is not None:
                result = bw.wrap_outputs(result)
            return result
        except Exception:
            # always_call hooks still run; their own errors only warn, and
            # the original error goes on
            for hid, hook in forward_hooks:
                if hid in called or not (hid in always
                                         or hid in _global_forward_hooks_always_called):
                    continue
                try:
                    if hid in with_kwargs or hid in _global_forward_hooks_with_kwargs:
                        new = hook(self, args, kwargs, result)
                    else:
                        new = hook(self, args, result)
                    if new is not None:
                        result = new
                except Exception as e:
                    warnings.warn("module forward hook with ``always_call=True`` raised an "
                                  f"exception that was silenced as another error was raised "
                                  f"in forward: {e}", stacklevel=2)
            raise

    # ------------------------------------------------------------ registration
    def _check_registries(self):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign to {type(self).__name__} before "
                                 "Module.__init__() is called (call super().__init__() first)")

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter, or None for an absent optional one)."""
        self._check_registries()
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign a {type(param).__name__} as parameter "
                            f"'{name}' (nn.Parameter or None expected)")
        self._check_name(name, "_parameters")
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Register a non-trained state Tensor (or None); persistent buffers
        appear in the state_dict."""
        self._check_registries()
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign a {type(tensor).__name__} as buffer '{name}' "
                            "(a Tensor or None expected)")
        self._check_name(name, "_buffers")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name, module):
        """Register a submodule (or None) under ``name``."""
        self._check_registries()
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if not isinstance(name, str) or "." in name or name == "":
            raise KeyError(f"module name must be a non-empty string without '.', got {name!r}")
        self._check_name(name, "_modules")
        self._modules[name] = module

    register_module = add_module

    def _check_name(self, name, registry):
        if "." in name:
            raise KeyError(f"attribute name can't contain '.', got {name!r}")
        if name in self.__dict__:
            raise KeyError(f"attribute '{name}' already exists")
        for other in ("_parameters", "_buffers", "_modules"):
            if other != registry and name in self.__dict__[other]:
                raise KeyError(f"attribute '{name}' already exists")

    def __setattr__(self, name, value):
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            self._check_registries()
            self._forget(name, keep="_parameters")
            params[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} as parameter "
                                f"'{name}' (nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            self._check_registries()
            self._forget(name, keep="_modules")
            d["_modules"][name] = value
        elif params is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} as child module "
                                f"'{name}' (a Module or None expected)")
            d["_modules"][name] = None
        elif params is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign a {type(value).__name__} as buffer "
                                f"'{name}' (a Tensor or None expected)")
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name, keep=None):
        # a name lives in exactly one place: drop it from the others first
        # (not from `keep`, where re-assigning keeps its position, as in PyTorch)
        d = self.__dict__
        d.pop(name, None)
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry != keep:
                d[registry].pop(name, None)
        d["_non_persistent_buffers_set"].discard(name)

    def __getattr__(self, name):
        # only called when normal lookup fails: look in the registries
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            reg = d.get(registry)
            if reg is not None and name in reg:
                return reg[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for registry in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(registry, ()):
                del self.__dict__[registry][name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        keys = list(super().__dir__())
        for registry in ("_parameters", "_buffers", "_modules"):
            keys += list(self.__dict__[registry])
        return sorted(set(keys))

    # ------------------------------------------------------------ iteration
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(name, module) for this module and every descendant, depth first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from m.named_modules(memo, sub, remove_duplicate)

    def modules(self):
        """All modules of the tree, self first (each once)."""
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        """(name, module) for the direct submodules (each once)."""
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        """The direct submodules."""
        for _, m in self.named_children():
            yield m

    def _named_members(self, registry, prefix, recurse, remove_duplicate=True):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, m in mods:
            for name, t in m.__dict__[registry].items():
                if t is None or (remove_duplicate and id(t) in seen):
                    continue
                seen.add(id(t))
                yield mod_prefix + ("." if mod_prefix else "") + name, t

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, Parameter) pairs; a shared Parameter is listed once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        """Every Parameter of this module (and its submodules with ``recurse``), once each."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, buffer) pairs, persistent or not."""
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        """Every buffer of this module (and its submodules with ``recurse``)."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ------------------------------------------------------------ modes, grads
    def train(self, mode=True):
        """Set training mode (affects Dropout, BatchNorm) on every submodule."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: training mode is expected to be a bool, got {mode!r}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        """Turn gradient recording of every parameter on or off (e.g. to freeze a model)."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Clear every parameter's ``.grad`` (to None, or to zeros in place)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            elif p.grad.grad_fn is not None:
                # a create_graph gradient is an op output whose array a graph may
                # still hold: give the parameter a fresh zero gradient instead
                p.grad = Tensor._wrap(get_array_module(p.grad.array).zeros_like(p.grad.array))
            else:
                p.grad.array[...] = 0
                p.grad._vc[0] += 1

    def apply(self, fn):
        """Call ``fn(m)`` on every submodule (children first) and on self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------ devices, dtypes
    def _map_tensors(self, fn):
        """Replace each parameter's and buffer's array (and grad's) by fn(array).

        The Tensor objects stay the same, so optimizers that hold them keep working.
        """
        with no_grad():
            for m in self.modules():
                for t in list(m._parameters.values()) + list(m._buffers.values()):
                    if t is None:
                        continue
                    t.array = fn(t.array)
                    if t.grad is not None:
                        t.grad.array = fn(t.grad.array)
        return self

    def to(self, *args, device=None, dtype=None):
        """``to('cuda')``, ``to(tn.float64)``, ``to('cpu', tn.float32)``.

        A dtype converts floating point parameters and buffers only (an int64
        ``num_batches_tracked`` stays int64).
        """
        for a in args:
            if isinstance(a, str) and (a.startswith("cpu") or a.startswith("cuda")):
                device = a
            elif a is not None:
                dtype = a
        if dtype is not None:
            dtype = np.dtype(dtype)
            if dtype.kind != "f":
                raise TypeError(f"Module.to only accepts floating point dtypes, got {dtype}")

        def convert(arr):
            if dtype is not None and arr.dtype.kind == "f" and arr.dtype != dtype:
                arr = arr.astype(dtype)
            if device is not None:
                arr = to_device(arr, device)
            return arr
        return self._map_tensors(convert)

    def cpu(self):
        """Move parameters and buffers to the host."""
        return self.to("cpu")

    def cuda(self, device=None):
        """Move parameters and buffers to a CUDA device (CuPy arrays)."""
        return self.to("cuda" if device is None else f"cuda:{device}")

    def float(self):
        """Floating point parameters and buffers to float32."""
        return self.to(np.float32)

    def double(self):
        """Floating point parameters and buffers to float64."""
        return self.to(np.float64)

    def half(self):
        """Floating point parameters and buffers to float16."""
        return self.to(np.float16)

    # ------------------------------------------------------------ state_dict
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """Parameters and persistent buffers by dotted name (PyTorch's keys).

        Values are Tensors sharing memory with the module's (detached unless
        ``keep_vars``), so an in-place change to one shows in the other.
        """
        if destination is None:
            destination = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination, prefix + name + ".", keep_vars)
        return destination

    def _local_state(self):
        state = OrderedDict((k, v) for k, v in self._parameters.items() if v is not None)
        state.update((k, v) for k, v in self._buffers.items()
                     if v is not None and k not in self._non_persistent_buffers_set)
        return state

    def load_state_dict(self, state_dict, strict=True):
        """Copy values (Tensors or NumPy/CuPy arrays) into the parameters and buffers.

        Values are copied in place, cast to each parameter's dtype and moved
        to its device. Shape mismatches always raise; missing and unexpected
        keys raise when ``strict``. Returns (missing_keys, unexpected_keys).
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"load_state_dict: expected a dict, got {type(state_dict).__name__}")
        missing, errors, used = [], [], set()
        for prefix, m in self.named_modules():
            prefix = prefix + "." if prefix else ""
            for name, t in m._local_state().items():
                key = prefix + name
                if key not in state_dict:
                    missing.append(key)
                    continue
                used.add(key)
                err = _copy_into(t, state_dict[key], key)
                if err:
                    errors.append(err)
        unexpected = [k for k in state_dict.keys() if k not in used]
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in missing) + ". ")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        return _IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------ repr
    def extra_repr(self):
        """The text inside ``Name(...)``; layers list their non-default settings."""
        return ""

    def _get_name(self):
        return type(self).__name__

    def _repr_html_(self):
        # Jupyter shows a module as its summary table (parameters per layer)
        from tinynet.utils.model_summary import summary
        return summary(self)._repr_html_()

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, m in self._modules.items():
            child = _indent(repr(m), 2)
            lines.append(f"({name}): {child}")
        main = self._get_name() + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


# ---------------------------------------------------------------- global hooks
def _check_callable(hook, name):
    if not callable(hook):
        raise TypeError(f"{name}: the hook must be callable, got {type(hook).__name__}")


def register_module_forward_pre_hook(hook):
    """``hook(module, args)`` before the forward of every module, before the
    module's own pre-hooks (for debugging and profiling)."""
    _check_callable(hook, "register_module_forward_pre_hook")
    handle = RemovableHandle(_global_forward_pre_hooks)
    _global_forward_pre_hooks[handle.id] = hook
    return handle


def register_module_forward_hook(hook, *, with_kwargs=False, always_call=False):
    """``hook(module, args, output)`` after the forward of every module,
    before the module's own forward hooks."""
    _check_callable(hook, "register_module_forward_hook")
    handle = RemovableHandle(_global_forward_hooks, extra_dict=[
        _global_forward_hooks_with_kwargs, _global_forward_hooks_always_called])
    _global_forward_hooks[handle.id] = hook
    if with_kwargs:
        _global_forward_hooks_with_kwargs[handle.id] = True
    if always_call:
        _global_forward_hooks_always_called[handle.id] = True
    return handle


def register_module_full_backward_pre_hook(hook):
    """``hook(module, grad_output)`` for every module, before the module's own."""
    _check_callable(hook, "register_module_full_backward_pre_hook")
    handle = RemovableHandle(_global_backward_pre_hooks)
    _global_backward_pre_hooks[handle.id] = hook
    return handle


def register_module_full_backward_hook(hook):
    """``hook(module, grad_input, grad_output)`` for every module, before the
    module's own."""
    _check_callable(hook, "register_module_full_backward_hook")
    handle = RemovableHandle(_global_backward_hooks)
    _global_backward_hooks[handle.id] = hook
    return handle


def register_module_backward_hook(hook):
    raise NotImplementedError(
        "register_module_backward_hook: tinynet does not implement PyTorch's deprecated "
        "non-full backward hook; use register_module_full_backward_hook")


# ---------------------------------------------------------------- backward hooks
class BackwardHookFunction(Function):
    """Passes tensors through unchanged. Its backward hands the gradients it
    receives to ``callback``, which returns the gradients to pass on: this is
    how a module's backward hooks see (and may replace) the gradients at the
    module's outputs and inputs."""

    def __init__(self, callback):
        self.callback = callback

    def forward(self, *arrays):
        return arrays if len(arrays) > 1 else arrays[0]

    def backward(self, *grads):
        return self.callback(grads)


def _pass_through(callback, tensors):
    """``tensors`` through a BackwardHookFunction, as a list. Each output is
    an alias of its input: same array, same version counter, and marked as a
    view so that an in-place change of it is refused (PyTorch refuses it too)."""
    outs = BackwardHookFunction(callback)(*tensors)
    outs = list(outs) if isinstance(outs, tuple) else [outs]
    for o, t in zip(outs, tensors):
        o._vc, o._base = t._vc, t
    return outs


class _BackwardHooks:
    """The full backward (pre-)hooks of one module call.

    The output side's backward runs first: it collects ``grad_output`` (one
    entry per output), runs the pre-hooks and keeps the result; the input
    side's backward then calls the hooks with ``grad_input`` and that
    ``grad_output``. When no input requires grad there is no input side and
    the hooks run on the output side.
    """

    def __init__(self, module, hooks, pre_hooks):
        self.module, self.hooks, self.pre_hooks = module, hooks, pre_hooks
        self.grad_outputs = None
        self.n_inputs = 0
        self.input_slots = None     # positions of the inputs passed through, or None
        self.zero_inputs = ()       # (position, shape, dtype, array module) of the others
        self.n_outputs = 0
        self.output_slots = None

    def wrap_inputs(self, args):
        self.n_inputs = len(args)
        slots = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        if not slots or not is_grad_enabled():
            return args
        self.input_slots = slots
        # a Tensor input that does not require grad gets zeros in grad_input
        self.zero_inputs = tuple(
            (i, a.shape, a.dtype, get_array_module(a.array)) for i, a in enumerate(args)
            if isinstance(a, Tensor) and not a.requires_grad)
        new = list(args)
        for i, t in zip(slots, _pass_through(self._inputs_backward, [args[i] for i in slots])):
            new[i] = t
        return tuple(new)

    def wrap_outputs(self, result):
        is_tuple = isinstance(result, tuple)
        if not (is_tuple or isinstance(result, Tensor)):
            warnings.warn("For backward hooks to be called, module output should be a Tensor "
                          f"or a tuple of Tensors but received {type(result)}", stacklevel=3)
        items = result if is_tuple else (result,)
        self.n_outputs = len(items)
        slots = [i for i, a in enumerate(items) if isinstance(a, Tensor) and a.requires_grad]
        if not slots or not is_grad_enabled():
            return result
        self.output_slots = slots
        outs = _pass_through(self._outputs_backward, [items[i] for i in slots])
        # which outputs received a gradient: the engine gives zeros to an
        # unused output of a several-output op, where PyTorch gives None
        self.arrived = [len(outs) == 1] * len(outs)
        if len(outs) > 1:
            for k, o in enumerate(outs):
                o.register_hook(lambda g, k=k: self.arrived.__setitem__(k, True))
        new = list(items)
        for i, t in zip(slots, outs):
            new[i] = t
        return tuple(new) if is_tuple else new[0]

    def _outputs_backward(self, grads):
        packed = [None] * self.n_outputs
        for i, g, arrived in zip(self.output_slots, grads, self.arrived):
            packed[i] = g if arrived else None
        grad_outputs = tuple(packed)
        for hook in self.pre_hooks:
            new = hook(self.module, grad_outputs)
            if new is None:
                continue
            if isinstance(new, Tensor):
                new = (new,)
            if len(new) != len(grad_outputs):
                raise RuntimeError("Backward pre hook returned an invalid number of "
                                   f"grad_output, got {len(new)}, but expected "
                                   f"{len(grad_outputs)}")
            grad_outputs = tuple(new)
        self.grad_outputs = grad_outputs
        self.arrived = [len(self.output_slots) == 1] * len(self.output_slots)   # next backward
        if self.input_slots is None:
            # no input requires grad: the hooks fire now, with grad_input all None
            grad_inputs = (None,) * self.n_inputs
            for hook in self.hooks:
                res = hook(self.module, grad_inputs, grad_outputs)
                if res is not None and not (isinstance(res, tuple)
                                            and all(r is None for r in res)):
                    raise RuntimeError("Backward hook for Modules where no input requires "
                                       "gradient should always return None or None for all "
                                       "gradients.")
            self.grad_outputs = None
        # an output without a gradient passes on the engine's zeros, not None
        return tuple(grad_outputs[i] if grad_outputs[i] is not None else g
                     for i, g in zip(self.output_slots, grads))

    def _inputs_backward(self, grads):
        if self.grad_outputs is None:
            # the gradient reached the inputs without passing through the outputs
            return grads
        packed = [None] * self.n_inputs
        for i, shape, dtype, xp in self.zero_inputs:
            packed[i] = Tensor._wrap(xp.zeros(shape, dtype))
        for i, g in zip(self.input_slots, grads):
            packed[i] = g
        grad_inputs = tuple(packed)
        for hook in self.hooks:
            new = hook(self.module, grad_inputs, self.grad_outputs)
            if new is None:
                continue
            if len(new) != len(grad_inputs):
                raise RuntimeError("Backward hook returned an invalid number of grad_input, "
                                   f"got {len(new)}, but expected {len(grad_inputs)}")
            grad_inputs = tuple(new)
        self.grad_outputs = None
        return tuple(grad_inputs[i] for i in self.input_slots)


def _indent(text, spaces):
    """Indent every line of ``text`` but the first."""
    first, *rest = text.split("\n")
    return "\n".join([first] + [" " * spaces + line for line in rest])


def _copy_into(t, value, key):
    """Copy a state value into tensor ``t`` in place; an error string or None."""
    arr = value.array if isinstance(value, Tensor) else value
    if not (isinstance(arr, np.ndarray) or is_cupy_array(arr) or np.isscalar(arr)):
        try:
            arr = np.asarray(arr)       # e.g. a torch tensor (via __array__)
        except Exception:
            return f'While copying the parameter named "{key}", expected a Tensor or ' \
                   f"array, got {type(value).__name__}."
    shape = tuple(np.shape(arr)) if not is_cupy_array(arr) else tuple(arr.shape)
    if shape != tuple(t.shape):
        return (f"size mismatch for {key}: copying a param with shape {shape} from "
                f"checkpoint, the shape in current model is {tuple(t.shape)}.")
    if is_cupy_array(arr) or device_of(t.array) != "cpu":
        arr = to_device(arr, device_of(t.array))
    t.array[...] = arr
    t._vc[0] += 1
    return None
