"""L-BFGS, a limited-memory quasi-Newton method, with an optional strong-Wolfe line search.

Follows the algorithm of PyTorch's ``torch.optim.LBFGS`` (its stopping rules,
first step size and line search), written from Nocedal & Wright, *Numerical
Optimization* (2nd ed.): the two-loop recursion is their Algorithm 7.4, the
line search their Algorithms 3.5 (bracketing) and 3.6 (zoom) with the cubic
interpolation of equation 3.59.

All parameters are handled as one flat vector: the gradient is gathered into
one array, and a step adds slices of one direction array back to each
parameter.
"""
import numpy as np

from tinynet import autograd
from tinynet.backend import get_array_module
from tinynet.optim._checks import check_nonneg
from tinynet.optim.optimizer import Optimizer


class LBFGS(Optimizer):
    """L-BFGS, a limited-memory quasi-Newton method.

    PyTorch's ``torch.optim.LBFGS``: each iteration steps along ``-H g``, with
    ``H`` an estimate of the inverse Hessian built from the last
    ``history_size`` steps and gradient changes.

    ``step(closure)`` runs up to ``max_iter`` iterations (and ``max_eval``
    evaluations of ``closure``); ``closure`` must zero the gradients, compute
    the loss, call ``backward()`` and return the loss. Each iteration moves by
    ``lr`` (the very first one by ``min(1, 1 / sum|g|) * lr``), or by the step
    a strong-Wolfe line search finds when ``line_search_fn='strong_wolfe'``.
    It stops early when the largest gradient entry is ``<= tolerance_grad`` or
    a step or loss change is below ``tolerance_change``. Returns the loss of
    the first evaluation.

    One parameter group only; all parameters are handled as one flat vector.
    State (kept on the first parameter, PyTorch's layout): ``func_evals``,
    ``n_iter``, ``d``, ``t``, ``old_dirs``, ``old_stps``, ``ro``, ``H_diag``,
    ``prev_flat_grad``, ``prev_loss``.

    Args:
        params (iterable): the Tensors to optimize (no parameter groups).
        lr (float, optional): the step size. Default: ``1``.
        max_iter (int, optional): iterations per ``step()``. Default: ``20``.
        max_eval (int, optional): closure evaluations per ``step()``.
            Default: ``None``, meaning ``max_iter * 5 // 4``.
        tolerance_grad (float, optional): stop when every gradient entry is
            at most this in absolute value. Default: ``1e-7``.
        tolerance_change (float, optional): stop when a step or a change of
            the loss is smaller than this. Default: ``1e-9``.
        history_size (int, optional): how many past steps the Hessian
            estimate remembers. Default: ``100``.
        line_search_fn (str, optional): ``None`` (fixed step ``lr``) or
            ``'strong_wolfe'``. Default: ``None``.

    Example::

        >>> w = tn.tensor([1.0, -2.0], dtype=tn.float64, requires_grad=True)
        >>> opt = optim.LBFGS([w], line_search_fn="strong_wolfe")
        >>> def closure():
        ...     opt.zero_grad()
        ...     loss = ((w - tn.tensor([3.0, 4.0], dtype=tn.float64)) ** 2).sum()
        ...     loss.backward()
        ...     return loss
        >>> first_loss = opt.step(closure)
        >>> first_loss.item()
        40.0
        >>> w.detach()
        tensor([3., 4.], dtype=float64)
    """

    _int_state = ("func_evals", "n_iter")
    _float_state = ("t", "H_diag", "prev_loss")

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        check_nonneg("LBFGS", "learning rate", lr)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', "
                             f"got {line_search_fn!r}")
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                        tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                        history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    # ------------------------------------------------------------ flat views
    def _flat_grad(self):
        xp = get_array_module(self._params[0].array)
        return xp.concatenate([
            p.grad.array.reshape(-1) if p.grad is not None
            else xp.zeros(p.array.size, p.array.dtype) for p in self._params])

    def _add_step(self, t, d):
        """Every parameter += t * (its slice of the flat direction d)."""
        offset = 0
        for p in self._params:
            n = p.array.size
            p.array += t * d[offset:offset + n].reshape(p.array.shape)
            p._vc[0] += 1
            offset += n

    def _evaluate(self, closure):
        with autograd.enable_grad():
            loss = closure()
        return float(loss), self._flat_grad()

    def _probe(self, closure, x0, t, d):
        """Loss and flat gradient at x0 + t * d; the parameters are put back to x0."""
        self._add_step(t, d)
        loss, g = self._evaluate(closure)
        for p, x in zip(self._params, x0):
            p.array[...] = x
            p._vc[0] += 1
        return loss, g

    # ------------------------------------------------------------ the iterations
    def step(self, closure):
        """Run up to ``max_iter`` L-BFGS iterations; returns the first loss."""
        if closure is None:
            raise RuntimeError("LBFGS: step() needs a closure that zeroes the gradients, "
                               "computes the loss, calls backward() and returns the loss")
        group = self.param_groups[0]
        lr, max_iter, max_eval = float(group["lr"]), group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with autograd.enable_grad():
            orig_loss = closure()
        loss, g = float(orig_loss), self._flat_grad()
        xp = get_array_module(g)
        evals = 1
        state["func_evals"] += 1
        if float(xp.abs(g).max()) <= tol_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        H_diag = state.get("H_diag")
        prev_g, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d, old_dirs, old_stps, ro, H_diag = -g, [], [], [], 1.0
            else:
                H_diag = _remember(g - prev_g, d * t, old_dirs, old_stps, ro, H_diag,
                                   group["history_size"])
                d = _two_loop(g, old_dirs, old_stps, ro, H_diag)
            prev_g, prev_loss = g, loss

            t = min(1.0, 1.0 / float(xp.abs(g).sum())) * lr if state["n_iter"] == 1 else lr
            gtd = float(xp.dot(g, d))
            if gtd > -tol_change:          # not a descent direction any more
                break

            if group["line_search_fn"] == "strong_wolfe":
                x0 = [p.array.copy() for p in self._params]
                # the search may spend what is left of max_eval
                loss, g, t, ls_evals = _strong_wolfe(
                    lambda step: self._probe(closure, x0, step, d), t, d, loss, g, gtd,
                    max_ls=max_eval - evals)
                self._add_step(t, d)
            else:
                self._add_step(t, d)
                ls_evals = 0
                if n_iter != max_iter:     # the last iteration's loss is not needed
                    loss, g = self._evaluate(closure)
                    ls_evals = 1
            evals += ls_evals
            state["func_evals"] += ls_evals

            if n_iter == max_iter or evals >= max_eval:
                break
            if float(xp.abs(g).max()) <= tol_grad:
                break
            if float(xp.abs(d * t).max()) <= tol_change or abs(loss - prev_loss) < tol_change:
                break

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=H_diag,
                     prev_flat_grad=prev_g, prev_loss=prev_loss)
        return orig_loss


