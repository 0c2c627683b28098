"""Attention, the transformer layers, the GPT seed, GELU, the optimizers'
updates, gradient clipping, the losses' checks and the char-LM recipe on a
real CuPy device give what they give on the CPU, without reading GPU values
back to the host where PyTorch does not.

Skipped without a GPU. Each case runs the same computation from the same
inputs on the CPU and on the GPU and compares outputs and gradients.
``TINYNET_GPU_TESTS_DEVICE=cpu`` runs the file with the CPU in the GPU's
place: the comparisons are then trivial, but the tests' own code is
exercised before a GPU is at hand (the tests about what waits for a host
read are skipped then).
"""
import math
import os

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
import tinynet.nn.functional as F
from tinynet import backend

DEV = os.environ.get("TINYNET_GPU_TESTS_DEVICE", "cuda")
ON_GPU = DEV != "cpu"
pytestmark = pytest.mark.skipif(ON_GPU and not tn.cuda.is_available(),
                                reason="needs a CUDA GPU and CuPy")
gpu_only = pytest.mark.skipif(not ON_GPU, reason="needs a CUDA GPU (a dry run on the CPU)")

R = np.random.default_rng(0)


def arr(*shape, dtype=np.float64):
    return R.standard_normal(shape).astype(dtype)


def both(fn, arrays, dtype=None):
    """fn(device, *tensors) forward and backward on the CPU and on DEV:
    [(output, gradients), (output, gradients)] as NumPy arrays."""
    results = []
    for device in ("cpu", DEV):
        xs = [tn.tensor(a, requires_grad=True, device=device) for a in arrays]
        y = fn(device, *xs)
        assert y.device.startswith(device)
        gy = tn.tensor(np.random.default_rng(1).standard_normal(y.shape).astype(y.dtype),
                       device=device)
        y.backward(gy)
        results.append((y.numpy(), [x.grad.numpy() for x in xs]))
    return results


def assert_same(results, tol):
    (y0, g0), (y1, g1) = results
    np.testing.assert_allclose(y1, y0, rtol=tol, atol=tol)
    for a, b in zip(g1, g0):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def mask(device, *shape, dtype=bool):
    m = np.random.default_rng(3).random(shape) > 0.3
    m[..., 0] = True                               # every query sees a key
    return tn.tensor(m if dtype is bool else np.where(m, 0.0, -1e4), device=device)


# ---------------------------------------------------------------- attention
SDPA = {
    "causal": lambda d, q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
    "bool_mask": lambda d, q, k, v: F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask(d, 5, 7)),
    "additive_mask": lambda d, q, k, v: F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask(d, 2, 1, 5, 7, dtype=float)),
    "scale": lambda d, q, k, v: F.scaled_dot_product_attention(q, k, v, scale=0.3),
    "all_masked_row": lambda d, q, k, v: F.scaled_dot_product_attention(
        q, k, v, attn_mask=tn.tensor(np.arange(7) < np.arange(5)[:, None] - 1, device=d)),
}


@pytest.mark.parametrize("name", sorted(SDPA))
def test_sdpa_on_gpu_matches_cpu(name):
    q = arr(2, 3, 5, 4)
    k, v = arr(2, 3, 7, 4), arr(2, 3, 7, 4)
    if name == "causal":
        k, v = k[:, :, :5], v[:, :, :5]
    assert_same(both(SDPA[name], [q, k, v]), 1e-10)


def test_multihead_attention_on_gpu_matches_cpu():
    def fn(device, x):
        tn.manual_seed(0)
        m = nn.MultiheadAttention(8, 2, batch_first=True).double().to(device)
        pad = tn.tensor(np.array([[False] * 5, [False] * 3 + [True] * 2]), device=device)
        return m(x, x, x, key_padding_mask=pad, need_weights=False)[0]
    assert_same(both(fn, [arr(2, 5, 8)]), 1e-10)


def test_transformer_encoder_layer_on_gpu_matches_cpu():
    def fn(device, x):
        tn.manual_seed(0)
        layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        layer = layer.double().to(device)
        causal = nn.Transformer.generate_square_subsequent_mask(6, device=device,
                                                                dtype=tn.float64)
        return layer(x, src_mask=causal, is_causal=True)
    assert_same(both(fn, [arr(2, 6, 8)]), 1e-10)


