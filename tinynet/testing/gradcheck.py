"""gradcheck and gradgradcheck: compare backward with finite differences.

``gradcheck(fn, inputs)`` builds two Jacobians for every (output i, input j)
pair with ``requires_grad``: a numerical one by central differences,
``(fn(x + eps) - fn(x - eps)) / 2eps`` one input element at a time, and an
analytical one by backward passes with one-hot ``grad_outputs``. Rows are
input elements, columns output elements, as in PyTorch. It also checks that
backward scales with ``grad_output`` and that two backward passes agree.

On a mismatch it raises ``GradcheckError`` naming output i and input j,
eps/atol/rtol, the worst elements and a likely cause where one is detectable.
``verbose=True`` also prints a compact report: which input elements are
wrong, a text heat map of numerical - analytical over the input, and the
diagnosis. The diagnosis tests the mismatch against the classic backward bugs
(wrong sign, a missing sum over a broadcast axis, a wrong transpose, a
backward that ignores grad_output, a constant factor) by comparing
vector-Jacobian products: for a fixed random grad_output ``v``,
``analytical @ v`` is compared with what each bug would produce from the
numerical Jacobian.
"""
import ast
import re
import warnings

import numpy as np

from tinynet.autograd import enable_grad, grad as autograd_grad, no_grad
from tinynet.tensor import Tensor

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck", "broadcast_axes", "heat_map"]


class GradcheckError(RuntimeError):
    """Raised by gradcheck / gradgradcheck when gradients do not match.

    Besides the message it carries ``output_index`` and ``input_index`` (the
    pair that failed, or None), ``hints`` (the likely causes found, as
    strings; empty when none was recognised) and ``report`` (the compact text
    that ``verbose=True`` prints).
    """

    def __init__(self, msg, output_index=None, input_index=None, hints=(), report=None):
        super().__init__(msg)
        self.output_index = output_index
        self.input_index = input_index
        self.hints = list(hints)
        self.report = report


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _prepare(inputs, op):
    """float64 copies of the float Tensor inputs (gradcheck never touches the
    caller's tensors); other arguments pass through unchanged."""
    prepared, promoted = [], []
    for j, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.dtype.kind == "f":
            if x.dtype != np.float64:
                promoted.append(j)
            data = x.numpy()               # host copy for CuPy tensors
            data = np.array(data, dtype=np.float64, order="C", copy=True)
            prepared.append(Tensor._wrap(data, requires_grad=x.requires_grad))
        else:
            prepared.append(x)
    if promoted:
        warnings.warn(f"{op}: input(s) {promoted} are not float64; they were promoted to "
                      "float64 copies (finite differences in float32 are too noisy to "
                      "check anything)", stacklevel=3)
    return prepared, promoted


def _outputs(fn, args):
    out = _as_tuple(fn(*args))
    return [o for o in out if isinstance(o, Tensor)]


def _numerical(fn, args, j, eps, n_out_elems):
    """d(outputs)/d(args[j]) by central differences: one (n_in, n_out) block
    per output."""
    x = args[j]
    flat = x.array.reshape(-1)               # a view: x.array is contiguous
    jac = [np.zeros((flat.size, m)) for m in n_out_elems]
    # np.array copies: an output may share memory with the input (fn = identity,
    # or a backward returning gy itself), and the next nudge would change it
    with no_grad():
        for k in range(flat.size):
            orig = flat[k]
            # copies: an output may be a view of the input being perturbed
            # (reshape, getitem, a gradient that is grad_output itself)
            flat[k] = orig + eps
            plus = [np.array(o.array, dtype=np.float64).reshape(-1) for o in _outputs(fn, args)]
            flat[k] = orig - eps
            minus = [np.array(o.array, dtype=np.float64).reshape(-1) for o in _outputs(fn, args)]
            flat[k] = orig
            for i in range(len(jac)):
                jac[i][k] = (plus[i] - minus[i]) / (2 * eps)
    return jac


def _one_sided(fn, args, j, k, i, m, eps):
    """Left and right difference quotients of output i element m w.r.t.
    input j element k (to spot kinks)."""
    flat = args[j].array.reshape(-1)
    orig = flat[k]
    vals = []
    with no_grad():
        for d in (-eps, 0.0, eps):
            flat[k] = orig + d
            vals.append(float(np.asarray(_outputs(fn, args)[i].array).reshape(-1)[m]))
        flat[k] = orig
    return (vals[1] - vals[0]) / eps, (vals[2] - vals[1]) / eps


