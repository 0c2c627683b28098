"""Variable-length batches for the recurrent layers (PyTorch's torch.nn.utils.rnn).

A ``PackedSequence`` holds a batch of sequences of different lengths without
padding: ``data`` stacks step 0 of every sequence, then step 1 of every
sequence still running, and so on, the sequences sorted longest first;
``batch_sizes[t]`` says how many sequences are running at step t.
``sorted_indices`` (original batch index of each sorted position) and
``unsorted_indices`` (its inverse) are None when the input was already
sorted (``enforce_sorted=True``).

Packing and unpacking are gathers of rows (``tinynet.ops.padding.Take``),
so gradients flow through them; ``nn.RNN``, ``nn.GRU`` and ``nn.LSTM``
accept a PackedSequence and return one.

Shapes: T longest length, B batch, ``*`` feature dims; padded tensors are
(T, B, *), or (B, T, *) with ``batch_first``; ``data`` is (sum of lengths, *).
"""
from collections import namedtuple

import numpy as np

from tinynet.ops.padding import Take
from tinynet.ops.shape import cat, pad, reshape, stack
from tinynet.tensor import Tensor, as_tensor, describe, full


def _indices(a):
    """An int64 CPU Tensor, or None."""
    return None if a is None else Tensor._wrap(np.asarray(a, dtype=np.int64))


def _numpy(v):
    """A list, array or Tensor of ints as a NumPy int64 array (None stays None)."""
    if v is None:
        return None
    if isinstance(v, Tensor):
        v = v.numpy()
    return np.asarray(v).astype(np.int64)


class PackedSequence(namedtuple("PackedSequence",
                                ["data", "batch_sizes", "sorted_indices",
                                 "unsorted_indices"])):
    """A packed batch of variable-length sequences (see the module docstring).

    Fields: data (sum of lengths, *), batch_sizes (T,) int64 on the CPU,
    sorted_indices and unsorted_indices (B,) int64, or None. Build one with
    ``pack_padded_sequence`` or ``pack_sequence``, not by hand.
    """

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if batch_sizes is None:
            raise ValueError("PackedSequence: batch_sizes is required; build one with "
                             "pack_padded_sequence or pack_sequence")
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = np.argsort(_numpy(sorted_indices))
        return super().__new__(cls, data, _indices(_numpy(batch_sizes)),
                               _indices(_numpy(sorted_indices)),
                               _indices(_numpy(unsorted_indices)))

    def to(self, *args, **kwargs):
        """The same packing with ``data.to(*args, **kwargs)`` (the index
        tensors stay on the CPU, where tinynet reads them)."""
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else self._replace(data=data)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    @property
    def is_cuda(self):
        return self.data.is_cuda


# ---------------------------------------------------------------- index bookkeeping
def _sorted_lengths(batch_sizes):
    """Each sorted sequence's length, from batch_sizes (the longest first)."""
    bs = _numpy(batch_sizes)
    if bs.size == 0:
        return bs
    return (bs[None, :] > np.arange(bs[0])[:, None]).sum(axis=1)


def _packed_rows(batch_sizes, sorted_indices, T, B, batch_first):
    """For every row of ``data``: its row in the padded tensor flattened to
    (T*B, *) (or (B*T, *) with batch_first)."""
    bs = _numpy(batch_sizes)
    steps = np.repeat(np.arange(len(bs)), bs)
    slots = np.concatenate([np.arange(n) for n in bs]) if len(bs) else np.zeros(0, np.int64)
    b = slots if sorted_indices is None else _numpy(sorted_indices)[slots]
    return b * T + steps if batch_first else steps * B + b


def pack_rows(padded, batch_sizes, sorted_indices, batch_first):
    """``data`` of a PackedSequence gathered from a padded (T, B, *) or (B, T, *) tensor."""
    T, B = (padded.shape[1], padded.shape[0]) if batch_first else padded.shape[:2]
    flat = reshape(padded, (T * B,) + tuple(padded.shape[2:]))
    return Take(0, _packed_rows(batch_sizes, sorted_indices, T, B, batch_first))(flat)


