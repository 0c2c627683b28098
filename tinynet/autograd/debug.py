"""Debugging the graph: anomaly detection and a summary of what a graph holds.

``detect_anomaly`` makes every op check its forward output and its backward
gradients for NaN/Inf and name the line of user code that created the op.
``graph_summary`` lists the ops behind some outputs and the bytes each keeps
alive for backward.
"""
import os
import traceback

from tinynet.autograd.grad_mode import state
from tinynet.backend import get_array_module
from tinynet.tensor import describe

class detect_anomaly:
    """Inside ``with tn.autograd.detect_anomaly():`` the first op whose forward
    output or backward gradient holds NaN/Inf (from finite inputs) raises a
    RuntimeError naming the op and the line of user code that created it.
    Slower: every op checks its results and records where it was called."""

    def __init__(self, enabled=True):
        self.enabled = enabled

    def __enter__(self):
        self.prev = state.anomaly
        state.anomaly = self.enabled

    def __exit__(self, *exc):
        state.anomaly = self.prev
        return False


_TINYNET_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _user_site():
    """'file:line in function: code' of the innermost frame outside tinynet."""
    root = _TINYNET_ROOT
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not os.path.abspath(frame.filename).startswith(root):
            return f"{frame.filename}:{frame.lineno} in {frame.name}: {frame.line}"
    return "(inside tinynet)"


def _finite(a):
    xp = get_array_module(a)
    return a.dtype.kind not in "fc" or bool(xp.isfinite(a).all())


def check_forward(fn, inputs, ys):
    fn._created_at = _user_site()
    outs = ys if type(ys) is tuple else (ys,)
    if all(_finite(x.array) for x in inputs) and not all(_finite(y) for y in outs):
        raise RuntimeError(
            f"detect_anomaly: {fn.name} produced NaN or Inf in its forward output from finite "
            f"inputs ({', '.join(describe(x) for x in inputs)}); the op was called at "
            f"{fn._created_at}")


def check_backward(fn, gys, gxs):
    if not all(_finite(g.array) for g in gys if g is not None):
        return                        # an earlier op is to blame, and was reported
    for j, gx in enumerate(gxs):
        if gx is not None and not _finite(gx.array):
            raise RuntimeError(
                f"detect_anomaly: the backward of {fn.name} returned NaN or Inf in the "
                f"gradient for input {j} {describe(fn.inputs[j])}; the op was called "
                f"at {getattr(fn, '_created_at', '(unknown: created outside detect_anomaly)')}")


# ---------------------------------------------------------------- graph summary
class GraphSummary:
    """The ops of a graph and the bytes each one keeps alive for backward."""

    def __init__(self, ops, total_bytes):
        self.ops, self.total_bytes = ops, total_bytes

    def __str__(self):
        lines = [f"{'op':<20} {'output shape':<20} {'saved bytes':>12}  created at"]
        for op in self.ops:
            lines.append(f"{op['op']:<20} {str(op['shape']):<20} {op['saved_bytes']:>12}  "
                         f"{op['created_at'] or ''}")
        lines.append(f"{len(self.ops)} ops, {self.total_bytes} bytes saved for backward "
                     "(each array counted once)")
        return "\n".join(lines)

    __repr__ = __str__


def saved_arrays(fn):
    """The arrays a Function keeps for backward: its inputs' data, saved
    outputs and any array it stored on itself (masks, indices, columns)."""
    found = []
    for x in fn.__dict__.get("inputs") or ():
        found.append(x.array)
    for a in fn.__dict__.get("_saved_outputs") or ():
        found.append(a)
    for k, v in fn.__dict__.items():
        if k not in ("inputs", "_saved_outputs") and hasattr(v, "nbytes") and \
                hasattr(v, "shape") and getattr(v, "ndim", 0) > 0:
            found.append(v)
    return found


def graph_summary(*outputs):
    """What the graph behind ``outputs`` holds: one row per op (name, output
    shape, bytes of the arrays it saved for backward, where it was created
    under detect_anomaly) and the total, counting shared arrays once."""
    seen_fn, seen_arr, ops, total = set(), set(), [], 0
    stack = [y.grad_fn for y in outputs if y.grad_fn is not None]
    while stack:
        fn = stack.pop()
        if id(fn) in seen_fn:
            continue
        seen_fn.add(id(fn))
        own = 0
        for a in saved_arrays(fn):
            own += a.nbytes
            if id(a) not in seen_arr:
                seen_arr.add(id(a))
                total += a.nbytes
        out = fn.outputs[0]() if fn.__dict__.get("outputs") else None
        ops.append({"op": fn.name, "shape": None if out is None else out.shape,
                    "saved_bytes": own, "created_at": fn.__dict__.get("_created_at"),
                    "freed": bool(fn.__dict__.get("_freed"))})
        for x in fn.__dict__.get("inputs") or ():
            if x.grad_fn is not None:
                stack.append(x.grad_fn)
    return GraphSummary(ops, total)

