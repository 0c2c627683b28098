"""Convolution: every kernel version against the reference, float64
gradcheck / gradgradcheck, PyTorch's outputs and gradients, errors."""
import numpy as np
import pytest

import tinynet as tn
from tinynet import kernels
from tinynet.kernels import conv2d as K
from tinynet.ops.conv import conv1d, conv2d, conv2d_simple, conv_transpose2d, fold, unfold

# (N, C, H, W, O, KH, KW, stride, padding, dilation, groups)
CASES = [
    (2, 3, 7, 6, 4, 3, 3, 1, 0, 1, 1),
    (2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1),
    (1, 2, 8, 8, 2, 3, 3, 2, 1, 1, 1),
    (2, 2, 9, 7, 3, 3, 2, 3, 2, 1, 1),
    (1, 4, 7, 7, 4, 3, 3, 1, 2, 2, 2),
    (2, 4, 6, 5, 4, 3, 3, 1, 1, 1, 4),     # depthwise
    (1, 3, 5, 5, 2, 1, 1, 1, 0, 1, 1),     # 1x1
    (1, 2, 9, 9, 3, 2, 2, 3, 0, 1, 1),     # stride > kernel
    (1, 2, 6, 11, 3, 2, 4, (1, 2), (1, 0), (2, 1), 1),   # non-square everything
]


def case_id(c):
    N, C, H, W, O, KH, KW, s, p, d, g = c
    return f"N{N}-C{C}-{H}x{W}-O{O}-k{KH}x{KW}-s{s}-p{p}-d{d}-g{g}".replace(" ", "")


