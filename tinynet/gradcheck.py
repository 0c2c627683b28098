"""gradcheck and gradgradcheck: compare backward with finite differences.

``gradcheck(fn, inputs)`` builds two Jacobians for every (output i, input j)
pair with ``requires_grad``: a numerical one by central differences,
``(fn(x + eps) - fn(x - eps)) / 2eps`` one input element at a time, and an
analytical one by backward passes with one-hot ``grad_outputs``. Rows are
input elements, columns output elements, as in PyTorch. It also checks that
backward scales with ``grad_output`` and that two backward passes agree.

On a mismatch it raises ``GradcheckError`` naming output i and input j,
eps/atol/rtol, the worst elements and a likely cause where one is detectable.
"""
import warnings

import numpy as np

from tinynet.autograd import enable_grad, grad as autograd_grad, no_grad
from tinynet.tensor import Tensor


class GradcheckError(RuntimeError):
    """Raised by gradcheck / gradgradcheck when gradients do not match."""


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
            prepared.append(Tensor(data, requires_grad=x.requires_grad))
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
    flat = x.data.reshape(-1)               # a view: x.data is contiguous
    jac = [np.zeros((flat.size, m)) for m in n_out_elems]
    with no_grad():
        for k in range(flat.size):
            orig = flat[k]
            # copies: an output may be a view of the input being perturbed
            # (reshape, getitem, a gradient that is grad_output itself)
            flat[k] = orig + eps
            plus = [np.array(o.data, dtype=np.float64).reshape(-1) for o in _outputs(fn, args)]
            flat[k] = orig - eps
            minus = [np.array(o.data, dtype=np.float64).reshape(-1) for o in _outputs(fn, args)]
            flat[k] = orig
            for i in range(len(jac)):
                jac[i][k] = (plus[i] - minus[i]) / (2 * eps)
    return jac


def _one_sided(fn, args, j, k, i, m, eps):
    """Left and right difference quotients of output i element m w.r.t.
    input j element k (to spot kinks)."""
    flat = args[j].data.reshape(-1)
    orig = flat[k]
    vals = []
    with no_grad():
        for d in (-eps, 0.0, eps):
            flat[k] = orig + d
            vals.append(float(np.asarray(_outputs(fn, args)[i].data).reshape(-1)[m]))
        flat[k] = orig
    return (vals[1] - vals[0]) / eps, (vals[2] - vals[1]) / eps


def _central(fn, args, j, k, i, m, eps):
    flat = args[j].data.reshape(-1)
    orig = flat[k]
    with no_grad():
        flat[k] = orig + eps
        plus = float(np.asarray(_outputs(fn, args)[i].data).reshape(-1)[m])
        flat[k] = orig - eps
        minus = float(np.asarray(_outputs(fn, args)[i].data).reshape(-1)[m])
        flat[k] = orig
    return (plus - minus) / (2 * eps)