def _central(fn, args, j, k, i, m, eps):
    flat = args[j].array.reshape(-1)
    orig = flat[k]
    with no_grad():
        flat[k] = orig + eps
        plus = float(np.asarray(_outputs(fn, args)[i].array).reshape(-1)[m])
        flat[k] = orig - eps
        minus = float(np.asarray(_outputs(fn, args)[i].array).reshape(-1)[m])
        flat[k] = orig
    return (plus - minus) / (2 * eps)


def _analytical(outputs, diff_inputs, i, gy):
    """Gradients of output i, contracted with ``gy``, w.r.t. the inputs."""
    y = outputs[i]
    if not y.requires_grad:
        return [np.zeros(x.shape) for x in diff_inputs]
    grads = autograd_grad(y, diff_inputs, grad_outputs=Tensor._wrap(gy), retain_graph=True,
                          allow_unused=True)
    return [np.zeros(x.shape) if g is None else np.asarray(g.numpy(), dtype=np.float64)
            for g, x in zip(grads, diff_inputs)]


def _analytical_jacobian(outputs, diff_inputs, i):
    y = outputs[i]
    jac = [np.zeros((x.numel(), y.numel())) for x in diff_inputs]
    for m in range(y.numel()):
        gy = np.zeros(y.shape, dtype=y.dtype)
        gy.reshape(-1)[m] = 1
        for jj, g in enumerate(_analytical(outputs, diff_inputs, i, gy)):
            jac[jj][:, m] = g.reshape(-1)
    return jac


def _fmt_index(flat_index, shape):
    if not shape:
        return "[]"
    return "[" + ", ".join(str(int(v)) for v in np.unravel_index(flat_index, shape)) + "]"


def _fail(msg, raise_exception, verbose=False, report=None, **info):
    if verbose:
        print(report if report is not None else msg)
    if raise_exception:
        raise GradcheckError(msg, report=report, **info)
    return False


# A gradient of the wrong shape is stopped by the autograd engine before
# gradcheck sees any number; this reads that error to say which bug made it.
_SHAPE_ERROR = re.compile(
    r"(?P<op>\w+)\.backward returned a gradient of shape (?P<g>\([\d, ]*\)) for input "
    r"(?P<k>\d+) of shape (?P<x>\([\d, ]*\))")


def _shape_error_hint(op, g_shape, x_shape):
    """The likely bug behind a backward that returned shape ``g_shape`` for
    an input of shape ``x_shape``, or None."""
    axes = broadcast_axes(x_shape, g_shape)
    if axes:
        return (f"looks like a missing sum over {_axes_words(axes)}: the input was "
                f"broadcast to {g_shape} in forward, so {op}.backward must sum its "
                f"gradient back down, e.g. sum_to(g, {x_shape})")
    if len(g_shape) == len(x_shape) and sorted(g_shape) == sorted(x_shape):
        return (f"looks like a wrong transpose: the gradient has the input's sizes in "
                f"another order ({g_shape} for {x_shape}); check which operand of "
                f"{op}.backward needs a .T")
    if broadcast_axes(g_shape, x_shape):
        return (f"the gradient {g_shape} is smaller than the input {x_shape}: "
                f"{op}.backward reduced over an axis the input has")
    return None


