"""Ops behind the basic layers: linear, dropout, embedding, one_hot, normalize.

Shapes: ``N`` batch, ``C`` channels/classes, ``*`` any number of extra dims,
``IN``/``OUT`` features of a linear layer, ``V`` vocabulary size, ``D``
embedding dim.
"""
import numpy as np

from tinynet import random
from tinynet.autograd import Function, is_grad_enabled
from tinynet.backend import check_values, get_array_module, to_device
from tinynet.ops.elementwise import (
    abs as abs_, clamp, ne, pow as pow_, require_float, sigmoid, sqrt, where)
from tinynet.ops.linalg import matmul
from tinynet.ops.reduce import amax, sum as sum_
from tinynet.ops.shape import broadcast_to, chunk, normalize_axis, permute, reshape, transpose
from tinynet.tensor import Tensor, as_tensor, describe


__all__ = [
    "cosine_similarity", "dropout", "dropout2d", "embedding", "glu", "linear", "normalize",
    "one_hot", "pairwise_distance", "pixel_shuffle", "pixel_unshuffle", "prelu"
]


# ---------------------------------------------------------------- linear
def _rows(shape):
    # (*, F) -> (prod(*), F) spelled out: reshape cannot infer -1 when F is 0
    n = 1
    for d in shape[:-1]:
        n *= d
    return (n, shape[-1])


class LinearFunction(Function):
    """y = x @ w.T + b in one node: one matmul forward, two matmuls backward."""

    def forward(self, x, w, b=None):
        if x.ndim > 2:
            # one 2-D matrix product over all leading dims: NumPy's stacked
            # matmul calls BLAS once per leading index, paying BLAS's
            # per-call (threading) cost N times for N small products
            y = (x.reshape(_rows(x.shape)) @ w.T).reshape(x.shape[:-1] + (w.shape[0],))
        else:
            y = x @ w.T
        if b is not None:
            y += b                       # in place: y is a fresh array
        return y

    def backward(self, gy):
        x, w = self.inputs[0], self.inputs[1]
        needs = self.needs_input_grad
        has_bias = len(self.inputs) == 3
        if not is_grad_enabled():
            # plain backward (no create_graph): the same formulas on raw arrays,
            # skipping the per-op overhead of this hot path
            return self._backward_arrays(gy.array, x.array, w.array, needs, has_bias)
        gx = matmul(gy, w) if needs[0] else None
        gw = gb = None
        # fold every leading dim into one batch dim so gw is a single matmul
        gy2 = reshape(gy, _rows(gy.shape)) if gy.ndim != 2 else gy
        if needs[1]:
            x2 = reshape(x, _rows(x.shape)) if x.ndim != 2 else x
            gw = matmul(transpose(gy2), x2)
        if has_bias and needs[2]:
            gb = sum_(gy2, axis=0)
        return (gx, gw, gb) if has_bias else (gx, gw)

    @staticmethod
    def _backward_arrays(gy, x, w, needs, has_bias):
        gy2 = gy.reshape(_rows(gy.shape))
        gx = Tensor._make((gy2 @ w).reshape(gy.shape[:-1] + (w.shape[1],))) if needs[0] else None
        gw = Tensor._make(gy2.T @ x.reshape(_rows(x.shape))) if needs[1] else None
        if not has_bias:
            return gx, gw
        return gx, gw, (Tensor._make(gy2.sum(axis=0)) if needs[2] else None)


