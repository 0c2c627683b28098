"""GELU with the exact (erf) form: ``x * Phi(x)`` and its derivative
``Phi(x) + x * phi(x)``, in several versions.

- ``ref``: NumPy/CuPy array expressions (erf from ``tinynet.ops._special``):
  the forward makes four passes over the array, the backward about ten.
- ``cpu_v1``: one Numba loop for each direction, each element computed in
  float64 (``math.erf``, ``math.exp``) and stored in the array's dtype, the
  elements split over tinynet's threads. A transformer's MLP applies GELU
  to its widest activation (4 x the model width), so these passes were the
  largest part of the GPT seed's step outside the matrix products.
- ``cpu_v2``: for float32 arrays, the same two loops without a call per
  element, so that LLVM vectorises them: ``exp`` from a polynomial and the
  exponent's bits, ``erf`` from its Taylor series below 1 and
  ``exp(-a^2) * t * P(t)``, ``t = 1 / (1 + a / 2)``, above (a degree-8 fit
  by least squares, relative error under 1e-8 on [1, 12]; beyond 12 the
  factor ``exp(-a^2)`` is below float32's range). The arithmetic is in
  float64 and rounded once to float32. float64 arrays take ``cpu_v1``'s
  loops, so gradient checks see ``math.erf``.

- ``cuda_v3``: ``cpu_v1``'s loops as Numba CUDA kernels, one thread per
  element (float64 inside, one rounding at the store): one launch each way
  where ``ref`` makes four and about ten CuPy launches.

Only float32 and float64 arrays take the Numba versions (NumPy arrays the
CPU ones, CuPy arrays ``cuda_v3``); other dtypes take ``ref``.
``GELU(approximate="tanh")`` stays on the composed ops in
``tinynet/ops/elementwise.py``. ``python -m tinynet.kernels.gelu`` checks
every version against ``ref`` and times them.
"""
import math

import numpy as np

from tinynet.backend import get_array_module
from tinynet.kernels._common import (Case, Impl, check_and_time, contiguous, for_parts, launch,
                                     main, numba_available, numba_cuda_available)

_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


# ---------------------------------------------------------------- ref
def forward_ref(x):
    """0.5 * x * (1 + erf(x / sqrt 2)) in the dtype of ``x``."""
    from tinynet.ops._special import erf
    t = x.dtype.type
    return t(0.5) * x * (t(1) + erf(x * t(_INV_SQRT_2)))


def backward_ref(x, gy):
    """gy * (Phi(x) + x * phi(x)), the gradient of ``forward_ref``."""
    from tinynet.ops._special import erf
    xp = get_array_module(x)
    t = x.dtype.type
    cdf = t(0.5) * (t(1) + erf(x * t(_INV_SQRT_2)))
    pdf = t(_INV_SQRT_2PI) * xp.exp(t(-0.5) * x * x)
    return gy * (cdf + x * pdf)


# ---------------------------------------------------------------- cpu_v1
_built = None


def _build():
    numba_available()
    from numba import njit

    @njit(nogil=True, cache=True)
    def forward(x, out, lo, hi):
        for i in range(lo, hi):
            v = np.float64(x[i])
            out[i] = 0.5 * v * (1.0 + math.erf(v * _INV_SQRT_2))

    @njit(nogil=True, cache=True)
    def backward(x, gy, gx, lo, hi):
        for i in range(lo, hi):
            v = np.float64(x[i])
            cdf = 0.5 * (1.0 + math.erf(v * _INV_SQRT_2))
            pdf = _INV_SQRT_2PI * math.exp(-0.5 * v * v)
            gx[i] = gy[i] * (cdf + v * pdf)

    return forward, backward


def _kernels():
    global _built
    if _built is None:
        _built = _build()
    return _built


def _fits_v1(*arrays):
    x = arrays[0]
    return (type(x) is np.ndarray and x.dtype in (np.float32, np.float64)
            and all(type(a) is np.ndarray and a.dtype == x.dtype and a.shape == x.shape
                    for a in arrays))


def forward_cpu_v1(x):
    if not _fits_v1(x):
        return forward_ref(x)
    flat = contiguous(x).reshape(-1)
    out = np.empty(x.shape, x.dtype)
    for_parts(_kernels()[0], flat.size, 1, flat, out.reshape(-1))
    return out


def backward_cpu_v1(x, gy):
    if not _fits_v1(x, gy):
        return backward_ref(x, gy)
    xf, gf = contiguous(x).reshape(-1), contiguous(gy).reshape(-1)
    gx = np.empty(x.shape, x.dtype)
    for_parts(_kernels()[1], xf.size, 1, xf, gf, gx.reshape(-1))
    return gx


