"""Character-level text for language models: ``CharDataset``.

Sample ``i`` is a window of ``seq_len`` character ids and the same window
shifted one character to the right (the next-character targets):

    text "hello", seq_len 3:  x = "hel", y = "ell";  x = "ell", y = "llo"
"""
import numpy as np

from tinynet.data.dataset import Dataset
from tinynet.tensor import Tensor


class CharDataset(Dataset):
    """Next-character windows over ``text``.

    Args:
        text: the corpus (a str).
        seq_len: characters per sample.
        vocab: the characters, in id order; default: the sorted distinct
            characters of ``text``.

    Attributes: ``vocab`` (list of characters), ``stoi`` (char -> id),
    ``itos`` (id -> char), ``data`` (int64 Tensor of every id in ``text``).

    Shape:
        a sample is ``(x, y)``, both int64 ``(seq_len,)``; a DataLoader batch
        is ``(N, seq_len)`` each.
    """

    def __init__(self, text, seq_len, vocab=None):
        if not isinstance(text, str):
            raise TypeError(f"CharDataset: text must be a str, got {type(text).__name__}")
        if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)) or seq_len < 1:
            raise ValueError(f"CharDataset: seq_len must be a positive int, got {seq_len!r}")
        self.seq_len = int(seq_len)
        self.vocab = sorted(set(text)) if vocab is None else list(vocab)
        if len(set(self.vocab)) != len(self.vocab):
            raise ValueError("CharDataset: vocab has repeated characters")
        self.stoi = {ch: i for i, ch in enumerate(self.vocab)}
        self.itos = dict(enumerate(self.vocab))
        self.data = Tensor._wrap(self.encode(text))

    @classmethod
    def from_file(cls, path, seq_len, encoding="utf-8", vocab=None):
        """A CharDataset over the contents of a text file."""
        with open(path, encoding=encoding) as f:
            return cls(f.read(), seq_len, vocab=vocab)

    @property
    def vocab_size(self):
        return len(self.vocab)

    def encode(self, text):
        """Character ids (int64 NumPy array) of ``text``."""
        try:
            return np.fromiter((self.stoi[ch] for ch in text), dtype=np.int64, count=len(text))
        except KeyError as e:
            raise ValueError(f"CharDataset.encode: character {e.args[0]!r} is not in the "
                             f"vocabulary of {len(self.vocab)} characters") from None

    def decode(self, ids):
        """The text for a sequence of ids (list, array or Tensor)."""
        ids = ids.numpy() if isinstance(ids, Tensor) else np.asarray(ids)
        return "".join(self.itos[int(i)] for i in ids.reshape(-1))

    def __len__(self):
        return max(0, self.data.shape[0] - self.seq_len)

    def __getitem__(self, index):
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"CharDataset: index out of range for {n} samples")
        window = self.data.array[index:index + self.seq_len + 1]
        return Tensor._make(window[:-1]), Tensor._make(window[1:])
