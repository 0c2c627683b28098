"""Elementwise ops: arithmetic with broadcasting, unary math, activations,
clamp, maximum/minimum, where, and comparisons (no gradient).

Dtype rules (PyTorch's): a Python or NumPy scalar takes the tensor's dtype
(``float32 * np.float64(2)`` stays float32); between tensors, a float beats
an int beats a bool, and within a kind NumPy's promotion applies.
"""
import math

import numpy as np

from tinynet.autograd import Function
from tinynet.autograd.grad_mode import state
from tinynet.backend import get_array_module, is_cupy_array
from tinynet.kernels import gelu as KG
from tinynet.ops.shape import sum_to
from tinynet.tensor import Tensor, as_tensor, describe

_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


__all__ = [
    "abs", "add", "allclose", "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor",
    "ceil", "celu", "clamp", "clip", "cos", "div", "elu", "eq", "erf", "exp", "floor",
    "ge", "gelu", "gt", "hardsigmoid", "hardswish", "hardtanh", "isfinite", "isnan", "le",
    "leaky_relu", "log", "log1p", "logical_and", "logical_not", "logical_or",
    "logical_xor", "logsigmoid", "lt", "masked_fill", "maximum", "minimum", "mish", "mul",
    "ne", "neg", "pow", "rdiv", "relu", "relu6", "round", "rpow", "rsqrt", "rsub", "selu",
    "sigmoid", "sign", "silu", "sin", "softplus", "softsign", "sqrt", "sub", "tanh",
    "tanhshrink", "trunc", "where"
]


def _scalar(value, like):
    """A constant Tensor for a Python/NumPy scalar operand of tensor ``like``."""
    dt = like.array.dtype
    if dt.kind in "fc":
        return Tensor._const(dt.type(value))
    if isinstance(value, (bool, np.bool_)):
        return Tensor._const(dt.type(value))
    if isinstance(value, (int, np.integer)):
        return Tensor._const(np.int64(value) if dt.kind == "b" else dt.type(value))
    if isinstance(value, (float, np.floating)):
        return Tensor._const(np.float32(value))       # int tensor * 2.5 -> float32
    raise TypeError(f"unsupported operand of type {type(value).__name__}")


def _promote(a, b):
    da, db = a.array.dtype, b.array.dtype
    ra, rb = _KIND_RANK[da.kind], _KIND_RANK[db.kind]
    if ra == rb and (a.array.ndim == 0) != (b.array.ndim == 0):
        # a 0-d tensor acts like a scalar within its kind (PyTorch):
        # float32[3] * float64 0-d stays float32
        dt = db if a.array.ndim == 0 else da
    elif ra == rb:
        dt = np.promote_types(da, db)
    else:
        dt = da if ra > rb else db
    return (a if da == dt else a.astype(dt)), (b if db == dt else b.astype(dt))


_SCALARS = (int, float, bool, np.number, np.bool_)


def operands(a, b):
    """Both operands of a binary op as Tensors of one dtype."""
    if isinstance(a, Tensor):
        if isinstance(b, _SCALARS):
            b = _scalar(b, a)
        elif not isinstance(b, Tensor):
            b = as_tensor(b)
    elif isinstance(a, _SCALARS) and isinstance(b, Tensor):
        a = _scalar(a, b)
    else:
        a, b = as_tensor(a), as_tensor(b)
    if a.array.dtype != b.array.dtype:
        a, b = _promote(a, b)
    return a, b


class BinaryFunction(Function):
    """Base of broadcasting binary ops: turns NumPy's broadcast error into ours."""

    def _forward_error(self, inputs, e):
        a, b = inputs
        if a.device != b.device:
            return RuntimeError(f"{self.name.lower()}: operands are on different devices: "
                                f"{describe(a)} and {describe(b)}")
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            return ValueError(f"{self.name.lower()}: cannot broadcast {a.shape} with {b.shape}"
                              f" ({describe(a)} and {describe(b)})")
        return super()._forward_error(inputs, e)


# ---------------------------------------------------------------- arithmetic
class Add(BinaryFunction):
    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        a, b = self.inputs
        return (sum_to(gy, a.shape) if a.requires_grad else None,
                sum_to(gy, b.shape) if b.requires_grad else None)


