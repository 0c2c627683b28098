"""RMSprop's update of one parameter, in two versions.

    v = alpha * v + (1 - alpha) * g * g
    d = g / (sqrt(v) + eps)
    x = x - lr * d                          (momentum 0)
    b = momentum * b + d;  x = x - lr * b   (momentum > 0)

Centered, the denominator is ``sqrt(v - gbar^2) + eps`` with ``gbar`` the
running mean of ``g`` (same decay). ``tinynet/optim/rmsprop.py`` applies
weight decay and ``maximize`` to ``g`` first. ``v``, ``b``, ``gbar`` and
``x`` change in place.

- ``ref``: NumPy/CuPy in place with one scratch array, eight to ten passes.
- ``cpu_v1``: one Numba loop, each element read and written once, every
  constant in the parameter's dtype and the operations in ``ref``'s order,
  so the two give the same bits (as ``kernels/adam.py``).
- ``cuda_v2``: the same loops as Numba CUDA kernels, one thread per
  element, one launch per parameter; equal to ``ref`` to a few units in the
  last place (as ``kernels/adam.py``'s ``cuda_v2``).

``cpu_v1`` takes C-contiguous float32/float64 NumPy arrays of one dtype and
shape, ``cuda_v2`` the same as CuPy arrays (NumPy ones under the simulator),
both not centered; anything else runs ``ref``. ``python -m tinynet.kernels.rmsprop``
checks and times them.
"""
import math

import numpy as np

from tinynet.kernels._common import (Case, Impl, check_and_time, exact, few_ulps, launch, main,
                                     numba_available, numba_cuda_available, updates_in_place)


# ---------------------------------------------------------------- ref
def update_ref(x, g, v, alpha, eps, lr, buf=None, momentum=0.0, gbar=None):
    from tinynet.backend import get_array_module
    xp = get_array_module(x)
    v *= alpha
    tmp = xp.multiply(g, g, out=xp.empty_like(x))     # an array even when 0-d
    tmp *= 1.0 - alpha
    v += tmp
    if gbar is not None:                               # centered: the variance
        gbar *= alpha
        gbar += (1.0 - alpha) * g
        xp.multiply(gbar, gbar, out=tmp)
        xp.subtract(v, tmp, out=tmp)
        xp.sqrt(tmp, out=tmp)
    else:
        xp.sqrt(v, out=tmp)
    tmp += eps
    xp.divide(g, tmp, out=tmp)                         # the step direction before lr
    if buf is not None:
        buf *= momentum
        buf += tmp
        tmp = lr * buf
    else:
        tmp *= lr
    x -= tmp


# ---------------------------------------------------------------- cpu_v1
_built = None


def _build():
    numba_available()
    from numba import njit

    # error_model="numpy": division by zero gives inf or NaN as in NumPy, and
    # no Python division check stops LLVM from vectorising the loops
    @njit(nogil=True, cache=True, error_model="numpy")
    def plain(x, g, v, alpha, one_minus_alpha, eps, lr):
        for i in range(x.size):
            gi = g[i]
            vi = v[i] * alpha + (gi * gi) * one_minus_alpha
            v[i] = vi
            x[i] -= gi / (np.sqrt(vi) + eps) * lr

    @njit(nogil=True, cache=True, error_model="numpy")
    def with_momentum(x, g, v, b, alpha, one_minus_alpha, eps, lr, momentum):
        for i in range(x.size):
            gi = g[i]
            vi = v[i] * alpha + (gi * gi) * one_minus_alpha
            v[i] = vi
            bi = b[i] * momentum + gi / (np.sqrt(vi) + eps)
            b[i] = bi
            x[i] -= lr * bi

    return plain, with_momentum


def update_cpu_v1(x, g, v, alpha, eps, lr, buf=None, momentum=0.0, gbar=None):
    arrays = (g, v) if buf is None else (g, v, buf)
    if gbar is not None or not updates_in_place(x, *arrays):
        return update_ref(x, g, v, alpha, eps, lr, buf, momentum, gbar)
    global _built
    if _built is None:
        _built = _build()
    t = x.dtype.type      # NumPy computes `float32 array * python float` in float32
    flat = [a.reshape(-1) for a in (x,) + arrays]
    if buf is None:
        _built[0](*flat, t(alpha), t(1.0 - alpha), t(eps), t(lr))
    else:
        _built[1](*flat, t(alpha), t(1.0 - alpha), t(eps), t(lr), t(momentum))