def _checked(call, verbose, *args):
    """Run an analytical gradient computation; the engine's wrong-shape error
    gets the likely cause added. It stays a plain RuntimeError (backward
    crashed, nothing was compared), with the hints in ``.hints``."""
    try:
        return call(*args)
    except GradcheckError:
        raise
    except RuntimeError as e:
        match = _SHAPE_ERROR.search(str(e))
        if match is None:
            raise
        g_shape, x_shape = ast.literal_eval(match["g"]), ast.literal_eval(match["x"])
        hint = _shape_error_hint(match["op"], g_shape, x_shape)
        if hint is None:
            raise
        msg = f"{e}\n  likely cause: {hint}"
        if verbose:
            print(f"gradcheck failed: {msg}")
        err = RuntimeError(msg)
        err.hints = [hint]
        raise err from e


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              nondet_tol=0.0, verbose=False):
    """Check the backward of ``fn`` at ``inputs`` against finite differences.

    ``inputs`` is a Tensor or a tuple of arguments; Tensors with
    ``requires_grad=True`` are checked. Returns True, or raises
    ``GradcheckError`` (returns False with ``raise_exception=False``).
    With ``verbose=True`` a short report is printed for every checked
    (output, input) pair, and on a mismatch a report with the wrong elements,
    a heat map of numerical - analytical and the likely cause.
    """
    args, promoted = _prepare(_as_tuple(inputs), "gradcheck")
    diff_idx = [j for j, x in enumerate(args) if isinstance(x, Tensor) and x.requires_grad]
    if not diff_idx:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is nothing "
                         "to check; create the inputs with requires_grad=True")
    diff_inputs = [args[j] for j in diff_idx]
    outputs = _outputs(fn, args)
    if not outputs:
        raise ValueError("gradcheck: fn returned no Tensor")
    out_sizes = [o.numel() for o in outputs]

    for i, y in enumerate(outputs):
        if y.requires_grad and y.dtype.kind not in "fc":
            return _fail(f"gradcheck: output {i} has dtype {y.dtype} but requires grad",
                         raise_exception, verbose, output_index=i)

    numerical = {j: _numerical(fn, args, j, eps, out_sizes) for j in diff_idx}
    for i, y in enumerate(outputs):
        if y.dtype.kind not in "fc":
            continue
        analytical = _checked(_analytical_jacobian, verbose, outputs, diff_inputs, i)
        again = _checked(_analytical_jacobian, verbose, outputs, diff_inputs, i)
        for jj, j in enumerate(diff_idx):
            a, n = analytical[jj], numerical[j][i]
            if not np.allclose(a, again[jj], rtol=0, atol=nondet_tol, equal_nan=True):
                return _fail(
                    f"gradcheck: backward is not reentrant for output {i} with respect to "
                    f"input {j}: two backward passes differ by up to "
                    f"{np.abs(a - again[jj]).max():.3e} (nondet_tol={nondet_tol})",
                    raise_exception, verbose, output_index=i, input_index=j)
            allowed = atol + rtol * np.abs(n)
            with np.errstate(invalid="ignore"):
                bad = np.abs(a - n) > allowed
            # an infinite numerical derivative would allow any error: non-finite
            # entries must agree exactly (same infinity, or NaN on both sides)
            finite = np.isfinite(a) & np.isfinite(n)
            bad |= ~finite & ~((a == n) | (np.isnan(a) & np.isnan(n)))
            if bad.any():
                msg, hints, report = _mismatch_report(fn, args, i, j, a, n, allowed, bad, eps,
                                                      atol, rtol, promoted, outputs)
                return _fail(msg, raise_exception, verbose, report, output_index=i,
                             input_index=j, hints=hints)
            if verbose:
                worst = float(np.max(np.abs(a - n))) if a.size else 0.0
                print(f"gradcheck: output {i} with respect to input {j} "
                      f"{tuple(args[j].shape)}: ok (max |numerical - analytical| = "
                      f"{worst:.1e})")
        # backward must be linear in grad_output: a backward that ignores it
        # still passes the Jacobian check on a one-element output.
        if y.requires_grad and y.numel() > 0:
            rng = np.random.default_rng(0)
            v = rng.standard_normal(y.shape)
            g1 = _checked(_analytical, verbose, outputs, diff_inputs, i, v)
            g2 = _checked(_analytical, verbose, outputs, diff_inputs, i, 2.5 * v)
            for jj, j in enumerate(diff_idx):
                if not np.allclose(g2[jj], 2.5 * g1[jj], rtol=1e-7, atol=1e-10,
                                   equal_nan=True):
                    hint = ("the backward ignores or mishandles its grad_output argument "
                            "(forgot to multiply by gy)")
                    return _fail(
                        f"gradcheck: backward for output {i} with respect to input {j} does "
                        "not scale with grad_output (backward(2.5 * g) != 2.5 * backward(g)); "
                        f"likely cause: {hint}", raise_exception, verbose,
                        output_index=i, input_index=j, hints=[hint])
    return True


