"""The Numba CUDA kernel versions against the NumPy reference.

They run on a real GPU (CuPy arrays) when one exists, and on NumPy arrays
under Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1), which is how CI runs
them: tests/gpu/test_cuda_simulator.py starts this file in a subprocess with
the simulator on. Shapes are tiny because the simulator runs every thread in
Python.
"""
import numpy as np
import pytest

import tinynet as tn
from tinynet import kernels
from tinynet.kernels import adam as KA
from tinynet.kernels import conv2d as KC
from tinynet.kernels import gelu as KGELU
from tinynet.kernels import gru_cell as KG
from tinynet.kernels import lstm_cell as KL
from tinynet.kernels import pool2d as KP
from tinynet.kernels import rmsprop as KR
from tinynet.kernels._common import cuda_sim_enabled, few_ulps, numba_cuda_available, to_host
from tinynet.ops.conv import conv2d, conv_transpose2d
from tinynet.ops.pool import avg_pool2d, max_pool2d
from tinynet.ops.recurrent import gru_cell, lstm_cell

SIM = cuda_sim_enabled()
GPU = tn.cuda.is_available()
pytestmark = [
    pytest.mark.skipif(not (SIM or GPU), reason="needs a GPU, or NUMBA_ENABLE_CUDASIM=1 "
                       "(test_cuda_simulator.py runs this file that way)"),
    pytest.mark.skipif(GPU and not SIM and not numba_cuda_available(),
                       reason="Numba's CUDA kernels do not compile on this machine (see the "
                              "warning); the GPU path uses the CuPy reference"),
]


def on_device(a):
    """Arrays live where the CUDA kernels read them: NumPy in the simulator."""
    return a if SIM else tn.backend.to_device(a, "cuda")


