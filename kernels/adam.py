"""Adam's update of one parameter, in two versions.

    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    x = x - step * m / (sqrt(v) / bias2 + eps)

with ``step = lr / (1 - beta1**t)`` and ``bias2 = sqrt(1 - beta2**t)``
(``tinynet/optim/adam.py`` computes both, weight decay and ``maximize`` are
applied to ``x`` and ``g`` before this). ``m``, ``v`` and ``x`` change in
place.

- ``ref``: NumPy/CuPy in place, one scratch array: eleven passes over the
  parameter, each a ufunc call.
- ``cpu_v1``: one Numba loop, each element read and written once. Every
  constant is cast to the parameter's dtype and the operations run in the
  order of ``ref``, so the two give the same bits (the self-check and
  tests/kernels/test_adam_kernel.py compare them exactly). A small model's
  step (the MLP benchmark: 100 000 weights) spent a third of its time in
  ``ref``'s passes.
- ``cuda_v2``: the same loop body as a Numba CUDA kernel, one thread per
  element: one launch per parameter where ``ref`` makes eleven. On a GPU
  a training step of a small model is mostly launches (docs/gpu.md). The
  GPU rounds the square root and fused multiply-adds its own way, so it
  matches ``ref`` to a few units in the last place, not bit for bit.

``cpu_v1`` takes C-contiguous float32/float64 NumPy arrays of one dtype and
shape, ``cuda_v2`` the same as CuPy arrays (NumPy ones under the simulator),
both without AMSGrad; anything else runs ``ref``. ``python -m tinynet.kernels.adam``
checks and times them.
"""
import math

import numpy as np

from tinynet.kernels._common import (Case, Impl, check_and_time, exact, few_ulps, launch, main,
                                     numba_available, numba_cuda_available, updates_in_place)


# ---------------------------------------------------------------- ref
def update_ref(x, g, m, v, beta1, beta2, eps, step, bias2, vmax=None):
    """The update in place; with ``vmax`` (AMSGrad) the denominator uses the
    running maximum of ``v``, kept in ``vmax``."""
    from tinynet.backend import get_array_module
    xp = get_array_module(x)
    # One scratch array `tmp` serves every intermediate below (allocated
    # explicitly: on 0-d inputs a ufunc without `out` returns a scalar).
    tmp = xp.multiply(g, 1.0 - beta1, out=xp.empty_like(x))
    m *= beta1
    m += tmp
    xp.multiply(g, g, out=tmp)
    tmp *= 1.0 - beta2
    v *= beta2
    v += tmp
    if vmax is not None:
        v = xp.maximum(vmax, v, out=vmax)
    xp.sqrt(v, out=tmp)
    tmp /= bias2
    tmp += eps
    xp.divide(m, tmp, out=tmp)
    tmp *= step
    x -= tmp


# ---------------------------------------------------------------- cpu_v1
_built = None


def _build():
    numba_available()
    from numba import njit

    # error_model="numpy": a division by zero gives inf as in NumPy, and no
    # Python division check stops LLVM from vectorising the loop
    @njit(nogil=True, cache=True, error_model="numpy")
    def update(x, g, m, v, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, step, bias2):
        for i in range(x.size):
            gi = g[i]
            mi = m[i] * beta1 + gi * one_minus_beta1
            vi = v[i] * beta2 + (gi * gi) * one_minus_beta2
            m[i] = mi
            v[i] = vi
            x[i] -= mi / (np.sqrt(vi) / bias2 + eps) * step

    return update


def update_cpu_v1(x, g, m, v, beta1, beta2, eps, step, bias2, vmax=None):
    if vmax is not None or not updates_in_place(x, g, m, v):
        return update_ref(x, g, m, v, beta1, beta2, eps, step, bias2, vmax)
    global _built
    if _built is None:
        _built = _build()
    t = x.dtype.type      # NumPy computes `float32 array * python float` in float32
    _built(x.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), t(beta1),
           t(1.0 - beta1), t(beta2), t(1.0 - beta2), t(eps), t(step), t(bias2))


