"""The per-op harness: ``Case``, ``OpCheck`` and ``check_op``.

What ``OpCheck`` checks and how a case is declared is described in the
docstring of ``tinynet.testing``; this module holds the code.
"""
import zlib
from dataclasses import dataclass, field

import numpy as np

from tinynet.autograd import grad as autograd_grad
from tinynet.tensor import Tensor
from tinynet.testing.gradcheck import GradcheckError, gradcheck, gradgradcheck
from tinynet.testing.reference import read_bundle

__all__ = ["Case", "OpCheck", "check_op", "as_case", "assert_arrays_close"]


@dataclass(frozen=True)
class Case:
    """Input shapes (one per tensor input) plus keyword parameters for the op."""
    shapes: tuple
    params: dict = field(default_factory=dict)
    id: str = ""

    def __post_init__(self):
        shapes = tuple(tuple(s) for s in self.shapes)
        object.__setattr__(self, "shapes", shapes)
        if not self.id:
            text = ",".join("x".join(map(str, s)) or "0d" for s in shapes)
            if self.params:
                text += "-" + "-".join(f"{k}={_short(v)}" for k, v in self.params.items())
            object.__setattr__(self, "id", text)


def _short(v):
    if isinstance(v, np.ndarray):
        return f"array{v.shape}"
    return str(v).replace(" ", "")


def as_case(case):
    """A ``Case`` from a Case, a tuple of shapes, or one shape of ints."""
    if isinstance(case, Case):
        return case
    case = tuple(case)
    if all(isinstance(d, (int, np.integer)) for d in case):
        return Case((case,))                 # one shape: a single-input op
    return Case(case)


def _elementwise_edges(n_inputs):
    """0-d, size-1 dims and broadcasting for an n-input elementwise op."""
    edges = [Case(((),) * n_inputs), Case(((1, 1),) * n_inputs)]
    if n_inputs == 1:
        edges.append(Case(((1, 3, 1),)))
    else:
        for k in range(n_inputs):
            # input k broadcasts against the others in two directions
            shapes = [(2, 1, 3)] * n_inputs
            shapes[k] = (4, 1)
            edges.append(Case(tuple(shapes)))
            shapes = [(2, 3)] * n_inputs
            shapes[k] = ()
            edges.append(Case(tuple(shapes)))
    return edges


def _outputs(result):
    out = result if isinstance(result, (tuple, list)) else (result,)
    return [o for o in out if isinstance(o, Tensor)]


def assert_arrays_close(actual, expected, atol, rtol, what):
    """Raise AssertionError unless two arrays are close, naming the worst element.

    Shapes must match; integer and boolean arrays must be equal; float arrays
    pass ``np.isclose(actual, expected, atol=atol, rtol=rtol, equal_nan=True)``
    everywhere (compared in float64). ``what`` starts the message, e.g.
    ``"relu output 0"``.
    """
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape {actual.shape}, expected {expected.shape}")
    if actual.dtype.kind in "biu" or expected.dtype.kind in "biu":
        if not np.array_equal(actual, expected):
            bad = np.argwhere(actual != expected)[0]
            raise AssertionError(f"{what}: differs at index {tuple(bad)}: got "
                                 f"{actual[tuple(bad)]}, expected {expected[tuple(bad)]}")
        return
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    ok = np.isclose(a, e, atol=atol, rtol=rtol, equal_nan=True)
    if not ok.all():
        diff = np.where(ok, 0.0, np.abs(a - e))
        diff = np.where(np.isnan(diff), np.inf, diff)
        worst = np.unravel_index(np.argmax(diff), diff.shape) if diff.ndim else ()
        raise AssertionError(
            f"{what}: {int((~ok).sum())} of {ok.size} elements differ (atol={atol:g}, "
            f"rtol={rtol:g}); worst at index {tuple(int(i) for i in worst)}: got "
            f"{float(a[worst]):.10g}, expected {float(e[worst]):.10g} "
            f"(|diff| {float(np.abs(a - e)[worst]):.3g})")


def _non_contiguous(a):
    """The same values as ``a`` in a non-contiguous array (a transposed copy
    viewed back for 2+ dims, every other element of a larger buffer for 1-D)."""
    if a.ndim >= 2 and a.shape[-1] > 1 and a.shape[-2] > 1:
        v = np.ascontiguousarray(a.swapaxes(-1, -2)).swapaxes(-1, -2)
    else:
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        big[..., ::2] = a
        v = big[..., ::2]
    assert not v.flags.c_contiguous and np.array_equal(v, a)
    return v


