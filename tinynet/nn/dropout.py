"""Dropout layers (inverted dropout: identity in eval mode)."""
from tinynet.nn.module import Module
from tinynet.ops.nn_ops import check_p, dropout, dropout2d


class _DropoutNd(Module):
    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        check_p(p, type(self).__name__)
        self.p, self.inplace = p, inplace

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Randomly zeroes elements while training (inverted dropout).

    Each element is zeroed with probability ``p`` and the others are scaled
    by ``1 / (1 - p)``; in eval mode the layer returns its input.

    The scaling keeps each element's expected value, so nothing needs
    rescaling at test time ("inverted dropout"). ``model.eval()`` switches
    it off.

    Args:
        p (float, optional): the probability of zeroing an element, in
            [0, 1]. Default: ``0.5``.
        inplace (bool, optional): write the result into the input.
            Default: ``False``.

    Shape:
        - Input: ``(*)``, any number of dims.
        - Output: ``(*)``, the shape of the input.

    Example::

        >>> m = nn.Dropout(p=0.5)
        >>> y = m(tn.ones(4, 1000))
        >>> sorted(set(y.flatten().tolist()))
        [0.0, 2.0]
        >>> m.eval()(tn.ones(2, 2))
        tensor([[1., 1.],
                [1., 1.]])
    """

    def forward(self, input):
        return dropout(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Randomly zeroes whole channels while training (inverted dropout).

    Each channel is zeroed with probability ``p`` and the others are scaled
    by ``1 / (1 - p)``; in eval mode the layer returns its input.

    Neighbouring pixels of a feature map are strongly correlated, so
    dropping single elements regularizes little; dropping the whole
    ``(H, W)`` plane of a channel does.

    Args:
        p (float, optional): the probability of zeroing a channel, in
            [0, 1]. Default: ``0.5``.
        inplace (bool, optional): write the result into the input.
            Default: ``False``.

    Shape:
        - Input: ``(N, C, H, W)``, or ``(N, C, L)`` (one draw per ``(N, C)``
          pair too, as PyTorch 2.x does for 3-dim inputs).
        - Output: the shape of the input.

    Example::

        >>> m = nn.Dropout2d(p=0.5)
        >>> y = m(tn.ones(8, 16, 4, 4))
        >>> y.shape
        (8, 16, 4, 4)
        >>> planes = y.reshape(8 * 16, 16)
        >>> bool((planes.amin(1) == planes.amax(1)).all())   # each channel all 0 or all 2
        True
    """

    def forward(self, input):
        return dropout2d(input, self.p, self.training, self.inplace)
