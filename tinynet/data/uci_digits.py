"""The handwritten digits shipped with tinynet (no network needed).

``digits.csv.gz`` next to this file is the test part of the UCI "Optical
Recognition of Handwritten Digits" data set (E. Alpaydin and C. Kaynak, 1998;
https://doi.org/10.24432/C50P49, licensed CC BY 4.0), in the copy that
scikit-learn distributes: 1,797 rows of 64 pixel counts (0..16, an 8x8 image
read row by row) followed by the label 0..9.

The train/test split is fixed and uses no random numbers: within each class,
taken in file order, every fifth sample (positions 4, 9, 14, ... counting from
0) is a test sample and the others are training samples. That gives 1,442
training and 355 test images, stratified (each class ~20% test).

(The module is not called ``digits.py`` because ``tinynet.data.digits`` is
the function; a module of the same name would be hidden behind it.)
"""
import functools
import gzip
import os

import numpy as np

from tinynet.data.dataset import TensorDataset
from tinynet.tensor import Tensor

DIGITS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits.csv.gz")
N_SAMPLES = 1797
TEST_EVERY = 5


@functools.lru_cache(maxsize=1)
def _load_raw():
    """(pixels (1797, 64) uint8, labels (1797,) int64), read once per process."""
    with gzip.open(DIGITS_FILE, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if table.shape != (N_SAMPLES, 65) or table[:, :64].min() < 0 or table[:, :64].max() > 16 \
            or not set(np.unique(table[:, 64])) <= set(range(10)):
        raise RuntimeError(f"digits: {DIGITS_FILE} is damaged (table of shape {table.shape}, "
                           f"expected ({N_SAMPLES}, 65) with pixels 0..16 and labels 0..9); "
                           f"reinstall tinynet")
    pixels = table[:, :64].astype(np.uint8)
    labels = table[:, 64].copy()
    pixels.setflags(write=False)
    labels.setflags(write=False)
    return pixels, labels


def split_indices(labels):
    """(train, test) row indices of the fixed stratified split described above."""
    labels = np.asarray(labels)
    test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        test[rows[TEST_EVERY - 1::TEST_EVERY]] = True
    return np.flatnonzero(~test), np.flatnonzero(test)


def digits(split="train", flatten=False, normalize=True):
    """The 8x8 handwritten digits as a ``TensorDataset(images, labels)``.

    Args:
        split: ``"train"`` (1,442 images), ``"test"`` (355) or ``"all"`` (1,797,
            in file order). The split is fixed; see this module's docstring.
        flatten: images as 64-vectors instead of 1x8x8.
        normalize: scale pixel counts 0..16 to [0, 1]; otherwise keep 0..16.

    Shape:
        images float32 ``(N, 1, 8, 8)`` (or ``(N, 64)`` with ``flatten``);
        labels int64 ``(N,)`` with values 0..9.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"digits: split must be 'train', 'test' or 'all', got {split!r}")
    pixels, labels = _load_raw()
    if split != "all":
        train, test = split_indices(labels)
        rows = train if split == "train" else test
        pixels, labels = pixels[rows], labels[rows]
    images = pixels.astype(np.float32)
    if normalize:
        images /= np.float32(16)
    images = images.reshape(-1, 64) if flatten else images.reshape(-1, 1, 8, 8)
    return TensorDataset(Tensor._wrap(images), Tensor._wrap(labels.copy()))