def _remember(y, s, old_dirs, old_stps, ro, H_diag, history_size):
    """Add the pair (y, s) to the history when its curvature y.s is positive
    (dropping the oldest past ``history_size``); returns the new H_diag."""
    xp = get_array_module(y)
    ys = float(xp.dot(y, s))
    if ys <= 1e-10:
        return H_diag
    if len(old_dirs) == history_size:
        del old_dirs[0], old_stps[0], ro[0]
    old_dirs.append(y)
    old_stps.append(s)
    ro.append(1.0 / ys)
    return ys / float(xp.dot(y, y))


def _two_loop(g, old_dirs, old_stps, ro, H_diag):
    """The direction -H g, H the L-BFGS inverse-Hessian estimate (N&W Algorithm 7.4)."""
    xp = get_array_module(g)
    q = -g
    alphas = [0.0] * len(old_dirs)
    for i in reversed(range(len(old_dirs))):
        alphas[i] = float(xp.dot(old_stps[i], q)) * ro[i]
        q -= alphas[i] * old_dirs[i]
    r = q * H_diag
    for i in range(len(old_dirs)):
        beta = float(xp.dot(old_dirs[i], r)) * ro[i]
        r += (alphas[i] - beta) * old_stps[i]
    return r


# ---------------------------------------------------------------- line search
def _cubic_min(x1, f1, g1, x2, f2, g2, lo=None, hi=None):
    """Minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2
    (N&W eq. 3.59), clipped to [lo, hi] (default: the interval between x1 and
    x2); the interval's midpoint when the cubic has no minimiser.

    IEEE arithmetic (NumPy float64 scalars): a collapsed bracket or an
    overflow gives inf or nan, which the comparisons of the callers handle
    (as PyTorch's tensor arithmetic does), instead of a Python exception.
    """
    x1, f1, g1, x2, f2, g2 = (np.float64(v) for v in (x1, f1, g1, x2, f2, g2))
    if lo is None:
        lo, hi = min(x1, x2), max(x1, x2)
    with np.errstate(all="ignore"):
        d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
        disc = d1 ** 2 - g1 * g2
        if disc < 0:
            return float((lo + hi) / 2.0)
        d2 = np.sqrt(disc)
        if x1 <= x2:
            x = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            x = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return float(min(max(x, lo), hi))


