"""DataLoader (PyTorch's ``torch.utils.data.DataLoader``), ``default_collate``
and ``default_convert``.

A map-style dataset is visited in the order of a sampler, grouped into
batches by a batch sampler and merged by ``collate_fn``; an iterable-style
dataset is batched in the order it yields. See
https://pytorch.org/docs/stable/data.html for the semantics tinynet follows.

Shuffling (``shuffle=True`` without a sampler) uses the loader's own NumPy
generator. With ``seed=`` (or ``generator=``) it comes from there; without,
it is seeded on first use from ``tinynet.random`` (so ``tn.manual_seed``
decides the order, and later model randomness such as dropout does not shift
it). ``state_dict()`` captures that generator and the position inside the
current epoch, so a resumed run sees the same batches.
"""
import collections.abc
import numbers

import numpy as np

from tinynet.backend import get_array_module
from tinynet.data.dataset import IterableDataset, Subset, TensorDataset
from tinynet.data.sampler import (BatchSampler, RandomSampler, SequentialSampler,
                                  is_int, own_generator)
from tinynet import random as tn_random
from tinynet.tensor import Tensor

_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")


# ---------------------------------------------------------------- collation
def _stack(arrays, what):
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise RuntimeError(f"default_collate: cannot stack {what} of different shapes "
                           f"{sorted(shapes)} into one batch; pad them or pass a collate_fn")
    return get_array_module(*arrays).stack(arrays)


def _is_text_array(a):
    # strings, bytes and Python objects have no Tensor dtype
    return a.dtype.kind in "SUO"


def _type_error(what):
    return TypeError(f"default_collate: batch must contain Tensors, NumPy arrays, numbers, "
                     f"dicts or lists; found {what}")


def _rebuild(elem, values):
    """A sequence like ``elem`` holding ``values`` (PyTorch's rules: a tuple
    becomes a list, a namedtuple stays one, a list or other sequence keeps its
    type when it can be rebuilt)."""
    if hasattr(elem, "_fields"):                     # namedtuple
        return type(elem)(*values)
    if isinstance(elem, tuple):
        return list(values)
    try:
        return type(elem)(values)
    except TypeError:
        return list(values)


def _rebuild_mapping(elem, items):
    try:
        return type(elem)(items)
    except TypeError:
        return dict(items)


