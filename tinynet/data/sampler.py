"""Samplers: the order in which a DataLoader visits a dataset's indices.

PyTorch's ``torch.utils.data`` samplers (see
https://pytorch.org/docs/stable/data.html#data-loading-order-and-sampler):
``SequentialSampler``, ``RandomSampler``, ``SubsetRandomSampler``,
``WeightedRandomSampler`` yield indices; ``BatchSampler`` groups them into
lists.

Randomness: ``generator`` is None, an int seed or a ``numpy.random.Generator``.
With None each ``iter()`` draws one seed from ``tinynet.random`` (so
``tn.manual_seed`` decides the order, and an epoch consumes the same amount
of tinynet's randomness whatever the dataset's size); an int seed makes the
sampler's own generator once, so later epochs differ but the whole sequence
is reproducible; a Generator is used (and advanced) as is.
"""
import numbers

import numpy as np

from tinynet import random as tn_random

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler"]


def is_int(x):
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def own_generator(generator, op):
    """What a sampler keeps: None, or a numpy Generator (an int seed becomes one)."""
    if generator is None or isinstance(generator, np.random.Generator):
        return generator
    if is_int(generator):
        return np.random.default_rng(int(generator))
    raise TypeError(f"{op}: generator must be None, an int seed or a numpy.random.Generator, "
                    f"got {type(generator).__name__}")


def _epoch_generator(generator):
    """The Generator one ``iter()`` draws from (see the module docstring)."""
    if generator is not None:
        return generator
    return np.random.default_rng(int(tn_random.generator().integers(2 ** 63)))


class Sampler:
    """Base class: subclasses define ``__iter__`` over indices (and ``__len__`` if known)."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class SequentialSampler(Sampler):
    """Indices ``0 .. len(data_source) - 1`` in order."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """Indices in random order (PyTorch's ``RandomSampler``).

    Without replacement every index appears once per ``len(data_source)``
    samples: ``num_samples`` larger than the dataset chains whole
    permutations (the last one cut short). With ``replacement=True`` the
    ``num_samples`` indices are drawn independently and uniformly.
    """

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement should be a boolean value, "
                            f"but got replacement={replacement!r}")
        if num_samples is not None and (not is_int(num_samples) or num_samples <= 0):
            raise ValueError(f"RandomSampler: num_samples should be a positive integer "
                             f"value, but got num_samples={num_samples!r}")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = None if num_samples is None else int(num_samples)
        self.generator = own_generator(generator, "RandomSampler")

    @property
    def num_samples(self):
        # the dataset's size may change between construction and iteration
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, k = len(self.data_source), self.num_samples
        rng = _epoch_generator(self.generator)
        if self.replacement:
            if n == 0:
                raise ValueError(f"RandomSampler: cannot draw {k} samples with replacement "
                                 f"from an empty data source")
            return iter(rng.integers(0, n, size=k).tolist())
        if n == 0:
            return iter([])
        rounds, rest = divmod(k, n)
        parts = [rng.permutation(n) for _ in range(rounds)]
        if rest:
            parts.append(rng.permutation(n)[:rest])
        return iter(np.concatenate(parts).tolist() if parts else [])

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order (a new one every ``iter()``)."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = own_generator(generator, "SubsetRandomSampler")

    def __iter__(self):
        order = _epoch_generator(self.generator).permutation(len(self.indices))
        return iter([self.indices[i] for i in order.tolist()])

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices ``0 .. len(weights) - 1`` drawn with probability
    proportional to ``weights`` (which need not sum to 1), with replacement by
    default; without replacement ``num_samples`` may not exceed the number of
    non-zero weights.
    """

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        if not is_int(num_samples) or num_samples <= 0:
            raise ValueError(f"WeightedRandomSampler: num_samples should be a positive "
                             f"integer value, but got num_samples={num_samples!r}")
        if not isinstance(replacement, bool):
            raise ValueError(f"WeightedRandomSampler: replacement should be a boolean value, "
                             f"but got replacement={replacement!r}")
        w = np.asarray(getattr(weights, "array", weights), dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"WeightedRandomSampler: weights should be a 1d sequence but "
                             f"given weights have shape {tuple(w.shape)}")
        if w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative "
                             f"and not all zero, got {w.size} weights")
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(f"WeightedRandomSampler: cannot draw num_samples={num_samples} "
                             f"without replacement from {np.count_nonzero(w)} non-zero weights")
        self.weights = w
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = own_generator(generator, "WeightedRandomSampler")

    def __iter__(self):
        rng = _epoch_generator(self.generator)
        p = self.weights / self.weights.sum()
        return iter(rng.choice(len(p), size=self.num_samples, replace=self.replacement,
                               p=p).tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler`` (any iterable of indices);
    the last, shorter list is dropped when ``drop_last``."""

    def __init__(self, sampler, batch_size, drop_last):
        if not is_int(batch_size) or batch_size <= 0:
            raise ValueError(f"BatchSampler: batch_size should be a positive integer value, "
                             f"but got batch_size={batch_size!r}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"BatchSampler: drop_last should be a boolean value, "
                             f"but got drop_last={drop_last!r}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def __iter__(self):
        batch = []
        for index in self.sampler:
            batch.append(int(index) if isinstance(index, numbers.Integral) else index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
