"""Containers: Sequential, ModuleList, ModuleDict.

Children are registered under string keys ("0", "1", ... for the list-like
ones), so state_dict keys read ``0.weight``, ``layers.1.bias`` as in PyTorch.
"""
import operator
from collections import OrderedDict

from tinynet.nn.module import Module


def _index(idx, n, what):
    """A non-negative position for ``idx`` in a container of length ``n``."""
    idx = operator.index(idx)
    if not -n <= idx < n:
        raise IndexError(f"{what}: index {idx} is out of range for length {n}")
    return idx % n


class _ModuleSequence(Module):
    """What Sequential and ModuleList share: length, iteration, append/extend,
    and renumbering the keys 0..n-1 after a deletion or insertion."""

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        """Add ``module`` at the end (key ``str(len(self))``)."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        """Append every module of an iterable."""
        for m in modules:
            self.append(m)
        return self

    def _renumber(self, modules):
        self._modules.clear()
        for i, m in enumerate(modules):
            self.add_module(str(i), m)


class Sequential(_ModuleSequence):
    """A chain of modules: ``Sequential(m1, m2, m3)(x)`` is ``m3(m2(m1(x)))``.

    The children are registered under the keys ``"0"``, ``"1"``, ... (or
    the names of an ``OrderedDict``), so their parameters are the
    container's, with state_dict keys such as ``0.weight``. Indexing gives a
    child, slicing a new ``Sequential`` of the same children; ``append``,
    ``extend``, ``insert`` and ``del`` keep the keys numbered 0 to n-1.

    Args:
        args: the modules in the order they are applied, or a single
            ``OrderedDict`` of name -> module.

    Shape:
        - Input: what the first module takes.
        - Output: what the last module returns.

    Example::

        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> model(tn.randn(3, 4)).shape
        (3, 2)
        >>> len(model), type(model[1]).__name__
        (3, 'ReLU')
        >>> [name for name, _ in model.named_parameters()]
        ['0.weight', '0.bias', '2.weight', '2.bias']
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def forward(self, input):
        for m in self._modules.values():
            input = m(input)
        return input

    def __getitem__(self, idx):
        items = list(self._modules.items())
        if isinstance(idx, slice):
            # keep the original names, as PyTorch does
            return type(self)(OrderedDict(items[idx]))
        return items[_index(idx, len(items), "Sequential")][1]

    def __setitem__(self, idx, module):
        key = list(self._modules)[_index(idx, len(self), "Sequential")]
        self.add_module(key, module)

    def __delitem__(self, idx):
        keys = list(self._modules)
        if isinstance(idx, slice):
            for k in keys[idx]:
                del self._modules[k]
        else:
            del self._modules[keys[_index(idx, len(keys), "Sequential")]]
        self._renumber(list(self._modules.values()))   # keys stay 0..n-1

    def insert(self, index, module):
        """Insert ``module`` before position ``index``; keys are renumbered."""
        n = len(self)
        if not -n <= index <= n:
            raise IndexError(f"Sequential.insert: index {index} is out of range for length {n}")
        index = index % (n + 1) if index < 0 else index
        items = list(self._modules.values())
        items.insert(index, module)
        self._renumber(items)
        return self


class ModuleList(_ModuleSequence):
    """A list of submodules whose parameters the parent module sees.

    Registering the entries is what a plain Python list would not do: its
    modules' parameters would be hidden from ``parameters()``,
    ``state_dict()`` and ``.to()``.

    It behaves like a list (indexing, slicing, ``len``, iteration,
    ``append``, ``extend``, ``insert``, ``del``, ``+``) and has no
    ``forward``: the parent decides how to call its entries.

    Args:
        modules (iterable, optional): the initial modules. Default: ``None``.

    Shape:
        Not a layer: each entry has its own shapes.

    Example::

        >>> layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
        >>> x = tn.randn(2, 4)
        >>> for layer in layers:
        ...     x = layer(x).relu()
        >>> x.shape, len(list(layers.parameters()))
        ((2, 4), 6)
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx):
        values = list(self._modules.values())
        if isinstance(idx, slice):
            return type(self)(values[idx])
        return values[_index(idx, len(values), "ModuleList")]

    def __setitem__(self, idx, module):
        self.add_module(str(_index(idx, len(self), "ModuleList")), module)

    def __delitem__(self, idx):
        values = list(self._modules.values())
        if isinstance(idx, slice):
            del values[idx]
        else:
            del values[_index(idx, len(values), "ModuleList")]
        self._renumber(values)

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        return ModuleList(list(self) + list(other))

    def insert(self, index, module):
        """Insert ``module`` before position ``index``; keys are renumbered."""
        values = list(self._modules.values())
        values.insert(index, module)
        self._renumber(values)

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward(): iterate over it instead")


class ModuleDict(Module):
    """An ordered dict of submodules whose parameters the parent module sees.

    Keys are strings; the entries are registered as children.

    It behaves like a dict (``[key]``, ``in``, ``len``, ``keys()``,
    ``values()``, ``items()``, ``update``, ``pop``, ``clear``), keeps
    insertion order and has no ``forward``.

    Args:
        modules (dict or iterable of pairs, optional): the initial
            ``(key, module)`` entries. Default: ``None``.

    Shape:
        Not a layer: each entry has its own shapes.

    Example::

        >>> heads = nn.ModuleDict({"digit": nn.Linear(8, 10), "parity": nn.Linear(8, 2)})
        >>> features = tn.randn(5, 8)
        >>> {name: head(features).shape for name, head in heads.items()}
        {'digit': (5, 10), 'parity': (5, 2)}
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        """The keys, in insertion order."""
        return self._modules.keys()

    def items(self):
        """(key, module) pairs, in insertion order."""
        return self._modules.items()

    def values(self):
        """The modules, in insertion order."""
        return self._modules.values()

    def pop(self, key):
        """Remove the module under ``key`` and return it."""
        m = self._modules[key]
        del self._modules[key]
        return m

    def clear(self):
        """Remove every module."""
        self._modules.clear()

    def update(self, modules):
        """Add modules from a dict/ModuleDict or an iterable of (key, module) pairs."""
        pairs = modules.items() if hasattr(modules, "items") else modules
        for key, m in pairs:
            self[key] = m

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict has no forward(): index it instead")