class Sub(BinaryFunction):
    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        a, b = self.inputs
        return (sum_to(gy, a.shape) if a.requires_grad else None,
                sum_to(-gy, b.shape) if b.requires_grad else None)


class Mul(BinaryFunction):
    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        if not state.enabled:
            return (sum_to(_mul_plain(gy, b), a.shape) if a.requires_grad else None,
                    sum_to(_mul_plain(gy, a), b.shape) if b.requires_grad else None)
        return (sum_to(gy * b, a.shape) if a.requires_grad else None,
                sum_to(gy * a, b.shape) if b.requires_grad else None)


def _mul_plain(g, x):
    """``g * x`` when no graph is recorded (a plain backward): the product of
    the arrays without building an op, when both have one dtype (no
    promotion to decide); otherwise the op."""
    if g.array.dtype == x.array.dtype:
        return Tensor._make(g.array * x.array)
    return g * x


class Div(BinaryFunction):
    def forward(self, a, b):
        return a / b

    def backward(self, gy):
        a, b = self.inputs
        return (sum_to(gy / b, a.shape) if a.requires_grad else None,
                sum_to(-gy * a / (b * b), b.shape) if b.requires_grad else None)


class Pow(BinaryFunction):
    def forward(self, a, b):
        return a ** b

    def backward(self, gy):
        a, b = self.inputs
        ga, gb = self.needs_input_grad
        gx_a = gx_b = None
        if ga:
            # b * a^(b-1) would be 0 * inf = nan at a == 0, b == 0, where
            # d(a^0)/da is 0: use base 1 there so the product is exactly 0
            both_zero = (a.array == 0) & (b.array == 0)
            base = where(both_zero, 1.0, a) if both_zero.any() else a
            gx_a = sum_to(gy * b * base ** (b - 1), a.shape)
        if gb:
            # d(a^b)/db = a^b log a, taken as 0 where a == 0 and b >= 0 (PyTorch's
            # choice); for b < 0 it stays inf * -inf = -inf, not inf * log(1) = nan
            zero = (a.array == 0) & (b.array >= 0)
            safe = where(Tensor._wrap(zero), 1.0, a) if zero.any() else a
            gx_b = sum_to(gy * a ** b * log(safe), b.shape)
        return gx_a, gx_b


