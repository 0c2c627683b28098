"""tinynet: a small, readable neural-network framework on NumPy/CuPy.

PyTorch's names and semantics on NumPy (CPU) and CuPy (GPU) arrays; see the
README for a tour.
"""
from tinynet import backend as _backend
from tinynet.backend import empty_cache, tune_process  # noqa: F401
from tinynet.tensor import (  # noqa: F401
    BoolTensor, ByteTensor, CharTensor, DoubleTensor, FloatTensor, HalfTensor, IntTensor,
    LongTensor, ShortTensor, Size, Tensor, arange, as_tensor, bool_, empty, eye, float16, float32, float64, from_dlpack,
    from_numpy, full, full_like, int8, int16, int32, int64, linspace, ones, ones_like,
    tensor, uint8, zeros, zeros_like)
from tinynet.autograd import (  # noqa: F401
    Function, enable_grad, grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled)
from tinynet.backend import device  # noqa: F401
from tinynet.ops import *  # noqa: F401,F403
from tinynet.ops import abs, all, any, max, min, pow, sum  # noqa: F401  (shadow builtins)
from tinynet import linalg, return_types  # noqa: F401,E402
from tinynet.random import (  # noqa: F401
    bernoulli, get_rng_state, manual_seed, multinomial, rand, rand_like, randint, randn,
    randn_like, randperm, set_rng_state)
from tinynet.tensor_methods import clamp_max, clamp_min  # noqa: F401
from tinynet import tensor_methods as _tensor_methods
_tensor_methods.bind(Tensor)     # the one place where Tensor gets its op methods
# through the module tinynet.gradcheck (code in tinynet/testing/), loaded here so that
# a later `import tinynet.gradcheck` cannot rebind tn.gradcheck to the module
from tinynet.gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: F401,E402
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
        return _backend.import_cupy().cuda.runtime.getDeviceCount()

    @staticmethod
    def synchronize():
        if _backend.cuda_is_available():
            _backend.import_cupy().cuda.Device().synchronize()
            _backend.raise_pending_checks()

    @staticmethod
    def memory_stats():
        """CuPy's memory pools: bytes in use and held (device and pinned host);
        all zero without a GPU."""
        if not _backend.cuda_is_available():
            return {"used_bytes": 0, "total_bytes": 0, "pinned_free_blocks": 0}
        cp = _backend.import_cupy()
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
            _backend.import_cupy().get_default_memory_pool().free_all_blocks()


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


# The public names of `import tinynet as tn`, PyTorch's where PyTorch has them.
__all__ = [
    "abs", "accelerator", "add", "addmm", "all", "allclose", "amax", "amin", "any",
    "arange", "argmax", "argmin", "argsort", "argwhere", "as_tensor", "astype", "autograd",
    "bernoulli", "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor", "bmm", "bool",
    "bool_", "BoolTensor", "broadcast_to", "ByteTensor", "cat", "ceil", "CharTensor",
    "CheckpointError", "chunk", "clamp", "clamp_max", "clamp_min", "clip", "clone",
    "concatenate", "contiguous", "cos", "cuda", "cumprod", "cumsum", "data", "device",
    "diag", "div", "dot", "double", "DoubleTensor", "einsum", "elu", "empty",
    "empty_cache", "enable_grad", "eq", "erf", "exp", "expand", "eye", "flatten", "flip",
    "float", "float16", "float32", "float64", "FloatTensor", "floor", "from_dlpack",
    "from_numpy", "full", "full_like", "Function", "gather", "ge", "gelu", "get_rng_state",
    "getitem", "grad", "gradcheck", "GradcheckError", "gradgradcheck", "gt", "half",
    "HalfTensor", "index_add", "index_fill", "index_select", "inference_mode", "int16",
    "int32", "int64", "int8", "IntTensor", "is_grad_enabled", "is_tensor", "isfinite",
    "isnan", "kthvalue", "le", "leaky_relu", "linalg", "linspace", "load", "log", "log1p",
    "log_softmax", "logical_and", "logical_not", "logical_or", "logical_xor", "logsumexp",
    "long", "LongTensor", "lt", "manual_seed", "masked_fill", "matmul", "max", "maximum",
    "mean", "median", "min", "minimum", "mm", "mode", "movedim", "mT", "mul",
    "multinomial", "narrow", "ne", "neg", "nn", "no_grad", "nonzero", "norm", "ones",
    "ones_like", "optim", "outer", "pad", "permute", "pow", "prod", "rand", "rand_like",
    "randint", "randn", "randn_like", "random", "randperm", "relu", "repeat",
    "repeat_interleave", "reshape", "return_types", "roll", "round", "rsqrt", "save",
    "scatter", "scatter_add", "set_grad_enabled", "set_rng_state", "ShortTensor",
    "sigmoid", "sign", "sin", "Size", "softmax", "softplus", "sort", "split", "sqrt",
    "squeeze", "stack", "std", "sub", "sum", "sum_to", "t", "tanh", "Tensor", "tensor",
    "to_device", "topk", "transpose", "tril", "triu", "trunc", "tune_process", "uint8",
    "unbind", "unique", "unsqueeze", "utils", "var", "view", "viz", "where", "zeros",
    "zeros_like"
]
