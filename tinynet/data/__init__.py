"""Datasets, DataLoader and transforms (``tinynet.data``).

    from tinynet.data import DataLoader, digits
    loader = DataLoader(digits("train"), batch_size=64, shuffle=True, seed=0)
    for images, labels in loader:        # (64, 1, 8, 8) float32, (64,) int64
        ...
"""
from tinynet.data import transforms  # noqa: F401
from tinynet.data.dataloader import (  # noqa: F401
    DataLoader, default_collate, default_convert, get_worker_info)
from tinynet.data.dataset import (  # noqa: F401
    ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split)
from tinynet.data.sampler import (  # noqa: F401
    BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
    WeightedRandomSampler)
from tinynet.data.uci_digits import digits  # noqa: F401
from tinynet.data.folder import ImageFolder  # noqa: F401
from tinynet.data.mnist import MNIST, FashionMNIST, read_idx  # noqa: F401
from tinynet.data.synthetic import sine_waves, spirals  # noqa: F401
from tinynet.data.text import CharDataset  # noqa: F401
from tinynet.data.distributed import DistributedLoader, DistributedSampler  # noqa: F401
from tinynet.data.textsets import (  # noqa: F401
    CharStream, CharVocab, TextFolder, Vocab, make_sentiment_folder, pad_batch, stdlib_corpus,
    tokenize)

__all__ = ["DistributedLoader", "DistributedSampler", "CharDataset", "CharStream", "CharVocab", "ConcatDataset", "DataLoader", "Dataset", "FashionMNIST",
           "ImageFolder", "MNIST",
           "Subset", "TensorDataset", "default_collate", "digits", "random_split",
           "BatchSampler", "ChainDataset", "IterableDataset", "RandomSampler", "Sampler",
           "SequentialSampler", "SubsetRandomSampler", "WeightedRandomSampler",
           "default_convert", "get_worker_info",
           "read_idx", "sine_waves", "spirals", "transforms", "TextFolder", "Vocab",
           "make_sentiment_folder", "pad_batch", "stdlib_corpus", "tokenize"]