class PowScalar(Function):
    """x ** c for a constant Python number c (the common case: x**2, x**0.5)."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x ** x.dtype.type(self.c) if x.dtype.kind == "f" else x ** self.c

    def backward(self, gy):
        x, = self.inputs
        c = self.c
        if c == 0:
            return gy * 0
        if c == 1:
            return gy
        if c == 2:
            return gy * 2 * x
        return gy * c * x ** (c - 1)


def _true_div_float(a, b):
    # int / int is true division with a float32 result in PyTorch
    if a.array.dtype.kind in "biu" and b.array.dtype.kind in "biu":
        return a.astype(np.float32), b.astype(np.float32)
    return a, b


def _check_alpha(op, a, b, alpha):
    # PyTorch: a float alpha would silently make an integer result float
    if (a.dtype.kind in "biu" and b.dtype.kind in "biu"
            and not isinstance(alpha, (int, np.integer))):
        raise TypeError(f"{op}: alpha must be an integer for integer tensors, got "
                        f"alpha={alpha!r} with {describe(a)} and {describe(b)}")


def add(a, b, alpha=1):
    a, b = operands(a, b)
    if alpha != 1:
        _check_alpha("add", a, b, alpha)
        return Add()(*operands(a, mul(b, alpha)))
    return Add()(a, b)


def _is_bool(t):
    return isinstance(t, (bool, np.bool_)) or (isinstance(t, Tensor) and t.array.dtype == bool)


def sub(a, b, alpha=1):
    if _is_bool(a) or _is_bool(b):
        raise TypeError(f"sub: subtraction with a bool tensor is not supported (as in "
                        f"PyTorch), got {describe(a)} and {describe(b)}; to invert a mask use "
                        "~mask or tn.logical_not(mask)")
    a, b = operands(a, b)
    if alpha != 1:
        _check_alpha("sub", a, b, alpha)
        return Sub()(*operands(a, mul(b, alpha)))
    return Sub()(a, b)


def mul(a, b):
    return Mul()(*operands(a, b))


def div(a, b):
    return Div()(*_true_div_float(*operands(a, b)))


def pow(a, b):
    if type(a) is Tensor and isinstance(b, (int, float)) and not isinstance(b, bool):
        if a.dtype == bool and isinstance(b, int):
            a = a.astype(np.int64)           # bool ** 2 is int64, as in PyTorch (not int8)
        if a.dtype.kind in "biu" and isinstance(b, float):
            a = a.astype(np.float32)         # int tensor ** 0.5 is float32 (not float64)
        return PowScalar(b)(a)
    a, b = operands(a, b)
    y = Pow()(a, b)
    # PyTorch keeps bool ** bool bool (x ** 0 = 1, x ** 1 = x); NumPy makes int8
    return y.astype(bool) if a.dtype == bool and b.dtype == bool else y


def rsub(a, b):
    return sub(b, a)


def rdiv(a, b):
    return div(b, a)


def rpow(a, b):
    return pow(b, a)


# ---------------------------------------------------------------- unary
class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Exp(Function):
    keep_outputs = True

    def forward(self, x):
        return get_array_module(x).exp(x)

    def backward(self, gy):
        return gy * self.output()


class Log(Function):
    def forward(self, x):
        return get_array_module(x).log(x)

    def backward(self, gy):
        return gy / self.inputs[0]


class Log1p(Function):
    def forward(self, x):
        return get_array_module(x).log1p(x)

    def backward(self, gy):
        return gy / (self.inputs[0] + 1)


class Sqrt(Function):
    keep_outputs = True

    def forward(self, x):
        return get_array_module(x).sqrt(x)

    def backward(self, gy):
        return gy / (2 * self.output())


class Rsqrt(Function):
    keep_outputs = True

    def forward(self, x):
        return 1 / get_array_module(x).sqrt(x)

    def backward(self, gy):
        y = self.output()
        return gy * -0.5 * y * y * y


class Abs(Function):
    def forward(self, x):
        return get_array_module(x).abs(x)

    def backward(self, gy):
        return gy * sign(self.inputs[0])


class Sin(Function):
    def forward(self, x):
        return get_array_module(x).sin(x)

    def backward(self, gy):
        return gy * cos(self.inputs[0])


class Cos(Function):
    def forward(self, x):
        return get_array_module(x).cos(x)

    def backward(self, gy):
        return -gy * sin(self.inputs[0])


class TanhFunction(Function):
    keep_outputs = True

    def forward(self, x):
        return get_array_module(x).tanh(x)

    def backward(self, gy):
        y = self.output()
        return gy * (1 - y * y)


class SigmoidFunction(Function):
    keep_outputs = True

    def forward(self, x):
        xp = get_array_module(x)
        # tanh form: never overflows, unlike 1 / (1 + exp(-x)) at x = -1000
        return xp.tanh(x * x.dtype.type(0.5)) * x.dtype.type(0.5) + x.dtype.type(0.5)

    def backward(self, gy):
        y = self.output()
        return gy * y * (1 - y)


class Relu(Function):
    def forward(self, x):
        return get_array_module(x).maximum(x, 0)

    def backward(self, gy):
        return gy * (self.inputs[0].array > 0).astype(gy.dtype)


class LeakyRelu(Function):
    def __init__(self, slope):
        self.slope = slope

    def forward(self, x):
        xp = get_array_module(x)
        return xp.where(x > 0, x, x * x.dtype.type(self.slope))

    def backward(self, gy):
        x = self.inputs[0].array
        xp = get_array_module(x)
        scale = xp.where(x > 0, x.dtype.type(1), x.dtype.type(self.slope))
        return gy * scale


class Elu(Function):
    """scale * x where x > 0, else scale * alpha * (exp(input_scale * x) - 1):
    elu (scale = input_scale = 1), selu (fixed alpha and scale) and celu
    (input_scale = 1 / alpha) are all this one function."""

    def __init__(self, alpha, scale=1.0, input_scale=1.0):
        self.alpha, self.scale, self.input_scale = alpha, scale, input_scale

    def forward(self, x):
        xp = get_array_module(x)
        t = x.dtype.type
        neg = t(self.alpha * self.scale) * xp.expm1(t(self.input_scale) * xp.minimum(x, 0))
        return xp.where(x > 0, x * t(self.scale) if self.scale != 1 else x, neg)

    def backward(self, gy):
        x = self.inputs[0]
        k = self.alpha * self.scale * self.input_scale
        return gy * where(x.array > 0, self.scale, k * exp(minimum(x, 0.0) * self.input_scale))


class SoftplusFunction(Function):
    def __init__(self, beta, threshold):
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        xp = get_array_module(x)
        bx = x * x.dtype.type(self.beta)
        # log(1 + e^bx) computed without overflow; linear above the threshold
        soft = (xp.maximum(bx, 0) + xp.log1p(xp.exp(-xp.abs(bx)))) / x.dtype.type(self.beta)
        return xp.where(bx > self.threshold, x, soft)

    def backward(self, gy):
        x = self.inputs[0]
        bx = x * self.beta
        return gy * where(bx.array > self.threshold, 1.0, sigmoid(bx))


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class Gelu(Function):
    """GELU: x * Phi(x) (exact, with erf) or PyTorch's tanh approximation."""

    def __init__(self, approximate):
        self.approximate = approximate

    def forward(self, x):
        xp = get_array_module(x)
        t = x.dtype.type
        if self.approximate == "tanh":
            inner = t(_SQRT_2_OVER_PI) * (x + t(0.044715) * x * x * x)
            return t(0.5) * x * (t(1) + xp.tanh(inner))
        return KG.select(x).forward(x)      # kernels/gelu.py: ref, or one fused loop

    def backward(self, gy):
        x = self.inputs[0]
        if self.approximate != "tanh" and not state.enabled:
            # a plain backward (no graph recorded): the derivative as arrays,
            # in one pass where kernels/gelu.py has a loop for them
            return Tensor._make(KG.select(x.array).backward(x.array, gy.array))
        if self.approximate == "tanh":
            inner = _SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
            th = tanh(inner)
            d_inner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return gy * (0.5 * (1 + th) + 0.5 * x * (1 - th * th) * d_inner)
        cdf = 0.5 * (1 + Erf()(x * _INV_SQRT_2))
        pdf = _INV_SQRT_2PI * exp(-0.5 * x * x)
        return gy * (cdf + x * pdf)