def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` (PyTorch's F.linear).

    Shape: input (*, IN), weight (OUT, IN), bias (OUT,) -> (*, OUT).
    """
    if input.ndim < 1 or weight.ndim != 2 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {input.shape} does not match weight of "
                         f"shape {weight.shape}: expected input (*, {weight.shape[-1]}); "
                         f"input {describe(input)}, weight {describe(weight)}")
    if input.dtype != weight.dtype:
        raise TypeError(f"linear: input dtype {input.dtype} does not match weight dtype "
                        f"{weight.dtype}; convert one of them (model.double() or x.float())")
    if bias is None:
        return LinearFunction()(input, weight)
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    return LinearFunction()(input, weight, bias)


# ---------------------------------------------------------------- dropout
def check_p(p, op):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, got {p}")


def _keep_mask(shape, p, like):
    """A {0, 1/(1-p)} mask drawn from tinynet's generator (so manual_seed
    reproduces it), in ``like``'s dtype and on its device."""
    keep = random.uniform(0.0, 1.0, shape, np.float64) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)     # p = 1 drops everything
    mask = (keep * scale).astype(like.dtype)
    return Tensor._wrap(to_device(mask, like.device) if like.is_cuda else mask)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p).

    Inverted dropout: at evaluation (``training=False``) it is the identity.
    ``inplace=True`` multiplies the input in place and returns it.
    """
    check_p(p, "dropout")
    if not training or p == 0.0:
        return input
    if inplace:
        return input.mul_(_keep_mask(input.shape, p, input))
    return input * _keep_mask(input.shape, p, input)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels: one draw per (N, C) pair.

    Shape: (N, C, H, W), or (N, C, L), which PyTorch 2.x also treats as
    batched channels for dropout2d.
    """
    check_p(p, "dropout2d")
    if input.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected a 3-D (N, C, L) or 4-D (N, C, H, W) input, "
                         f"got shape {input.shape}")
    if not training or p == 0.0:
        return input
    shape = input.shape[:2] + (1,) * (input.ndim - 2)
    if inplace:
        return input.mul_(_keep_mask(shape, p, input))
    return input * _keep_mask(shape, p, input)


# ---------------------------------------------------------------- embedding
class EmbeddingFunction(Function):
    """Rows of the weight picked by integer indices."""

    def __init__(self, indices, padding_idx):
        self.indices, self.padding_idx = indices, padding_idx

    def forward(self, w):
        return w[self.indices]

    def backward(self, gy):
        return EmbeddingGrad(self.indices, self.padding_idx, self.inputs[0].shape[0])(gy)


class EmbeddingGrad(Function):
    """Scatter-add of output gradients into the weight's rows; the padding
    row gets none (it stays a fixed vector, as in PyTorch)."""

    def __init__(self, indices, padding_idx, num_embeddings):
        self.indices, self.padding_idx, self.V = indices, padding_idx, num_embeddings

    def forward(self, gy):
        xp = get_array_module(gy)
        gw = xp.zeros((self.V, gy.shape[-1]), dtype=gy.dtype)
        idx = self.indices.reshape(-1)
        xp.add.at(gw, idx, gy.reshape(idx.size, gy.shape[-1]))    # (no -1: D may be 0)
        if self.padding_idx is not None:
            gw[self.padding_idx] = 0
        return gw

    def backward(self, ggw):
        if self.padding_idx is not None:
            xp = get_array_module(ggw.array)
            keep = xp.ones((self.V, 1), dtype=ggw.dtype)
            keep[self.padding_idx] = 0
            ggw = ggw * Tensor._wrap(keep)
        return EmbeddingFunction(self.indices, None)(ggw)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Look up rows of ``weight`` (V, D) at the integer indices ``input`` (*).

    Shape: input (*) int, weight (V, D) -> (*, D). The row ``padding_idx``
    gets no gradient. ``max_norm``, ``scale_grad_by_freq`` and ``sparse`` are
    not supported.
    """
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are "
                                  "not supported")
    input = as_tensor(input)
    if input.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be an integer tensor, got {input.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (V, D), got shape {weight.shape}")
    V = weight.shape[0]
    idx = input.array
    # on a GPU the check waits for the next host read (see check_values)
    check_values((idx < 0) | (idx >= V), lambda bad: IndexError(
        f"embedding: index out of range: indices span [{int(idx.min())}, {int(idx.max())}] "
        f"but the weight has {V} rows"))
    if padding_idx is not None:
        if not -V <= padding_idx < V:
            raise ValueError(f"embedding: padding_idx must be within [{-V}, {V}), "
                             f"got {padding_idx}")
        padding_idx %= V
    return EmbeddingFunction(idx, padding_idx)(weight)


# ---------------------------------------------------------------- one_hot, normalize
def one_hot(tensor, num_classes=-1):
    """(*) int64 class indices -> (*, num_classes) int64 one-hot (not differentiable)."""
    tensor = as_tensor(tensor)
    if tensor.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected an integer tensor, got {tensor.dtype}")
    idx = tensor.array
    xp = get_array_module(idx)
    if num_classes == -1:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= num_classes):
        raise ValueError(f"one_hot: class values must be in [0, {num_classes}), got values "
                         f"in [{int(idx.min())}, {int(idx.max())}]")
    out = (idx[..., None] == xp.arange(num_classes)).astype(np.int64)
    return Tensor._wrap(out)


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """``input / max(||input||_p, eps)`` along ``dim`` (PyTorch's F.normalize)."""
    input = require_float(input, "normalize")
    if p <= 0:
        raise ValueError(f"normalize: p must be positive, got {p}")
    # max(||x||, eps) == (max(sum |x|^p, eps^p))^(1/p): clamping before the root
    # keeps the gradient finite at an all-zero slice (it is zero there).
    if p == 2:
        total = sum_(input * input, axis=dim, keepdims=True)
        norm = sqrt(clamp(total, min=eps * eps))
    else:
        total = sum_(pow_(abs_(input), float(p)), axis=dim, keepdims=True)
        norm = pow_(clamp(total, min=eps ** p), 1.0 / p)
    return input / norm


# ---------------------------------------------------------------- glu, prelu
def glu(input, dim=-1):
    """Gated linear unit: split ``input`` in halves a, b along ``dim``; a * sigmoid(b).

    Shape: (*, 2M, *) -> (*, M, *).
    """
    input = require_float(input, "glu")
    if input.ndim == 0:
        raise ValueError("glu: does not support 0-d (scalar) inputs")
    d = normalize_axis(dim, input.ndim, "glu")
    if input.shape[d] % 2:
        raise ValueError(f"glu: halving dimension must be even, but dim {dim} has size "
                         f"{input.shape[d]}; input {describe(input)}")
    a, b = chunk(input, 2, d)
    return a * sigmoid(b)


def prelu(input, weight):
    """input where input > 0, else weight * input, one weight per channel (dim 1)
    or one shared weight.

    Shape: input (N, C, *) or (*) with fewer than 2 dims; weight (C,) or (1,).
    """
    input = require_float(input, "prelu")
    C = input.shape[1] if input.ndim >= 2 else 1
    if weight.numel() not in (1, C):
        raise ValueError(f"prelu: weight has {weight.numel()} elements, expected 1 or the "
                         f"number of channels {C} (dim 1); input {describe(input)}, "
                         f"weight {describe(weight)}")
    if weight.numel() == 1:
        w = reshape(weight, ()) if weight.ndim else weight
    else:
        w = reshape(weight, (C,) + (1,) * (input.ndim - 2))
    return where(input.array > 0, input, w * input)


# ---------------------------------------------------------------- similarity, distance
def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps)) along ``dim``
    (PyTorch's F.cosine_similarity); x1 and x2 broadcast.

    Shape: x1, x2 broadcastable to (*, D, *) -> the same without ``dim``.
    """
    x1, x2 = require_float(x1, "cosine_similarity"), require_float(x2, "cosine_similarity")
    try:
        shape = np.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise ValueError(f"cosine_similarity: cannot broadcast {describe(x1)} with "
                         f"{describe(x2)}") from None
    d = normalize_axis(dim, len(shape), "cosine_similarity")
    if len(shape) == 0:
        raise ValueError("cosine_similarity: expected inputs with at least one dim")
    x1, x2 = broadcast_to(x1, shape), broadcast_to(x2, shape)

    def unit(x):
        # each vector divided by its norm first, as PyTorch does: the result
        # stays within [-1, 1]; the clamp keeps all-zero vectors finite
        n = sqrt(clamp(sum_(x * x, axis=d, keepdims=True), min=eps * eps))
        return x / n
    return sum_(unit(x1) * unit(x2), axis=d)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """The p-norm of ``x1 - x2 + eps`` over the last dim (PyTorch's F.pairwise_distance).

    Shape: x1, x2 broadcastable to (*, D) -> (*) (or (*, 1) with ``keepdim``).
    """
    x1, x2 = require_float(x1, "pairwise_distance"), require_float(x2, "pairwise_distance")
    if p < 0:
        raise ValueError(f"pairwise_distance: p must be non-negative, got {p}")
    diff = x1 - x2 + eps
    if diff.ndim == 0:
        raise ValueError("pairwise_distance: expected inputs with at least one dim")
    if p == 0:                           # the number of non-zero entries (no gradient)
        return sum_(ne(diff, 0).astype(diff.dtype), axis=-1, keepdims=keepdim)
    if p == float("inf"):
        return amax(abs_(diff), axis=-1, keepdims=keepdim)
    if p == 1:
        return sum_(abs_(diff), axis=-1, keepdims=keepdim)
    if p == 2:
        return sqrt(sum_(diff * diff, axis=-1, keepdims=keepdim))
    return pow_(sum_(pow_(abs_(diff), float(p)), axis=-1, keepdims=keepdim), 1.0 / p)


# ---------------------------------------------------------------- pixel shuffle
def _check_factor(op, what, r):
    if not isinstance(r, (int, np.integer)) or isinstance(r, bool) or r <= 0:
        raise ValueError(f"{op}: {what} must be a positive int, got {r!r}")
    return int(r)


def pixel_shuffle(input, upscale_factor):
    """Rearrange (*, C*r*r, H, W) into (*, C, H*r, W*r), r = ``upscale_factor``:
    the channels of each group of r*r become an r x r block of pixels."""
    r = _check_factor("pixel_shuffle", "upscale_factor", upscale_factor)
    if input.ndim < 3:
        raise ValueError(f"pixel_shuffle: expected an input with at least 3 dims "
                         f"(*, C, H, W), got {describe(input)}")
    *batch, C, H, W = input.shape
    if C % (r * r):
        raise ValueError(f"pixel_shuffle: the channel dim (-3) must be divisible by "
                         f"upscale_factor**2 = {r * r}, got {C}; input {describe(input)}")
    b = len(batch)
    x = reshape(input, (*batch, C // (r * r), r, r, H, W))
    # (*, C, r_h, r_w, H, W) -> (*, C, H, r_h, W, r_w)
    x = permute(x, *range(b), b, b + 3, b + 1, b + 4, b + 2)
    return reshape(x, (*batch, C // (r * r), H * r, W * r))


def pixel_unshuffle(input, downscale_factor):
    """The inverse of ``pixel_shuffle``: (*, C, H*r, W*r) -> (*, C*r*r, H, W)."""
    r = _check_factor("pixel_unshuffle", "downscale_factor", downscale_factor)
    if input.ndim < 3:
        raise ValueError(f"pixel_unshuffle: expected an input with at least 3 dims "
                         f"(*, C, H, W), got {describe(input)}")
    *batch, C, H, W = input.shape
    if H % r or W % r:
        raise ValueError(f"pixel_unshuffle: height {H} and width {W} must be divisible by "
                         f"downscale_factor {r}; input {describe(input)}")
    if input.numel() == 0:
        # PyTorch returns an empty input as it is, its shape unchanged: so do we
        return input.clone()
    b = len(batch)
    x = reshape(input, (*batch, C, H // r, r, W // r, r))
    # (*, C, H, r_h, W, r_w) -> (*, C, r_h, r_w, H, W)
    x = permute(x, *range(b), b, b + 2, b + 4, b + 1, b + 3)
    return reshape(x, (*batch, C * r * r, H // r, W // r))
