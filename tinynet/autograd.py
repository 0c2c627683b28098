"""The autograd engine: grad mode, ``Function`` and the backward pass.

A ``Function`` is one op. ``forward`` works on raw arrays; ``backward`` gets
the output gradients as Tensors and returns one input gradient (a Tensor or
None) per input, written with tinynet ops so that the backward pass can itself
be differentiated (``create_graph=True``).

The graph is the chain output Tensor -> ``grad_fn`` (a Function) -> its input
Tensors -> their ``grad_fn`` ... Functions hold their outputs only through weak
references, so the graph has no reference cycles and is freed as soon as the
last output Tensor goes away.
"""
import functools
import threading
import weakref

import numpy as np

from tinynet.backend import get_array_module


# ---------------------------------------------------------------- grad mode
class _GradMode(threading.local):
    # threading.local: no_grad in one thread does not affect another
    enabled = True
    anomaly = False


_mode = _GradMode()


def is_grad_enabled():
    return _mode.enabled


class _GradModeContext:
    """A context manager and decorator that sets grad mode inside it."""
    mode = True

    def __new__(cls, *args, **kwargs):
        # `@tn.no_grad` without parentheses decorates the function directly
        if cls is not set_grad_enabled and len(args) == 1 and callable(args[0]) \
                and not kwargs:
            return cls()(args[0])
        return super().__new__(cls)

    def __init__(self):
        self.prev = []

    def __enter__(self):
        self.prev.append(_mode.enabled)
        _mode.enabled = self.mode

    def __exit__(self, *exc):
        _mode.enabled = self.prev.pop()
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = _mode.enabled
            _mode.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                _mode.enabled = prev
        return wrapper


class no_grad(_GradModeContext):
    """Ops run inside ``with tn.no_grad():`` (or a function decorated with
    ``@tn.no_grad()``) record no graph."""
    mode = False


class enable_grad(_GradModeContext):
    """Turns graph recording back on inside a ``no_grad`` block."""
    mode = True


class inference_mode(_GradModeContext):
    """PyTorch's ``inference_mode(mode=True)``: in tinynet the same as
    ``no_grad`` (nothing is recorded; tensors made inside carry no extra
    restriction)."""

    def __init__(self, mode=True):
        super().__init__()
        self.mode = not mode


class set_grad_enabled(_GradModeContext):
    """``tn.set_grad_enabled(False)`` switches grad mode at once, as a call;
    as a context manager it restores the previous mode on exit, and it also
    decorates functions (PyTorch's semantics)."""

    def __init__(self, mode):
        self.mode = bool(mode)
        self.prev = [_mode.enabled]
        _mode.enabled = self.mode

    def __enter__(self):
        pass

    def __call__(self, fn):
        _mode.enabled = self.prev[0]     # as a decorator it changes nothing until called
        return super().__call__(fn)


# ---------------------------------------------------------------- Function
Tensor = _make = _as_tensor = None      # bound by tinynet.tensor once it is imported


def _shares_memory(a, b):
    """Is ``a`` a view of the same memory as ``b`` (following ``.base``)?"""
    if getattr(a, "base", None) is None:
        return False
    while a.base is not None:
        a = a.base
    while getattr(b, "base", None) is not None:
        b = b.base
    return a is b


def _bind_tensor(tensor_cls, as_tensor):
    global Tensor, _make, _as_tensor
    Tensor, _make, _as_tensor = tensor_cls, tensor_cls._make, as_tensor