# ---------------------------------------------------------------- cuda_v2
_v2 = {}             # dtype -> (plain, with_momentum)
cuda = None          # numba.cuda, imported on first use (the simulator patches this global)


def _build_v2():
    global cuda
    numba_available()
    from numba import cuda

    # the scalars come in the parameter's dtype, as in cpu_v1
    @cuda.jit
    def plain(x, g, v, alpha, one_minus_alpha, eps, lr):
        i = cuda.grid(1)
        if i < x.size:
            gi = g[i]
            vi = v[i] * alpha + (gi * gi) * one_minus_alpha
            v[i] = vi
            x[i] -= gi / (math.sqrt(vi) + eps) * lr

    @cuda.jit
    def with_momentum(x, g, v, b, alpha, one_minus_alpha, eps, lr, momentum):
        i = cuda.grid(1)
        if i < x.size:
            gi = g[i]
            vi = v[i] * alpha + (gi * gi) * one_minus_alpha
            v[i] = vi
            bi = b[i] * momentum + gi / (math.sqrt(vi) + eps)
            b[i] = bi
            x[i] -= lr * bi

    return plain, with_momentum


def update_cuda_v2(x, g, v, alpha, eps, lr, buf=None, momentum=0.0, gbar=None):
    arrays = (g, v) if buf is None else (g, v, buf)
    if gbar is not None or not x.size or not updates_in_place(x, *arrays, gpu=True):
        return update_ref(x, g, v, alpha, eps, lr, buf, momentum, gbar)
    kernels = _v2.get(x.dtype)
    if kernels is None:
        kernels = _v2[x.dtype] = _build_v2()
    t = x.dtype.type
    flat = [a.reshape(-1) for a in (x,) + arrays]
    if buf is None:
        launch(kernels[0], x.size)(*flat, t(alpha), t(1.0 - alpha), t(eps), t(lr))
    else:
        launch(kernels[1], x.size)(*flat, t(alpha), t(1.0 - alpha), t(eps), t(lr),
                                   t(momentum))


IMPLS = {
    "ref": Impl("ref", "any", update=update_ref),
    "cpu_v1": Impl("cpu_v1", "cpu", numba_available, update=update_cpu_v1),
    "cuda_v2": Impl("cuda_v2", "cuda", numba_cuda_available, update=update_cuda_v2),
}


def select(x):
    """``cpu_v1`` on NumPy arrays where Numba imports, ``cuda_v2`` on CuPy
    arrays where Numba's CUDA kernels work (else ``ref``), unless forced
    (``TINYNET_RMSPROP_IMPL``, ``tinynet.kernels.use(rmsprop=...)``)."""
    from tinynet.kernels import pick
    return pick("rmsprop", IMPLS, x, cpu="cpu_v1", gpu="cuda_v2")


# ---------------------------------------------------------------- self-check
SHAPES = [(1,), (3, 5), (512, 1600)]


def self_check_cases():
    """Each shape in float64 and float32, without and with momentum; the
    largest (the seed CNN's dense layer) is timed in float32 without."""
    cases = []
    for k, shape in enumerate(SHAPES):
        for dt in (np.float64, np.float32):
            for momentum in (0.0, 0.9):
                rng = np.random.default_rng(k)
                r = lambda: rng.standard_normal(shape).astype(dt)  # noqa: E731
                cases.append(Case(f"{shape} {np.dtype(dt).name} momentum {momentum}",
                                  dict(x=r(), g=r(), v=np.abs(r()) * 0.01, b=r() * 0.1,
                                       momentum=momentum),
                                  small=k < 2, timed=k == 2 and dt == np.float32
                                  and momentum == 0.0))
    return cases


def _run(impl, d):
    x, v = d["x"].copy(), d["v"].copy()
    b = d["b"].copy() if d["momentum"] else None
    impl.update(x, d["g"], v, 0.99, 1e-8, 1e-2, b, d["momentum"])
    out = {"x": x, "v": v}
    if b is not None:
        out["b"] = b
    return out


def self_check(quick=False):
    """Check every version that runs here against ``ref`` (``cpu_v1`` exactly,
    ``cuda_v2`` to a few ulps), then time them (``python -m
    tinynet.kernels.rmsprop [--quick]``); 0 if all match."""
    return check_and_time("rmsprop", IMPLS, _run, self_check_cases(),
                          tolerance={"*": exact, "cuda_v2": few_ulps},
                          step_name="update (with the copies of x, v)", repeats=20,
                          quick=quick)


if __name__ == "__main__":
    raise SystemExit(main(self_check))