# ---------------------------------------------------------------- public functions
def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack sequences (L_i, *) of different lengths into one padded tensor.

    Shape: -> (T, B, *), or (B, T, *) with ``batch_first``; T = max L_i.
    ``padding_side='left'`` puts the padding before each sequence.
    """
    sequences = [as_tensor(s) for s in sequences]
    if not sequences:
        raise ValueError("pad_sequence: received an empty list of sequences")
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'left' or 'right', got "
                         f"{padding_side!r}")
    rest = sequences[0].shape[1:]
    for k, s in enumerate(sequences):
        if s.ndim == 0 or s.shape[1:] != rest:
            raise ValueError(f"pad_sequence: every sequence must be (L, "
                             f"{', '.join(map(str, rest))}) like sequence 0, but sequence "
                             f"{k} is {describe(s)}")
    T = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        extra = T - s.shape[0]
        if extra:
            widths = (0, 0) * len(rest) + ((0, extra) if padding_side == "right" else (extra, 0))
            s = pad(s, widths, "constant", padding_value)
        padded.append(s)
    return stack(padded, 0 if batch_first else 1)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch (T, B, *) (or (B, T, *)) whose sequence b has
    ``lengths[b]`` real steps.

    ``lengths`` (B,) ints (a list or a CPU int64 tensor). With
    ``enforce_sorted`` they must be non-increasing; otherwise the batch is
    sorted here and the PackedSequence remembers the order.
    """
    input = as_tensor(input)
    lengths = _numpy(lengths)
    if input.ndim < 2:
        raise ValueError(f"pack_padded_sequence: expected a padded input (T, B, *) or "
                         f"(B, T, *), got {describe(input)}")
    T, B = (input.shape[1], input.shape[0]) if batch_first else input.shape[:2]
    if lengths.shape != (B,):
        raise ValueError(f"pack_padded_sequence: expected {B} lengths (one per sequence; "
                         f"batch_first={batch_first}), got {lengths.size}")
    if B and lengths.min() <= 0:
        raise ValueError(f"pack_padded_sequence: every length must be greater than 0, got "
                         f"{lengths.tolist()}")
    if B and lengths.max() > T:
        raise ValueError(f"pack_padded_sequence: a length of {lengths.max()} exceeds the "
                         f"padded sequence length {T} (input {describe(input)}, "
                         f"batch_first={batch_first})")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError(f"pack_padded_sequence: lengths {lengths.tolist()} are not "
                               "sorted in decreasing order; sort the batch or pass "
                               "enforce_sorted=False")
        sorted_indices = None
    else:
        sorted_indices = np.argsort(-lengths, kind="stable")
    sorted_lengths = lengths if sorted_indices is None else lengths[sorted_indices]
    batch_sizes = (sorted_lengths[None, :] > np.arange(sorted_lengths[0] if B else 0)[:, None]
                   ).sum(axis=1)
    data = pack_rows(input, batch_sizes, sorted_indices, batch_first)
    return PackedSequence(data, batch_sizes, sorted_indices)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Undo ``pack_padded_sequence``: returns (padded, lengths), the batch in
    its original order.

    Shape: padded (T, B, *) or (B, T, *), T = ``total_length`` if given
    (at least the longest length) else the longest length; lengths (B,) int64.
    """
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence: expected a PackedSequence, got "
                        f"{type(sequence).__name__}")
    data = sequence.data
    sorted_lengths = _sorted_lengths(sequence.batch_sizes)
    n_steps, B = len(sequence.batch_sizes), len(sorted_lengths)
    T = n_steps
    if total_length is not None:
        if total_length < n_steps:
            raise ValueError(f"pad_packed_sequence: total_length={total_length} is smaller "
                             f"than the longest sequence ({n_steps} steps)")
        T = int(total_length)
    sorted_indices = _numpy(sequence.sorted_indices)
    # the rows of data fill their padded positions; every other position
    # takes the extra row holding padding_value
    rows = np.full(T * B, data.shape[0], dtype=np.int64)
    rows[_packed_rows(sequence.batch_sizes, sorted_indices, T, B, batch_first)] = \
        np.arange(data.shape[0])
    fill = full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype,
                device=data.device)
    padded = Take(0, rows)(cat([data, fill]))
    padded = reshape(padded, ((B, T) if batch_first else (T, B)) + tuple(data.shape[1:]))
    unsorted = _numpy(sequence.unsorted_indices)
    lengths = sorted_lengths if unsorted is None else sorted_lengths[unsorted]
    return padded, Tensor._wrap(lengths.astype(np.int64))


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of sequences (L_i, *): ``pad_sequence`` then ``pack_padded_sequence``."""
    lengths = [as_tensor(s).shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths,
                                enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences (L_b, *) inside a padded batch (the inverse of pad_sequence)."""
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[b, :int(n)] for b, n in enumerate(_numpy(lengths))]


def unpack_sequence(packed_sequences):
    """The list of sequences inside a PackedSequence, in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
