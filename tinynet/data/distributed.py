"""Sharding a dataset over the ranks of a data-parallel run.

``DistributedSampler`` gives each rank a disjoint, equally long share of the
indices, shuffled per epoch; ``DistributedLoader`` batches that share (what
PyTorch writes as ``DataLoader(dataset, sampler=DistributedSampler(dataset))``).
The number of ranks and this rank's index come from ``tinynet.distributed``
unless given. Also exported as ``tinynet.distributed.DistributedSampler`` and
``DistributedLoader``.
"""
import numpy as np

from tinynet.data.dataloader import DataLoader
from tinynet.data.dataset import Subset


class DistributedSampler:
    """The dataset indices of this rank, one disjoint shard per rank.

    Every epoch, the indices ``0 .. len(dataset) - 1`` are put in one global
    order (shuffled with ``seed`` and the epoch, the same on every rank), the
    order is padded by repeating its beginning up to a multiple of the number
    of ranks, and rank r takes positions r, r + W, r + 2W, ... So the shards
    are disjoint, have equal lengths (every rank makes the same number of
    steps), and their union covers the data exactly once plus at most W - 1
    repeats. Batch k of every rank together are positions k*B .. (k+1)*B - 1
    of the global order (B = W * per-rank batch), whatever W is: a run on any
    number of ranks sees the same global batches as one process.

    ``set_epoch(epoch, start=0)`` selects the epoch's shuffle; ``start``
    skips the first ``start`` samples of its global order (a run resumed in
    the middle of an epoch, possibly on another number of ranks).
    ``drop_last=True`` drops the tail instead of padding.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        if num_replicas is None or rank is None:
            from tinynet import distributed       # the group's size and this rank
            num_replicas = distributed.world_size() if num_replicas is None else num_replicas
            rank = distributed.rank() if rank is None else rank
        if isinstance(num_replicas, bool) or not isinstance(num_replicas, (int, np.integer)) \
                or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive int, "
                             f"got {num_replicas!r}")
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) \
                or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: rank must be in 0..{num_replicas - 1}, "
                             f"got {rank!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"DistributedSampler: seed must be a non-negative int, got {seed!r}")
        self.dataset = dataset
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch, start=0):
        """Use epoch ``epoch``'s order, from global position ``start`` on."""
        if not 0 <= start <= len(self.dataset):
            raise ValueError(f"DistributedSampler.set_epoch: start must be in "
                             f"0..{len(self.dataset)}, got {start!r}")
        self.epoch = int(epoch)
        self.start = int(start)

    def __len__(self):
        n = len(self.dataset) - self.start
        return n // self.num_replicas if self.drop_last else -(-n // self.num_replicas)

    def global_order(self):
        """The epoch's order of all indices, before padding and sharding."""
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        # seeded by (seed, epoch) alone: the same order on every rank, and
        # independent of tinynet's global generator
        return np.random.default_rng([self.seed, self.epoch]).permutation(n)

    def __iter__(self):
        order = self.global_order()[self.start:]
        total = len(self) * self.num_replicas
        # np.resize repeats the order cyclically: padding with its first indices
        order = np.resize(order, total) if len(order) else order[:0]
        return iter(order[self.rank:total:self.num_replicas].tolist())


class DistributedLoader:
    """Batches of this rank's shard: PyTorch's
    ``DataLoader(dataset, batch_size, sampler=DistributedSampler(dataset))``.

    ``batch_size`` is per rank (the global batch is ``batch_size *
    world_size()``). The epoch advances by itself when an iteration runs to
    its end (``set_epoch`` also sets it), so every epoch gets a new shuffle.
    ``state_dict()`` holds the epoch and the number of global samples already
    consumed in it; ``load_state_dict`` continues from there, on any number
    of ranks as long as the global batch stays the same.
    """

    def __init__(self, dataset, batch_size=1, shuffle=True, seed=0, drop_last=False,
                 collate_fn=None, num_replicas=None, rank=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size <= 0:
            raise ValueError(f"DistributedLoader: batch_size must be a positive int, "
                             f"got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.sampler = DistributedSampler(dataset, num_replicas, rank, shuffle, seed)
        self._batches_done = 0

    def set_epoch(self, epoch):
        self.sampler.set_epoch(epoch)
        self._batches_done = 0

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        shard = Subset(self.dataset, list(self.sampler))
        loader = DataLoader(shard, batch_size=self.batch_size, shuffle=False,
                            drop_last=self.drop_last, collate_fn=self.collate_fn)
        self._batches_done = 0
        for batch in loader:
            self._batches_done += 1
            yield batch
        self.set_epoch(self.sampler.epoch + 1)

    def state_dict(self):
        consumed = self._batches_done * self.batch_size * self.sampler.num_replicas
        return {"epoch": self.sampler.epoch,
                "start": min(self.sampler.start + consumed, len(self.dataset))}

    def load_state_dict(self, state):
        self.sampler.set_epoch(state["epoch"], state.get("start", 0))
        self._batches_done = 0