def make(c, dtype=np.float64, seed=0):
    N, C, H, W, O, KH, KW, s, p, d, g = c
    rng = np.random.default_rng(seed)
    x = tn.tensor(rng.standard_normal((N, C, H, W)).astype(dtype), requires_grad=True)
    w = tn.tensor(rng.standard_normal((O, C // g, KH, KW)).astype(dtype), requires_grad=True)
    b = tn.tensor(rng.standard_normal(O).astype(dtype), requires_grad=True)
    return x, w, b, dict(stride=s, padding=p, dilation=d, groups=g)


def pair(v):
    return v if isinstance(v, tuple) else (v, v)


AVAILABLE = [n for n, impl in K.IMPLS.items() if impl.available() and impl.device != "cuda"]


@pytest.mark.parametrize("impl", AVAILABLE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", CASES, ids=case_id)
def test_kernel_versions_match_reference(c, dtype, impl):
    N, C, H, W, O, KH, KW, s, p, d, g = c
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((O, C // g, KH, KW)).astype(dtype)
    args = (pair(s), pair(p), pair(d), g)
    ref = K.IMPLS["ref"]
    y_ref, _ = K.conv2d_forward(x, w, *args, impl=ref)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    y, cols = K.conv2d_forward(x, w, *args, impl=K.IMPLS[impl])
    gx = K.conv2d_backward_input(gy, w, x.shape, *args, impl=K.IMPLS[impl])
    gw = K.conv2d_backward_weight(x, gy, w.shape, *args, cols=cols, impl=K.IMPLS[impl])
    tol = 1e-4 if dtype == np.float32 else 1e-12
    assert y.dtype == dtype and gx.dtype == dtype and gw.dtype == dtype
    np.testing.assert_allclose(y, y_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(gx, K.conv2d_backward_input(gy, w, x.shape, *args, impl=ref),
                               rtol=tol, atol=tol)
    np.testing.assert_allclose(gw, K.conv2d_backward_weight(x, gy, w.shape, *args, impl=ref),
                               rtol=tol, atol=tol)


@pytest.mark.parametrize("c", CASES, ids=case_id)
def test_conv2d_gradcheck(c):
    x, w, b, kw = make(c)
    assert tn.gradcheck(lambda x, w, b: conv2d(x, w, b, **kw), (x, w, b))


@pytest.mark.parametrize("c", CASES[:6:2] + CASES[-2:], ids=case_id)
def test_conv2d_gradgradcheck(c):
    x, w, b, kw = make(c)
    assert tn.gradgradcheck(lambda x, w, b: conv2d(x, w, b, **kw), (x, w, b))


@pytest.mark.parametrize("impl", AVAILABLE)
def test_gradcheck_holds_for_every_implementation(impl):
    x, w, b, kw = make(CASES[4])
    with kernels.use(conv=impl):
        assert tn.gradcheck(lambda x, w, b: conv2d(x, w, b, **kw), (x, w, b))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", CASES, ids=case_id)
def test_conv2d_matches_pytorch(c, dtype):
    torch = pytest.importorskip("torch")
    x, w, b, kw = make(c, dtype)
    y = conv2d(x, w, b, **kw)
    gy = np.random.default_rng(2).standard_normal(y.shape).astype(dtype)
    y.backward(tn.tensor(gy))
    xt, wt, bt = (torch.tensor(t.numpy(), requires_grad=True) for t in (x, w, b))
    yt = torch.nn.functional.conv2d(xt, wt, bt, **kw)
    yt.backward(torch.tensor(gy))
    tol = 2e-5 if dtype == np.float32 else 1e-12
    assert y.dtype == dtype and x.grad.dtype == dtype
    for ours, theirs in ((y, yt), (x.grad, xt.grad), (w.grad, wt.grad), (b.grad, bt.grad)):
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("k,d", [((3, 3), 1), ((4, 2), 1), ((3, 3), 2), ((2, 2), (1, 2))])
def test_padding_same_and_valid_match_pytorch(k, d):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 7, 8))
    w = rng.standard_normal((3, 2) + k)
    for mode in ("same", "valid"):
        y = conv2d(tn.tensor(x), tn.tensor(w), padding=mode, dilation=d)
        yt = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), padding=mode,
                                        dilation=d)
        np.testing.assert_allclose(y.numpy(), yt.numpy(), atol=1e-12)
    xg = tn.tensor(x, requires_grad=True)
    wg = tn.tensor(w, requires_grad=True)
    assert tn.gradcheck(lambda a, b: conv2d(a, b, padding="same", dilation=d), (xg, wg))


TRANSPOSED = [
    # (N, C, H, W, O, KH, KW, stride, padding, output_padding, dilation, groups)
    (2, 3, 4, 4, 2, 3, 3, 1, 0, 0, 1, 1),
    (1, 2, 3, 5, 4, 3, 2, 2, 1, 1, 1, 1),
    (2, 4, 3, 3, 6, 3, 3, 2, 1, 1, 1, 2),
    (1, 2, 4, 3, 2, 2, 3, (3, 2), (0, 1), (2, 0), (1, 2), 1),
]


@pytest.mark.parametrize("c", TRANSPOSED, ids=lambda c: "-".join(map(str, c)).replace(" ", ""))
def test_conv_transpose2d(c):
    N, C, H, W, O, KH, KW, s, p, op, d, g = c
    rng = np.random.default_rng(3)
    x = tn.tensor(rng.standard_normal((N, C, H, W)), requires_grad=True)
    w = tn.tensor(rng.standard_normal((C, O // g, KH, KW)), requires_grad=True)
    b = tn.tensor(rng.standard_normal(O), requires_grad=True)
    kw = dict(stride=s, padding=p, output_padding=op, groups=g, dilation=d)
    assert tn.gradcheck(lambda x, w, b: conv_transpose2d(x, w, b, **kw), (x, w, b))
    assert tn.gradgradcheck(lambda x, w: conv_transpose2d(x, w, None, **kw), (x, w))
    torch = pytest.importorskip("torch")
    y = conv_transpose2d(x, w, b, **kw)
    yt = torch.nn.functional.conv_transpose2d(torch.tensor(x.numpy()), torch.tensor(w.numpy()),
                                              torch.tensor(b.numpy()), **kw)
    np.testing.assert_allclose(y.numpy(), yt.numpy(), atol=1e-12)


def test_conv1d_gradcheck_and_pytorch():
    rng = np.random.default_rng(4)
    x = tn.tensor(rng.standard_normal((2, 3, 11)), requires_grad=True)
    w = tn.tensor(rng.standard_normal((4, 3, 3)), requires_grad=True)
    b = tn.tensor(rng.standard_normal(4), requires_grad=True)
    assert tn.gradcheck(lambda x, w, b: conv1d(x, w, b, stride=2, padding=1, dilation=2),
                        (x, w, b))
    torch = pytest.importorskip("torch")
    y = conv1d(x, w, b, stride=2, padding=1, dilation=2)
    yt = torch.nn.functional.conv1d(*(torch.tensor(t.numpy()) for t in (x, w, b)), stride=2,
                                    padding=1, dilation=2)
    np.testing.assert_allclose(y.numpy(), yt.numpy(), atol=1e-12)


def test_unfold_fold_and_simple_conv():
    rng = np.random.default_rng(5)
    x = tn.tensor(rng.standard_normal((2, 3, 6, 5)), requires_grad=True)
    w = tn.tensor(rng.standard_normal((4, 3, 3, 2)))
    np.testing.assert_allclose(conv2d_simple(x, w, None, 2, 1).numpy(),
                               conv2d(x, w, None, 2, 1).numpy(), atol=1e-12)
    assert tn.gradcheck(lambda a: unfold(a, (3, 2), 1, 1, 2), (x,))
    cols = tn.tensor(rng.standard_normal((2, 12, 6)), requires_grad=True)
    assert tn.gradgradcheck(lambda c: fold(c, (6, 5), (2, 2), 1, 0, (2, 2)), (cols,))
    torch = pytest.importorskip("torch")
    ut = torch.nn.functional.unfold(torch.tensor(x.numpy()), (3, 2), 1, 1, 2)
    np.testing.assert_allclose(unfold(x, (3, 2), 1, 1, 2).numpy(), ut.numpy())
    ft = torch.nn.functional.fold(torch.tensor(cols.numpy()), (6, 5), (2, 2), stride=2)
    np.testing.assert_allclose(fold(cols, (6, 5), (2, 2), 1, 0, 2).numpy(), ft.numpy())


def test_float32_stays_float32():
    x, w, b, kw = make(CASES[1], np.float32)
    y = conv2d(x, w, b, **kw)
    y.sum().backward()
    assert y.dtype == tn.float32 and x.grad.dtype == tn.float32 and w.grad.dtype == tn.float32


def test_channel_mismatch_error_names_shapes():
    x = tn.zeros(1, 3, 5, 5)
    w = tn.zeros(4, 2, 3, 3)
    with pytest.raises(ValueError) as e:
        conv2d(x, w)
    assert str(e.value) == ("conv2d: input has 3 channels but weight expects 2 (groups=1); "
                            "input (1, 3, 5, 5) float32 cpu, weight (4, 2, 3, 3) float32 cpu")


def test_output_below_one_names_every_size():
    with pytest.raises(ValueError, match=r"output size would be .*input size 2x2, kernel "
                                         r"3x3, stride \(1, 1\), padding \(0, 0\), dilation"):
        conv2d(tn.zeros(1, 1, 2, 2), tn.zeros(1, 1, 3, 3))


@pytest.mark.parametrize("bad,match", [
    (dict(x=(1, 4, 5, 5), w=(4, 2, 3, 3), groups=3), "expects 6"),
    (dict(x=(1, 4, 5, 5), w=(3, 2, 3, 3), groups=2), "not divisible by groups"),
    (dict(x=(4, 5, 5), w=(3, 4, 3, 3), groups=1), "4-D input"),
    (dict(x=(1, 4, 5, 5), w=(3, 4, 3, 3), groups=1, stride=0), "stride"),
    (dict(x=(1, 4, 5, 5), w=(3, 4, 3, 3), groups=1, padding="full"), "padding must be"),
    (dict(x=(1, 4, 5, 5), w=(3, 4, 3, 3), groups=1, stride=2, padding="same"), "stride 1"),
])
def test_argument_errors(bad, match):
    kw = {k: v for k, v in bad.items() if k not in ("x", "w")}
    with pytest.raises(ValueError, match=match):
        conv2d(tn.zeros(*bad["x"]), tn.zeros(*bad["w"]), **kw)


def test_dtype_mismatch_is_an_error():
    with pytest.raises(TypeError, match="dtypes differ"):
        conv2d(tn.zeros(1, 1, 3, 3), tn.zeros(1, 1, 2, 2, dtype=tn.float64))


def test_forced_implementation_and_env(monkeypatch):
    x = np.zeros((1, 1, 3, 3), np.float32)
    with kernels.use(conv="ref"):
        assert K.select(x).name == "ref"
    monkeypatch.setenv("TINYNET_CONV_IMPL", "nope")
    with pytest.raises(ValueError, match="not one of"):
        K.select(x)
    with pytest.raises(ValueError, match="unknown conv implementation"):
        kernels.use(conv="nope")


@pytest.mark.parametrize("impl", AVAILABLE)
def test_outputs_are_c_contiguous_with_and_without_bias(impl):
    x, w, b, kw = make(CASES[1], np.float32)
    with kernels.use(conv=impl):
        assert conv2d(x, w, b, **kw).array.flags["C_CONTIGUOUS"]
        assert conv2d(x, w, None, **kw).array.flags["C_CONTIGUOUS"]