class Function:
    """Base class of every differentiable op (and of users' own ops).

    Subclasses define ``forward(self, *arrays)`` returning an array or a tuple
    of arrays, and ``backward(self, *grad_outputs)`` returning a Tensor or
    None per input. Inside backward, ``self.inputs`` are the input Tensors and
    ``self.needs_input_grad[i]`` says whether input i wants a gradient.
    Set ``keep_outputs = True`` to read outputs in backward via ``self.output(i)``.
    """
    keep_outputs = False
    may_view = False        # True for ops whose output can be a view of input 0

    def __call__(self, *inputs):
        for x in inputs:
            if not isinstance(x, Tensor):
                inputs = tuple(_as_tensor(x) for x in inputs)
                break
        try:
            ys = self.forward(*[x.array for x in inputs])
        except (ValueError, TypeError, IndexError) as e:
            raise self._forward_error(inputs, e) from e
        record = False
        if _mode.enabled:
            for x in inputs:
                if x.requires_grad:
                    record = True
                    break
        if _mode.anomaly:
            _check_forward(self, inputs, ys)
        if type(ys) is not tuple:                   # the common single-output case
            out = _make(ys, record)
            if self.may_view and _shares_memory(ys, inputs[0].array):
                out._vc, out._base = inputs[0]._vc, inputs[0]
            if record:
                self.inputs = inputs
                self.outputs = (weakref.ref(out),)
                self._versions = [x._vc[0] for x in inputs]
                if self.keep_outputs:
                    self._saved_outputs = (out.array,)
                    self._out_versions = ((out._vc, out._vc[0]),)
                out.grad_fn = self
            return out
        outs = tuple(_make(y, record) for y in ys)
        if self.may_view:
            for o in outs:
                if _shares_memory(o.array, inputs[0].array):
                    o._vc, o._base = inputs[0]._vc, inputs[0]
        if record:
            self.inputs = inputs
            self.outputs = tuple(weakref.ref(o) for o in outs)
            self._versions = [x._vc[0] for x in inputs]
            self._out_meta = tuple((o.shape, o.dtype) for o in outs)
            if self.keep_outputs:
                self._saved_outputs = tuple(o.array for o in outs)
                self._out_versions = tuple((o._vc, o._vc[0]) for o in outs)
            for i, o in enumerate(outs):
                o.grad_fn = self
                o._out_index = i
        return outs

    def _replace_output(self, i, t, saved=True):
        """Make ``t`` this Function's output ``i`` (and, with ``saved``, the
        output array its backward reads): an in-place op moved the output's
        place in the graph to another Tensor object."""
        outputs = list(self.outputs)
        outputs[i] = weakref.ref(t)
        self.outputs = tuple(outputs)
        if saved and self.keep_outputs and "_saved_outputs" in self.__dict__:
            saved, versions = list(self._saved_outputs), list(self._out_versions)
            saved[i], versions[i] = t.array, (t._vc, t._vc[0])
            self._saved_outputs, self._out_versions = tuple(saved), tuple(versions)

    @property
    def needs_input_grad(self):
        """One bool per input: does it want a gradient?"""
        return tuple(x.requires_grad for x in self.inputs)

    def forward(self, *xs):
        raise NotImplementedError(f"{type(self).__name__}.forward is not defined")

    def backward(self, *gys):
        raise NotImplementedError(
            f"{type(self).__name__}.backward is not defined: this op is not differentiable")

    def output(self, i=0):
        """Output i as a Tensor inside backward (needs ``keep_outputs = True``).

        The live output Tensor is returned when it still exists, so that a
        ``create_graph`` backward differentiates through it; otherwise a
        constant Tensor around the saved array.
        """
        from tinynet.tensor import Tensor
        o = self.outputs[i]()
        if o is not None:
            return o
        return Tensor._wrap(self._saved_outputs[i])

    @property
    def name(self):
        return type(self).__name__

    def _forward_error(self, inputs, e):
        """Turn a NumPy error from inside forward into one that names the op."""
        from tinynet.tensor import describe
        devices = {x.device for x in inputs}
        what = ", ".join(describe(x) for x in inputs)
        if len(devices) > 1:
            return RuntimeError(f"{self.name}: inputs are on different devices "
                                f"({' and '.join(sorted(devices))}); inputs: {what}")
        return type(e)(f"{self.name}: {e}; inputs: {what}")

    def _free(self):
        # Drop everything saved for backward: the inputs, saved outputs and any
        # arrays the op stored on itself. Only the marker and outputs remain.
        outputs = self.__dict__.get("outputs")
        self.__dict__.clear()
        self.outputs = outputs
        self._freed = True

    def __repr__(self):
        return f"<{self.name}>"

    @classmethod
    def apply(cls, *args):
        """Run a Function written in PyTorch's style: ``forward(ctx, *args)``
        and ``backward(ctx, *grads)`` as static methods on Tensors (or
        ``forward(*args)`` plus ``setup_context(ctx, inputs, output)``).
        ``MyFn.apply(x, 2.0)`` works as ``torch.autograd.Function.apply``.
        tinynet's own style is ``MyFn()(x)`` with forward on raw arrays."""
        tensors = tuple(a for a in args if isinstance(a, Tensor))
        return _CtxFunction(cls, args)(*tensors)

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError


class FunctionCtx:
    """The ``ctx`` of a PyTorch-style Function: ``save_for_backward``,
    ``saved_tensors``, ``needs_input_grad`` and any attribute you set."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self.to_save = ()
        self.materialize_grads = True
        self._node = None

    def save_for_backward(self, *tensors):
        self.to_save = tensors

    def mark_non_differentiable(self, *tensors):
        pass            # their gradients arrive as zeros and are ignored, as in PyTorch

    def mark_dirty(self, *tensors):
        raise NotImplementedError(
            "ctx.mark_dirty: in-place changes inside a PyTorch-style Function.forward are "
            "not supported by tinynet; return a new tensor instead")

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)

    @property
    def saved_tensors(self):
        return tuple(self._node._saved(t) for t in self.to_save)


class _CtxFunction(Function):
    """The graph node behind ``Function.apply``: runs the user's static
    forward on Tensors without recording, and their backward on the
    gradients. Saved inputs and outputs come back as the graph's own
    Tensors, so a ``create_graph`` backward can differentiate through them."""

    def __init__(self, cls, args):
        self.cls, self.args = cls, args
        self.ctx = FunctionCtx(tuple(isinstance(a, Tensor) and a.requires_grad for a in args))
        self.ctx._node = self

    @property
    def name(self):
        return self.cls.__name__

    def forward(self, *arrays):
        it = iter(arrays)
        args = tuple(Tensor._const(next(it)) if isinstance(a, Tensor) else a for a in self.args)
        self._arg_ids = {id(a): k for k, a in enumerate(t for t in args if isinstance(t, Tensor))}
        with no_grad():
            if self.cls.setup_context is not Function.setup_context:
                out = self.cls.forward(*args)
                self.cls.setup_context(self.ctx, args, out)
            else:
                out = self.cls.forward(self.ctx, *args)
        outs = out if isinstance(out, tuple) else (out,)
        if not all(isinstance(o, Tensor) for o in outs):
            raise TypeError(f"{self.name}.forward must return a Tensor or a tuple of Tensors, "
                            f"got {type(out).__name__}")
        self._out_ids = {id(o): i for i, o in enumerate(outs)}
        if any(id(t) in self._out_ids for t in self.ctx.to_save):
            self.keep_outputs = True
        self._single = not isinstance(out, tuple)
        arrays = tuple(o.array for o in outs)
        return arrays[0] if self._single else arrays

    def _saved(self, t):
        if id(t) in self._arg_ids:
            return self.inputs[self._arg_ids[id(t)]]
        if id(t) in self._out_ids:
            return self.output(self._out_ids[id(t)])
        return t

    def backward(self, *gys):
        grads = self.cls.backward(self.ctx, *gys)
        grads = grads if isinstance(grads, tuple) else (grads,)
        if len(grads) < len(self.args):
            raise RuntimeError(f"{self.name}.backward returned {len(grads)} gradients; "
                               f"forward took {len(self.args)} arguments")
        return tuple(g for g, a in zip(grads, self.args) if isinstance(a, Tensor))


# ---------------------------------------------------------------- anomaly detection
class detect_anomaly:
    """Inside ``with tn.autograd.detect_anomaly():`` the first op whose forward
    output or backward gradient holds NaN/Inf (from finite inputs) raises a
    RuntimeError naming the op and the line of user code that created it.
    Slower: every op checks its results and records where it was called."""

    def __init__(self, enabled=True):
        self.enabled = enabled

    def __enter__(self):
        self.prev = _mode.anomaly
        _mode.anomaly = self.enabled

    def __exit__(self, *exc):
        _mode.anomaly = self.prev
        return False


def _user_site():
    """'file:line in function: code' of the innermost frame outside tinynet."""
    import os
    import traceback
    root = os.path.dirname(os.path.abspath(__file__))
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not os.path.abspath(frame.filename).startswith(root):
            return f"{frame.filename}:{frame.lineno} in {frame.name}: {frame.line}"
    return "(inside tinynet)"


def _finite(a):
    xp = get_array_module(a)
    return a.dtype.kind not in "fc" or bool(xp.isfinite(a).all())


def _check_forward(fn, inputs, ys):
    fn._created_at = _user_site()
    outs = ys if type(ys) is tuple else (ys,)
    if all(_finite(x.array) for x in inputs) and not all(_finite(y) for y in outs):
        raise RuntimeError(
            f"detect_anomaly: {fn.name} produced NaN or Inf in its forward output from finite "
            f"inputs ({', '.join(describe_short(x) for x in inputs)}); the op was called at "
            f"{fn._created_at}")


def _check_backward(fn, gys, gxs):
    if not all(_finite(g.array) for g in gys if g is not None):
        return                        # an earlier op is to blame, and was reported
    for j, gx in enumerate(gxs):
        if gx is not None and not _finite(gx.array):
            raise RuntimeError(
                f"detect_anomaly: the backward of {fn.name} returned NaN or Inf in the "
                f"gradient for input {j} {describe_short(fn.inputs[j])}; the op was called "
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


def _arrays_of(fn):
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
        for a in _arrays_of(fn):
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


# ---------------------------------------------------------------- backward
class _Node:
    """Book-keeping for one Function during one backward pass."""
    __slots__ = ("deps", "grads", "needed")

    def __init__(self, n_out):
        self.deps = 0
        self.grads = [None] * n_out
        self.needed = True


def _freed_error(fn):
    return RuntimeError(
        f"Trying to backward through the graph a second time: the saved values of "
        f"{fn.name} were already freed by an earlier backward. Pass "
        "retain_graph=True to the first backward() (or tn.grad) if you need to "
        "backward through the same graph again.")


def _collect(roots):
    """All Functions reachable from ``roots`` with their dependency counts.

    Iterative (no recursion), so a 100 000-op chain is fine. The count of a
    Function is the number of graph edges pointing at it; it becomes ready
    when all of those have delivered their gradients.
    """
    nodes = {}
    stack = []
    for f in roots:
        if f not in nodes:
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


def _topological(nodes, roots):
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


def _accumulate(a, b):
    return b if a is None else a + b


def _root_base_id(arr):
    while getattr(arr, "base", None) is not None:
        arr = arr.base
    return id(arr)


def run_backward(outputs, grad_outputs, retain_graph=False, create_graph=False,
                 inputs=None, allow_unused=False):
    """The backward pass shared by ``Tensor.backward`` and ``tn.grad``.

    With ``inputs=None`` gradients are accumulated into the ``.grad`` of the
    leaf tensors; otherwise the gradients of ``inputs`` are returned and no
    ``.grad`` is touched.
    """
    from tinynet.tensor import Tensor

    roots = {}
    leaf_grads = {}                    # id(leaf) -> [leaf, grad]
    wanted = None
    if inputs is not None:
        wanted = {id(t): i for i, t in enumerate(inputs)}
    captured = [None] * (len(inputs) if inputs is not None else 0)

    def deliver_leaf(t, g):
        if wanted is not None:
            if id(t) in wanted:
                k = wanted[id(t)]
                captured[k] = _accumulate(captured[k], g)
            return
        entry = leaf_grads.get(id(t))
        if entry is None:
            leaf_grads[id(t)] = [t, g]
        else:
            entry[1] = entry[1] + g

    with set_grad_enabled(create_graph):
        for y, gy in zip(outputs, grad_outputs):
            if y.grad_fn is None:
                if y.requires_grad:
                    deliver_leaf(y, gy)
                continue
            roots.setdefault(y.grad_fn, []).append((y._out_index, gy))
        nodes = _collect(list(roots))

        if wanted is not None:
            # Prune: only Functions with a path to a wanted input do work.
            for f in reversed(_topological(nodes, roots)):
                nodes[f].needed = any(
                    id(x) in wanted or (x.grad_fn is not None and nodes[x.grad_fn].needed)
                    for x in f.inputs)

        for f, pairs in roots.items():
            node = nodes[f]
            for idx, gy in pairs:
                node.grads[idx] = _accumulate(node.grads[idx], gy)
        ready = [f for f in roots if nodes[f].deps == 0]

        while ready:
            f = ready.pop()
            node = nodes[f]
            gys = node.grads
            node.grads = None
            _output_hooks(f, gys, wanted, captured)
            if node.needed and _mode.anomaly:
                _mode.anomaly = False        # blame the op whose backward this is, not its parts
                try:
                    gxs = _call_backward(f, gys)
                finally:
                    _mode.anomaly = True
                _check_backward(f, gys, gxs)
            elif node.needed:
                gxs = _call_backward(f, gys)
            else:
                gxs = (None,) * len(f.inputs)
            inputs_f = f.inputs
            if not retain_graph:
                f._free()
            for x, gx in zip(inputs_f, gxs):
                g = x.grad_fn
                if g is not None:
                    producer = nodes[g]
                    if gx is not None:
                        producer.grads[x._out_index] = _accumulate(
                            producer.grads[x._out_index], gx)
                    producer.deps -= 1
                    if producer.deps == 0:
                        ready.append(g)
                elif gx is not None and x.requires_grad:
                    deliver_leaf(x, gx)

        if wanted is not None:
            for k, t in enumerate(inputs):
                if captured[k] is not None and t._hooks and t.grad_fn is None:
                    captured[k] = _run_hooks(t, captured[k])
            if not allow_unused:
                for k, t in enumerate(inputs):
                    if captured[k] is None:
                        raise RuntimeError(
                            f"tn.grad: input {k} {describe_short(t)} was not used to "
                            "compute the outputs (or does not require grad); pass "
                            "allow_unused=True to get None for it")
            return tuple(captured)

        # Accumulate into .grad. A gradient array may be shared between leaves
        # (Add passes gy to both inputs) or be the caller's grad_output; give
        # each leaf its own array so in-place updates of one .grad (an
        # optimizer, clip_grad_norm_) never change another.
        seen = {_root_base_id(g.array) for g in grad_outputs}
        for t, g in leaf_grads.values():
            if t._hooks:
                g = _run_hooks(t, g)
            if not create_graph:
                base = _root_base_id(g.array)
                if base in seen:
                    g = Tensor._wrap(g.array.copy())
                seen.add(base)
            t.grad = g if t.grad is None else t.grad + g
    return None


def describe_short(t):
    return f"(shape {tuple(t.shape)}, {t.dtype})"


def _run_hooks(t, g):
    for hook in list(t._hooks.values()):
        out = hook(g)
        if out is not None:
            g = out
    return g


def _output_hooks(f, gys, wanted, captured):
    """Hooks, retain_grad and tn.grad capture for the outputs of ``f``."""
    for i, ref in enumerate(f.outputs):
        t = ref()
        if t is None or gys[i] is None:
            continue
        if t._hooks:
            gys[i] = _run_hooks(t, gys[i])
        if t._retains_grad and wanted is None:
            t.grad = gys[i] if t.grad is None else t.grad + gys[i]
        if wanted is not None and id(t) in wanted:
            k = wanted[id(t)]
            captured[k] = _accumulate(captured[k], gys[i])


def _call_backward(f, gys):
    # Materialise missing output gradients (unused outputs of a multi-output op).
    for g in gys:
        if g is None:
            xp = get_array_module(f.inputs[0].array)
            gys = [Tensor._wrap(xp.zeros(shape, dtype)) if g is None else g
                   for g, (shape, dtype) in zip(gys, f._out_meta)]
            break
    for x, v in zip(f.inputs, f._versions):
        if x._vc[0] != v:
            raise RuntimeError(
                f"{f.name}: one of the tensors needed for its gradient, input "
                f"{describe_short(x)}, was modified in place after it "
                f"was used (version {v} -> {x._vc[0]}); its backward would be wrong. "
                "Use an out-of-place op (x = x + 1, not x += 1) or clone() first.")
    for i, (vc, v) in enumerate(f.__dict__.get("_out_versions", ())):
        if vc[0] != v:
            raise RuntimeError(
                f"{f.name}: its output {i}, which its backward needs, was modified in "
                f"place (version {v} -> {vc[0]}); its backward would be wrong. Use an "
                "out-of-place op or clone() the output first.")
    gxs = f.backward(*gys)
    if not isinstance(gxs, (tuple, list)):
        gxs = (gxs,)
    if len(gxs) != len(f.inputs):
        raise RuntimeError(f"{f.name}.backward returned {len(gxs)} gradients for "
                           f"{len(f.inputs)} inputs")
    out = []
    for j, (x, gx) in enumerate(zip(f.inputs, gxs)):
        if gx is not None:
            if type(gx) is not Tensor:
                gx = Tensor._wrap(gx)
            gd, xd = gx.array, x.array
            if gd.shape != xd.shape:
                raise RuntimeError(
                    f"{f.name}.backward returned a gradient of shape {gx.shape} for "
                    f"input {j} of shape {x.shape}; a broadcast input needs sum_to")
            if gd.dtype != xd.dtype and xd.dtype.kind in "fc":
                gx = gx.astype(xd.dtype)
        out.append(gx)
    return out


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs`` (PyTorch's autograd.grad).

    Returns a tuple with one Tensor (or None, with ``allow_unused``) per input;
    no ``.grad`` attribute is changed.
    """
    from tinynet.tensor import Tensor
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    for k, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"tn.grad: input {k} is a {type(t).__name__}, expected a Tensor")
        if not t.requires_grad:
            raise RuntimeError(f"tn.grad: input {k} {describe_short(t)} does not require grad")
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


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _make_grad_outputs(outputs, grad_outputs, op):
    from tinynet.tensor import Tensor
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
                f"{op}: output {k} {describe_short(y)} does not require grad and has no "
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