class HardtanhFunction(Function):
    """clip(x, lo, hi); the gradient passes strictly inside (lo, hi), as in PyTorch."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        t = x.dtype.type
        return get_array_module(x).clip(x, t(self.lo), t(self.hi))

    def backward(self, gy):
        x = self.inputs[0].array
        return gy * ((x > self.lo) & (x < self.hi)).astype(gy.dtype)


class HardsigmoidFunction(Function):
    """relu6(x + 3) / 6."""

    def forward(self, x):
        t = x.dtype.type
        return get_array_module(x).clip(x + t(3), t(0), t(6)) / t(6)

    def backward(self, gy):
        # the slope 1/6 rounded to float32, in every dtype: PyTorch's kernel
        # does so, and the float64 gradients then agree to the last digit
        x = self.inputs[0].array
        return gy * (((x > -3) & (x < 3)) * float(np.float32(1 / 6))).astype(gy.dtype)


class HardswishFunction(Function):
    """x * relu6(x + 3) / 6."""

    def forward(self, x):
        t = x.dtype.type
        return x * get_array_module(x).clip(x + t(3), t(0), t(6)) / t(6)

    def backward(self, gy):
        # slope 0 below -3, x / 3 + 1/2 on [-3, 3], 1 above (PyTorch's pieces)
        x = self.inputs[0]
        a = x.array
        inner = where(a <= 3, x / 3 + 0.5, 1.0)
        return gy * where(a < -3, 0.0, inner)


class Silu(Function):
    """x * sigmoid(x) (also called swish)."""

    def forward(self, x):
        # sigmoid from e = exp(-|x|): never overflows and keeps its relative
        # precision far into the negative side (silu(-30) is -2.8e-12, not 0)
        xp = get_array_module(x)
        e = xp.exp(-xp.abs(x))
        return x * xp.where(x >= 0, 1 / (1 + e), e / (1 + e))

    def backward(self, gy):
        x = self.inputs[0]
        s = sigmoid(x)
        return gy * s * (1 + x * (1 - s))


def _softplus_array(x):
    # log(1 + e^x) without overflow
    xp = get_array_module(x)
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


class MishFunction(Function):
    """x * tanh(softplus(x))."""

    def forward(self, x):
        return x * get_array_module(x).tanh(_softplus_array(x))

    def backward(self, gy):
        x = self.inputs[0]
        t = tanh(SoftplusFunction(1.0, math.inf)(x))
        return gy * (t + x * sigmoid(x) * (1 - t * t))


class Logsigmoid(Function):
    """log(sigmoid(x)) = -softplus(-x), computed without overflow."""

    def forward(self, x):
        return -_softplus_array(-x)

    def backward(self, gy):
        return gy * sigmoid(-self.inputs[0])


class Erf(Function):
    def forward(self, x):
        from tinynet.ops._special import erf
        return erf(x)

    def backward(self, gy):
        x = self.inputs[0]
        return gy * (2 / math.sqrt(math.pi)) * exp(-x * x)


def to_float(x):
    """``x`` as a Tensor, int/bool converted to float32: PyTorch's result
    dtype for exp, log, sin, ... of an integer tensor (NumPy would give float64)."""
    x = as_tensor(x)
    return x.astype(np.float32) if x.dtype.kind in "biu" else x


def require_float(x, op):
    """``x`` as a Tensor, or a TypeError if it is not floating point (PyTorch
    has no integer kernels for these ops either)."""
    x = as_tensor(x)
    if x.dtype.kind not in "fc":
        raise TypeError(f"{op}: expected a floating point tensor, got {describe(x)}; "
                        "convert first with x.float()")
    return x


def _unary(cls, float_result=False):
    def op(x):
        return cls()(to_float(x) if float_result else x)
    op.__name__ = cls.__name__.lower()
    op.__doc__ = f"Elementwise {cls.__name__.lower()} (differentiable)."
    return op


neg = _unary(Neg)
exp = _unary(Exp, float_result=True)
log = _unary(Log, float_result=True)
log1p = _unary(Log1p, float_result=True)
sqrt = _unary(Sqrt, float_result=True)
rsqrt = _unary(Rsqrt, float_result=True)
abs = _unary(Abs)
sin = _unary(Sin, float_result=True)
cos = _unary(Cos, float_result=True)
tanh = _unary(TanhFunction, float_result=True)
sigmoid = _unary(SigmoidFunction, float_result=True)
relu = _unary(Relu)
erf = _unary(Erf, float_result=True)


def leaky_relu(x, negative_slope=0.01):
    """x where x > 0, else negative_slope * x."""
    return LeakyRelu(negative_slope)(require_float(x, "leaky_relu"))


def elu(x, alpha=1.0):
    """x where x > 0, else alpha * (exp(x) - 1)."""
    return Elu(alpha)(require_float(x, "elu"))


def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold (PyTorch)."""
    return SoftplusFunction(beta, threshold)(require_float(x, "softplus"))