# ---------------------------------------------------------------- cpu_v2
# erfc(a) * exp(a^2) = t * sum(_ERFC_FIT[j] * t^j), t = 1 / (1 + a / 2), for a >= 1:
# a least-squares fit (relative error 9e-9 on [1, 12]) made for this kernel
_ERFC_FIT = (0.28208922171951856, 0.28226275411094, 0.24467896572428943,
             0.19166592444804753, 0.017160679316724457, 0.17479473809229049,
             -0.34406162364249065, 0.17691719892889035, -0.025167708290926804)
# erf(a) = a * sum(_ERF_TAYLOR[n] * a^(2n)) for a < 1, the series
# 2/sqrt(pi) * (-1)^n / (n! (2n + 1)) cut after n = 10 (error below 2e-9)
_ERF_TAYLOR = tuple(2 / math.sqrt(math.pi) * (-1) ** n / (math.factorial(n) * (2 * n + 1))
                    for n in range(11))
_built_v2 = None


def _build_v2():
    numba_available()
    from numba import njit
    E0, E1, E2, E3, E4, E5, E6, E7, E8 = _ERFC_FIT
    T0, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10 = _ERF_TAYLOR
    LOG2E, LN2_HI, LN2_LO = 1.4426950408889634, 6.93147180369123816490e-01, 1.9082149292705877e-10

    @njit(inline="always", error_model="numpy")
    def exp_neg(y):
        # (error_model="numpy": no Python division check, which would stop
        # LLVM from vectorising the loops)
        # e^y for y <= 0: y = k ln2 + r, |r| <= ln2 / 2; e^r by its Taylor
        # series to r^8 (error below 3e-10 relative), 2^k written into the
        # exponent bits (y is held above -708, where 2^k is still normal)
        y = max(y, -708.0)
        k = np.floor(y * LOG2E + 0.5)
        r = (y - k * LN2_HI) - k * LN2_LO
        p = 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        bits = np.int64((np.int64(k) + np.int64(1023)) * np.int64(1 << 52))
        return p * bits.view(np.float64)

    @njit(inline="always", error_model="numpy")
    def cdf_and_pdf(v):
        # Phi(v) and phi(v) sharing one exp: phi(v) = exp(-a^2) / sqrt(2 pi)
        a = abs(v) * _INV_SQRT_2
        e = exp_neg(-a * a)
        s = a * a
        erf_small = a * (T0 + s * (T1 + s * (T2 + s * (T3 + s * (T4 + s * (
            T5 + s * (T6 + s * (T7 + s * (T8 + s * (T9 + s * T10))))))))))
        t = 1.0 / (1.0 + 0.5 * a)
        erfc_large = e * t * (E0 + t * (E1 + t * (E2 + t * (E3 + t * (
            E4 + t * (E5 + t * (E6 + t * (E7 + t * E8))))))))
        half_erfc = 0.5 * (1.0 - erf_small) if a < 1.0 else 0.5 * erfc_large
        cdf = 1.0 - half_erfc if v >= 0 else half_erfc
        return cdf, e * _INV_SQRT_2PI

    @njit(nogil=True, cache=True, error_model="numpy")
    def forward(x, out, lo, hi):
        for i in range(lo, hi):
            v = np.float64(x[i])
            cdf, _ = cdf_and_pdf(v)
            out[i] = v * cdf

    @njit(nogil=True, cache=True, error_model="numpy")
    def backward(x, gy, gx, lo, hi):
        for i in range(lo, hi):
            v = np.float64(x[i])
            cdf, pdf = cdf_and_pdf(v)
            gx[i] = gy[i] * (cdf + v * pdf)

    return forward, backward


def _kernels_v2():
    global _built_v2
    if _built_v2 is None:
        _built_v2 = _build_v2()
    return _built_v2


def forward_cpu_v2(x):
    if not (_fits_v1(x) and x.dtype == np.float32):
        return forward_cpu_v1(x)
    flat = contiguous(x).reshape(-1)
    out = np.empty(x.shape, x.dtype)
    for_parts(_kernels_v2()[0], flat.size, 1, flat, out.reshape(-1))
    return out


def backward_cpu_v2(x, gy):
    if not (_fits_v1(x, gy) and x.dtype == np.float32):
        return backward_cpu_v1(x, gy)
    xf, gf = contiguous(x).reshape(-1), contiguous(gy).reshape(-1)
    gx = np.empty(x.shape, x.dtype)
    for_parts(_kernels_v2()[1], xf.size, 1, xf, gf, gx.reshape(-1))
    return gx


# ---------------------------------------------------------------- cuda_v3
_built_v3 = None
cuda = None          # numba.cuda, imported on first use (the simulator patches this global)