def _reported(check):
    """Turn any exception inside a check into an AssertionError that names
    the op, the case and the check (the original stays as __cause__)."""
    import functools

    @functools.wraps(check)
    def wrapper(self, case, *args):
        case = as_case(case)
        try:
            return check(self, case, *args)
        except AssertionError:
            raise
        except Exception as e:
            what = check.__name__.replace("check_", "")
            raise AssertionError(f"{self._where(case, what)} raised "
                                 f"{type(e).__name__}: {e}") from e
    return wrapper


class OpCheck:
    """Declaration of one op and the checks it must pass (see module docstring).

    Args:
        name: the op's name, used in every failure message.
        fn: tinynet callable ``fn(*tensors, **params)`` returning a Tensor or
            a tuple of Tensors.
        reference: ``reference(*arrays, **params)`` returning the expected
            array(s) (float64 arrays in, NumPy arrays out), or the path of a
            bundle written by ``write_bundle`` (its stored inputs, outputs and
            gradients are used), or None for no forward comparison.
        cases: input cases (see ``as_case``).
        domain: ``(lo, hi)`` for uniform inputs, or one pair per input.
        grad, gradgrad: run gradcheck / gradgradcheck.
        grad_inputs: indices of the inputs that require grad (default: all).
        kinks: points where ``fn`` is not differentiable (0 for relu/abs);
            inputs closer than 0.05 to one are moved 0.1 away so that finite
            differences never straddle a kink.
        elementwise: add 0-d, size-1 and broadcasting cases automatically.
        make_inputs: optional ``make_inputs(case, rng) -> list of float64
            arrays`` replacing the uniform draw (for ties, zeros, large values).
    """

    def __init__(self, name, fn, reference=None, cases=((2, 3),), domain=(-2.0, 2.0),
                 grad=True, gradgrad=True, grad_inputs=None, kinks=(), elementwise=False,
                 make_inputs=None, atol=1e-6, rtol=1e-5, grad_atol=1e-5, grad_rtol=1e-3,
                 float32_atol=1e-4, float32_rtol=1e-3, noncontiguous=True, seed=0):
        self.name, self.fn, self.reference = name, fn, reference
        self.declared = [as_case(c) for c in cases]
        if not self.declared:
            raise ValueError(f"OpCheck {name}: needs at least one case")
        self.domain, self.kinks = domain, tuple(kinks)
        self.grad, self.gradgrad = grad, gradgrad
        self.grad_inputs, self.elementwise = grad_inputs, elementwise
        self.make_inputs = make_inputs
        self.atol, self.rtol = atol, rtol
        self.grad_atol, self.grad_rtol = grad_atol, grad_rtol
        self.float32_atol, self.float32_rtol = float32_atol, float32_rtol
        self.noncontiguous, self.seed = noncontiguous, seed

    # ------------------------------------------------------------ cases and inputs
    @property
    def cases(self):
        """Declared cases plus, for elementwise ops, the automatic edge cases."""
        cases = list(self.declared)
        if self.elementwise:
            n = len(self.declared[0].shapes)
            known = {c.id for c in cases}
            cases += [c for c in _elementwise_edges(n) if c.id not in known]
        return cases

    def _domain(self, k):
        d = self.domain
        return d[k] if isinstance(d[0], (tuple, list)) else d

    def inputs(self, case):
        """Deterministic float64 input arrays for ``case`` (seeded by its id)."""
        case = as_case(case)
        rng = np.random.default_rng([self.seed, zlib.crc32(f"{self.name}/{case.id}".encode())])
        if self.make_inputs is not None:
            return [np.asarray(a, dtype=np.float64) for a in self.make_inputs(case, rng)]
        arrays = []
        for k, shape in enumerate(case.shapes):
            lo, hi = self._domain(k)
            a = rng.uniform(lo, hi, shape)
            for p in self.kinks:
                near = np.abs(a - p) < 0.05
                a = np.where(near, a + np.where(a >= p, 0.1, -0.1), a)
            arrays.append(np.asarray(a, dtype=np.float64))
        return arrays

    def wants_grad(self, k):
        """Does input ``k`` require grad in these checks?"""
        return self.grad_inputs is None or k in self.grad_inputs

    def _tensors(self, arrays, requires_grad=True):
        return [Tensor._wrap(a, requires_grad=requires_grad and self.wants_grad(k)
                       and a.dtype.kind == "f")
                for k, a in enumerate(arrays)]

    def _call(self, tensors, case):
        return _outputs(self.fn(*tensors, **case.params))

    def _where(self, case, check):
        return f"{self.name}[{case.id}] {check}"

    # ------------------------------------------------------------ the checks
    @_reported
    def check_forward(self, case):
        """Outputs equal the reference's on float64 inputs."""
        case = as_case(case)
        if self.reference is None or not callable(self.reference):
            return
        arrays = self.inputs(case)
        outs = self._call(self._tensors(arrays, requires_grad=False), case)
        expected = self.reference(*[a.copy() for a in arrays], **case.params)
        expected = list(expected) if isinstance(expected, (tuple, list)) else [expected]
        if len(outs) != len(expected):
            raise AssertionError(f"{self._where(case, 'forward')}: {len(outs)} outputs, "
                                 f"the reference gives {len(expected)}")
        for i, (o, e) in enumerate(zip(outs, expected)):
            assert_arrays_close(o.numpy(), e, self.atol, self.rtol,
                                self._where(case, f"forward output {i}"))

    def _gradcheck(self, case, checker, what):
        arrays = self.inputs(case)
        tensors = self._tensors(arrays)
        if not any(t.requires_grad for t in tensors):
            return
        try:
            checker(lambda *xs: self.fn(*xs, **case.params), tuple(tensors),
                    atol=self.grad_atol, rtol=self.grad_rtol)
        except GradcheckError as e:
            raise AssertionError(f"{self._where(case, what)} failed:\n{e}") from None

    @_reported
    def check_gradcheck(self, case):
        """First derivatives match central finite differences (float64)."""
        if self.grad:
            self._gradcheck(as_case(case), gradcheck, "gradcheck")

    @_reported
    def check_gradgradcheck(self, case):
        """Second derivatives (backward of backward) match finite differences."""
        if self.grad and self.gradgrad:
            self._gradcheck(as_case(case), gradgradcheck, "gradgradcheck")

    def _forward_backward(self, arrays, case):
        """Outputs and gradients of sum(w_i * output_i) for fixed weights w_i."""
        tensors = self._tensors(arrays, requires_grad=self.grad)
        outs = self._call(tensors, case)
        values = [o.numpy().copy() for o in outs]
        grads = [None] * len(tensors)
        wanted = [t for t in tensors if t.requires_grad]
        diff_outs = [o for o in outs if o.requires_grad]
        if wanted and diff_outs:
            rng = np.random.default_rng(1)
            weights = [Tensor._wrap(rng.standard_normal(o.shape).astype(o.dtype)) for o in diff_outs]
            gs = iter(autograd_grad(diff_outs, wanted, grad_outputs=weights,
                                    allow_unused=True))
            grads = [next(gs) if t.requires_grad else None for t in tensors]
            grads = [None if g is None else g.numpy().copy() for g in grads]
        return values, grads

    @_reported
    def check_float32(self, case):
        """float32 inputs give float32 outputs and gradients, close to float64."""
        case = as_case(case)
        arrays = self.inputs(case)
        ref_vals, ref_grads = self._forward_backward(arrays, case)
        vals, grads = self._forward_backward([a.astype(np.float32) for a in arrays], case)
        for i, (v, r) in enumerate(zip(vals, ref_vals)):
            if r.dtype.kind == "f" and v.dtype != np.float32:
                raise AssertionError(f"{self._where(case, 'float32')}: output {i} has dtype "
                                     f"{v.dtype}, expected float32 (no silent promotion)")
            assert_arrays_close(v, r, self.float32_atol, self.float32_rtol,
                                self._where(case, f"float32 output {i} vs float64"))
        for k, (g, r) in enumerate(zip(grads, ref_grads)):
            if g is None:
                continue
            if g.dtype != np.float32:
                raise AssertionError(f"{self._where(case, 'float32')}: gradient of input {k} "
                                     f"has dtype {g.dtype}, expected float32")
            assert_arrays_close(g, r, self.float32_atol, self.float32_rtol,
                                self._where(case, f"float32 gradient of input {k} vs float64"))

    @_reported
    def check_noncontiguous(self, case):
        """Strided/transposed inputs give the contiguous results; inputs unchanged."""
        case = as_case(case)
        arrays = self.inputs(case)
        views = [(_non_contiguous(a) if a.size > 1 else a) for a in arrays]
        if not self.noncontiguous or all(v is a for v, a in zip(views, arrays)):
            return
        before = [v.copy() for v in views]
        ref_vals, ref_grads = self._forward_backward(arrays, case)
        vals, grads = self._forward_backward(views, case)
        for k, (v, b) in enumerate(zip(views, before)):
            if not np.array_equal(v, b, equal_nan=True):
                raise AssertionError(f"{self._where(case, 'inputs')}: input {k} was "
                                     "modified in place by the op or its backward")
        for i, (v, r) in enumerate(zip(vals, ref_vals)):
            assert_arrays_close(v, r, 1e-12, 1e-10, self._where(
                case, f"non-contiguous output {i} vs contiguous"))
        for k, (g, r) in enumerate(zip(grads, ref_grads)):
            if r is not None:
                assert_arrays_close(g, r, 1e-12, 1e-10, self._where(
                    case, f"non-contiguous gradient of input {k} vs contiguous"))

    CHECKS = ("forward", "gradcheck", "gradgradcheck", "float32", "noncontiguous")

    def check_case(self, case, checks=CHECKS):
        for c in checks:
            getattr(self, f"check_{c}")(case)

    def check_bundle(self, path_or_bundle):
        """Outputs and gradients equal those stored in a reference bundle."""
        bundle = (read_bundle(path_or_bundle) if not isinstance(path_or_bundle, dict)
                  else path_or_bundle)
        tol = bundle["meta"].get("tolerance", {})
        atol, rtol = tol.get("atol", self.atol), tol.get("rtol", self.rtol)
        for k, stored in enumerate(bundle["cases"]):
            case = Case(tuple(a.shape for a in stored["inputs"]), stored["params"],
                        id=f"bundle-case{k}")
            vals, grads = self._forward_with(stored, case)
            where = f"{self.name}[{case.id}] vs bundle ({bundle['meta'].get('source', '?')})"
            if len(vals) != len(stored["outputs"]):
                raise AssertionError(f"{where}: {len(vals)} outputs, the bundle has "
                                     f"{len(stored['outputs'])}")
            for i, (v, e) in enumerate(zip(vals, stored["outputs"])):
                assert_arrays_close(v, e, atol, rtol, f"{where} output {i}")
            for j, e in enumerate(stored["grads"]):
                if e is not None:
                    if grads[j] is None:
                        raise AssertionError(f"{where}: no gradient for input {j}")
                    assert_arrays_close(grads[j], e, atol, rtol,
                                        f"{where} gradient of input {j}")

    def _forward_with(self, stored, case):
        """Gradients of sum(w * out) with the bundle's stored weights."""
        tensors = [Tensor._wrap(a.copy(), requires_grad=g is not None)
                   for a, g in zip(stored["inputs"], stored["grads"])]
        outs = self._call(tensors, case)
        values = [o.numpy().copy() for o in outs]
        wanted = [t for t in tensors if t.requires_grad]
        grads = [None] * len(tensors)
        if wanted:
            diff = [(o, w) for o, w in zip(outs, stored["weights"]) if w is not None]
            gs = iter(autograd_grad([o for o, _ in diff], wanted,
                                    grad_outputs=[Tensor._wrap(w) for _, w in diff],
                                    allow_unused=True))
            grads = [None if not t.requires_grad else next(gs) for t in tensors]
            grads = [None if g is None else g.numpy() for g in grads]
        return values, grads

    def check(self):
        """Run every check on every case (a bundle reference is checked too)."""
        if self.reference is not None and not callable(self.reference):
            self.check_bundle(self.reference)
        for case in self.cases:
            self.check_case(case)


def check_op(name, fn, reference=None, cases=((2, 3),), **options):
    """Declare and run an ``OpCheck`` in one call; raises AssertionError on failure."""
    OpCheck(name, fn, reference=reference, cases=cases, **options).check()