def gelu(x, approximate="none"):
    """x * Phi(x) with the exact erf form, or ``approximate='tanh'``."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu(approximate)(require_float(x, "gelu"))


def hardtanh(x, min_val=-1.0, max_val=1.0):
    """clip(x, min_val, max_val) (PyTorch's F.hardtanh, out of place)."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val cannot be greater than max_val, got "
                         f"min_val={min_val} and max_val={max_val}")
    return HardtanhFunction(min_val, max_val)(require_float(x, "hardtanh"))


def relu6(x):
    """min(max(x, 0), 6)."""
    return HardtanhFunction(0.0, 6.0)(require_float(x, "relu6"))


def hardsigmoid(x):
    """relu6(x + 3) / 6."""
    return HardsigmoidFunction()(require_float(x, "hardsigmoid"))


def hardswish(x):
    """x * relu6(x + 3) / 6."""
    return HardswishFunction()(require_float(x, "hardswish"))


def silu(x):
    """x * sigmoid(x)."""
    return Silu()(require_float(x, "silu"))


def mish(x):
    """x * tanh(softplus(x))."""
    return MishFunction()(require_float(x, "mish"))


def logsigmoid(x):
    """log(sigmoid(x)), stable for large |x|."""
    return Logsigmoid()(require_float(x, "logsigmoid"))


# SELU's fixed constants (Klambauer et al., 2017)
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def selu(x):
    """SELU_SCALE * elu(x, SELU_ALPHA)."""
    return Elu(SELU_ALPHA, SELU_SCALE)(require_float(x, "selu"))