def _build_v3():
    global cuda
    numba_available()
    from numba import cuda, float64

    # cpu_v1's loops as kernels, one thread per element: float64 inside,
    # one rounding to the array's dtype at the store
    @cuda.jit
    def forward(x, y):
        i = cuda.grid(1)
        if i < x.size:
            v = float64(x[i])
            y[i] = 0.5 * v * (1.0 + math.erf(v * _INV_SQRT_2))

    @cuda.jit
    def backward(x, gy, gx):
        i = cuda.grid(1)
        if i < x.size:
            v = float64(x[i])
            cdf = 0.5 * (1.0 + math.erf(v * _INV_SQRT_2))
            pdf = _INV_SQRT_2PI * math.exp(-0.5 * v * v)
            gx[i] = float64(gy[i]) * (cdf + v * pdf)

    return forward, backward


def _kernels_v3():
    global _built_v3
    if _built_v3 is None:
        _built_v3 = _build_v3()
    return _built_v3


def _fits_v3(*arrays):
    # float32/float64 arrays of one type, dtype and shape (CuPy, or NumPy
    # under the simulator)
    x = arrays[0]
    return (x.dtype in (np.float32, np.float64)
            and all(type(a) is type(x) and a.dtype == x.dtype and a.shape == x.shape
                    for a in arrays))


def forward_cuda_v3(x):
    if not _fits_v3(x):
        return forward_ref(x)
    xp = get_array_module(x)
    y = xp.empty(x.shape, x.dtype)
    if x.size:
        launch(_kernels_v3()[0], x.size)(contiguous(x).reshape(-1), y.reshape(-1))
    return y


def backward_cuda_v3(x, gy):
    if not _fits_v3(x, gy):
        return backward_ref(x, gy)
    xp = get_array_module(x)
    gx = xp.empty(x.shape, x.dtype)
    if x.size:
        launch(_kernels_v3()[1], x.size)(contiguous(x).reshape(-1), contiguous(gy).reshape(-1),
                                         gx.reshape(-1))
    return gx


IMPLS = {
    "ref": Impl("ref", "any", forward=forward_ref, backward=backward_ref),
    "cpu_v1": Impl("cpu_v1", "cpu", numba_available,
                   forward=forward_cpu_v1, backward=backward_cpu_v1),
    "cpu_v2": Impl("cpu_v2", "cpu", numba_available,
                   forward=forward_cpu_v2, backward=backward_cpu_v2),
    "cuda_v3": Impl("cuda_v3", "cuda", numba_cuda_available,
                    forward=forward_cuda_v3, backward=backward_cuda_v3),
}


def select(x):
    """The version for array ``x``: ``cpu_v2`` on NumPy arrays (where Numba
    imports; float64 takes ``cpu_v1``'s loops), ``cuda_v3`` on CuPy arrays
    (``ref`` where Numba's CUDA kernels do not work), unless forced
    (``TINYNET_GELU_IMPL``, ``tinynet.kernels.use(gelu=...)``)."""
    from tinynet.kernels import pick
    return pick("gelu", IMPLS, x, cpu="cpu_v2", gpu="cuda_v3")


# ---------------------------------------------------------------- self-check
SHAPES = [(1,), (7, 3), (2, 3, 5), (32, 64, 256)]


def self_check_cases():
    """Every shape in float64 and float32, values out to the tails (|x| up
    to about 12, where Phi underflows to 0 or rounds to 1); the largest (a
    GPT seed MLP activation) is timed in float32."""
    cases = []
    for k, shape in enumerate(SHAPES):
        for dt in (np.float64, np.float32):
            rng = np.random.default_rng(k)
            x = (3 * rng.standard_normal(shape)).astype(dt)
            x.reshape(-1)[:1] = -12.0
            gy = rng.standard_normal(shape).astype(dt)
            cases.append(Case(f"{shape} {np.dtype(dt).name}", dict(x=x, gy=gy),
                              small=len(shape) < 3, timed=k == 3 and dt == np.float32))
    return cases


def _run(impl, d):
    return {"y": impl.forward(d["x"]), "gx": impl.backward(d["x"], d["gy"])}


def _tolerance(what, want):
    # ref rounds each of its steps to the array's dtype, cpu_v1 rounds once
    return (1e-12, 1e-12) if want.dtype == np.float64 else (1e-5, 1e-6)


def self_check(quick=False):
    """Check every version that runs here against ``ref``, then time them
    (``python -m tinynet.kernels.gelu [--quick]``); 0 if all match."""
    return check_and_time("gelu", IMPLS, _run, self_check_cases(), tolerance=_tolerance,
                          repeats=20, quick=quick)


if __name__ == "__main__":
    raise SystemExit(main(self_check))