def default_collate(batch):
    """Merge a list of samples into one batch, as PyTorch's ``default_collate``.

    Tensors and NumPy arrays are stacked along a new first axis (keeping their
    dtype); Python floats become a float64 Tensor, ints int64 and bools bool;
    NumPy scalars keep their dtype; strings and bytes are returned as the
    sequence that holds them (the batch list itself, or a tuple for strings
    inside tuples and lists, as PyTorch does).
    Dicts, lists, tuples and namedtuples are collated field by field, nested
    to any depth: a dict keeps its type, a namedtuple too, a tuple becomes a
    list (as in PyTorch).
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return Tensor._make(_stack([b.array for b in batch], "tensors"))
    if isinstance(elem, np.ndarray):
        if _is_text_array(elem):
            raise _type_error(f"arrays of dtype {elem.dtype}")
        return Tensor._make(_stack([np.asarray(b) for b in batch], "arrays"))
    if isinstance(elem, (str, bytes)):
        return batch                # as given: a list at the top, a tuple inside sequences
    if isinstance(elem, np.generic):
        arr = np.array(batch)
        if _is_text_array(arr):
            raise _type_error(f"NumPy scalars of dtype {arr.dtype}")
        return Tensor._make(arr)
    if isinstance(elem, float):
        return Tensor._make(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, numbers.Integral):           # int and bool
        return Tensor._wrap(list(batch))             # tn.tensor's dtype rules
    if isinstance(elem, collections.abc.Mapping):
        return _rebuild_mapping(elem, [(key, default_collate([d[key] for d in batch]))
                                       for key in elem])
    if isinstance(elem, collections.abc.Sequence):
        if any(len(b) != len(elem) for b in batch):
            raise RuntimeError(f"default_collate: each element in list of batch should be "
                               f"of equal size, got lengths {sorted({len(b) for b in batch})}")
        return _rebuild(elem, [default_collate(f) for f in zip(*batch)])
    raise _type_error(type(elem).__name__)


def default_convert(data):
    """Turn NumPy arrays and scalars into Tensors, through dicts and sequences;
    everything else is left as is (what a DataLoader with ``batch_size=None``
    applies to each sample, as PyTorch's ``default_convert``)."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, (np.ndarray, np.generic)) and not isinstance(data, (str, bytes)):
        return data if _is_text_array(np.asarray(data)) else Tensor._wrap(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_mapping(data, [(k, default_convert(v)) for k, v in data.items()])
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild(data, [default_convert(d) for d in data])
    return data


def get_worker_info():
    """None: tinynet loads every batch in the calling process (see DataLoader)."""
    return None


# ---------------------------------------------------------------- helpers
def _tensor_dataset_of(dataset):
    """(TensorDataset, index map or None) when batches can be fancy-indexed."""
    if type(dataset) is TensorDataset:
        return dataset, None
    if type(dataset) is Subset and type(dataset.dataset) is TensorDataset:
        return dataset.dataset, np.asarray(dataset.indices, dtype=np.int64)
    return None, None


def _generator_from_state(state):
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in _BIT_GENERATORS:
        raise ValueError(f"DataLoader.load_state_dict: unknown bit generator {name!r}; "
                         f"expected one of {_BIT_GENERATORS}")
    bit_gen = getattr(np.random, name)()
    try:
        bit_gen.state = state
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"DataLoader.load_state_dict: malformed {name} state "
                         f"({type(e).__name__}: {e})") from None
    return np.random.Generator(bit_gen)


def _check_worker_options(num_workers, timeout, prefetch_factor, persistent_workers):
    # PyTorch's checks, although tinynet runs no worker processes
    if not is_int(num_workers) or num_workers < 0:
        raise ValueError(f"DataLoader: num_workers option should be a non-negative int; "
                         f"use num_workers=0 to disable multiprocessing (got {num_workers!r})")
    if not timeout >= 0:
        raise ValueError(f"DataLoader: timeout option should be non-negative, got {timeout!r}")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError("DataLoader: prefetch_factor option could only be specified in "
                         "multiprocessing; let num_workers > 0 to enable multiprocessing, "
                         f"otherwise set prefetch_factor to None (got {prefetch_factor!r})")
    if prefetch_factor is not None and prefetch_factor < 0:
        raise ValueError(f"DataLoader: prefetch_factor option should be non-negative, "
                         f"got {prefetch_factor!r}")
    if persistent_workers and num_workers == 0:
        raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")


def _check_iterable_options(shuffle, sampler, batch_sampler):
    for name, value in (("shuffle", shuffle), ("sampler", sampler),
                        ("batch_sampler", batch_sampler)):
        if value not in (None, False):
            raise ValueError(f"DataLoader with IterableDataset: expected unspecified {name} "
                             f"option, but got {name}={value!r}")


def _check_batch_options(batch_size, shuffle, sampler, batch_sampler, drop_last):
    if sampler is not None and shuffle:
        raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
    if batch_sampler is not None:
        if batch_size != 1 or shuffle or sampler is not None or drop_last:
            raise ValueError("DataLoader: batch_sampler option is mutually exclusive with "
                             "batch_size, shuffle, sampler, and drop_last")
    elif batch_size is None:
        if drop_last:
            raise ValueError("DataLoader: batch_size=None option disables auto-batching and "
                             "is mutually exclusive with drop_last")
    elif not is_int(batch_size) or batch_size <= 0:
        raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r} "
                         f"(None disables batching)")