def _analytical(outputs, diff_inputs, i, gy):
    """Gradients of output i, contracted with ``gy``, w.r.t. the inputs."""
    y = outputs[i]
    if not y.requires_grad:
        return [np.zeros(x.shape) for x in diff_inputs]
    grads = autograd_grad(y, diff_inputs, grad_outputs=Tensor(gy), retain_graph=True,
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


def _fail(msg, raise_exception):
    if raise_exception:
        raise GradcheckError(msg)
    return False


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              nondet_tol=0.0):
    """Check the backward of ``fn`` at ``inputs`` against finite differences.

    ``inputs`` is a Tensor or a tuple of arguments; Tensors with
    ``requires_grad=True`` are checked. Returns True, or raises
    ``GradcheckError`` (returns False with ``raise_exception=False``).
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
                         raise_exception)

    numerical = {j: _numerical(fn, args, j, eps, out_sizes) for j in diff_idx}
    for i, y in enumerate(outputs):
        if y.dtype.kind not in "fc":
            continue
        analytical = _analytical_jacobian(outputs, diff_inputs, i)
        again = _analytical_jacobian(outputs, diff_inputs, i)
        for jj, j in enumerate(diff_idx):
            a, n = analytical[jj], numerical[j][i]
            if not np.allclose(a, again[jj], rtol=0, atol=nondet_tol):
                return _fail(
                    f"gradcheck: backward is not reentrant for output {i} with respect to "
                    f"input {j}: two backward passes differ by up to "
                    f"{np.abs(a - again[jj]).max():.3e} (nondet_tol={nondet_tol})",
                    raise_exception)
            allowed = atol + rtol * np.abs(n)
            bad = np.abs(a - n) > allowed
            bad |= np.isnan(a) != np.isnan(n)
            if bad.any():
                return _fail(_mismatch_report(fn, args, i, j, a, n, allowed, bad, eps,
                                              atol, rtol, promoted, outputs), raise_exception)
        # backward must be linear in grad_output: a backward that ignores it
        # still passes the Jacobian check on a one-element output.
        if y.requires_grad and y.numel() > 0:
            rng = np.random.default_rng(0)
            v = rng.standard_normal(y.shape)
            g1 = _analytical(outputs, diff_inputs, i, v)
            g2 = _analytical(outputs, diff_inputs, i, 2.5 * v)
            for jj, j in enumerate(diff_idx):
                if not np.allclose(g2[jj], 2.5 * g1[jj], rtol=1e-7, atol=1e-10):
                    return _fail(
                        f"gradcheck: backward for output {i} with respect to input {j} does "
                        "not scale with grad_output (backward(2.5 * g) != 2.5 * backward(g)); "
                        "likely cause: the backward ignores or mishandles its grad_output "
                        "argument (forgot to multiply by gy)", raise_exception)
    return True


def _mismatch_report(fn, args, i, j, a, n, allowed, bad, eps, atol, rtol, promoted,
                     outputs):
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
    for flat in order:
        k, m = np.unravel_index(flat, a.shape)
        if not bad[k, m]:
            break
        lines.append(f"    input{_fmt_index(k, x.shape)} -> output{_fmt_index(m, y.shape)}: "
                     f"numerical={n[k, m]:.6g} analytical={a[k, m]:.6g} "
                     f"allowed={allowed[k, m]:.3g} |diff|={diff[k, m]:.3g}")
    lines.append(f"  max abs diff: {np.nanmax(diff):.6g}")
    k, m = np.unravel_index(order[0], a.shape)
    hints = []
    if j in promoted:
        hints.append(f"input {j} was handed in as float32 (promoted to float64 here); if fn "
                     "casts back to float32 the finite differences are noise")
    left, right = _one_sided(fn, args, j, k, i, m, eps)
    scale = max(abs(left), abs(right), 1.0)
    if abs(left - right) > 10 * (atol + rtol * scale) and abs(left - right) > 1e-3 * scale:
        hints.append(f"the function has a kink at input{_fmt_index(k, x.shape)} = "
                     f"{x.data.reshape(-1)[k]:.6g} (left derivative {left:.6g}, right "
                     f"{right:.6g}): an input too close to a kink of relu/abs/max/clamp; "
                     "move the inputs away from it")
    else:
        finer = _central(fn, args, j, k, i, m, eps / 10)
        if abs(finer - a[k, m]) < 0.5 * abs(n[k, m] - a[k, m]):
            hints.append(f"eps may be too large: with eps={eps / 10:g} the numerical value "
                         f"is {finer:.6g}, closer to the analytical one")
    if not hints and np.allclose(a, -n, atol=atol, rtol=rtol):
        hints.append("the analytical gradient has the wrong sign")
    if not hints and np.allclose(a, 0) and not np.allclose(n, 0, atol=atol):
        hints.append("the analytical gradient is zero: is the input used, and does "
                     "backward return its gradient in the right position?")
    if hints:
        lines.append("  likely cause: " + "; ".join(hints))
    if a.size <= 64:
        with np.printoptions(precision=5, suppress=True, linewidth=100):
            lines.append(f"numerical:\n{n}\nanalytical:\n{a}")
    return "\n".join(lines)


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3,
                  raise_exception=True, nondet_tol=0.0):
    """Check second derivatives: gradcheck of the map (inputs, grad_outputs)
    -> gradients of fn, computed with ``create_graph=True``."""
    args, _ = _prepare(_as_tuple(inputs), "gradgradcheck")
    diff_idx = [j for j, x in enumerate(args) if isinstance(x, Tensor) and x.requires_grad]
    if not diff_idx:
        raise ValueError("gradgradcheck: no input has requires_grad=True")
    outputs = _outputs(fn, args)
    float_outs = [k for k, o in enumerate(outputs) if o.dtype.kind == "f" and o.requires_grad]
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = [Tensor(np.asarray(rng.standard_normal(outputs[k].shape)),
                               requires_grad=True)
                        for k in float_outs]
    else:
        grad_outputs = [Tensor(np.asarray(g.numpy() if isinstance(g, Tensor) else g,
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
        return tuple(g if g is not None else Tensor(np.zeros(xs[j].shape))
                     for g, j in zip(grads, diff_idx))

    return gradcheck(first_grads, tuple(args) + tuple(grad_outputs), eps=eps, atol=atol,
                     rtol=rtol, raise_exception=raise_exception, nondet_tol=nondet_tol)