def _mismatch_report(fn, args, i, j, a, n, allowed, bad, eps, atol, rtol, promoted,
                     outputs):
    """(error message, hints, verbose report) for a Jacobian mismatch."""
    x = args[j]
    y = outputs[i]
    diff = np.abs(a - n)
    diff_nan = np.where(np.isnan(diff), np.inf, diff)
    order = np.argsort(-diff_nan, axis=None)[:5]
    lines = [f"Jacobian mismatch for output {i} with respect to input {j}",
             f"  input {j}: shape {x.shape}; output {i}: shape {y.shape}",
             f"  eps={eps:g} atol={atol:g} rtol={rtol:g}; {int(bad.sum())} of {bad.size} "
             "Jacobian entries are outside atol + rtol * |numerical|",
             "  worst entries (input element -> output element):"]
    worst = []
    for flat in order:
        k, m = np.unravel_index(flat, a.shape)
        if not bad[k, m]:
            break
        worst.append(f"    input{_fmt_index(k, x.shape)} -> output{_fmt_index(m, y.shape)}: "
                     f"numerical={n[k, m]:.6g} analytical={a[k, m]:.6g} "
                     f"allowed={allowed[k, m]:.3g} |diff|={diff[k, m]:.3g}")
    lines += worst
    lines.append(f"  max abs diff: {np.nanmax(diff):.6g}")
    k, m = np.unravel_index(order[0], a.shape)
    if not (np.isfinite(a).all() and np.isfinite(n).all()):
        # the heuristics below assume finite Jacobians; name the non-finite entry
        hints = [f"a derivative is infinite or NaN at input{_fmt_index(k, x.shape)} -> "
                 f"output{_fmt_index(m, y.shape)} (numerical {n[k, m]:.6g}, analytical "
                 f"{a[k, m]:.6g}): the function is not differentiable there (a pole, or "
                 "0 ** 0); check it at other points"]
    else:
        hints = _diagnose(fn, args, i, j, k, m, a, n, tuple(y.shape), eps, atol, rtol,
                          promoted)
    if hints:
        lines.append("  likely cause: " + "; ".join(hints))
    if a.size <= 64:
        with np.printoptions(precision=5, suppress=True, linewidth=100):
            lines.append(f"numerical:\n{n}\nanalytical:\n{a}")
    report = _verbose_report(i, j, x, y, a, n, bad, eps, atol, rtol, worst[:3], hints)
    return "\n".join(lines), hints, report


# ---------------------------------------------------------------- diagnosis
def _diagnose(fn, args, i, j, k, m, a, n, y_shape, eps, atol, rtol, promoted):
    """Likely causes of a mismatch between Jacobians ``a`` (analytical) and
    ``n`` (numerical) of output i w.r.t. input j; (k, m) is the worst entry."""
    x = args[j]
    hints = []
    if j in promoted:
        hints.append(f"input {j} was handed in as float32 (promoted to float64 here); if fn "
                     "casts back to float32 the finite differences are noise")
    left, right = _one_sided(fn, args, j, k, i, m, eps)
    scale = max(abs(left), abs(right), 1.0)
    if abs(left - right) > 10 * (atol + rtol * scale) and abs(left - right) > 1e-3 * scale:
        hints.append(f"the function has a kink at input{_fmt_index(k, x.shape)} = "
                     f"{x.array.reshape(-1)[k]:.6g} (left derivative {left:.6g}, right "
                     f"{right:.6g}): an input too close to a kink of relu/abs/max/clamp; "
                     "move the inputs away from it")
        return hints
    finer = _central(fn, args, j, k, i, m, eps / 10)
    if abs(finer - a[k, m]) < 0.5 * abs(n[k, m] - a[k, m]):
        hints.append(f"eps may be too large: with eps={eps / 10:g} the numerical value "
                     f"is {finer:.6g}, closer to the analytical one")
        return hints
    if np.isnan(a).any() or np.isnan(n).any():
        return hints
    return hints + _structural_hints(fn, args, i, j, a, n, y_shape, eps, atol, rtol)


def _close(u, v, atol, rtol):
    # Vector-Jacobian products add up many entries, so their rounding error
    # is larger than a single entry's; be a little more lenient than the check.
    return np.allclose(u, v, rtol=max(rtol, 1e-4), atol=10 * atol)