# ---------------------------------------------------------------- the loader
class DataLoader:
    """Iterate over ``dataset`` in batches (PyTorch's ``torch.utils.data.DataLoader``;
    https://pytorch.org/docs/stable/data.html#torch.utils.data.DataLoader).

    Args:
        dataset: a map-style dataset (``__getitem__`` and ``__len__``) or an
            ``IterableDataset``.
        batch_size: samples per batch (a positive int); None yields samples
            one by one, converted by ``default_convert``.
        shuffle: reshuffle the order at every ``iter()`` (a ``RandomSampler``
            on the loader's own generator).
        sampler: an iterable of indices (a ``Sampler``); excludes ``shuffle``.
        batch_sampler: an iterable of index lists; excludes ``batch_size``,
            ``shuffle``, ``sampler`` and ``drop_last``.
        num_workers, timeout, prefetch_factor, persistent_workers,
        worker_init_fn, multiprocessing_context, pin_memory, pin_memory_device,
        in_order: checked as in PyTorch and stored, but **tinynet starts no
            worker processes**: ``num_workers > 0`` loads every batch in the
            calling process, in order, exactly as ``num_workers=0`` (so
            ``worker_init_fn`` is never called and ``get_worker_info()`` is
            None); ``pin_memory`` does nothing.
        collate_fn: merges a list of samples into a batch (default:
            ``default_collate``; ``default_convert`` when ``batch_size=None``).
        drop_last: drop the last batch if it is smaller than ``batch_size``.
        generator: the shuffling generator: an int seed or a
            ``numpy.random.Generator`` (tinynet has no torch.Generator).
        seed: tinynet's shorthand for ``generator=<int>``; with neither, the
            seed is drawn from ``tinynet.random`` when the loader first shuffles.
        device: move every Tensor of each batch to this device ('cuda', 'cpu');
            None leaves batches where the dataset keeps them (tinynet only).

    A ``TensorDataset`` (or a ``Subset`` of one) with the default collate is
    batched by indexing each tensor once per batch.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device="",
                 in_order=True, seed=None, device=None):
        _check_worker_options(num_workers, timeout, prefetch_factor, persistent_workers)
        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            _check_iterable_options(shuffle, sampler, batch_sampler)
        shuffle = bool(shuffle)
        _check_batch_options(batch_size, shuffle, sampler, batch_sampler, drop_last)
        if seed is not None and (not is_int(seed) or seed < 0):
            raise ValueError(f"DataLoader: seed must be None or a non-negative int, got {seed!r}")
        if seed is not None and generator is not None:
            raise ValueError("DataLoader: pass seed or generator, not both")

        self.dataset = dataset
        self.num_workers = int(num_workers)
        self.prefetch_factor = prefetch_factor if prefetch_factor is not None or \
            num_workers == 0 else 2
        self.pin_memory, self.pin_memory_device = pin_memory, pin_memory_device
        self.timeout, self.worker_init_fn = timeout, worker_init_fn
        self.multiprocessing_context, self.in_order = multiprocessing_context, in_order
        self.persistent_workers = persistent_workers
        self.generator, self.seed, self.device = generator, seed, device
        self.shuffle = shuffle
        if batch_sampler is not None:
            batch_size, drop_last = None, False
        self.batch_size = None if batch_size is None else int(batch_size)
        self.drop_last = bool(drop_last)

        # the loader's own shuffling generator; None until first needed
        self._rng = np.random.default_rng(int(seed)) if seed is not None \
            else own_generator(generator, "DataLoader")
        self._owns_shuffle = not iterable and sampler is None and batch_sampler is None \
            and shuffle
        if not iterable and sampler is None:
            sampler = RandomSampler(dataset) if shuffle else SequentialSampler(dataset)
        if not iterable and batch_sampler is None and batch_size is not None:
            batch_sampler = BatchSampler(sampler, self.batch_size, self.drop_last)
        self.sampler, self.batch_sampler = sampler, batch_sampler
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn

        self._epoch_state = None       # generator state before this epoch's shuffle
        self._batches_done = 0         # batches handed out in the current epoch
        self._skip = 0                 # batches to skip after load_state_dict
        self._in_epoch = False

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None or (isinstance(self.dataset, IterableDataset)
                                                  and self.batch_size is not None)

    def __len__(self):
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)      # TypeError when the dataset has no length
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    def _generator(self):
        if self._rng is None:
            # draw the seed lazily, so tn.manual_seed before the first epoch counts
            self._rng = np.random.default_rng(int(tn_random.generator().integers(2 ** 63)))
        return self._rng

    def _index_batches(self):
        """This epoch's index lists (or single indices without auto-batching)."""
        self._epoch_state = None
        if self._owns_shuffle:
            rng = self._generator()
            self._epoch_state = rng.bit_generator.state
            self.sampler.generator = rng
        return iter(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    def _iterable_batches(self):
        """Samples of an IterableDataset, grouped (lists) or one by one."""
        if self.batch_size is None:
            yield from self.dataset
            return
        batch = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def _fetch(self, item, fast, index_map):
        if isinstance(self.dataset, IterableDataset):
            return self.collate_fn(item)
        if not self._auto_collation:
            return self.collate_fn(self.dataset[item])
        if fast is not None:
            idx = np.asarray(item, dtype=np.int64)
            return self._fancy_batch(fast, idx if index_map is None else index_map[idx])
        return self.collate_fn([self.dataset[i] for i in item])

    def __iter__(self):
        if isinstance(self.dataset, IterableDataset):
            items, fast, index_map = self._iterable_batches(), None, None
        else:
            items = self._index_batches()
            fast, index_map = _tensor_dataset_of(self.dataset)
            if self.collate_fn is not default_collate:
                fast = None
        skip, self._skip = self._skip, 0
        self._batches_done = 0
        self._in_epoch = True
        for item in items:
            if self._batches_done < skip:        # resuming: replay the order, load nothing
                self._batches_done += 1
                continue
            batch = self._fetch(item, fast, index_map)
            self._batches_done += 1
            yield batch if self.device is None else _to_device(batch, self.device)
        self._in_epoch = False
        self._batches_done = 0

    @staticmethod
    def _fancy_batch(dataset, idx):
        # one gather per tensor instead of len(idx) sample tuples + stacking;
        # a list, as default_collate makes of tuple samples
        out = []
        for t in dataset.tensors:
            xp = get_array_module(t.array)
            out.append(Tensor._make(t.array[xp.asarray(idx)]))
        return out

    def state_dict(self):
        """Plain dict (ints and strings) to resume shuffling and position exactly.

        Mid-epoch it holds the generator state from before this epoch's
        shuffle plus the number of batches already yielded; between epochs,
        the generator's current state. It covers the loader's own shuffling;
        a sampler with its own randomness is replayed from its current state.
        """
        # an epoch whose last batch was handed out counts as finished: resuming
        # then starts the next epoch, as the uninterrupted run would
        mid_epoch = self._in_epoch and self._batches_done < self._length_or_inf()
        done = self._batches_done if mid_epoch else 0
        if mid_epoch and self._epoch_state is not None:
            rng_state = self._epoch_state
        else:
            rng_state = self._rng.bit_generator.state if self._rng is not None else None
        return {"seed": self.seed, "rng_state": rng_state, "batches_done": done}

    def _length_or_inf(self):
        try:
            return len(self)
        except TypeError:              # an IterableDataset without __len__
            return float("inf")

    def load_state_dict(self, state):
        """Restore ``state_dict()``; the next ``iter()`` continues where it left off."""
        if not isinstance(state, dict) or "rng_state" not in state:
            raise ValueError(f"DataLoader.load_state_dict: expected a dict from "
                             f"DataLoader.state_dict(), got {state!r}")
        done = int(state.get("batches_done", 0))
        if not 0 <= done <= self._length_or_inf():
            raise ValueError(f"DataLoader.load_state_dict: batches_done={done} is outside "
                             f"0..{len(self)} for this loader")
        rng_state = state["rng_state"]
        self._rng = None if rng_state is None else _generator_from_state(rng_state)
        self._skip = done
        self._in_epoch = False


def _to_device(batch, device):
    """``batch`` with every Tensor moved to ``device`` (tuples, lists, dicts kept)."""
    if isinstance(batch, Tensor):
        return batch.to(device)
    if hasattr(batch, "_fields"):                   # namedtuple
        return type(batch)(*(_to_device(b, device) for b in batch))
    if isinstance(batch, tuple):
        return tuple(_to_device(b, device) for b in batch)
    if isinstance(batch, list):
        return [_to_device(b, device) for b in batch]
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch
