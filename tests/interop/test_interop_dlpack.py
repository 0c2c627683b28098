"""DLPack both ways, without copies: tn.from_dlpack(x) and torch/np/cupy.from_dlpack(t)."""
import numpy as np
import pytest
import torch

import tinynet as tn


def test_torch_to_tinynet_shares_memory_both_ways():
    src = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    t = tn.from_dlpack(src)
    assert isinstance(t, tn.Tensor) and t.shape == (2, 3) and t.dtype == tn.float32
    src[0, 1] = 100.0                       # torch writes, tinynet sees it
    assert t.numpy()[0, 1] == 100.0
    t.array[1, 2] = -5.0                    # tinynet writes, torch sees it
    assert src[1, 2].item() == -5.0


def test_tinynet_to_torch_shares_memory_both_ways():
    t = tn.zeros(3, 4, dtype=tn.float64)
    u = torch.from_dlpack(t)
    assert u.dtype == torch.float64 and tuple(u.shape) == (3, 4)
    u[2, 3] = 7.0                           # torch writes, tinynet sees it
    assert t.numpy()[2, 3] == 7.0
    t.array[0, 0] = 9.0                     # tinynet writes, torch sees it
    assert u[0, 0].item() == 9.0
    assert u.data_ptr() == t.array.ctypes.data


@pytest.mark.parametrize("dtype", [tn.float32, tn.float16, tn.int64, tn.int32, tn.uint8,
                                   tn.bool_])
def test_dtypes_and_views_survive_the_round_trip(dtype):
    base = tn.tensor(np.arange(24).reshape(4, 6) % 3, dtype=dtype)
    view = base[1:, ::2]                    # strided: DLPack carries the strides
    u = torch.from_dlpack(view.detach())
    np.testing.assert_array_equal(u.numpy(), view.numpy())
    back = tn.from_dlpack(u)
    assert back.dtype == dtype
    np.testing.assert_array_equal(back.numpy(), view.numpy())
    assert np.shares_memory(back.array, base.array)


def test_numpy_reads_a_tensor_through_dlpack():
    t = tn.arange(5)
    a = np.from_dlpack(t)
    assert np.shares_memory(a, t.array)
    assert t.__dlpack_device__() == (1, 0)


def test_a_tensor_that_requires_grad_is_refused_as_in_pytorch():
    t = tn.ones(2, requires_grad=True)
    with pytest.raises(BufferError, match=r"require gradient, use tensor.detach\(\)"):
        torch.from_dlpack(t)
    with pytest.raises(BufferError, match="require gradient"):
        tn.from_dlpack(torch.ones(2, requires_grad=True))
    u = torch.from_dlpack(t.detach())      # the detached tensor shares the memory
    u[0] = 3.0
    assert t.numpy()[0] == 3.0


@pytest.mark.skipif(not tn.cuda.is_available(), reason="needs a CUDA GPU and CuPy")
def test_cupy_path_shares_gpu_memory_both_ways():
    import cupy as cp
    t = tn.zeros(4, device="cuda")
    c = cp.from_dlpack(t)                   # tinynet -> CuPy
    c[1] = 5.0
    assert float(t.numpy()[1]) == 5.0
    assert t.__dlpack_device__()[0] == 2    # kDLCUDA
    src = cp.arange(3, dtype=cp.float32)
    back = tn.from_dlpack(src)              # CuPy -> tinynet
    assert back.device.startswith("cuda")
    back.array[2] = -1.0
    assert float(src[2]) == -1.0