def celu(x, alpha=1.0):
    """x where x > 0, else alpha * (exp(x / alpha) - 1)."""
    if alpha == 0:
        raise ValueError("celu: alpha cannot be 0")
    return Elu(alpha, 1.0, 1.0 / alpha)(require_float(x, "celu"))


def softsign(x):
    """x / (1 + |x|)."""
    x = require_float(x, "softsign")
    return x / (abs(x) + 1)


def tanhshrink(x):
    """x - tanh(x)."""
    x = require_float(x, "tanhshrink")
    return x - tanh(x)


def sign(x):
    """-1, 0 or 1 elementwise; not differentiable (a constant Tensor)."""
    x = as_tensor(x)
    if x.dtype == bool:                      # NumPy has no bool sign; PyTorch keeps bool
        return Tensor._wrap(x.array.copy())
    return Tensor._wrap(get_array_module(x.array).sign(x.array))


# ---------------------------------------------------------------- clamp, max/min, where
class Clamp(Function):
    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        return get_array_module(x).clip(x, self.lo, self.hi)

    def backward(self, gy):
        x = self.inputs[0].array
        inside = (x >= self.lo) if self.lo is not None else True
        if self.hi is not None:
            inside = inside & (x <= self.hi)
        return gy * inside.astype(gy.dtype)


