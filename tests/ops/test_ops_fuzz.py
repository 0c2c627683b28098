"""Shape fuzzing against PyTorch: broadcasting binary ops and reductions
over random shapes, axes and keepdims. Hypothesis runs derandomized (a fixed
sequence of examples), so a failure reproduces exactly."""
import numpy as np
import pytest

import tinynet as tn

torch = pytest.importorskip("torch")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

FUZZ = settings(derandomize=True, max_examples=40, deadline=None)


@st.composite
def broadcast_pair(draw):
    """Two shapes that broadcast: drop leading dims and set some to 1."""
    shape = draw(st.lists(st.integers(1, 3), min_size=0, max_size=4))
    def variant():
        keep = draw(st.integers(0, len(shape)))
        return tuple(1 if draw(st.booleans()) else s for s in shape[len(shape) - keep:])
    return variant(), variant()


BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / (b * b + 1), lambda a, b: a / (b * b + 1)),
    "maximum": (tn.maximum, torch.maximum),
    "where": (lambda a, b: tn.where(a > b, a, b * 2), lambda a, b: torch.where(a > b, a, b * 2)),
}


def _run(lib, fn, arrays):
    ts = [lib.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*ts)
    w = np.random.default_rng(1).standard_normal(tuple(y.shape)).astype(arrays[0].dtype)
    (y * lib.tensor(w)).sum().backward()
    return [np.asarray(y.detach().numpy())] + [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("name", list(BINARY))
@FUZZ
@given(shapes=broadcast_pair(), seed=st.integers(0, 2 ** 16))
def test_binary_broadcasting_matches_pytorch(name, shapes, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ours, theirs = BINARY[name]
    for got, want in zip(_run(tn, ours, arrays), _run(torch, theirs, arrays)):
        assert got.dtype == want.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"{name} {shapes}")


REDUCTIONS = {
    "sum": (tn.sum, torch.sum),
    "mean": (tn.mean, torch.mean),
    "var": (tn.var, torch.var),
    "amax": (tn.amax, torch.amax),
    "logsumexp": (tn.logsumexp, torch.logsumexp),
}


@st.composite
def shape_and_axes(draw):
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=4)))
    axes = draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1,
                         max_size=len(shape), unique_by=lambda a: a % len(shape)))
    return shape, tuple(axes), draw(st.booleans())


@pytest.mark.parametrize("name", list(REDUCTIONS))
@FUZZ
@given(args=shape_and_axes(), seed=st.integers(0, 2 ** 16))
def test_reductions_over_random_axes_match_pytorch(name, args, seed):
    shape, axes, keepdims = args
    x = np.random.default_rng(seed).standard_normal(shape)
    ours, theirs = REDUCTIONS[name]
    got = _run(tn, lambda t: ours(t, dim=axes, keepdim=keepdims), [x])
    want = _run(torch, lambda t: theirs(t, dim=axes, keepdim=keepdims), [x])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12,
                                   err_msg=f"{name} {shape} axes={axes} keepdims={keepdims}")
