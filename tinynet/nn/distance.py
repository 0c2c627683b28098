"""CosineSimilarity and PairwiseDistance: modules around the functional ops."""
from tinynet.nn.module import Module
from tinynet.ops.nn_ops import cosine_similarity, pairwise_distance


class CosineSimilarity(Module):
    """Cosine of the angle between ``x1`` and ``x2`` along ``dim``.

    ``sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps))``.

    Args:
        dim (int, optional): the dim holding the vectors. Default: ``1``.
        eps (float, optional): the smallest norm used in the division, so
            that zero vectors give 0 instead of NaN. Default: ``1e-8``.

    Shape:
        - Input1: ``(*_1, D, *_2)``, with ``D`` at ``dim``.
        - Input2: the same shape, or one that broadcasts with Input1.
        - Output: ``(*_1, *_2)``, the broadcast shape without ``dim``.

    Example::

        >>> m = nn.CosineSimilarity(dim=1)
        >>> a = tn.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])
        >>> b = tn.tensor([[0.0, 3.0], [0.0, 5.0], [-1.0, 0.0]])
        >>> m(a, b)
        tensor([ 0.,  1., -1.])
        >>> m(tn.randn(100, 128), tn.randn(100, 128)).shape
        (100,)
    """

    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """Distance between matching rows: ``||x1 - x2 + eps||_p`` over the last dim.

    Args:
        p (float, optional): the order of the norm. Default: ``2.0``.
        eps (float, optional): added to the difference to keep the gradient
            finite when two rows are equal. Default: ``1e-6``.
        keepdim (bool, optional): keep the last dim, with size 1.
            Default: ``False``.

    Shape:
        - Input1: ``(N, D)`` or ``(D,)``.
        - Input2: the same shape as Input1, or one that broadcasts with it.
        - Output: ``(N,)`` or ``()`` (``(N, 1)`` or ``(1,)`` with ``keepdim``).

    Example::

        >>> m = nn.PairwiseDistance(p=1.0, eps=0.0)
        >>> m(tn.tensor([[0.0, 0.0], [1.0, 1.0]]), tn.tensor([[3.0, 4.0], [1.0, 1.0]]))
        tensor([7., 0.])
        >>> nn.PairwiseDistance(keepdim=True)(tn.randn(100, 128), tn.randn(100, 128)).shape
        (100, 1)
    """

    def __init__(self, p=2.0, eps=1e-6, keepdim=False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        return pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)
