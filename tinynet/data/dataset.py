"""Datasets: map-style ``Dataset``, ``TensorDataset``, ``Subset``, ``ConcatDataset``,
``random_split``; iterable-style ``IterableDataset`` and ``ChainDataset``.

A map-style dataset is anything with ``__getitem__(i)`` and ``__len__()``; an
iterable-style one yields its samples from ``__iter__()``. See
https://pytorch.org/docs/stable/data.html for the semantics tinynet follows.
"""
import bisect
import math

import numpy as np

from tinynet import random as tn_random
from tinynet.tensor import Tensor, describe


class Dataset:
    """Base class: subclasses define ``__getitem__(index)`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """Base class of iterable-style datasets: subclasses define ``__iter__()``.

    A DataLoader batches what ``__iter__`` yields, in that order (no sampler,
    no shuffle). ``a + b`` chains two of them (``ChainDataset``).
    """

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __getitem__(self, index):
        raise TypeError(f"{type(self).__name__} is an IterableDataset: iterate over it "
                        f"instead of indexing")

    def __add__(self, other):
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """Several iterable datasets one after the other (built lazily, every ``iter()``)."""

    def __init__(self, datasets):
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError(f"ChainDataset: only IterableDatasets can be chained, "
                                f"got {type(d).__name__}")
            yield from d

    def __len__(self):
        return sum(len(d) for d in self.datasets)


class TensorDataset(Dataset):
    """Samples are the ``index``-th rows of tensors that share their first dimension.

    ``dataset[i]`` is ``(t0[i], t1[i], ...)``. DataLoader batches a
    TensorDataset with one fancy index per tensor instead of per-sample work.

    Shape:
        every tensor ``(N, *)``; a sample is a tuple of ``(*)`` tensors.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor, got none")
        tensors = tuple(t if isinstance(t, Tensor) else Tensor._wrap(t) for t in tensors)
        for t in tensors:
            if t.ndim == 0 or t.shape[0] != tensors[0].shape[0]:
                raise ValueError("TensorDataset: all tensors must have the same size in "
                                 "their first dimension, got "
                                 + ", ".join(describe(x) for x in tensors))
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(Tensor._make(t.array[index]) for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __getitem__(self, index):
        if isinstance(index, (list, np.ndarray)):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """Several datasets one after the other."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: expected at least one dataset, got none")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset: an IterableDataset cannot be concatenated "
                                "(use ChainDataset)")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"ConcatDataset: index out of range for length {n}")
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which > 0 else 0
        return self.datasets[which][index - start]


def make_generator(generator, op):
    """A numpy Generator from None (tinynet.random), an int seed or a Generator."""
    if generator is None:
        return tn_random.generator()
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise TypeError(f"{op}: generator must be None, an int seed or a numpy.random.Generator, "
                    f"got {type(generator).__name__}")


def _split_lengths(n, lengths):
    """Absolute lengths from counts or fractions (fractions: floor, then one extra
    to the first splits until the total is n, as PyTorch does)."""
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1):
        if any(x < 0 for x in lengths):
            raise ValueError(f"random_split: fractions must be >= 0, got {lengths}")
        counts = [math.floor(n * f) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        return counts
    if any(isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 0
           for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative ints or fractions "
                         f"summing to 1, got {lengths}")
    if sum(lengths) != n:
        raise ValueError(f"random_split: lengths {lengths} sum to {sum(lengths)}, "
                         f"expected the dataset's length {n}")
    return [int(x) for x in lengths]


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into non-overlapping random ``Subset``s.

    ``lengths`` are counts summing to ``len(dataset)`` or fractions summing
    to 1. ``generator`` is None (draw from tinynet.random, so
    ``tn.manual_seed`` decides), an int seed, or a ``numpy.random.Generator``.
    """
    counts = _split_lengths(len(dataset), lengths)
    perm = make_generator(generator, "random_split").permutation(len(dataset))
    offsets = np.cumsum([0] + counts)
    return [Subset(dataset, perm[a:b]) for a, b in zip(offsets[:-1], offsets[1:])]