# ---------------------------------------------------------------- cuda_v2
_v2 = {}             # dtype -> kernel
cuda = None          # numba.cuda, imported on first use (the simulator patches this global)


def _build_v2():
    global cuda
    numba_available()
    from numba import cuda

    # The scalars come in the parameter's dtype (see update_cuda_v2), so a
    # float32 parameter's update runs in float32 as in ref.
    @cuda.jit
    def update(x, g, m, v, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, step, bias2):
        i = cuda.grid(1)
        if i < x.size:
            gi = g[i]
            mi = m[i] * beta1 + gi * one_minus_beta1
            vi = v[i] * beta2 + (gi * gi) * one_minus_beta2
            m[i] = mi
            v[i] = vi
            x[i] -= mi / (math.sqrt(vi) / bias2 + eps) * step

    return update


def update_cuda_v2(x, g, m, v, beta1, beta2, eps, step, bias2, vmax=None):
    if vmax is not None or not x.size or not updates_in_place(x, g, m, v, gpu=True):
        return update_ref(x, g, m, v, beta1, beta2, eps, step, bias2, vmax)
    kernel = _v2.get(x.dtype)
    if kernel is None:
        kernel = _v2[x.dtype] = _build_v2()
    t = x.dtype.type
    launch(kernel, x.size)(x.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
                           t(beta1), t(1.0 - beta1), t(beta2), t(1.0 - beta2), t(eps),
                           t(step), t(bias2))


IMPLS = {
    "ref": Impl("ref", "any", update=update_ref),
    "cpu_v1": Impl("cpu_v1", "cpu", numba_available, update=update_cpu_v1),
    "cuda_v2": Impl("cuda_v2", "cuda", numba_cuda_available, update=update_cuda_v2),
}


def select(x):
    """``cpu_v1`` on NumPy arrays where Numba imports, ``cuda_v2`` on CuPy
    arrays where Numba's CUDA kernels work (else ``ref``), unless forced
    (``TINYNET_ADAM_IMPL``, ``tinynet.kernels.use(adam=...)``)."""
    from tinynet.kernels import pick
    return pick("adam", IMPLS, x, cpu="cpu_v1", gpu="cuda_v2")


# ---------------------------------------------------------------- self-check
SHAPES = [(1,), (3, 5), (784, 128), (512, 1600)]


def self_check_cases():
    """Each shape in float64 and float32, at step 1 and at step 1000; the
    largest (the seed CNN's dense layer) is timed in float32."""
    cases = []
    for k, shape in enumerate(SHAPES):
        for dt in (np.float64, np.float32):
            for t in (1, 1000):
                rng = np.random.default_rng(k)
                r = lambda: rng.standard_normal(shape).astype(dt)  # noqa: E731
                cases.append(Case(f"{shape} {np.dtype(dt).name} step {t}",
                                  dict(x=r(), g=r(), m=r() * 0.1, v=np.abs(r()) * 0.01, t=t),
                                  small=k < 2, timed=k == 3 and dt == np.float32 and t == 1))
    return cases


def _run(impl, d):
    x, m, v = d["x"].copy(), d["m"].copy(), d["v"].copy()
    beta1, beta2, t = 0.9, 0.999, d["t"]
    impl.update(x, d["g"], m, v, beta1, beta2, 1e-8, 1e-3 / (1 - beta1 ** t),
                math.sqrt(1 - beta2 ** t))
    return {"x": x, "m": m, "v": v}


def self_check(quick=False):
    """Check every version that runs here against ``ref`` (``cpu_v1`` exactly,
    ``cuda_v2`` to a few ulps), then time them (``python -m
    tinynet.kernels.adam [--quick]``); 0 if all match."""
    return check_and_time("adam", IMPLS, _run, self_check_cases(),
                          tolerance={"*": exact, "cuda_v2": few_ulps},
                          step_name="update (with the copies of x, m, v)", repeats=20,
                          quick=quick)


if __name__ == "__main__":
    raise SystemExit(main(self_check))