def _structural_hints(fn, args, i, j, a, n, y_shape, eps, atol, rtol):
    """Match the mismatch against the classic backward bugs, most specific first."""
    x_shape = tuple(args[j].shape)
    if n.size == 0 or np.allclose(n, 0, atol=atol):
        if not np.allclose(a, 0, atol=atol):
            return ["the analytical gradient is not zero, but the function does not "
                    f"depend on input {j} here"]
        return []
    if _close(a, -n, atol, rtol):
        return ["the analytical gradient has the wrong sign (a sign error in backward)"]
    # one fixed random grad_output v: g_num / g_ana are the two gradients for it
    v = np.random.default_rng(1).standard_normal(n.shape[1])
    g_num = (n @ v).reshape(x_shape)
    g_ana = (a @ v).reshape(x_shape)
    for hint in (_missing_sum_hint(j, n, v, g_ana, x_shape, y_shape, atol, rtol),
                 _transpose_hint(fn, args, i, j, v, g_num, g_ana, eps, atol, rtol)):
        if hint:
            return [hint]
    if n.shape[1] > 1 and np.allclose(a, a[:, :1], atol=atol, rtol=rtol):
        if _close(a[:, 0], n.sum(axis=1), atol, rtol):
            return ["backward ignores grad_output: whatever grad_output is, it returns the "
                    "gradient of output.sum() (forgot to multiply by gy)"]
        return ["backward's result does not depend on grad_output (forgot to multiply by gy?)"]
    if np.allclose(a, 0):
        return ["the analytical gradient is zero: is the input used, and does backward "
                "return its gradient in the right position?"]
    c = float(np.sum(a * n) / np.sum(n * n))
    if _close(a, c * n, atol, rtol):
        return [f"the analytical gradient is {c:.4g} times the numerical one everywhere: "
                "a constant factor is wrong in backward"]
    return []


def broadcast_axes(x_shape, y_shape):
    """Axes of ``y_shape`` along which ``x_shape`` is broadcast (NumPy rules),
    or None when it does not broadcast to ``y_shape``.

    These are the axes a backward sums the gradient over to bring it back to
    the input's shape: ``broadcast_axes((3,), (4, 3)) == [0]``.
    """
    x_shape, y_shape = tuple(x_shape), tuple(y_shape)
    if len(x_shape) > len(y_shape):
        return None
    lead = len(y_shape) - len(x_shape)
    axes = [ax for ax in range(lead) if y_shape[ax] > 1]
    for ax, s in enumerate(x_shape, start=lead):
        if s != y_shape[ax]:
            if s != 1:
                return None
            axes.append(ax)
    return axes


def _axes_words(axes):
    if len(axes) == 1:
        return f"axis {axes[0]}"
    return "axes " + ", ".join(str(ax) for ax in axes)


def _missing_sum_hint(j, n, v, g_ana, x_shape, y_shape, atol, rtol):
    """A broadcast input whose gradient keeps one slice of the output
    gradient, or averages it, where backward should sum it."""
    axes = broadcast_axes(x_shape, y_shape)
    if not axes:
        return None
    vv = v.reshape(y_shape)
    for ax in axes:
        size = y_shape[ax]
        slices = []
        for s in range(size):
            mask = np.zeros(y_shape)
            mask[(slice(None),) * ax + (s,)] = 1
            slices.append((n @ (vv * mask).reshape(-1)).reshape(x_shape))
        what = f"output axis {ax} ({size} entries)"
        for s, g_s in enumerate(slices):
            if _close(g_ana, g_s, atol, rtol):
                return (f"looks like a missing sum over axis {ax}: input {j} {x_shape} is "
                        f"broadcast along {what} but its gradient only has entry {s}'s "
                        "contribution; sum the gradient over that axis, e.g. sum_to(g, "
                        f"{x_shape})")
        if _close(g_ana, sum(slices) / size, atol, rtol):
            return (f"looks like a missing sum over axis {ax}: input {j} {x_shape} is "
                    f"broadcast along {what} and its gradient is {size} times too small, a "
                    "mean over that axis where a sum belongs; use sum_to(g, "
                    f"{x_shape})")
    return None