CONV = [
    # (N, C, H, W, O, KH, KW, stride, padding, dilation, groups)
    (1, 2, 5, 4, 2, 3, 3, (1, 1), (1, 1), (1, 1), 1),
    (2, 2, 6, 5, 2, 3, 2, (2, 1), (0, 1), (1, 2), 2),
    (1, 1, 5, 5, 1, 2, 2, (3, 3), (0, 0), (1, 1), 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", CONV, ids=lambda c: "-".join(map(str, c)).replace(" ", ""))
def test_conv_cuda_matches_reference(c, dtype):
    N, C, H, W, O, KH, KW, s, p, d, g = c
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((O, C // g, KH, KW)).astype(dtype)
    ref, cu = KC.IMPLS["ref"], KC.IMPLS["cuda_v2"]
    y_ref, _ = KC.conv2d_forward(x, w, s, p, d, g, ref)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    y, cols = KC.conv2d_forward(on_device(x), on_device(w), s, p, d, g, cu)
    gx = KC.conv2d_backward_input(on_device(gy), on_device(w), x.shape, s, p, d, g, cu)
    gw = KC.conv2d_backward_weight(on_device(x), on_device(gy), w.shape, s, p, d, g, cols, cu)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(to_host(y), y_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(to_host(gx),
                               KC.conv2d_backward_input(gy, w, x.shape, s, p, d, g, ref),
                               rtol=tol, atol=tol)
    np.testing.assert_allclose(to_host(gw),
                               KC.conv2d_backward_weight(x, gy, w.shape, s, p, d, g, None, ref),
                               rtol=tol, atol=tol)
    # the plain backward's one call: the same three gradients
    fused = KC.conv2d_backward(on_device(gy), on_device(x), on_device(w), s, p, d, g, cols,
                               (True, True, True), cu)
    for ours, theirs in zip(fused, (gx, gw, gy.sum(axis=(0, 2, 3)))):
        np.testing.assert_allclose(to_host(ours), to_host(theirs), rtol=tol, atol=tol)


# cuda_v7's direct kernels: at most nine taps per output, one group
DIRECT = [
    # (N, C, H, W, O, KH, KW, stride, padding, dilation)
    (2, 1, 6, 5, 3, 3, 3, (1, 1), (0, 0), (1, 1)),
    (1, 1, 7, 6, 2, 3, 3, (2, 1), (1, 2), (1, 2)),
    (2, 2, 5, 5, 2, 2, 2, (1, 2), (1, 0), (2, 1)),
    (1, 1, 4, 9, 2, 1, 5, (1, 1), (0, 2), (1, 1)),
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", DIRECT, ids=lambda c: "-".join(map(str, c)).replace(" ", ""))
def test_conv_direct_cuda_v7_matches_reference(c, dtype, bias, monkeypatch):
    N, C, H, W, O, KH, KW, s, p, d = c
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((O, C, KH, KW)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype) if bias else None
    ref, v7 = KC.IMPLS["ref"], KC.IMPLS["cuda_v7"]
    assert KC.gpu_route(w.shape, 1) == "cuda_v7"
    y_ref, _ = KC.conv2d_forward(x, w, s, p, d, 1, ref, bias=b)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    want = KC.conv2d_backward(gy, x, w, s, p, d, 1, None, (True, True, True), ref)
    dev = [on_device(a) for a in (x, w, gy)]
    # the weight and bias gradients must come from the direct kernel, not cuda_v2's GEMM
    monkeypatch.setattr(KC, "conv2d_backward_weight", _no_reference)
    y, cols = KC.conv2d_forward(dev[0], dev[1], s, p, d, 1, v7,
                                bias=None if b is None else on_device(b))
    assert cols is None
    got = KC.conv2d_backward(dev[2], dev[0], dev[1], s, p, d, 1, None, (True, True, True), v7)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a, e in zip((y,) + tuple(got), (y_ref,) + tuple(want)):
        assert to_host(a).dtype == dtype
        np.testing.assert_allclose(to_host(a), e, rtol=tol, atol=tol)


def test_conv_cuda_v7_hands_other_shapes_to_cuda_v2():
    # ten taps (C=1, 2x5) and two groups go to cuda_v2's products: same values
    rng = np.random.default_rng(2)
    for w_shape, g in (((2, 1, 2, 5), 1), ((4, 1, 3, 3), 2)):
        x = rng.standard_normal((1, g, 5, 6))
        w = rng.standard_normal(w_shape)
        assert KC.gpu_route(w.shape, g) == "cuda_v2"
        y_ref, _ = KC.conv2d_forward(x, w, (1, 1), (0, 0), (1, 1), g, KC.IMPLS["ref"])
        y, cols = KC.conv2d_forward(on_device(x), on_device(w), (1, 1), (0, 0), (1, 1), g,
                                    KC.IMPLS["cuda_v7"])
        assert cols is not None
        np.testing.assert_allclose(to_host(y), y_ref, rtol=1e-12, atol=1e-12)


POOL = [
    # (N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, ceil_mode)
    (1, 2, 4, 4, 2, 2, 2, 2, 0, 0, 1, 1, False),
    (1, 1, 5, 6, 3, 2, 2, 3, 1, 1, 1, 1, True),
    (1, 1, 7, 5, 3, 2, 2, 1, 1, 0, 2, 1, False),
]


@pytest.mark.parametrize("c", POOL, ids=lambda c: "-".join(map(str, c)))
def test_pool_cuda_matches_reference(c):
    N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, ceil = c
    rng = np.random.default_rng(1)
    x = rng.permutation(N * C * H * W).reshape(N, C, H, W).astype(np.float32)
    OH, OW = KP.out_size(H, KH, SH, PH, DH, ceil), KP.out_size(W, KW, SW, PW, DW, ceil)
    window = (KH, KW, SH, SW, PH, PW, DH, DW)
    ref, cu = KP.IMPLS["ref"], KP.IMPLS["cuda_v2"]
    ry, ridx = ref.max_forward(x, *window, OH, OW)
    y, idx = cu.max_forward(on_device(x), *window, OH, OW)
    np.testing.assert_array_equal(to_host(y), ry)
    np.testing.assert_array_equal(to_host(idx), ridx)
    gy = rng.standard_normal(ry.shape).astype(np.float32)
    np.testing.assert_allclose(to_host(cu.max_scatter(on_device(gy), idx, x.shape, window)),
                               ref.max_scatter(gy, ridx, x.shape, window), rtol=1e-6)
    if DH == DW == 1:
        div = KP.avg_divisor(np, x.shape, KH, KW, SH, SW, PH, PW, OH, OW, True, None)
        y = cu.avg_forward(on_device(x), KH, KW, SH, SW, PH, PW, OH, OW, div)
        np.testing.assert_allclose(to_host(y),
                                   ref.avg_forward(x, KH, KW, SH, SW, PH, PW, OH, OW, div),
                                   rtol=1e-6)
        gx = cu.avg_backward(on_device(gy), x.shape, KH, KW, SH, SW, PH, PW, div)
        np.testing.assert_allclose(to_host(gx),
                                   ref.avg_backward(gy, x.shape, KH, KW, SH, SW, PH, PW, div),
                                   rtol=1e-6, atol=1e-7)


def _device_tensor(shape, seed):
    a = np.random.default_rng(seed).standard_normal(shape)
    return tn.tensor(a, requires_grad=True, device=None if SIM else "cuda")


@pytest.mark.skipif(not SIM, reason="gradcheck on the GPU runs in tests/gpu/test_cupy_ops.py")
def test_ops_gradcheck_through_cuda_kernels():
    x = _device_tensor((1, 2, 4, 4), 2)
    w = _device_tensor((2, 1, 2, 2), 3)
    with kernels.use(conv="cuda_v2", pool="cuda_v2"):
        assert tn.gradcheck(lambda a, b: conv2d(a, b, stride=1, padding=1, groups=2), (x, w))
        assert tn.gradcheck(lambda a, b: conv_transpose2d(a, b, stride=2, groups=2), (x, w))
        assert tn.gradcheck(lambda a: max_pool2d(a, 2, 1), (x,))
        assert tn.gradcheck(lambda a: avg_pool2d(a, 3, 1, 1), (x,))


def test_selection_prefers_cuda_kernels_for_gpu_arrays():
    if SIM:
        with kernels.use(conv="cuda_v2", lstm="cuda_v3", gru="cuda_v3", adam="cuda_v2",
                         rmsprop="cuda_v2", gelu="cuda_v3"):
            assert KC.select(np.zeros(1)).name == "cuda_v2"
            assert KA.select(np.zeros(1)).name == KR.select(np.zeros(1)).name == "cuda_v2"
            assert KGELU.select(np.zeros(1)).name == "cuda_v3"
            assert KL.select(np.zeros((1, 4))).name == "cuda_v3"
            assert KG.select(np.zeros((1, 3))).name == "cuda_v3"
    else:
        import cupy
        assert KC.select(cupy.zeros(1)).name == "cuda_v2"
        assert KP.select(cupy.zeros(1)).name == "cuda_v2"
        assert KL.select(cupy.zeros((1, 4))).name == "cuda_v3"
        assert KG.select(cupy.zeros((1, 3))).name == "cuda_v3"
        assert KA.select(cupy.zeros(1)).name == KR.select(cupy.zeros(1)).name == "cuda_v2"
        assert KGELU.select(cupy.zeros(1)).name == "cuda_v3"
        # the seed CNN's two convolutions: the direct kernels for the first
        assert KC.select_for(cupy.zeros(1), (32, 1, 3, 3), 1).name == "cuda_v7"
        assert KC.select_for(cupy.zeros(1), (64, 32, 3, 3), 1).name == "cuda_v2"
        with kernels.use(conv="cuda_v2"):        # a forced version is used as it is
            assert KC.select_for(cupy.zeros(1), (32, 1, 3, 3), 1).name == "cuda_v2"


# (N, H): the simulator runs each (n, h) thread in Python, so N * H stays small
CELL_SHAPES = [(1, 1), (2, 5)]
CELL_DTYPES = [(np.float32, 1e-5), (np.float64, 1e-12)]


def _randn(rng, dtype, *shape):
    return (3 * rng.standard_normal(shape)).astype(dtype)     # x3: saturated gates too


@pytest.mark.parametrize("dtype,tol", CELL_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("N,H", CELL_SHAPES, ids=[f"N{n}-H{h}" for n, h in CELL_SHAPES])
def test_lstm_cell_cuda_matches_reference(N, H, dtype, tol):
    rng = np.random.default_rng(4)
    xg, hg, c_prev, gh, gc = (_randn(rng, dtype, N, k * H) for k in (4, 4, 1, 1, 1))
    ref, cu = KL.IMPLS["ref"], KL.IMPLS["cuda_v3"]
    want = ref.forward(xg, hg, c_prev)
    want += ref.backward(gh, gc, want[2], c_prev, want[1])
    h, c, act = cu.forward(on_device(xg), on_device(hg), on_device(c_prev))
    got = (h, c, act) + cu.backward(on_device(gh), on_device(gc), act, on_device(c_prev), c)
    for a, b in zip(got, want):
        assert a.dtype == dtype and a.shape == b.shape
        np.testing.assert_allclose(to_host(a), b, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype,tol", CELL_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("N,H", CELL_SHAPES, ids=[f"N{n}-H{h}" for n, h in CELL_SHAPES])
def test_gru_cell_cuda_matches_reference(N, H, dtype, tol):
    rng = np.random.default_rng(5)
    xg, hg, h_prev, gh = (_randn(rng, dtype, N, k * H) for k in (3, 3, 1, 1))
    ref, cu = KG.IMPLS["ref"], KG.IMPLS["cuda_v3"]
    want = ref.forward(xg, hg, h_prev)
    want += ref.backward(gh, want[1], hg, h_prev)
    dev_hg, dev_h_prev = on_device(hg), on_device(h_prev)
    h, act = cu.forward(on_device(xg), dev_hg, dev_h_prev)
    got = (h, act) + cu.backward(on_device(gh), act, dev_hg, dev_h_prev)
    for a, b in zip(got, want):
        assert a.dtype == dtype and a.shape == b.shape
        np.testing.assert_allclose(to_host(a), b, rtol=tol, atol=tol)


def test_cell_cuda_empty_batch():
    h, c, act = KL.IMPLS["cuda_v3"].forward(*(on_device(np.zeros((0, k))) for k in (8, 8, 2)))
    empty = on_device(np.zeros((0, 2)))
    dpre, dc = KL.IMPLS["cuda_v3"].backward(empty, empty, act, empty, c)
    h2, act2 = KG.IMPLS["cuda_v3"].forward(*(on_device(np.zeros((0, k))) for k in (6, 6, 2)))
    assert [a.shape for a in (h, c, act, dpre, dc, h2, act2)] == \
        [(0, 2), (0, 2), (0, 8), (0, 8), (0, 2), (0, 2), (0, 6)]


def test_cell_cuda_saturated_gates_stay_finite():
    big = np.full((1, 8), 1e4, np.float32)
    h, c, act = KL.IMPLS["cuda_v3"].forward(on_device(big), on_device(-3 * big),
                                            on_device(np.zeros((1, 2), np.float32)))
    h2, act2 = KG.IMPLS["cuda_v3"].forward(on_device(big[:, :6]), on_device(-big[:, :6]),
                                           on_device(np.zeros((1, 2), np.float32)))
    for a in (h, c, act, h2, act2):
        assert np.isfinite(to_host(a)).all()


@pytest.mark.skipif(not SIM, reason="gradcheck on the GPU runs in tests/gpu/test_cupy_ops.py")
def test_cell_ops_gradcheck_through_cuda_kernels():
    # float64 gradcheck of the fused cell ops, forward and backward on the CUDA kernels
    x, hx, cx = (_device_tensor((2, k), s) for k, s in ((2, 10), (3, 11), (3, 12)))
    w4, u4, b4 = (_device_tensor(s, k) for k, s in ((13, (12, 2)), (14, (12, 3)), (15, (12,))))
    w3, u3, b3 = (_device_tensor(s, k) for k, s in ((16, (9, 2)), (17, (9, 3)), (18, (9,))))
    with kernels.use(lstm="cuda_v3", gru="cuda_v3"):
        assert KL.select(x.array).name == KG.select(x.array).name == "cuda_v3"
        assert tn.gradcheck(lambda *a: lstm_cell(*a), (x, hx, cx, w4, u4, b4))
        assert tn.gradcheck(lambda *a: gru_cell(*a), (x, hx, w3, u3, b3))


# ---------------------------------------------------------------- optimizer updates
# 130 elements: more than one block of threads
OPT_SHAPES = [(1,), (5, 3), (130,)]


def _opt_arrays(shape, dtype, n):
    rng = np.random.default_rng(len(shape) + n)
    return [(rng.standard_normal(shape) * s).astype(dtype) for s in (1, 1, 0.1, 0.01)[:n]]


def _no_reference(*args, **kw):
    raise AssertionError("the CUDA version fell back to the reference")


def _assert_few_ulps(got, want):
    for a, b in zip(got, want):
        a = to_host(a)
        assert a.dtype == b.dtype and a.shape == b.shape
        rtol, atol = few_ulps("", b)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", OPT_SHAPES, ids=str)
@pytest.mark.parametrize("t", [1, 1000])
def test_adam_cuda_v2_matches_reference(shape, dtype, t, monkeypatch):
    x, g, m, v = _opt_arrays(shape, dtype, 4)
    v = np.abs(v)
    args = (0.9, 0.999, 1e-8, 1e-3 / (1 - 0.9 ** t), np.sqrt(1 - 0.999 ** t))
    want = [a.copy() for a in (x, m, v)]
    KA.update_ref(want[0], g, want[1], want[2], *args)
    got = [on_device(a.copy()) for a in (x, m, v)]
    monkeypatch.setattr(KA, "update_ref", _no_reference)
    KA.update_cuda_v2(got[0], on_device(g), got[1], got[2], *args)
    _assert_few_ulps(got, want)
    assert not np.array_equal(to_host(got[0]), x)       # the kernel did update x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", OPT_SHAPES, ids=str)
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_rmsprop_cuda_v2_matches_reference(shape, dtype, momentum, monkeypatch):
    x, g, v, b = _opt_arrays(shape, dtype, 4)
    v = np.abs(v)
    buf = b if momentum else None
    want = [a.copy() for a in (x, v) + ((b,) if momentum else ())]
    KR.update_ref(want[0], g, want[1], 0.99, 1e-8, 1e-2, *(
        (want[2], momentum) if momentum else ()))
    got = [on_device(a.copy()) for a in (x, v) + ((buf,) if momentum else ())]
    monkeypatch.setattr(KR, "update_ref", _no_reference)
    KR.update_cuda_v2(got[0], on_device(g), got[1], 0.99, 1e-8, 1e-2, *(
        (got[2], momentum) if momentum else ()))
    _assert_few_ulps(got, want)


def test_optimizer_cuda_v2_takes_the_reference_for_what_it_does_not_fuse():
    # AMSGrad, centered RMSprop and a strided gradient run ref, as on the CPU
    x, g, m, v = (on_device(a) for a in _opt_arrays((4, 3), np.float32, 4))
    calls = []
    real = KA.update_ref, KR.update_ref
    try:
        KA.update_ref = lambda *a, **k: calls.append("adam")
        KR.update_ref = lambda *a, **k: calls.append("rmsprop")
        KA.update_cuda_v2(x, g, m, v, 0.9, 0.999, 1e-8, 1e-3, 0.03, vmax=v.copy())
        KA.update_cuda_v2(x, g.T.copy().T, m, v, 0.9, 0.999, 1e-8, 1e-3, 0.03)
        KR.update_cuda_v2(x, g, v, 0.99, 1e-8, 1e-2, gbar=m)
    finally:
        KA.update_ref, KR.update_ref = real
    assert calls == ["adam", "adam", "rmsprop"]


@pytest.mark.parametrize("name,kw", [("adam", {}), ("adamw", {"weight_decay": 0.1}),
                                     ("rmsprop", {}), ("rmsprop", {"momentum": 0.9})])
def test_optimizers_step_alike_through_cuda_v2(name, kw):
    # five steps of a small model on each version: the same parameters to a
    # few ulps (on the simulator the model lives in NumPy arrays)
    cls = {"adam": tn.optim.Adam, "adamw": tn.optim.AdamW, "rmsprop": tn.optim.RMSprop}[name]
    path = "rmsprop" if name == "rmsprop" else "adam"
    results = []
    for version in ("ref", "cuda_v2"):
        tn.manual_seed(0)
        model = tn.nn.Sequential(tn.nn.Linear(7, 5), tn.nn.Tanh(), tn.nn.Linear(5, 3))
        device = "cpu" if SIM else "cuda"
        model.to(device)
        opt = cls(model.parameters(), lr=1e-2, **kw)
        x, y = tn.randn(16, 7).to(device), tn.randn(16, 3).to(device)
        with kernels.use(**{path: version}):
            assert (KR if path == "rmsprop" else KA).select(
                next(model.parameters()).array).name == version
            for _ in range(5):
                opt.zero_grad()
                ((model(x) - y) ** 2).mean().backward()
                opt.step()
        results.append([p.detach().numpy().copy() for p in model.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------- GELU
@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-6), (np.float64, 1e-13)])
@pytest.mark.parametrize("shape", [(1,), (3, 50), (0, 4)], ids=str)
def test_gelu_cuda_v3_matches_reference(shape, dtype, tol, monkeypatch):
    rng = np.random.default_rng(3)
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    x.reshape(-1)[:2] = (-12.0, 9.0)[:x.size]          # the tails: Phi 0 and 1
    gy = rng.standard_normal(shape).astype(dtype)
    y_ref, gx_ref = KGELU.forward_ref(x), KGELU.backward_ref(x, gy)
    monkeypatch.setattr(KGELU, "forward_ref", _no_reference)
    monkeypatch.setattr(KGELU, "backward_ref", _no_reference)
    y = KGELU.forward_cuda_v3(on_device(x))
    gx = KGELU.backward_cuda_v3(on_device(x), on_device(gy))
    for got, want in ((y, y_ref), (gx, gx_ref)):
        assert to_host(got).dtype == dtype and to_host(got).shape == shape
        np.testing.assert_allclose(to_host(got), want, rtol=tol, atol=tol)


def test_gelu_op_through_cuda_v3():
    # F.gelu forward and plain backward on the kernel, float64 gradcheck too
    x = tn.tensor(on_device(np.linspace(-4, 4, 9)), requires_grad=True)
    with kernels.use(gelu="cuda_v3"):
        assert KGELU.select(x.array).name == "cuda_v3"
        y = tn.nn.functional.gelu(x)
        y.sum().backward()
        assert tn.gradcheck(lambda a: tn.nn.functional.gelu(a), (x,))
    want = KGELU.backward_ref(np.linspace(-4, 4, 9), np.ones(9))
    np.testing.assert_allclose(to_host(x.grad.array), want, rtol=1e-13, atol=1e-13)