def _strong_wolfe(probe, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """A step t along d satisfying the strong Wolfe conditions
    ``f(t) <= f + c1 t gtd`` and ``|f'(t)| <= -c2 gtd``, found by bracketing
    then zooming, with at most ``max_ls`` evaluations after the first.

    ``probe(t)`` returns (loss, flat gradient) at the trial point. Returns
    (loss, gradient, t, evaluations) at the best point found. A point is
    (t, loss, gradient, slope along d).
    """
    xp = get_array_module(d)
    d_norm = float(xp.abs(d).max())

    def at(step):
        loss, grad = probe(step)
        return step, loss, grad, float(xp.dot(grad, d))

    def sufficient_decrease(point):
        return point[1] <= f + c1 * point[0] * gtd

    def curvature_ok(point):
        return abs(point[3]) <= -c2 * gtd

    # Bracketing (N&W Algorithm 3.5): grow t until [prev, new] holds a good step.
    prev, new = (0.0, f, g, gtd), at(t)
    evals, ls_iter, done = 1, 0, False
    bracket = None
    while ls_iter < max_ls:
        if not sufficient_decrease(new) or (ls_iter > 1 and new[1] >= prev[1]):
            bracket = [prev, new]
            break
        if curvature_ok(new):
            bracket, done = [new], True
            break
        if new[3] >= 0:
            bracket = [prev, new]
            break
        # extrapolate: at least 1% beyond t, at most 10 t
        t_next = _cubic_min(prev[0], prev[1], prev[3], new[0], new[1], new[3],
                            lo=new[0] + 0.01 * (new[0] - prev[0]), hi=new[0] * 10)
        prev, new = new, at(t_next)
        evals += 1
        ls_iter += 1
    if bracket is None:            # out of evaluations: keep the better of 0 and t
        bracket = [(0.0, f, g, gtd), new]

    # Zoom (N&W Algorithm 3.6): shrink the bracket; `low` holds its lower loss.
    low, high = _order(bracket)
    insufficient_progress = False
    while not done and ls_iter < max_ls:
        (ta, fa, _, sa), (tb, fb, _, sb) = bracket
        if abs(tb - ta) * d_norm < tolerance_change:
            break
        t, insufficient_progress = _keep_off_the_ends(
            _cubic_min(ta, fa, sa, tb, fb, sb), min(ta, tb), max(ta, tb), insufficient_progress)
        new = at(t)
        evals += 1
        ls_iter += 1
        if not sufficient_decrease(new) or new[1] >= bracket[low][1]:
            bracket[high] = new
            low, high = _order(bracket)
        else:
            if curvature_ok(new):
                done = True
            elif new[3] * (bracket[high][0] - bracket[low][0]) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = new
    t, loss, grad, _ = bracket[low]
    return loss, grad, t, evals


def _order(bracket):
    """(index of the lower loss, the other index)."""
    return (0, 1) if bracket[0][1] <= bracket[-1][1] else (1, 0)


def _keep_off_the_ends(t, lo, hi, insufficient_progress):
    """Move a trial step that lands within 10% of the bracket's ends inward,
    the second time in a row (or at once if it is outside the bracket).
    Returns (t, insufficient_progress)."""
    margin = 0.1 * (hi - lo)
    if min(hi - t, t - lo) >= margin:
        return t, False
    if insufficient_progress or t >= hi or t <= lo:
        t = hi - margin if abs(t - hi) < abs(t - lo) else lo + margin
        return t, False
    return t, True
