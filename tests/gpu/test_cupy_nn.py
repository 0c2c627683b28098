"""nn functionals, layers and Module.to('cuda') on a real CuPy device give what
they give on the CPU.

Skipped without a GPU. Each functional case runs forward and backward on the
CPU and on the GPU from the same float64 inputs and compares outputs and
gradients; the Module cases move whole models and state_dicts.
"""
import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
import tinynet.nn.functional as F

pytestmark = pytest.mark.skipif(not tn.cuda.is_available(), reason="needs a CUDA GPU and CuPy")

R = np.random.default_rng(0)


def arr(*shape, low=None, high=None):
    return R.uniform(low, high, shape) if low is not None else R.standard_normal(shape)


def idx(device, high, *shape):
    return tn.tensor(np.random.default_rng(1).integers(0, high, shape), device=device)


def bn(device, x, w, b):
    return F.batch_norm(x, None, None, w, b, training=True)


# name -> (function of (device, *tensors), input arrays)
CASES = {
    "linear": (lambda d, x, w, b: F.linear(x, w, b), [arr(2, 3, 4), arr(5, 4), arr(5)]),
    "embedding": (lambda d, w: F.embedding(idx(d, 5, 2, 3), w, padding_idx=1), [arr(5, 3)]),
    "normalize": (lambda d, x: F.normalize(x, dim=1), [arr(3, 4)]),
    "batch_norm": (bn, [arr(2, 3, 2, 2), arr(3), arr(3)]),
    "layer_norm": (lambda d, x, w, b: F.layer_norm(x, (4,), w, b), [arr(3, 4), arr(4), arr(4)]),
    "group_norm": (lambda d, x, w, b: F.group_norm(x, 2, w, b), [arr(2, 4, 3), arr(4), arr(4)]),
    "cross_entropy": (lambda d, x: F.cross_entropy(x, idx(d, 4, 5)), [arr(5, 4)]),
    "cross_entropy_smooth_ignore": (lambda d, x: F.cross_entropy(
        x, idx(d, 4, 5), ignore_index=2, label_smoothing=0.1), [arr(5, 4)]),
    "cross_entropy_probs": (lambda d, x, t: F.cross_entropy(x, t),
                            [arr(3, 4), arr(3, 4, low=0, high=1)]),
    "nll_loss": (lambda d, x: F.nll_loss(x, idx(d, 4, 5)), [arr(5, 4)]),
    "regression": (lambda d, x, t: F.mse_loss(x, t) + F.l1_loss(x, t)
                   + F.smooth_l1_loss(x, t, beta=0.5) + F.huber_loss(x, t),
                   [arr(3, 4), arr(3, 4)]),
    "bce": (lambda d, p, t: F.binary_cross_entropy(p, t),
            [arr(3, 4, low=0.1, high=0.9), arr(3, 4, low=0, high=1)]),
    "bce_logits": (lambda d, x, t, pw: F.binary_cross_entropy_with_logits(x, t, pos_weight=pw),
                   [arr(3, 4), arr(3, 4, low=0, high=1), arr(4, low=0.5, high=2)]),
    "kl_div": (lambda d, x, t: F.kl_div(x, t, reduction="batchmean"),
               [arr(3, 4), arr(3, 4, low=0.1, high=1)]),
}


def run(fn, arrays, device):
    xs = [tn.tensor(a, requires_grad=True, device=device) for a in arrays]
    y = fn(device, *xs)
    gy = tn.tensor(np.random.default_rng(2).standard_normal(y.shape), device=device)
    y.backward(gy)
    return y.numpy(), [x.grad.numpy() for x in xs], y.device


@pytest.mark.parametrize("name", sorted(CASES))
def test_nn_op_on_gpu_matches_cpu(name):
    fn, arrays = CASES[name]
    y_cpu, g_cpu, _ = run(fn, arrays, "cpu")
    y_gpu, g_gpu, device = run(fn, arrays, "cuda")
    assert device.startswith("cuda")
    np.testing.assert_allclose(y_gpu, y_cpu, rtol=1e-10, atol=1e-10)
    for a, b in zip(g_gpu, g_cpu):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def model():
    tn.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.GELU(), nn.LayerNorm(8),
                         nn.Dropout(0.0), nn.Linear(8, 4))


def test_model_to_cuda_trains_like_cpu():
    x = arr(10, 6).astype(np.float32)
    t = np.arange(10) % 4
    results = []
    for device in ("cpu", "cuda"):
        m = model().to(device)
        loss = F.cross_entropy(m(tn.tensor(x, device=device)), tn.tensor(t, device=device))
        loss.backward()
        nn.utils.clip_grad_norm_(m.parameters(), 0.5)
        assert all(p.device.startswith(device) for p in m.parameters())
        assert m[1].running_mean.device.startswith(device)
        results.append([loss.numpy()] + [p.grad.numpy() for p in m.parameters()]
                       + [m[1].running_var.numpy()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_state_dict_moves_between_devices():
    cpu = model()
    gpu = model().cuda()
    gpu.load_state_dict({k: v.numpy() * 2 for k, v in cpu.state_dict().items()})
    assert {v.device for v in gpu.state_dict().values()} == {gpu[0].weight.device}
    cpu.load_state_dict(gpu.state_dict())
    np.testing.assert_array_equal(cpu[0].weight.numpy(), gpu[0].weight.numpy())


def test_dropout_on_gpu_keeps_device_and_rate():
    tn.manual_seed(1)
    y = F.dropout(tn.ones(1000, 100, device="cuda"), 0.3)
    assert y.device.startswith("cuda")
    assert abs(float((y.numpy() != 0).mean()) - 0.7) < 0.01
