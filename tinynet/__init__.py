"""tinynet: a small, readable neural-network framework on NumPy/CuPy.

PyTorch's names and semantics on NumPy (CPU) and CuPy (GPU) arrays; see the
README for a tour.
"""
from tinynet import backend as _backend

_backend.tune_malloc()
_backend.tune_gc()
from tinynet.autograd import (  # noqa: F401
    Function, enable_grad, grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled)
from tinynet.tensor import (  # noqa: F401
    BoolTensor, ByteTensor, CharTensor, DoubleTensor, FloatTensor, HalfTensor, IntTensor,
    LongTensor, ShortTensor, Size, Tensor, arange, as_tensor, bool_, empty, eye, float16, float32, float64, from_dlpack,
    from_numpy, full, full_like, int8, int16, int32, int64, linspace, ones, ones_like,
    rand, rand_like, randint, randn, randn_like, tensor, uint8, zeros, zeros_like)
from tinynet.ops import *  # noqa: F401,F403
from tinynet.ops import abs, all, any, max, min, pow, sum  # noqa: F401  (shadow builtins)
from tinynet.random import get_rng_state, manual_seed, set_rng_state  # noqa: F401
from tinynet.gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: F401
from tinynet.serialization import CheckpointError, load, save  # noqa: F401
from tinynet import autograd, data, nn, optim, viz  # noqa: F401,E402

float = float32      # noqa: A001  PyTorch's aliases
double = float64
half = float16
long = int64
bool = bool_         # noqa: A001

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
