"""Module (the base of every layer) and Parameter.

A Module keeps three ordered registries filled by plain attribute
assignment: ``_parameters`` (Parameters), ``_buffers`` (Tensors that are
state but not trained, e.g. BatchNorm's running statistics) and
``_modules`` (submodules). Everything else (parameters(), state_dict(),
to(), repr) walks these registries, so their order is PyTorch's order and
the state_dict keys are PyTorch's keys.
"""
from collections import OrderedDict, namedtuple

import numpy as np

from tinynet.autograd import no_grad
from tinynet.backend import device_of, get_array_module, is_cupy_array, to_device
from tinynet.tensor import Tensor, _as_array


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable (requires_grad=True by default).

    ``Parameter(t)`` shares ``t``'s array; ``Parameter(array)`` wraps it.
    """
    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = np.empty((0,), np.float32)
        self._init(_as_array(data), requires_grad)

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

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these dicts to exist
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward() defined")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

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
