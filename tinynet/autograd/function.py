"""``Function``: one differentiable op, the node type of tinynet's graph.

A ``Function`` subclass defines ``forward`` on raw arrays and ``backward`` on
the output gradients as Tensors, returning one input gradient (a Tensor or
None) per input, written with tinynet ops so that the backward pass can itself
be differentiated (``create_graph=True``).

Calling a Function runs forward and, when grad mode is on and an input
requires grad, records the node: the outputs point at it through
``grad_fn``, it keeps its inputs, and it holds its outputs only through weak
references, so the graph has no reference cycles and is freed as soon as the
last output Tensor goes away.

``Function.apply`` runs a Function written in PyTorch's style (static
``forward(ctx, ...)``/``backward(ctx, ...)`` on Tensors) through the same node.
"""
import weakref

from tinynet.autograd.debug import check_forward
from tinynet.autograd.grad_mode import no_grad, state
from tinynet.tensor import Tensor, as_tensor, describe

_make = Tensor._make          # bound once: every op call makes its outputs with it


def shares_memory(a, b):
    """Is array ``a`` a view of the same memory as array ``b`` (following ``.base``)?"""
    if getattr(a, "base", None) is None:
        return False
    while a.base is not None:
        a = a.base
    while getattr(b, "base", None) is not None:
        b = b.base
    return a is b


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
                inputs = tuple(as_tensor(x) for x in inputs)
                break
        try:
            ys = self.forward(*[x.array for x in inputs])
        except (ValueError, TypeError, IndexError) as e:
            raise self._forward_error(inputs, e) from e
        record = False
        if state.enabled:
            for x in inputs:
                if x.requires_grad:
                    record = True
                    break
        if state.anomaly:
            check_forward(self, inputs, ys)
        if type(ys) is not tuple:                   # the common single-output case
            out = _make(ys, record)
            if self.may_view and shares_memory(ys, inputs[0].array):
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
                if shares_memory(o.array, inputs[0].array):
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
        o = self.outputs[i]()
        if o is not None:
            return o
        return Tensor._wrap(self._saved_outputs[i])

    @property
    def name(self):
        return type(self).__name__

    def _forward_error(self, inputs, e):
        """Turn a NumPy error from inside forward into one that names the op."""
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

