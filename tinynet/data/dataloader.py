"""DataLoader: batches, shuffling and exact resume; ``default_collate``.

Shuffling uses the loader's own NumPy generator. With ``seed=`` it is seeded
from that seed; without, it is seeded on first use from ``tinynet.random``
(so ``tn.manual_seed`` decides the order, and later model randomness such as
dropout does not shift it). ``state_dict()`` captures that generator and the
position inside the current epoch, so a resumed run sees the same batches.
"""
import numbers

import numpy as np

from tinynet.backend import get_array_module
from tinynet import random as tn_random
from tinynet.data.dataset import Subset, TensorDataset
from tinynet.tensor import Tensor

_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")


# ---------------------------------------------------------------- collation
def _stack(arrays, what):
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise RuntimeError(f"default_collate: cannot stack {what} of different shapes "
                           f"{sorted(shapes)} into one batch; pad them or pass a collate_fn")
    return get_array_module(*arrays).stack(arrays)


def default_collate(batch):
    """Merge a list of samples into one batch.

    Tensors and NumPy arrays are stacked along a new first axis (keeping
    their dtype: float64 arrays stay float64); Python floats become float32,
    ints int64 and bools bool (as ``tn.tensor`` does); NumPy scalars keep their
    dtype; strings are returned as a list; tuples, lists and dicts are
    collated field by field and keep their type.
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return Tensor._make(_stack([b.array for b in batch], "tensors"))
    if isinstance(elem, np.ndarray):
        return Tensor._make(_stack([np.asarray(b) for b in batch], "arrays"))
    if isinstance(elem, np.generic):
        return Tensor._make(np.array(batch))
    if isinstance(elem, (bool, numbers.Number)) and not isinstance(elem, complex):
        return Tensor._wrap(list(batch))         # tn.tensor's dtype rules
    if isinstance(elem, str):
        return list(batch)
    if isinstance(elem, dict):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, (tuple, list)):
        if any(len(b) != len(elem) for b in batch):
            raise RuntimeError(f"default_collate: samples have different lengths "
                               f"{sorted({len(b) for b in batch})}; expected equal-length "
                               f"tuples/lists")
        fields = [default_collate(list(f)) for f in zip(*batch)]
        if hasattr(elem, "_fields"):       # namedtuple
            return type(elem)(*fields)
        return type(elem)(fields)
    raise TypeError(f"default_collate: samples must be Tensors, NumPy arrays, numbers, "
                    f"strings, dicts, lists or tuples; got {type(elem).__name__}")


# ---------------------------------------------------------------- the loader
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


class DataLoader:
    """Iterate over ``dataset`` in batches.

    Args:
        dataset: a map-style dataset (``__getitem__`` and ``__len__``).
        batch_size: samples per batch (a positive int).
        shuffle: reshuffle the order at the start of every epoch (every ``iter()``).
        drop_last: drop the last batch if it is smaller than ``batch_size``.
        seed: seed of the loader's own shuffling generator; None draws the seed
            from ``tinynet.random`` when the loader first shuffles.
        collate_fn: merges a list of samples into a batch (default: ``default_collate``).
        device: move every Tensor of each batch to this device ('cuda', 'cpu');
            None leaves batches where the dataset keeps them.

    A ``TensorDataset`` (or a ``Subset`` of one) with the default collate is
    batched by indexing each tensor once per batch.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None,
                 collate_fn=None, device=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"DataLoader: seed must be None or a non-negative int, got {seed!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = seed
        self.collate_fn = collate_fn if collate_fn is not None else default_collate
        self.device = device
        self._rng = None if seed is None else np.random.default_rng(int(seed))
        self._epoch_state = None       # generator state before this epoch's permutation
        self._batches_done = 0         # batches handed out in the current epoch
        self._skip = 0                 # batches to skip after load_state_dict
        self._in_epoch = False

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _generator(self):
        if self._rng is None:
            # draw the seed lazily, so tn.manual_seed before the first epoch counts
            self._rng = np.random.default_rng(int(tn_random.generator().integers(2 ** 63)))
        return self._rng

    def _order(self):
        n = len(self.dataset)
        if not self.shuffle:
            self._epoch_state = None
            return np.arange(n)
        rng = self._generator()
        self._epoch_state = rng.bit_generator.state
        return rng.permutation(n)

    def __iter__(self):
        order = self._order()
        skip, self._skip = self._skip, 0
        self._batches_done = skip
        self._in_epoch = True
        fast, index_map = _tensor_dataset_of(self.dataset)
        use_fast = fast is not None and self.collate_fn is default_collate
        for b in range(skip, len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            if use_fast:
                batch = self._fancy_batch(fast, idx if index_map is None else index_map[idx])
            else:
                batch = self.collate_fn([self.dataset[int(i)] for i in idx])
            self._batches_done = b + 1
            yield batch if self.device is None else _to_device(batch, self.device)
        self._in_epoch = False
        self._batches_done = 0

    @staticmethod
    def _fancy_batch(dataset, idx):
        # one gather per tensor instead of len(idx) sample tuples + stacking
        out = []
        for t in dataset.tensors:
            xp = get_array_module(t.array)
            out.append(Tensor._make(t.array[xp.asarray(idx)]))
        return tuple(out)

    def state_dict(self):
        """Plain dict (ints and strings) to resume shuffling and position exactly.

        Mid-epoch it holds the generator state from before this epoch's
        shuffle plus the number of batches already yielded; between epochs,
        the generator's current state.
        """
        # an epoch whose last batch was handed out counts as finished: resuming
        # then starts the next epoch, as the uninterrupted run would
        mid_epoch = self._in_epoch and self._batches_done < len(self)
        done = self._batches_done if mid_epoch else 0
        if mid_epoch and self._epoch_state is not None:
            rng_state = self._epoch_state
        else:
            rng_state = self._rng.bit_generator.state if self._rng is not None else None
        return {"seed": self.seed, "rng_state": rng_state, "batches_done": done}

    def load_state_dict(self, state):
        """Restore ``state_dict()``; the next ``iter()`` continues where it left off."""
        if not isinstance(state, dict) or "rng_state" not in state:
            raise ValueError(f"DataLoader.load_state_dict: expected a dict from "
                             f"DataLoader.state_dict(), got {state!r}")
        done = int(state.get("batches_done", 0))
        if not 0 <= done <= len(self):
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
    if isinstance(batch, tuple):
        return tuple(_to_device(b, device) for b in batch)
    if isinstance(batch, list):
        return [_to_device(b, device) for b in batch]
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch
