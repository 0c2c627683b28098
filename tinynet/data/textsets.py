"""Text for recurrent models: a corpus every Python has, truncated-BPTT
character batches, a word tokenizer and vocabulary, and a text-folder
classification dataset (one sub-folder per class, like the IMDB review set).

    corpus = stdlib_corpus()                       # no download: Python's own sources
    stream = CharStream(corpus, batch_size=32, seq_len=64)
    for x, y in stream:                            # (64, 32) int64 each, time-major
        ...                                        # carry the hidden state across chunks

    train = TextFolder("reviews/train")            # reviews/train/{neg,pos}/*.txt
    test = TextFolder("reviews/test", vocab=train.vocab)
    for ids, labels, lengths in train.batches(32, shuffle=True, seed=0):
        ...                                        # ids (32, T) padded with 0

(``CharDataset`` in ``tinynet.data.text`` gives random next-character windows
for a DataLoader; ``CharStream`` gives the consecutive chunks that truncated
backpropagation through time needs.)
"""
import collections
import os
import re

import numpy as np

from tinynet import random as _random

# a few standard-library modules of plain, varied Python: the default corpus
STDLIB_MODULES = ("argparse.py", "textwrap.py", "difflib.py", "fractions.py", "shlex.py",
                  "calendar.py", "heapq.py", "bisect.py", "string.py", "glob.py",
                  "fnmatch.py", "colorsys.py", "queue.py", "sched.py", "statistics.py")


def stdlib_corpus(max_chars=None, modules=STDLIB_MODULES):
    """The concatenated source of some standard-library modules.

    Every Python installation has these files, so a character model can
    train with no download. Missing modules are skipped; the text is ASCII
    plus whatever the sources contain, read as UTF-8.
    """
    root = os.path.dirname(os.__file__)
    parts = []
    for name in modules:
        path = os.path.join(root, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                parts.append(f.read())
    if not parts:
        raise RuntimeError(f"stdlib_corpus: none of {list(modules)} found in {root}")
    text = "\n".join(parts)
    return text if max_chars is None else text[:max_chars]


class CharVocab:
    """Characters <-> ids. ``CharVocab(text)`` uses the sorted distinct characters."""

    def __init__(self, text=None, chars=None):
        if chars is None:
            if text is None:
                raise ValueError("CharVocab: give the text or the characters")
            chars = sorted(set(text))
        self.itos = list(chars)
        if len(set(self.itos)) != len(self.itos):
            raise ValueError("CharVocab: characters must be distinct")
        self.stoi = {ch: i for i, ch in enumerate(self.itos)}

    def __len__(self):
        return len(self.itos)

    def encode(self, text):
        """int64 ids of ``text``; an unknown character raises ValueError."""
        try:
            return np.fromiter((self.stoi[ch] for ch in text), np.int64, len(text))
        except KeyError as e:
            raise ValueError(f"CharVocab.encode: character {e.args[0]!r} is not among the "
                             f"{len(self)} characters of the vocabulary") from None

    def decode(self, ids):
        return "".join(self.itos[int(i)] for i in np.asarray(ids).reshape(-1))


class CharStream:
    """Consecutive (input, target) chunks for truncated BPTT.

    The text is cut into ``batch_size`` equal streams side by side; chunk k
    holds characters [k*seq_len, (k+1)*seq_len) of every stream, so the
    hidden state at the end of chunk k is the right start for chunk k+1.

    Shape: each item is (x, y), int64 (seq_len, batch_size) (or transposed
    with ``batch_first``), y being x shifted by one character.
    """

    def __init__(self, text, batch_size, seq_len, vocab=None, batch_first=False):
        if batch_size < 1 or seq_len < 1:
            raise ValueError(f"CharStream: batch_size and seq_len must be >= 1, got "
                             f"{batch_size} and {seq_len}")
        self.vocab = vocab if vocab is not None else CharVocab(text)
        ids = self.vocab.encode(text)
        L = (len(ids) - 1) // batch_size
        if L < seq_len:
            raise ValueError(f"CharStream: {len(ids)} characters are too few for "
                             f"batch_size={batch_size} streams of at least seq_len={seq_len}")
        self.batch_size, self.seq_len, self.batch_first = batch_size, seq_len, batch_first
        # (L + 1, batch_size): column n is stream n; the extra row feeds the last target
        self.streams = np.stack([ids[n * L:n * L + L + 1] for n in range(batch_size)], 1)

    def __len__(self):
        return (self.streams.shape[0] - 1) // self.seq_len

    def __iter__(self):
        for k in range(len(self)):
            s = self.streams[k * self.seq_len:(k + 1) * self.seq_len + 1]
            x, y = s[:-1], s[1:]
            if self.batch_first:
                x, y = x.T, y.T
            yield np.ascontiguousarray(x), np.ascontiguousarray(y)


# ---------------------------------------------------------------- words
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")


def tokenize(text):
    """Lower-case words (with a trailing 's, n't ...) and single punctuation marks.

    >>> tokenize("It's GREAT, isn't it?")
    ["it's", 'great', ',', "isn't", 'it', '?']
    """
    return _TOKEN.findall(text.lower())


class Vocab:
    """Tokens <-> ids, built from tokenized texts: ``<pad>`` is 0, ``<unk>`` is 1,
    then tokens by falling frequency (ties in first-seen order)."""
    PAD, UNK = "<pad>", "<unk>"

    def __init__(self, token_lists, min_freq=1, max_size=None):
        counts = collections.Counter()
        for tokens in token_lists:
            counts.update(tokens)
        words = [w for w, c in sorted(counts.items(), key=lambda wc: -wc[1]) if c >= min_freq]
        if max_size is not None:
            words = words[:max(0, max_size - 2)]
        self.itos = [self.PAD, self.UNK] + words
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    pad_index, unk_index = 0, 1

    def __len__(self):
        return len(self.itos)

    def encode(self, tokens):
        return np.array([self.stoi.get(t, self.unk_index) for t in tokens], np.int64)

    def decode(self, ids):
        return [self.itos[int(i)] for i in ids]


def pad_batch(seqs, pad_index=0, max_len=None):
    """Right-pad int sequences to one length: ids (N, T) int64, lengths (N,).
    Sequences longer than ``max_len`` are cut; empty ones count as length 1
    (one pad token), since a recurrent layer needs at least one step."""
    if max_len is not None:
        seqs = [s[:max_len] for s in seqs]
    lengths = np.array([max(len(s), 1) for s in seqs], np.int64)
    ids = np.full((len(seqs), int(lengths.max()) if len(seqs) else 0), pad_index, np.int64)
    for n, s in enumerate(seqs):
        ids[n, :len(s)] = s
    return ids, lengths


class TextFolder:
    """Text classification from a folder: ``root/<class>/<anything>.txt``.

    Classes are the sorted sub-folder names. Each file is one sample,
    tokenized with ``tokenizer`` and encoded with ``vocab`` (built from this
    folder's texts when None: pass the training set's vocab to a test set).

    Item ``i`` is (ids int64 (length,), label int).
    """

    def __init__(self, root, vocab=None, tokenizer=tokenize, min_freq=1, max_size=None,
                 max_len=None, encoding="utf-8"):
        if not os.path.isdir(root):
            raise FileNotFoundError(f"TextFolder: {root!r} is not a directory")
        self.classes = sorted(d for d in os.listdir(root)
                              if os.path.isdir(os.path.join(root, d)))
        if not self.classes:
            raise ValueError(f"TextFolder: {root!r} has no class sub-folders")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        tokens, labels = [], []
        for c in self.classes:
            folder = os.path.join(root, c)
            for name in sorted(os.listdir(folder)):
                if name.endswith(".txt"):
                    with open(os.path.join(folder, name), encoding=encoding) as f:
                        tokens.append(tokenizer(f.read()))
                    labels.append(self.class_to_idx[c])
        if not tokens:
            raise ValueError(f"TextFolder: no .txt files under {root!r}")
        self.vocab = vocab if vocab is not None else Vocab(tokens, min_freq, max_size)
        self.samples = [self.vocab.encode(t) for t in tokens]
        self.labels = np.array(labels, np.int64)
        self.max_len = max_len

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        return self.samples[i], int(self.labels[i])

    def batches(self, batch_size, shuffle=False, seed=None):
        """Padded batches: (ids (N, T) int64, labels (N,) int64, lengths (N,))."""
        order = np.arange(len(self))
        if shuffle:
            rng = np.random.default_rng(seed) if seed is not None else _random.generator()
            order = rng.permutation(len(self))
        for k in range(0, len(order), batch_size):
            idx = order[k:k + batch_size]
            ids, lengths = pad_batch([self.samples[i] for i in idx], self.vocab.pad_index,
                                     self.max_len)
            yield ids, self.labels[idx], lengths


# ---------------------------------------------------------------- a generated set
POSITIVE = ("good", "great", "wonderful", "superb", "enjoyable", "brilliant", "moving",
            "delightful", "excellent", "charming")
NEGATIVE = ("bad", "awful", "boring", "dull", "terrible", "weak", "tedious", "clumsy",
            "poor", "dreadful")
NEUTRAL = ("the", "film", "movie", "plot", "actor", "story", "was", "and", "a", "scene",
           "music", "it", "this", "director", "ending", "really", "quite", "with", "of", "i")


def make_sentiment_folder(root, n_per_class=100, seed=0, min_words=6, max_words=20):
    """Write a small review set: ``root/{neg,pos}/NNNN.txt``.

    Each review is neutral filler with a few sentiment words; a positive
    review has more positive than negative words and vice versa, so the label
    is a function of the words (a bag-of-words model can learn it; the order
    does not matter). Returns ``root``.
    """
    rng = np.random.default_rng(seed)
    for label, (main, other) in (("pos", (POSITIVE, NEGATIVE)), ("neg", (NEGATIVE, POSITIVE))):
        os.makedirs(os.path.join(root, label), exist_ok=True)
        for k in range(n_per_class):
            n = int(rng.integers(min_words, max_words + 1))
            words = list(rng.choice(NEUTRAL, n))
            n_main = int(rng.integers(2, 4))
            n_other = int(rng.integers(0, n_main))
            for w in list(rng.choice(main, n_main)) + list(rng.choice(other, n_other)):
                words.insert(int(rng.integers(0, len(words) + 1)), w)
            with open(os.path.join(root, label, f"{k:04d}.txt"), "w", encoding="utf-8") as f:
                f.write(" ".join(words).capitalize() + ".\n")
    return root
