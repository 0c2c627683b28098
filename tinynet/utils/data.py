"""``tinynet.utils.data``: where PyTorch code finds the data-loading API
(``from torch.utils.data import DataLoader`` becomes
``from tinynet.utils.data import DataLoader``).

The very objects of ``tinynet.data`` (not copies), so ``isinstance`` checks and
subclasses agree across both names.
"""
from tinynet.data.dataloader import (  # noqa: F401
    DataLoader, default_collate, default_convert, get_worker_info)
from tinynet.data.dataset import (  # noqa: F401
    ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split)
from tinynet.data.distributed import DistributedSampler  # noqa: F401
from tinynet.data.sampler import (  # noqa: F401
    BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
    WeightedRandomSampler)

__all__ = ["BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset",
           "DistributedSampler", "IterableDataset", "RandomSampler", "Sampler",
           "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset",
           "WeightedRandomSampler", "default_collate", "default_convert", "get_worker_info",
           "random_split"]
