"""Every op on a real CuPy device gives what it gives on the CPU.

Skipped without a GPU (CI has none; the CUDA kernels are covered there under
the simulator). Each case runs forward and backward on the CPU and on the GPU
from the same float64 inputs and compares outputs and gradients.
"""
import numpy as np
import pytest

import tinynet as tn
from tinynet.ops.conv import conv2d, conv_transpose2d, unfold
from tinynet.ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d

pytestmark = pytest.mark.skipif(not tn.cuda.is_available(), reason="needs a CUDA GPU and CuPy")

R = np.random.default_rng(0)


def arr(*shape, positive=False):
    a = R.standard_normal(shape)
    return np.abs(a) + 0.5 if positive else a


# name -> (function of tensors, input arrays)
CASES = {
    "add_broadcast": (lambda a, b: a + b, [arr(3, 4), arr(4)]),
    "sub_scalar": (lambda a: 2.0 - a, [arr(3)]),
    "mul": (lambda a, b: a * b, [arr(2, 3), arr(2, 1)]),
    "div": (lambda a, b: a / b, [arr(3, 2), arr(2, positive=True)]),
    "pow": (lambda a: a ** 3, [arr(4)]),
    "pow_tensor": (lambda a, b: a ** b, [arr(3, positive=True), arr(3)]),
    "matmul": (lambda a, b: a @ b, [arr(2, 3, 4), arr(4, 5)]),
    "matvec": (lambda a, b: a @ b, [arr(3, 4), arr(4)]),
    "exp_log": (lambda a: a.exp() + a.abs().log(), [arr(5)]),
    "log1p_sqrt_rsqrt": (lambda a: a.log1p() + a.sqrt() + a.rsqrt(), [arr(5, positive=True)]),
    "trig": (lambda a: a.sin() * a.cos(), [arr(4)]),
    "activations": (lambda a: a.tanh() + a.sigmoid() + a.relu() + tn.gelu(a)
                    + tn.gelu(a, approximate="tanh") + tn.elu(a) + tn.softplus(a)
                    + tn.leaky_relu(a, 0.1), [arr(3, 4)]),
    "clamp_max_min": (lambda a, b: a.clamp(-0.5, 0.5) + tn.maximum(a, b) + tn.minimum(a, b),
                      [arr(6), arr(6)]),
    "where": (lambda a, b: tn.where(a > 0, a, b), [arr(5), arr(5)]),
    "sum_mean": (lambda a: a.sum(0) + a.mean(1, keepdims=True).sum(), [arr(3, 4)]),
    "var_std": (lambda a: a.var(1) + a.std(0).sum(), [arr(3, 4)]),
    "max_min": (lambda a: a.max(1).values + a.min(1).values + a.max(), [arr(3, 4)]),
    "sort_topk_median": (lambda a: a.sort(1).values[:, 0] + a.topk(2, 1).values.sum(1)
                         + a.median(1).values + a.kthvalue(2, 1).values + a.mode(1).values,
                         [arr(3, 5)]),
    "einsum_products": (lambda a, b: tn.einsum("ij,jk->ik", a, b) + a.mm(b) + tn.addmm(b[0], a, b),
                        [arr(2, 3), arr(3, 4)]),
    "layout_ops": (lambda a: a.flip(0) + a.roll(1, 1) + a.tril() + a.triu(1)
                   + a.cumprod(1) + a.norm(dim=0), [arr(4, 4)]),
    "index_writes": (lambda a, s: a.scatter(1, tn.tensor([[2, 0]], device=a.device), s[:1])
                     + a.scatter_add(1, tn.tensor([[1, 1], [0, 3]], device=a.device), s)
                     + a.index_add(0, tn.tensor([1, 1], device=a.device), s.repeat(1, 2))
                     + a.index_fill(1, tn.tensor([3], device=a.device), 0.5),
                     [arr(2, 4), arr(2, 2)]),
    "logsumexp_prod": (lambda a: a.logsumexp(1) + a.prod(1), [arr(2, 3)]),
    "softmax": (lambda a: a.softmax(-1) * a.log_softmax(0), [arr(3, 4)]),
    "shape_ops": (lambda a: a.reshape(4, 3).T.permute(1, 0).flatten().unsqueeze(0)
                  .expand(2, 12).repeat(1, 2).squeeze(), [arr(3, 4)]),
    "cat_stack_split": (lambda a, b: tn.cat([a, b], 1).split(2, 1)[1] + tn.stack([a, b]).sum(0),
                        [arr(3, 2), arr(3, 2)]),
    "pad_getitem": (lambda a: tn.pad(a, (1, 2))[:, ::-2] + a[[0, 0, 2]].sum(), [arr(3, 4)]),
    "mask_gather": (lambda a: a[a.array > 0].sum() + a.gather(1, tn.tensor([[0, 1], [2, 2],
                                                                         [1, 0]])).sum(),
                    [arr(3, 3)]),
    "conv2d": (lambda x, w: conv2d(x, w, stride=2, padding=1, groups=2),
               [arr(2, 4, 7, 6), arr(4, 2, 3, 3)]),
    "conv_transpose2d": (lambda x, w: conv_transpose2d(x, w, stride=2, padding=1),
                         [arr(2, 3, 4, 4), arr(3, 2, 3, 3)]),
    "unfold": (lambda x: unfold(x, 2, stride=2), [arr(1, 2, 4, 4)]),
    "pools": (lambda x: max_pool2d(x, 2).sum() + avg_pool2d(x, 3, 2, 1).sum()
              + adaptive_avg_pool2d(x, 3).sum(), [arr(2, 3, 7, 7)]),
}


