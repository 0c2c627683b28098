"""erf for GELU: NumPy has none, so it is a Numba-compiled ufunc on the CPU
(``math.erf``, correctly rounded to float64) and CuPy's on the GPU."""
import math

import numpy as np

_erf_ufunc = None


def _build_erf():
    from numba import vectorize

    @vectorize(["float32(float32)", "float64(float64)"], cache=True)
    def erf(x):
        return math.erf(x)
    return erf


def erf(x):
    """Elementwise error function of a NumPy or CuPy float array."""
    global _erf_ufunc
    if type(x).__module__.startswith("cupy"):
        from cupyx.scipy.special import erf as cupy_erf
        return cupy_erf(x)
    if _erf_ufunc is None:
        _erf_ufunc = _build_erf()
    if x.dtype not in (np.float32, np.float64):
        return _erf_ufunc(x.astype(np.float32)).astype(x.dtype)
    return _erf_ufunc(x)
