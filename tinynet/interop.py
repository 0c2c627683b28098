"""Tensors and models across frameworks: DLPack and PyTorch modules.

- ``tn.from_dlpack(x)`` (in ``tinynet.tensor``) takes any DLPack-capable
  array (a PyTorch tensor, a NumPy or CuPy array) without copying; the other
  way, a tinynet Tensor is itself DLPack-capable (``__dlpack__`` and
  ``__dlpack_device__`` below, bound onto ``Tensor``), so
  ``torch.from_dlpack(t)``, ``np.from_dlpack(t)`` and ``cupy.from_dlpack(t)``
  share its memory. As in PyTorch, a tensor that requires grad is refused:
  export ``t.detach()``.
- ``from_torch_module(torch_model)`` builds the same model from
  ``tinynet.nn`` layers and copies the weights in.

Nothing here imports torch: ``from_torch_module`` looks at the classes of the
objects it is given.
"""
import inspect
from collections import OrderedDict

import numpy as np


# ---------------------------------------------------------------- DLPack
def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
    """The DLPack capsule of this Tensor's array (NumPy's or CuPy's), sharing
    its memory. Keyword arguments are the DLPack protocol's; those left None
    are not passed on, so older array libraries keep working."""
    if self.requires_grad:
        # PyTorch's rule: the receiver would see the data but not the graph
        raise BufferError("Can't export tensors that require gradient, use tensor.detach()")
    kwargs = {k: v for k, v in (("stream", stream), ("max_version", max_version),
                                ("dl_device", dl_device), ("copy", copy)) if v is not None}
    return self.array.__dlpack__(**kwargs)


def __dlpack_device__(self):
    """(device type, device id) of this Tensor's memory: (1, 0) for the CPU,
    (2, n) for CUDA device n (DLPack's codes)."""
    return self.array.__dlpack_device__()


# ---------------------------------------------------------------- PyTorch modules
def _torch_name(m):
    cls = type(m)
    return f"{cls.__module__}.{cls.__qualname__}"


def _where(path):
    return f"'{path}'" if path else "the top-level module"


class _Refused(TypeError):
    pass


def _tensor_array(value, key):
    """A NumPy copy of a torch tensor (any device), dtype kept."""
    t = value.detach()
    if str(t.dtype) == "torch.bfloat16":
        raise _Refused(f"from_torch_module: {key} is bfloat16, which NumPy (and so tinynet) "
                       "has no dtype for; convert the model first, e.g. torch_model.float()")
    return np.array(t.cpu().numpy(), copy=True)


def _init_kwargs(tn_cls, m, path):
    """The keyword arguments of ``tn_cls.__init__`` read from the same-named
    attributes of the torch module ``m`` (PyTorch keeps its constructor
    arguments as attributes)."""
    kwargs = {}
    for name, p in inspect.signature(tn_cls.__init__).parameters.items():
        if name == "self" or name.startswith("_") or name in ("device", "dtype") or \
                p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if not hasattr(m, name):
            if p.default is p.empty:
                raise _Refused(f"from_torch_module: {_where(path)} ({_torch_name(m)}) has no "
                               f"attribute {name!r} that tinynet's {tn_cls.__name__} needs")
            continue
        value = getattr(m, name)
        if isinstance(p.default, bool) and not isinstance(value, bool):
            value = value is not None          # e.g. Linear's bias: a Parameter or None
        kwargs[name] = value
    return kwargs


def _check_settings(tn_module, m, kwargs, path):
    """Every setting passed on must read back the same from the tinynet module
    (a setting it normalises away or ignores would change the results)."""
    for name, value in kwargs.items():
        if name in tn_module._parameters or name in tn_module._buffers:
            continue                         # e.g. bias: a flag here, a Parameter there
        got = getattr(tn_module, name, value)
        if isinstance(got, (bool, int, float, str, tuple, list, type(None))) and \
                isinstance(value, (bool, int, float, str, tuple, list, type(None))):
            norm = lambda v: tuple(v) if isinstance(v, list) else v   # noqa: E731
            if norm(got) != norm(value) and not (
                    isinstance(value, int) and isinstance(got, tuple) and set(got) == {value}):
                raise _Refused(f"from_torch_module: {_where(path)} ({_torch_name(m)}) has "
                               f"{name}={value!r}, but tinynet's {type(tn_module).__name__} "
                               f"reads it as {got!r}")