# ---------------------------------------------------------------- GELU
@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-6), (np.float64, 1e-12)])
def test_gelu_on_gpu_matches_cpu(approximate, dtype, tol):
    x = np.concatenate([arr(200, dtype=dtype) * 3, np.array([-12, -5, 0, 5, 12], dtype)])
    assert_same(both(lambda d, t: F.gelu(t, approximate=approximate), [x]), tol)


# ---------------------------------------------------------------- the GPT seed
def _gpt(device):
    from tinynet.models.gpt import GPT
    tn.manual_seed(0)
    return GPT(11, n_layer=2, n_head=2, n_embd=16, block_size=12).to(device)


def test_gpt_forward_backward_on_gpu_matches_cpu():
    ids = np.random.default_rng(4).integers(0, 11, (3, 12))
    results = []
    for device in ("cpu", DEV):
        model = _gpt(device)
        logits = model(tn.tensor(ids, device=device))
        loss = F.cross_entropy(logits.reshape(-1, 11), tn.tensor(
            np.roll(ids, -1, 1).reshape(-1), device=device))
        loss.backward()
        results.append([loss.numpy()] + [p.grad.numpy() for p in model.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_gpt_generates_on_the_gpu():
    model = _gpt(DEV)
    tn.manual_seed(5)
    out = model.generate(tn.tensor([[1, 2, 3]], device=DEV), 20, temperature=0.8, top_k=4)
    assert out.shape == (1, 23) and out.device.startswith(DEV)
    assert 0 <= int(out.min()) and int(out.max()) < 11


# ---------------------------------------------------------------- optimizers, clipping
def _train(device, opt_name, **kw):
    tn.manual_seed(0)
    model = nn.Sequential(nn.Linear(7, 5), nn.Tanh(), nn.Linear(5, 3)).double().to(device)
    opt = getattr(tn.optim, opt_name)(model.parameters(), lr=1e-2, **kw)
    x = tn.tensor(np.random.default_rng(6).standard_normal((16, 7)), device=device)
    y = tn.tensor(np.random.default_rng(7).standard_normal((16, 3)), device=device)
    for _ in range(5):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.05)
        opt.step()
    return [p.detach().numpy() for p in model.parameters()]


@pytest.mark.parametrize("opt_name,kw", [
    ("Adam", {}), ("Adam", {"amsgrad": True}), ("AdamW", {"weight_decay": 0.1}),
    ("RMSprop", {}), ("RMSprop", {"momentum": 0.9}), ("RMSprop", {"centered": True}),
    ("SGD", {"momentum": 0.9, "nesterov": True})])
def test_optimizer_steps_on_gpu_match_cpu(opt_name, kw):
    # float64, so the CUDA update kernels' own roundings stay far below 1e-10
    for a, b in zip(_train(DEV, opt_name, **kw), _train("cpu", opt_name, **kw)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clip_grad_norm_on_gpu_matches_cpu(norm_type):
    grads = [arr(4, 3), arr(5), arr(2, 2, 2)]
    out = []
    for device in ("cpu", DEV):
        ps = [tn.zeros(g.shape, dtype=tn.float64, device=device, requires_grad=True)
              for g in grads]
        for p, g in zip(ps, grads):
            p.grad = tn.tensor(g, device=device)
        total = nn.utils.clip_grad_norm_(ps, 0.5, norm_type=norm_type)
        assert total.device.startswith(device)
        out.append([total.numpy()] + [p.grad.numpy() for p in ps])
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_clip_grad_norm_error_if_nonfinite_on_gpu():
    p = tn.zeros(3, device=DEV, requires_grad=True)
    p.grad = tn.tensor([1.0, float("inf"), 0.0], device=DEV)
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


# ---------------------------------------------------------------- losses without host reads
def test_cross_entropy_all_ignored_is_nan_with_zero_gradients_on_gpu():
    for reduction_weight in (None, tn.tensor([1.0, 2.0, 0.5], device=DEV)):
        x = tn.tensor(arr(4, 3), requires_grad=True, device=DEV)
        w = None if reduction_weight is None else reduction_weight.double()
        loss = F.cross_entropy(x, tn.tensor([-100] * 4, device=DEV), weight=w)
        loss.backward()
        assert math.isnan(loss.item())
        assert (x.grad.numpy() == 0).all()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_with_ignored_targets_on_gpu_matches_cpu(reduction):
    target = np.array([0, 2, -100, 1, 2])
    weight = np.array([1.0, 0.5, 2.0])
    fn = lambda d, x: F.cross_entropy(  # noqa: E731
        x, tn.tensor(target, device=d), weight=tn.tensor(weight, device=d),
        reduction=reduction)
    assert_same(both(fn, [arr(5, 3)]), 1e-12)


@gpu_only
def test_a_bad_target_on_gpu_raises_at_the_next_host_read():
    x = tn.tensor(arr(3, 4), requires_grad=True, device=DEV)
    loss = F.cross_entropy(x, tn.tensor([0, 9, 1], device=DEV))     # no host read here
    loss.backward()
    with pytest.raises(IndexError, match="cross_entropy: target value 9 is out of bounds "
                                         "for 4 classes .*found on the GPU"):
        loss.item()
    assert backend._pending_checks == []
    assert np.isfinite(F.cross_entropy(x, tn.tensor([0, 3, 1], device=DEV)).item())


@gpu_only
def test_a_training_step_keeps_its_checks_on_the_gpu():
    # the GPT's step (embeddings, cross-entropy, clipping, AdamW) reads nothing
    # back: the checks of the token and position ids and of the targets are
    # kept until loss.item()
    model = _gpt(DEV)
    opt = tn.optim.AdamW(model.parameters(), lr=1e-3)
    ids = tn.tensor(np.random.default_rng(8).integers(0, 11, (2, 12)), device=DEV)
    loss = F.cross_entropy(model(ids).reshape(-1, 11), ids.reshape(-1))
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    assert len(backend._pending_checks) == 3
    assert np.isfinite(loss.item())
    assert backend._pending_checks == []


# ---------------------------------------------------------------- the char-LM recipe
@pytest.mark.parametrize("model", ["gpt", "lstm"])
def test_char_lm_trains_on_the_gpu_as_on_the_cpu(model):
    from tinynet.recipes import char_lm
    cfg = {"max_chars": 20_000, "max_steps": 3, "batch_size": 4, "seq_len": 16,
           "sample_chars": 20, "sample_every": 0, "quiet": True}
    if model == "gpt":
        cfg.update(n_layer=1, n_head=2, n_embd=16)
    cpu = char_lm.train(dict(cfg, device="cpu"), model=model)
    gpu = char_lm.train(dict(cfg, device=DEV), model=model)
    assert all(p.device.startswith(DEV) for p in gpu.model.parameters())
    np.testing.assert_allclose(gpu.losses, cpu.losses, rtol=1e-4)
    np.testing.assert_allclose(gpu.metrics["val_loss"], cpu.metrics["val_loss"], rtol=1e-4)
    assert len(gpu.extras["sample"]) >= 20


def test_tinynet_train_gpt_runs_on_the_gpu(tmp_path, capsys):
    from tinynet.cli import main
    assert main(["train", "gpt", "--device", DEV, "--max-steps", "2", "--max-chars", "20000",
                 "--n-layer", "1", "--n-embd", "16", "--sample-chars", "10",
                 "--out", str(tmp_path / "run")]) == 0
    assert os.path.exists(tmp_path / "run" / "checkpoint.npz")


# ---------------------------------------------------------------- streams
@gpu_only
def test_kernels_run_on_cupys_current_stream():
    # a program's own non-blocking stream: Numba's default stream would race
    # with the CuPy work queued on it
    import cupy
    from tinynet.kernels import conv2d as KC
    from tinynet.kernels import gelu as KGELU
    from tinynet.kernels._common import current_stream
    assert current_stream() is None                  # CuPy's null stream is Numba's default
    rng = np.random.default_rng(5)
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    w = rng.standard_normal((32, 1, 3, 3)).astype(np.float32)
    want = KC.conv2d_forward(x, w, (1, 1), (0, 0), (1, 1), 1, KC.IMPLS["ref"])[0]
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        assert int(current_stream()) == stream.ptr
        xd = cupy.asarray(x) * 2                     # queued on the stream
        y = KC.conv2d_forward(xd, cupy.asarray(w), (1, 1), (0, 0), (1, 1), 1,
                              KC.IMPLS["cuda_v7"])[0]
        g = KGELU.forward_cuda_v3(y)
    stream.synchronize()
    np.testing.assert_allclose(y.get(), 2 * want, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(g.get(), KGELU.forward_ref(2 * want), rtol=1e-4, atol=1e-4)
