"""Small synthetic datasets for quick experiments and tests.

Each takes ``seed`` (None draws from ``tinynet.random``, so ``tn.manual_seed``
decides; an int or a ``numpy.random.Generator`` gives a fixed set).
"""
import numpy as np

from tinynet.data.dataset import TensorDataset, make_generator
from tinynet.tensor import Tensor


def spirals(n_per_class=100, n_classes=3, noise=0.2, seed=None):
    """Interleaved 2-d spiral arms, one class per arm: not linearly separable.

    Arm ``k`` goes from the origin to radius 1 while its angle turns from
    ``2*pi*k/n_classes`` through four radians more, plus Gaussian angle noise
    of std ``noise``.

    Shape:
        points float32 ``(n_per_class * n_classes, 2)``, labels int64 ``(N,)``.
    """
    if n_per_class < 1 or n_classes < 1:
        raise ValueError(f"spirals: n_per_class and n_classes must be >= 1, got "
                         f"{n_per_class} and {n_classes}")
    rng = make_generator(seed, "spirals")
    radius = np.tile(np.linspace(0.0, 1.0, n_per_class), n_classes)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    angle = (2 * np.pi * labels / n_classes + 4.0 * radius
             + rng.normal(0.0, noise, radius.shape))
    points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return TensorDataset(Tensor._wrap(points.astype(np.float32)), Tensor._wrap(labels.astype(np.int64)))


def sine_waves(n_samples=256, seq_len=32, freq_range=(0.5, 2.0), noise=0.0, seed=None):
    """Sine waves with random frequency and phase; predict the next value.

    Sample ``i`` is ``x = s[0:seq_len]`` and ``y = s[1:seq_len+1]`` of one wave
    ``s[t] = sin(2*pi*f*t/seq_len + phase)`` (+ Gaussian noise of std ``noise``
    on ``x``), with ``f`` uniform in ``freq_range`` and ``phase`` in [0, 2*pi).

    Shape:
        x and y float32 ``(n_samples, seq_len, 1)`` (batch_first sequences).
    """
    if n_samples < 1 or seq_len < 1:
        raise ValueError(f"sine_waves: n_samples and seq_len must be >= 1, got "
                         f"{n_samples} and {seq_len}")
    rng = make_generator(seed, "sine_waves")
    freq = rng.uniform(*freq_range, size=(n_samples, 1))
    phase = rng.uniform(0.0, 2 * np.pi, size=(n_samples, 1))
    t = np.arange(seq_len + 1)[None, :]
    waves = np.sin(2 * np.pi * freq * t / seq_len + phase)
    x = waves[:, :-1] + (rng.normal(0.0, noise, (n_samples, seq_len)) if noise else 0.0)
    y = waves[:, 1:]
    return TensorDataset(Tensor._wrap(x[..., None].astype(np.float32)),
                         Tensor._wrap(y[..., None].astype(np.float32)))
