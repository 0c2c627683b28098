"""Embedding: a lookup table of vectors."""
from tinynet.nn import init
from tinynet.nn.module import Module, Parameter
from tinynet.ops.nn_ops import embedding
from tinynet.tensor import empty


class Embedding(Module):
    """A lookup table: row ``i`` of ``weight`` is the vector of index ``i``.

    The input holds integer indices; the output replaces each one by its row,
    so it gets one more dim, of size ``embedding_dim``. Only the rows that
    were looked up get a gradient.

    Args:
        num_embeddings (int): the number of rows, i.e. of distinct indices.
        embedding_dim (int): the size of each vector.
        padding_idx (int, optional): the row of this index starts at zero and
            never gets a gradient, so it stays a fixed "padding" vector
            (negative values count from the end). Default: ``None``.
        max_norm, scale_grad_by_freq, sparse: PyTorch's options, not
            supported; any value other than the default raises
            NotImplementedError. ``norm_type`` (default ``2.0``) is accepted
            and unused.
        device, dtype (optional): where and in which floating dtype the weight
            is created. Default: ``None`` (CPU, float32).

    Shape:
        - Input: ``(*)``, an integer (int64) tensor of indices in
          ``[0, num_embeddings)``.
        - Output: ``(*, embedding_dim)``.

    Attributes:
        weight: ``(num_embeddings, embedding_dim)``, initialised from ``N(0, 1)``.

    ``Embedding.from_pretrained(embeddings, freeze=True, padding_idx=None)``
    builds one around a given 2-dim tensor (frozen unless ``freeze=False``).

    Example::

        >>> m = nn.Embedding(10, 3)
        >>> m(tn.tensor([[1, 2, 4, 5], [4, 3, 2, 9]])).shape
        (2, 4, 3)
        >>> m = nn.Embedding(3, 2, padding_idx=0)
        >>> m(tn.tensor([0, 0])).detach()
        tensor([[0., 0.],
                [0., 0.]])
        >>> m = nn.Embedding.from_pretrained(tn.tensor([[1.0, 2.0], [3.0, 4.0]]))
        >>> m(tn.tensor([1]))
        tensor([[3., 4.]])
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
                 norm_type=2.0, scale_grad_by_freq=False, sparse=False, _weight=None,
                 _freeze=False, device=None, dtype=None):
        super().__init__()
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise NotImplementedError("Embedding: max_norm, scale_grad_by_freq and sparse "
                                      "are not supported")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be within num_embeddings "
                                 f"({num_embeddings}), got {padding_idx}")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            self.weight = Parameter(empty(num_embeddings, embedding_dim, device=device,
                                          dtype=dtype), requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight must have shape ({num_embeddings}, "
                                 f"{embedding_dim}), got {tuple(_weight.shape)}")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.array[self.padding_idx] = 0

    def forward(self, input):
        return embedding(input, self.weight, self.padding_idx)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None):
        """An Embedding holding ``embeddings`` (2-D); frozen unless ``freeze=False``."""
        if embeddings.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got "
                             f"shape {tuple(embeddings.shape)}")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx=padding_idx, _weight=embeddings, _freeze=freeze)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s
