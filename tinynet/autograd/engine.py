"""The backward pass.

``backward_simple`` is the whole idea in a few lines, for reading: order the
Functions so that each runs after every op that used its outputs, then walk
that order calling ``backward`` and adding up the gradients each tensor
receives. ``run_backward`` is the same walk as the real engine does it, with
what users need on top, each in its own small function:

- ``_collect``/``_ready_order``: the graph as dependency counts, iteratively
  (a 100 000-op chain needs no recursion);
- ``_prune``: with ``tn.grad(..., inputs)`` only ops on a path to an input run;
- ``_call_backward``: one op's backward with its checks (in-place changes since
  forward, gradient shapes and dtypes, anomaly mode);
- a sink receives what leaves the graph: ``_LeafGrads`` accumulates into
  ``.grad`` (``Tensor.backward``), ``_Capture`` returns the gradients of the
  requested inputs (``tn.grad``);
- ``retain_graph=False`` frees each op's saved values as soon as it ran.
"""
import numpy as np

from tinynet.autograd.debug import check_backward
from tinynet.autograd.grad_mode import no_grad, set_grad_enabled, state
from tinynet.backend import get_array_module
from tinynet.tensor import Tensor, describe


# ---------------------------------------------------------------- the idea
def backward_simple(y):
    """``y.backward()`` for a scalar ``y`` in its simplest form: gradients
    accumulate into the leaves' ``.grad``; no hooks, pruning, checks or
    freeing, and recursion bounds the graph's depth. Tested equal to
    ``y.backward()``; the engine below adds what the comments there say."""
    order, seen = [], set()

    def visit(f):                              # depth first: producers first
        if f is not None and f not in seen:
            seen.add(f)
            for x in f.inputs:
                visit(x.grad_fn)
            order.append(f)

    visit(y.grad_fn)
    xp = get_array_module(y.array)
    grads = {(y.grad_fn, y._out_index): Tensor._wrap(xp.ones_like(y.array))}
    with no_grad():
        for f in reversed(order):              # every consumer before its producer
            gys = [grads.pop((f, i), None) for i in range(len(f.outputs))]
            if all(g is None for g in gys):    # no gradient reached this op
                continue
            if any(g is None for g in gys):    # an unused output of a multi-output op
                gys = [Tensor._wrap(xp.zeros(s, d)) if g is None else g
                       for g, (s, d) in zip(gys, f._out_meta)]
            gxs = f.backward(*gys)
            for x, gx in zip(f.inputs, gxs if isinstance(gxs, (tuple, list)) else (gxs,)):
                if gx is None:
                    continue
                if x.grad_fn is not None:      # an op's output: pass it on
                    key = (x.grad_fn, x._out_index)
                    grads[key] = gx if key not in grads else grads[key] + gx
                elif x.requires_grad:          # a leaf: accumulate
                    x.grad = gx if x.grad is None else x.grad + gx