def _transpose_hint(fn, args, i, j, v, g_num, g_ana, eps, atol, rtol):
    """A gradient that is the right one transposed, or the one the function
    would have if another square input were transposed."""
    shape = g_num.shape
    for p in range(len(shape)):
        for q in range(p + 1, len(shape)):
            if shape[p] == shape[q] > 1 and _close(g_ana, np.swapaxes(g_num, p, q), atol, rtol):
                return (f"looks like a wrong transpose: the gradient of input {j} is the "
                        f"right one with axes {p} and {q} swapped")
    for k, other in enumerate(args):
        if (k == j or not isinstance(other, Tensor) or other.ndim < 2
                or other.shape[-1] != other.shape[-2] or other.shape[-1] < 2):
            continue
        original = other.array
        other.array = np.ascontiguousarray(np.swapaxes(original, -1, -2))
        try:
            g_alt = _numerical_vjp(fn, args, j, i, v, eps).reshape(shape)
        finally:
            other.array = original
        if _close(g_ana, g_alt, atol, rtol):
            return (f"looks like a wrong transpose: the gradient of input {j} is the one the "
                    f"function would have if input {k} were transposed; backward uses input "
                    f"{k} where its transpose belongs (or the reverse)")
    return None


def _numerical_vjp(fn, args, j, i, v, eps):
    """v @ d(output i)/d(input j) by central differences."""
    flat = args[j].array.reshape(-1)
    out = np.zeros(flat.size)
    with no_grad():
        for k in range(flat.size):
            orig = flat[k]
            flat[k] = orig + eps
            plus = np.array(_outputs(fn, args)[i].array, dtype=np.float64).reshape(-1)
            flat[k] = orig - eps
            minus = np.array(_outputs(fn, args)[i].array, dtype=np.float64).reshape(-1)
            flat[k] = orig
            out[k] = (plus - minus) @ v / (2 * eps)
    return out


# ---------------------------------------------------------------- verbose report
def _verbose_report(i, j, x, y, a, n, bad, eps, atol, rtol, worst, hints):
    """The compact text ``gradcheck(..., verbose=True)`` prints on a mismatch."""
    d = n - a
    # one signed number per input element: its worst entry of numerical - analytical
    # (rounded, so that entries equal up to finite-difference noise tie and the
    # first of them wins on every machine)
    mag = np.where(np.isnan(d), np.inf, np.abs(d))
    finite = mag[np.isfinite(mag)]
    scale = finite.max() if finite.size and finite.max() > 0 else 1.0
    pick = np.argmax(np.round(mag / scale, 6), axis=1)
    per_elem = d[np.arange(d.shape[0]), pick].reshape(x.shape)
    bad_elem = bad.any(axis=1).reshape(x.shape)
    where = [_fmt_index(k, x.shape) for k in np.flatnonzero(bad_elem)]
    shown = ", ".join(where[:8]) + (f", ... ({len(where) - 8} more)" if len(where) > 8 else "")
    bad_mags = np.abs(per_elem[bad_elem])
    bad_mags = bad_mags[np.isfinite(bad_mags)]
    top = bad_mags.max() if bad_mags.size else 0.0
    lines = [f"gradcheck failed: output {i} with respect to input {j}",
             f"  input {j}: shape {tuple(x.shape)} {x.dtype}; output {i}: shape "
             f"{tuple(y.shape)}; eps={eps:g} atol={atol:g} rtol={rtol:g}",
             f"  wrong gradient at {len(where)} of {bad_elem.size} input elements: {shown}",
             "  worst entries (input element -> output element):"]
    lines += worst
    lines.append(f"  numerical - analytical per input element (worst entry; 9 = {top:.3g}, "
                 "'.' = within tolerance):")
    lines += ["    " + row for row in heat_map(per_elem, bad_elem, top)]
    lines.append("  likely cause: " + ("; ".join(hints) if hints else "not recognised"))
    return "\n".join(lines)


def _window(mask_any, limit):
    """A range of at most ``limit`` indices, starting near the first True."""
    size = mask_any.size
    first = int(np.argmax(mask_any)) if mask_any.any() else 0
    start = max(0, min(first, size - limit))
    return range(start, min(size, start + limit))