def _convert(m, path, custom, nn, torch_nn):
    """The tinynet module for torch module ``m`` (weights not copied yet)."""
    cls = type(m)
    if custom and cls in custom:
        built = custom[cls](m)
        if not isinstance(built, nn.Module):
            raise _Refused(f"from_torch_module: custom[{cls.__name__}] returned a "
                           f"{type(built).__name__} for {_where(path)}, not a tinynet Module")
        return built
    if getattr(m, "_forward_hooks", None) or getattr(m, "_forward_pre_hooks", None):
        raise _Refused(f"from_torch_module: {_where(path)} ({_torch_name(m)}) has forward "
                       "hooks, which would change its results and are not carried over; "
                       "remove them or register them again on the tinynet module")
    sub = lambda name: f"{path}.{name}" if path else name    # noqa: E731
    if cls is torch_nn.Sequential:
        return nn.Sequential(OrderedDict((name, _convert(c, sub(name), custom, nn, torch_nn))
                                         for name, c in m.named_children()))
    if cls is torch_nn.ModuleList:
        return nn.ModuleList([_convert(c, sub(name), custom, nn, torch_nn)
                              for name, c in m.named_children()])
    if cls is torch_nn.ModuleDict:
        return nn.ModuleDict(OrderedDict((name, _convert(c, sub(name), custom, nn, torch_nn))
                                         for name, c in m.named_children()))
    # a torch.nn layer with a tinynet.nn layer of the same name; subclasses are
    # refused: their forward may differ from the class tinynet knows
    tn_cls = getattr(nn, cls.__name__, None)
    if cls.__module__.startswith("torch.nn.modules.") and getattr(torch_nn, cls.__name__, None) \
            is cls:
        if tn_cls is None or not (isinstance(tn_cls, type) and issubclass(tn_cls, nn.Module)):
            raise _Refused(f"from_torch_module: {_where(path)} is a torch.nn.{cls.__name__}, "
                           f"which tinynet.nn does not have")
        kwargs = _init_kwargs(tn_cls, m, path)
        try:
            built = tn_cls(**kwargs)
        except (NotImplementedError, ValueError, TypeError) as e:
            raise _Refused(f"from_torch_module: {_where(path)} (torch.nn.{cls.__name__}) uses "
                           f"a setting tinynet does not support: {e}") from None
        _check_settings(built, m, kwargs, path)
        return built
    raise _Refused(
        f"from_torch_module: {_where(path)} is a {_torch_name(m)}, whose forward is Python "
        "code that from_torch_module cannot translate (it converts torch.nn's own layers and "
        "containers). Write the same class with tinynet.nn, with the same attribute names, "
        f"and pass custom={{{cls.__name__}: lambda m: YourTinynetClass(...)}}; its weights are "
        "then copied in")


def from_torch_module(torch_model, custom=None):
    """The same model built from ``tinynet.nn``, with the weights copied.

    Converts torch.nn's layers that tinynet.nn has (Linear, Conv1d/2d,
    ConvTranspose2d, BatchNorm1d/2d, LayerNorm, GroupNorm, InstanceNorm,
    Embedding, RNN/GRU/LSTM and their cells, Dropout, activations, Flatten,
    Unflatten, Identity, pooling, padding, ...) inside Sequential, ModuleList
    and ModuleDict containers, nested as deep as they go; each layer gets the
    same settings (read from the torch layer's attributes) and each module
    the same train/eval mode. Any other module (your own ``nn.Module``
    subclass, whose forward is Python code) is refused with an error naming
    its type and path, unless ``custom`` maps its class to a function
    ``torch_module -> tinynet Module`` that builds the tinynet version with the
    same state_dict keys; its weights are copied like the others.

    Weights are copied (not shared) with their dtype (float64 stays float64).
    """
    import torch.nn as torch_nn           # the caller has torch: it passed a torch module

    import tinynet.nn as nn
    if not isinstance(torch_model, torch_nn.Module):
        raise TypeError(f"from_torch_module: expected a torch.nn.Module, got "
                        f"{type(torch_model).__name__}")
    try:
        model = _convert(torch_model, "", custom, nn, torch_nn)
        source = torch_model.state_dict()
        target = model.state_dict(keep_vars=True)     # the module's own Tensors
        missing = [k for k in target if k not in source]
        extra = [k for k in source if k not in target]
        if missing or extra:
            raise _Refused(f"from_torch_module: the tinynet model's state_dict keys differ from "
                           f"the torch model's: missing in torch {missing[:5]}, not in tinynet "
                           f"{extra[:5]} (a custom= builder must use the same attribute names)")
        arrays = {k: _tensor_array(v, k) for k, v in source.items()}
    except _Refused as e:
        raise TypeError(str(e)) from None
    for key, t in target.items():
        arr = arrays[key]
        if tuple(arr.shape) != tuple(t.shape):
            raise ValueError(f"from_torch_module: {key} has shape {tuple(arr.shape)} in the "
                             f"torch model but {tuple(t.shape)} in the tinynet model")
        # replace the array, keeping the Parameter object: the dtype follows torch's
        t.array = arr
        t._vc[0] += 1
    modes = {name: tm.training for name, tm in torch_model.named_modules()}
    for name, m in model.named_modules():
        m.training = modes.get(name, torch_model.training)
    return model
