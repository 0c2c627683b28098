"""tinynet: a small, readable neural-network framework on NumPy/CuPy.

PyTorch's names and semantics on NumPy (CPU) and CuPy (GPU) arrays; see the
README for a tour.
"""
from tinynet import backend as _backend
from tinynet.backend import empty_cache, tune_process  # noqa: F401
from tinynet.autograd import (  # noqa: F401
    Function, enable_grad, grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled)
from tinynet.tensor import (  # noqa: F401
    BoolTensor, ByteTensor, CharTensor, DoubleTensor, FloatTensor, HalfTensor, IntTensor,
    LongTensor, ShortTensor, Size, Tensor, arange, as_tensor, bool_, empty, eye, float16, float32, float64, from_dlpack,
    from_numpy, full, full_like, int8, int16, int32, int64, linspace, ones, ones_like,
    rand, rand_like, randint, randn, randn_like, tensor, uint8, zeros, zeros_like)
from tinynet.tensor import clamp_max, clamp_min  # noqa: F401
from tinynet.backend import device  # noqa: F401
from tinynet.ops import *  # noqa: F401,F403
from tinynet.ops import abs, all, any, max, min, pow, sum  # noqa: F401  (shadow builtins)
globals().pop("linalg", None)  # the star import's tinynet.ops.linalg: tn.linalg is PyTorch's
from tinynet import linalg, return_types  # noqa: F401,E402
from tinynet.random import (  # noqa: F401
    bernoulli, get_rng_state, manual_seed, multinomial, randperm, set_rng_state)
from tinynet.gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: F401
from tinynet.serialization import CheckpointError, load, save  # noqa: F401
from tinynet import autograd, data, nn, optim, utils, viz  # noqa: F401,E402

float = float32      # noqa: A001  PyTorch's aliases
double = float64
half = float16
long = int64
bool = bool_         # noqa: A001


def is_tensor(obj):
    """True if ``obj`` is a tinynet Tensor (PyTorch's ``torch.is_tensor``)."""
    return isinstance(obj, Tensor)


__version__ = "0.1.0"


class cuda:
    """``tn.cuda.is_available()`` and friends (CuPy is optional)."""
    is_available = staticmethod(_backend.cuda_is_available)

    @staticmethod
    def device_count():
        if not _backend.cuda_is_available():
            return 0
        return _backend._import_cupy().cuda.runtime.getDeviceCount()

    @staticmethod
    def synchronize():
        if _backend.cuda_is_available():
            _backend._import_cupy().cuda.Device().synchronize()

    @staticmethod
    def memory_stats():
        """CuPy's memory pools: bytes in use and held (device and pinned host);
        all zero without a GPU."""
        if not _backend.cuda_is_available():
            return {"used_bytes": 0, "total_bytes": 0, "pinned_free_blocks": 0}
        cp = _backend._import_cupy()
        pool = cp.get_default_memory_pool()
        return {"used_bytes": int(pool.used_bytes()), "total_bytes": int(pool.total_bytes()),
                "pinned_free_blocks": int(cp.get_default_pinned_memory_pool().n_free_blocks())}

    @staticmethod
    def memory_allocated():
        """Bytes of GPU memory in use by tensors (PyTorch's name)."""
        return cuda.memory_stats()["used_bytes"]

    @staticmethod
    def empty_cache():
        """Give the pool's unused GPU memory back to the driver."""
        if _backend.cuda_is_available():
            _backend._import_cupy().get_default_memory_pool().free_all_blocks()


class accelerator:
    """PyTorch's ``torch.accelerator``: the GPU tinynet can use (CUDA through
    CuPy), or none."""

    @staticmethod
    def is_available():
        return _backend.cuda_is_available()

    @staticmethod
    def current_accelerator(check_available=False):
        """``tn.device('cuda')`` when a CUDA GPU is usable, else None."""
        return device("cuda") if _backend.cuda_is_available() else None

    @staticmethod
    def device_count():
        return cuda.device_count()

    @staticmethod
    def synchronize():
        cuda.synchronize()