def heat_map(values, bad, top, limit=12, max_slices=3):
    """A text heat map of ``values`` where ``bad`` is True, as a list of rows.

    One cell per element: '+9' .. '-1' (sign and size scaled to ``top``) for
    bad elements, '?' for NaN, '.' for the others. N-D arrays are shown as
    their 2-D slices that contain bad elements (at most ``max_slices``), each
    cut to a window of at most ``limit`` rows and columns around the first
    bad one. ``gradcheck(..., verbose=True)`` prints it for numerical minus
    analytical gradients.
    """
    if values.ndim == 0:
        values, bad = values.reshape(1, 1), bad.reshape(1, 1)
    elif values.ndim == 1:
        values, bad = values.reshape(1, -1), bad.reshape(1, -1)
    lead_shape = values.shape[:-2]
    flat_v = values.reshape((-1,) + values.shape[-2:])
    flat_b = bad.reshape((-1,) + bad.shape[-2:])
    with_errors = [s for s in range(flat_b.shape[0]) if flat_b[s].any()]
    rows = []
    for s in with_errors[:max_slices]:
        if lead_shape:
            idx = ", ".join(str(int(t)) for t in np.unravel_index(s, lead_shape))
            rows.append(f"[{idx}, :, :]")
        rows += _heat_slice(flat_v[s], flat_b[s], top, limit, labelled=values.shape[0] > 1)
    if len(with_errors) > max_slices:
        rows.append(f"... ({len(with_errors) - max_slices} more slices with wrong elements)")
    return rows


def _heat_slice(v, b, top, limit, labelled):
    rs, cs = _window(b.any(axis=1), limit), _window(b.any(axis=0), limit)
    width = max(3, len(str(cs[-1])) + 1)
    label = max(len(str(rs[-1])), 1) + 1 if labelled else 0
    out = [" " * label + "".join(str(c).rjust(width) for c in cs)
           + (" .." if cs[-1] < v.shape[1] - 1 else "")]
    for r in rs:
        cells = []
        for c in cs:
            if not b[r, c]:
                cells.append(".".rjust(width))
            elif np.isnan(v[r, c]):
                cells.append("?".rjust(width))
            elif np.isinf(v[r, c]):
                cells.append(("+" if v[r, c] > 0 else "-").rjust(width - 1) + "9")
            else:
                level = min(9, max(1, int(np.ceil(9 * abs(v[r, c]) / top)))) if top else 1
                cells.append(("+" if v[r, c] > 0 else "-") .rjust(width - 1) + str(level))
        out.append((str(r).rjust(label - 1) + " " if labelled else "") + "".join(cells))
    if rs[-1] < v.shape[0] - 1:
        out.append(" " * label + "..")
    return out


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3,
                  raise_exception=True, nondet_tol=0.0, verbose=False):
    """Check second derivatives: gradcheck of the map (inputs, grad_outputs)
    -> gradients of fn, computed with ``create_graph=True``.

    The inputs of that map are ``inputs`` followed by ``grad_outputs``, so in
    a failure report input ``len(inputs) + k`` is grad_output k.
    """
    args, _ = _prepare(_as_tuple(inputs), "gradgradcheck")
    diff_idx = [j for j, x in enumerate(args) if isinstance(x, Tensor) and x.requires_grad]
    if not diff_idx:
        raise ValueError("gradgradcheck: no input has requires_grad=True")
    outputs = _outputs(fn, args)
    float_outs = [k for k, o in enumerate(outputs) if o.dtype.kind == "f" and o.requires_grad]
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = [Tensor._wrap(np.asarray(rng.standard_normal(outputs[k].shape)),
                               requires_grad=True)
                        for k in float_outs]
    else:
        grad_outputs = [Tensor._wrap(np.asarray(g.numpy() if isinstance(g, Tensor) else g,
                                          dtype=np.float64).copy(), requires_grad=True)
                        for g in _as_tuple(grad_outputs)]
    n_args = len(args)

    def first_grads(*all_args):
        xs, gys = all_args[:n_args], all_args[n_args:]
        with enable_grad():        # also inside gradcheck's no_grad finite differences
            outs = _outputs(fn, xs)
            outs = [outs[k] for k in float_outs]
            grads = autograd_grad(outs, [xs[j] for j in diff_idx], grad_outputs=list(gys),
                                  create_graph=True, allow_unused=True)
        return tuple(g if g is not None else Tensor._wrap(np.zeros(xs[j].shape))
                     for g, j in zip(grads, diff_idx))

    if verbose:
        print(f"gradgradcheck: checking the gradients of fn as a function of its inputs "
              f"0..{n_args - 1} and of grad_outputs {n_args}..{n_args + len(grad_outputs) - 1}")
    return gradcheck(first_grads, tuple(args) + tuple(grad_outputs), eps=eps, atol=atol,
                     rtol=rtol, raise_exception=raise_exception, nondet_tol=nondet_tol,
                     verbose=verbose)