# ---------------------------------------------------------------- entry points
def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs`` (PyTorch's autograd.grad).

    Returns a tuple with one Tensor (or None, with ``allow_unused``) per input;
    no ``.grad`` attribute is changed.
    """
    outputs, inputs = _as_tuple(outputs), _as_tuple(inputs)
    for k, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"tn.grad: input {k} is a {type(t).__name__}, expected a Tensor")
        if not t.requires_grad:
            raise RuntimeError(f"tn.grad: input {k} {describe(t)} does not require grad")
    grad_outputs = _make_grad_outputs(outputs, grad_outputs, "tn.grad")
    if retain_graph is None:
        retain_graph = create_graph
    return run_backward(outputs, grad_outputs, retain_graph, create_graph,
                        inputs=inputs, allow_unused=allow_unused)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """Accumulate gradients of ``tensors`` into the leaves' ``.grad``."""
    tensors = _as_tuple(tensors)
    grad_tensors = _make_grad_outputs(tensors, grad_tensors, "backward")
    if retain_graph is None:
        retain_graph = create_graph
    run_backward(tensors, grad_tensors, retain_graph, create_graph)


def run_backward(outputs, grad_outputs, retain_graph=False, create_graph=False,
                 inputs=None, allow_unused=False):
    """The backward pass shared by ``Tensor.backward`` and ``tn.grad``.

    With ``inputs=None`` gradients are accumulated into the ``.grad`` of the
    leaf tensors; otherwise the gradients of ``inputs`` are returned and no
    ``.grad`` is touched.
    """
    sink = _LeafGrads(grad_outputs, create_graph) if inputs is None else _Capture(inputs)
    with set_grad_enabled(create_graph):
        roots = {}                             # Function -> [(output index, gradient)]
        for y, gy in zip(outputs, grad_outputs):
            if y.grad_fn is not None:
                roots.setdefault(y.grad_fn, []).append((y._out_index, gy))
            elif y.requires_grad:              # backward of a leaf itself
                sink.leaf(y, gy)
        nodes = _collect(roots)
        if inputs is not None:
            _prune(nodes, roots, sink.wanted)
        for f, pairs in roots.items():
            for idx, gy in pairs:
                nodes[f].add(idx, gy)
        ready = [f for f in roots if nodes[f].deps == 0]
        while ready:
            f = ready.pop()
            node = nodes[f]
            gys, node.grads = node.grads, None
            sink.outputs_of(f, gys)
            run = False
            if node.needed:
                for g in gys:
                    if g is not None:
                        run = True
                        break
            if run:
                gxs = _call_backward(f, gys)
            else:                              # pruned, or no gradient reached it
                gxs = (None,) * len(f.inputs)
            inputs_f = f.inputs
            if not retain_graph:
                f._free()
            for x, gx in zip(inputs_f, gxs):
                g = x.grad_fn
                if g is None:
                    if gx is not None and x.requires_grad:
                        sink.leaf(x, gx)
                    continue
                producer = nodes[g]
                if gx is not None:             # _Node.add, inlined: once per graph edge
                    pg, i = producer.grads, x._out_index
                    pg[i] = gx if pg[i] is None else pg[i] + gx
                producer.deps -= 1
                if producer.deps == 0:
                    ready.append(g)
        return sink.finish(allow_unused)


# ---------------------------------------------------------------- the graph
class _Node:
    """Book-keeping for one Function during one backward pass: how many
    consumers have yet to deliver, the gradients of its outputs so far, and
    whether its backward has to run at all."""
    __slots__ = ("deps", "grads", "needed")

    def __init__(self, n_out):
        self.deps = 0
        self.grads = [None] * n_out
        self.needed = True

    def add(self, i, g):
        self.grads[i] = g if self.grads[i] is None else self.grads[i] + g


def _collect(roots):
    """All Functions reachable from ``roots`` with their dependency counts
    (the number of graph edges pointing at each). Iterative, no recursion."""
    nodes, stack = {}, []
    for f in roots:
        nodes[f] = _Node(len(f.outputs))
        stack.append(f)
    while stack:
        f = stack.pop()
        if getattr(f, "_freed", False):
            raise _freed_error(f)
        for x in f.inputs:
            g = x.grad_fn
            if g is None:
                continue
            node = nodes.get(g)
            if node is None:
                node = nodes[g] = _Node(len(g.outputs))
                stack.append(g)
            node.deps += 1
    return nodes


def _ready_order(nodes, roots):
    """Consumers before producers (Kahn's algorithm on the dependency counts)."""
    deps = {f: n.deps for f, n in nodes.items()}
    ready = [f for f in roots if deps[f] == 0]
    order = []
    while ready:
        f = ready.pop()
        order.append(f)
        for x in f.inputs:
            g = x.grad_fn
            if g is not None:
                deps[g] -= 1
                if deps[g] == 0:
                    ready.append(g)
    return order


def _prune(nodes, roots, wanted):
    """Mark the Functions with no path to a wanted input: they need not run."""
    for f in reversed(_ready_order(nodes, roots)):
        nodes[f].needed = any(
            id(x) in wanted or (x.grad_fn is not None and nodes[x.grad_fn].needed)
            for x in f.inputs)


def _freed_error(fn):
    return RuntimeError(
        f"Trying to backward through the graph a second time: the saved values of "
        f"{fn.name} were already freed by an earlier backward. Pass "
        "retain_graph=True to the first backward() (or tn.grad) if you need to "
        "backward through the same graph again.")


# ---------------------------------------------------------------- one op
def _call_backward(f, gys):
    """Run ``f.backward`` on its output gradients and check what it returns."""
    for g in gys:
        if g is None:                          # unused outputs of a multi-output op
            xp = get_array_module(f.inputs[0].array)
            gys = [Tensor._wrap(xp.zeros(shape, dtype)) if g is None else g
                   for g, (shape, dtype) in zip(gys, f._out_meta)]
            break
    _check_versions(f)
    if state.anomaly:
        state.anomaly = False        # blame the op whose backward this is, not its parts
        try:
            gxs = f.backward(*gys)
        finally:
            state.anomaly = True
    else:
        gxs = f.backward(*gys)
    if not isinstance(gxs, (tuple, list)):
        gxs = (gxs,)
    inputs = f.inputs
    if len(gxs) != len(inputs):
        raise RuntimeError(f"{f.name}.backward returned {len(gxs)} gradients for "
                           f"{len(inputs)} inputs")
    out = []
    for j, gx in enumerate(gxs):
        if gx is None:
            out.append(None)
            continue
        x = inputs[j]
        # the common case, checked without a call: a Tensor of the input's
        # shape and dtype (``_checked_grad`` handles everything else)
        if type(gx) is Tensor:
            gd, xd = gx.array, x.array
            if gd.shape == xd.shape and gd.dtype == xd.dtype:
                out.append(gx)
                continue
        out.append(_checked_grad(f, j, x, gx))
    if state.anomaly:
        check_backward(f, gys, out)
    return out


def _check_versions(f):
    """Refuse to run a backward whose saved inputs or outputs changed in place."""
    for x, v in zip(f.inputs, f._versions):
        if x._vc[0] != v:
            _raise_input_changed(f, x, v)
    out_versions = f.__dict__.get("_out_versions")
    if out_versions:
        _check_output_versions(f, out_versions)


def _raise_input_changed(f, x, v):
    raise RuntimeError(
        f"{f.name}: one of the tensors needed for its gradient, input "
        f"{describe(x)}, was modified in place after it "
        f"was used (version {v} -> {x._vc[0]}); its backward would be wrong. "
        "Use an out-of-place op (x = x + 1, not x += 1) or clone() first.")


def _check_output_versions(f, out_versions):
    """The saved outputs (``keep_outputs``) unchanged since forward."""
    for i, (vc, v) in enumerate(out_versions):
        if vc[0] != v:
            raise RuntimeError(
                f"{f.name}: its output {i}, which its backward needs, was modified in "
                f"place (version {v} -> {vc[0]}); its backward would be wrong. Use an "
                "out-of-place op or clone() the output first.")


def _checked_grad(f, j, x, gx):
    """Input ``j``'s gradient as a Tensor of the input's shape and float dtype."""
    if type(gx) is not Tensor:
        gx = Tensor._wrap(gx)
    gd, xd = gx.array, x.array
    if gd.shape != xd.shape:
        raise RuntimeError(
            f"{f.name}.backward returned a gradient of shape {gx.shape} for "
            f"input {j} of shape {x.shape}; a broadcast input needs sum_to")
    if gd.dtype != xd.dtype and xd.dtype.kind in "fc":
        gx = gx.astype(xd.dtype)
    return gx


# ---------------------------------------------------------------- where gradients go
def _run_hooks(t, g):
    for hook in list(t._hooks.values()):
        out = hook(g)
        if out is not None:
            g = out
    return g


class _LeafGrads:
    """``Tensor.backward``: accumulate into ``.grad`` of the leaves (and of
    non-leaves that ``retain_grad()``), running tensor hooks on the way."""
    wanted = None

    def __init__(self, grad_outputs, create_graph):
        self.grads = {}                        # id(leaf) -> [leaf, gradient]
        self.grad_outputs, self.create_graph = grad_outputs, create_graph

    def leaf(self, t, g):
        entry = self.grads.get(id(t))
        if entry is None:
            self.grads[id(t)] = [t, g]
        else:
            entry[1] = entry[1] + g

    def outputs_of(self, f, gys):
        for i, ref in enumerate(f.outputs):
            t = ref()
            if t is None or gys[i] is None or not (t._hooks or t._retains_grad):
                continue
            if t._hooks:
                gys[i] = _run_hooks(t, gys[i])
            if t._retains_grad:
                t.grad = gys[i] if t.grad is None else t.grad + gys[i]

    def finish(self, allow_unused):
        # A gradient array may be shared between leaves (Add passes gy to both
        # inputs) or be the caller's grad_output; give each leaf its own array
        # so in-place updates of one .grad (an optimizer, clip_grad_norm_)
        # never change another.
        seen = {_root_base_id(g.array) for g in self.grad_outputs}
        for t, g in self.grads.values():
            if t._hooks:
                g = _run_hooks(t, g)
            if not self.create_graph:
                base = _root_base_id(g.array)
                if base in seen:
                    g = Tensor._wrap(g.array.copy())
                seen.add(base)
            t.grad = g if t.grad is None else t.grad + g
        return None


class _Capture:
    """``tn.grad``: collect the gradients of the requested inputs; ``.grad``
    is left alone."""

    def __init__(self, inputs):
        self.inputs = inputs
        self.wanted = {id(t): i for i, t in enumerate(inputs)}
        self.captured = [None] * len(inputs)

    def _add(self, t, g):
        k = self.wanted.get(id(t))
        if k is not None:
            self.captured[k] = g if self.captured[k] is None else self.captured[k] + g

    def leaf(self, t, g):
        self._add(t, g)

    def outputs_of(self, f, gys):
        for i, ref in enumerate(f.outputs):
            t = ref()
            if t is None or gys[i] is None:
                continue
            if t._hooks:
                gys[i] = _run_hooks(t, gys[i])
            self._add(t, gys[i])

    def finish(self, allow_unused):
        for k, t in enumerate(self.inputs):
            if self.captured[k] is not None and t._hooks and t.grad_fn is None:
                self.captured[k] = _run_hooks(t, self.captured[k])
            if self.captured[k] is None and not allow_unused:
                raise RuntimeError(
                    f"tn.grad: input {k} {describe(t)} was not used to compute the "
                    "outputs (or does not require grad); pass allow_unused=True to get "
                    "None for it")
        return tuple(self.captured)


def _root_base_id(arr):
    while getattr(arr, "base", None) is not None:
        arr = arr.base
    return id(arr)


# ---------------------------------------------------------------- arguments
def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _make_grad_outputs(outputs, grad_outputs, op):
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    grad_outputs = _as_tuple(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"{op}: got {len(grad_outputs)} gradients for {len(outputs)} outputs")
    result = []
    for k, (y, g) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(y, Tensor):
            raise TypeError(f"{op}: output {k} is a {type(y).__name__}, expected a Tensor")
        if not y.requires_grad:
            raise RuntimeError(
                f"{op}: output {k} {describe(y)} does not require grad and has no "
                "grad_fn; did you build it under no_grad, or forget requires_grad=True "
                "on the inputs?")
        if g is None:
            if y.numel() != 1:
                raise RuntimeError(
                    f"{op}: grad can be implicitly created only for scalar outputs, but "
                    f"output {k} has shape {y.shape}; pass a gradient of that shape "
                    "(e.g. y.backward(tn.ones_like(y))) or reduce it first (y.sum())")
            xp = get_array_module(y.array)
            g = Tensor._wrap(xp.ones(y.shape, dtype=y.dtype))
        else:
            if not isinstance(g, Tensor):
                g = Tensor._wrap(np.asarray(g, dtype=y.dtype) if not hasattr(g, "shape") else g)
            if g.shape != y.shape:
                raise RuntimeError(f"{op}: gradient for output {k} has shape {g.shape} "
                                   f"but the output has shape {y.shape}")
        result.append(g)
    return tuple(result)
