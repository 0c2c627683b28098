"""The named tuples that ops selecting elements return, as PyTorch's
``torch.return_types``: ``values, indices = x.max(1)``, or ``x.max(1).indices``.

``values`` is differentiable (the gradient goes to the selected elements);
``indices`` is an int64 tensor.
"""
from collections import namedtuple

max = namedtuple("max", ["values", "indices"])              # noqa: A001
min = namedtuple("min", ["values", "indices"])              # noqa: A001
sort = namedtuple("sort", ["values", "indices"])
topk = namedtuple("topk", ["values", "indices"])
kthvalue = namedtuple("kthvalue", ["values", "indices"])
median = namedtuple("median", ["values", "indices"])
mode = namedtuple("mode", ["values", "indices"])

for _t in (max, min, sort, topk, kthvalue, median, mode):
    _t.__module__ = __name__
del _t