def run(fn, arrays, device):
    xs = [tn.tensor(a, requires_grad=True, device=device) for a in arrays]
    y = fn(*xs)
    gy = tn.tensor(np.random.default_rng(1).standard_normal(y.shape), device=device)
    y.backward(gy)
    return y.numpy(), [x.grad.numpy() for x in xs], y.device


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_on_gpu_matches_cpu(name):
    fn, arrays = CASES[name]
    y_cpu, g_cpu, _ = run(fn, arrays, "cpu")
    y_gpu, g_gpu, device = run(fn, arrays, "cuda")
    assert device.startswith("cuda")
    np.testing.assert_allclose(y_gpu, y_cpu, rtol=1e-10, atol=1e-10)
    for a, b in zip(g_gpu, g_cpu):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_mixing_devices_names_both():
    a = tn.ones(3)
    b = tn.ones(3, device="cuda")
    with pytest.raises(RuntimeError, match="cpu.*cuda|cuda.*cpu"):
        a + b


def test_float32_stays_float32_on_gpu():
    x = tn.randn(4, 3, device="cuda", requires_grad=True)
    y = (x * 2.5).tanh().sum()
    y.backward()
    assert y.dtype == tn.float32 and x.grad.dtype == tn.float32 and x.grad.device == x.device


def test_to_and_from_device_round_trip():
    x = tn.randn(3, 3)
    y = x.cuda()
    assert y.device.startswith("cuda") and y.cpu().device == "cpu"
    np.testing.assert_array_equal(y.cpu().numpy(), x.numpy())
    w = tn.tensor(np.ones(3), requires_grad=True)
    (w.to("cuda") * 2).sum().backward()
    assert w.grad.device == "cpu" and np.allclose(w.grad.numpy(), 2)


def test_memory_stats_follow_allocations():
    tn.cuda.empty_cache()
    before = tn.cuda.memory_allocated()
    x = tn.zeros(1024, 1024, device="cuda")
    assert tn.cuda.memory_allocated() >= before + 4 * 1024 * 1024
    del x
    assert set(tn.cuda.memory_stats()) == {"used_bytes", "total_bytes", "pinned_free_blocks"}