def clamp(x, min=None, max=None):
    """Limit values to [min, max]; the gradient passes where x is inside."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    x = as_tensor(x)
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        y = x
        if min is not None:
            y = maximum(y, min)
        if max is not None:
            y = minimum(y, max)
        return y
    if x.dtype.kind in "biu" and any(isinstance(v, (float, np.floating)) for v in (min, max)):
        x = x.astype(np.float32)        # int tensor, float bounds: float32 (PyTorch)
    t = x.dtype.type
    return Clamp(None if min is None else t(min), None if max is None else t(max))(x)


clip = clamp


class Maximum(BinaryFunction):
    def forward(self, a, b):
        return get_array_module(a).maximum(a, b)

    def backward(self, gy):
        # ties split the gradient in half, as PyTorch does
        a, b = self.inputs
        xp = get_array_module(a.array)
        wa = xp.where(a.array > b.array, 1.0, xp.where(a.array == b.array, 0.5, 0.0)).astype(gy.dtype)
        return sum_to(gy * wa, a.shape), sum_to(gy * (1 - wa), b.shape)


class Minimum(BinaryFunction):
    def forward(self, a, b):
        return get_array_module(a).minimum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        xp = get_array_module(a.array)
        wa = xp.where(a.array < b.array, 1.0, xp.where(a.array == b.array, 0.5, 0.0)).astype(gy.dtype)
        return sum_to(gy * wa, a.shape), sum_to(gy * (1 - wa), b.shape)


def maximum(a, b):
    return Maximum()(*operands(a, b))


def minimum(a, b):
    return Minimum()(*operands(a, b))


class Where(Function):
    def __init__(self, cond):
        self.cond = cond

    def forward(self, a, b):
        return get_array_module(a).where(self.cond, a, b)

    def backward(self, gy):
        a, b = self.inputs
        zero = gy * 0
        return (sum_to(where(self.cond, gy, zero), a.shape),
                sum_to(where(self.cond, zero, gy), b.shape))


def where(condition, x, y):
    """``x`` where ``condition`` holds, else ``y`` (both differentiable)."""
    if isinstance(condition, Tensor):
        cond = condition.array
    elif is_cupy_array(condition):
        cond = condition              # a raw CuPy mask (backward passes use these)
    else:
        cond = np.asarray(condition)
    if cond.dtype != bool:
        raise TypeError(f"where: condition must be a bool tensor, got dtype {cond.dtype}")
    if not isinstance(x, Tensor) and not isinstance(y, Tensor):
        x = as_tensor(x)
    a, b = operands(x, y)
    try:
        shape = np.broadcast_shapes(cond.shape, a.shape, b.shape)
    except ValueError:
        raise ValueError(f"where: cannot broadcast condition {cond.shape} with "
                         f"{a.shape} and {b.shape}") from None
    del shape
    return Where(cond)(a, b)


def masked_fill(x, mask, value):
    """``value`` where ``mask`` holds, else ``x``; the result keeps x's dtype
    (a number is cast to it, as PyTorch does: an int tensor stays int)."""
    if isinstance(x, Tensor) and not isinstance(value, Tensor):
        value = Tensor._wrap(get_array_module(x.array).asarray(value).astype(x.dtype))
    return where(mask, value, x)


# ---------------------------------------------------------------- comparisons
def _compare(name, ufunc):
    def op(a, b):
        a, b = operands(a, b)
        try:
            return Tensor._make(getattr(get_array_module(a.array, b.array), ufunc)(a.array, b.array))
        except ValueError:
            raise ValueError(f"{name}: cannot broadcast {a.shape} with {b.shape}") from None
    op.__name__ = name
    op.__doc__ = f"Elementwise {name} as a bool tensor (no gradient)."
    return op


eq = _compare("eq", "equal")
ne = _compare("ne", "not_equal")
lt = _compare("lt", "less")
le = _compare("le", "less_equal")
gt = _compare("gt", "greater")
ge = _compare("ge", "greater_equal")


def logical_not(x):
    return Tensor._make(get_array_module(x.array).logical_not(x.array))


logical_and = _compare("logical_and", "logical_and")
logical_or = _compare("logical_or", "logical_or")
logical_xor = _compare("logical_xor", "logical_xor")


def _bitwise(name, ufunc):
    def op(a, b):
        a, b = operands(a, b)
        for t in (a, b):
            if t.dtype.kind not in "biu":
                raise TypeError(f"{name}: only integer and bool tensors, got {describe(a)} "
                                f"and {describe(b)} (as PyTorch; for a float mask compare "
                                "first, e.g. (x > 0) | (y > 0))")
        try:
            return Tensor._make(getattr(get_array_module(a.array, b.array), ufunc)(a.array, b.array))
        except ValueError:
            raise ValueError(f"{name}: cannot broadcast {a.shape} with {b.shape}") from None
    op.__name__ = name
    op.__doc__ = f"Elementwise {name} of integer or bool tensors (``&``, ``|``, ``^``; no gradient)."
    return op


bitwise_and = _bitwise("bitwise_and", "bitwise_and")
bitwise_or = _bitwise("bitwise_or", "bitwise_or")
bitwise_xor = _bitwise("bitwise_xor", "bitwise_xor")


def bitwise_not(x):
    """``~x``: logical not of a bool tensor, bitwise not of an integer one (as PyTorch)."""
    x = as_tensor(x)
    if x.dtype.kind not in "biu":
        raise TypeError(f"bitwise_not: only integer and bool tensors, got {describe(x)} "
                        "(as PyTorch; use logical_not(x) or x == 0 for floats)")
    return Tensor._make(get_array_module(x.array).invert(x.array))


class Rounding(Function):
    """floor, ceil, trunc and round: piecewise constant, so the gradient is
    zero everywhere (as PyTorch's)."""

    def __init__(self, kind, decimals=0):
        self.kind, self.decimals = kind, decimals

    def forward(self, x):
        xp = get_array_module(x)
        if self.kind == "round":
            return xp.round(x, self.decimals)     # half to even, as PyTorch
        return getattr(xp, self.kind)(x)

    def backward(self, gy):
        return gy * 0


def _rounded(kind, x, decimals=0):
    x = as_tensor(x)
    if x.dtype == bool:
        raise TypeError(f"{kind}: not defined for bool tensors (as PyTorch); got {describe(x)}")
    return Rounding(kind, decimals)(x) if x.dtype.kind == "f" else x.clone()


def _rounding(kind):
    def op(x):
        return _rounded(kind, x)
    op.__name__ = kind
    op.__doc__ = f"Elementwise {kind}; the gradient is zero (piecewise constant)."
    return op


floor = _rounding("floor")
ceil = _rounding("ceil")
trunc = _rounding("trunc")


def round(x, decimals=0):
    """Round half to even (as PyTorch) to ``decimals`` places; zero gradient."""
    return _rounded("round", x, decimals)


def isnan(x):
    return Tensor._make(get_array_module(x.array).isnan(x.array))


def isfinite(x):
    return Tensor._make(get_array_module(x.array).isfinite(x.array))


def allclose(a, b, rtol=1e-5, atol=1e-8):
    a, b = as_tensor(a), as_tensor(b)
    return bool(get_array_module(a.array).allclose(a.array, b.array, rtol=rtol, atol=atol))
