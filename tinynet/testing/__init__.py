"""Testing tools: a per-op harness, gradient checks and reference bundles.

The harness: one declaration checks an op from every side.
``OpCheck`` (or the one-call ``check_op``) takes a tinynet callable and a
reference, and checks, for each declared input case:

- forward outputs against the reference (a NumPy-level callable, or a stored
  ``.npz`` bundle with outputs *and* gradients, see ``write_bundle``);
- ``tn.gradcheck`` and ``tn.gradgradcheck`` in float64;
- float32 in, float32 out (outputs and gradients), close to the float64 result;
- non-contiguous inputs (transposed or strided views) give the same outputs
  and gradients as contiguous ones, and no input is modified in place;
- for ``elementwise=True`` ops, edge shapes are added automatically: 0-d,
  size-1 dims and broadcasting between inputs.

Every failure raises ``AssertionError`` naming the op, the case and what
differed. The library's own op tests use it; it is public so that users can
check their own Functions the same way::

    import numpy as np
    import tinynet as tn
    from tinynet.testing import check_op

    class Cube(tn.Function):
        def forward(self, x):
            return x * x * x
        def backward(self, gy):
            x, = self.inputs
            return 3 * x * x * gy

    check_op("cube", lambda x: Cube()(x), reference=lambda x: x ** 3,
             cases=[(2, 3), (4,)], elementwise=True)

A case is a tuple of input shapes (``((2, 3), (3,))`` for a binary op); a
single shape such as ``(2, 3)`` or ``()`` means one input. Use ``Case`` to add
keyword parameters (``Case(((2, 3),), params={"axis": 1})``) which are passed
to both ``fn`` and the reference.

The package's modules: ``harness`` (``Case``, ``OpCheck``, ``check_op``,
``as_case``, ``assert_arrays_close``), ``gradcheck`` (``gradcheck``,
``gradgradcheck``, ``GradcheckError``, and ``broadcast_axes`` and
``heat_map``, which its diagnosis uses) and ``reference`` (``write_bundle``,
``read_bundle``, ``projections``: stored reference outputs and gradients).
Every name in ``__all__`` is importable from ``tinynet.testing`` itself.
"""
from tinynet.testing.gradcheck import (GradcheckError, broadcast_axes, gradcheck,
                                       gradgradcheck, heat_map)
from tinynet.testing.harness import Case, OpCheck, as_case, assert_arrays_close, check_op
from tinynet.testing.reference import projections, read_bundle, write_bundle

__all__ = [
    # the per-op harness
    "Case", "OpCheck", "check_op", "as_case", "assert_arrays_close",
    # gradient checking (also tn.gradcheck, tn.gradgradcheck, tn.GradcheckError)
    "gradcheck", "gradgradcheck", "GradcheckError", "broadcast_axes", "heat_map",
    # reference bundles
    "write_bundle", "read_bundle", "projections",
]
