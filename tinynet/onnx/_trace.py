"""Recording one forward pass as a graph of Functions, for the ONNX export.

tinynet records a graph only for ops whose inputs require grad; an export
also needs the ops on integer tensors (token ids, lengths) and on buffers.
While ``trace`` runs the model, every ``Function`` call of this thread is
noted in order, with its input and output Tensors (``Function.__call__`` is
wrapped for that time and restored after, on every path). Other threads'
ops are not recorded.

The graph is then walked from the model's outputs back to its leaves, as
``tn.viz`` walks a graph: a leaf is a model input, a parameter or buffer (by
its state_dict name), or a constant made inside the forward.

BatchNorm layers in eval mode run as one ``BatchNormEval`` node during the
trace (their module's forward is replaced for that time), so that they export
as ONNX's BatchNormalization instead of the scale-and-shift arithmetic
tinynet computes them with.
"""
import threading

import numpy as np

from tinynet.autograd import Function
from tinynet.backend import get_array_module
from tinynet.onnx._ops import BatchNormEval
from tinynet.tensor import Tensor, as_tensor

_lock = threading.Lock()            # one trace at a time: Function.__call__ is shared


class Record:
    """One Function call: ``fn`` with its input and output Tensors, and the
    outputs' versions when they were made (an in-place change shows later)."""
    __slots__ = ("fn", "inputs", "outputs", "versions", "index")

    def __init__(self, fn, inputs, outputs, index):
        self.fn, self.inputs, self.outputs = fn, inputs, outputs
        self.versions = [o._vc[0] for o in outputs]
        self.index = index

    @property
    def name(self):
        return type(self.fn).__name__

    @property
    def kind(self):
        """The op's class name without a leading ``_`` or a ``Function``
        suffix (``TanhFunction`` and ``Tanh`` are one kind): the key of the
        export's handler table."""
        return op_kind(type(self.fn).__name__)


def op_kind(class_name):
    name = class_name.lstrip("_")
    return name[:-len("Function")] if name.endswith("Function") and name != "Function" \
        else name


class _Input(Function):
    """Model input ``k`` as a graph node (the identity): the Tensor the model
    gets is then no leaf, so in-place ops on it are recorded like any other.
    Its output is the input array itself, not marked as a view (an in-place
    op on it writes into the caller's array, as the model would)."""

    def __init__(self, k):
        self.k = k

    def forward(self, x):
        return x

    def backward(self, gy):
        return gy


def _batchnorm_forward(module):
    """An eval-mode forward for a tinynet BatchNorm module that runs BatchNormEval."""
    def forward(x):
        module._check_input(x)
        C = module.num_features
        xp = get_array_module(x.array)
        weight = module.weight if module.weight is not None else \
            Tensor._wrap(xp.ones(C, x.dtype))
        bias = module.bias if module.bias is not None else Tensor._wrap(xp.zeros(C, x.dtype))
        return BatchNormEval(module.eps)(x, weight, bias, module.running_mean,
                                         module.running_var)
    return forward


class Trace:
    """The recorded forward: ``records`` in call order, ``outputs`` (the
    model's output Tensors, flattened), ``inputs`` (the Tensors it was called
    with) and ``names`` (id of a parameter or buffer -> its state_dict name)."""

    def __init__(self, records, inputs, outputs, names, buffers):
        self.records, self.inputs, self.outputs, self.names = records, inputs, outputs, names
        self.buffers = buffers             # ids of the named tensors that are buffers
        self.by_output = {}                # id(Tensor) -> (Record, output index)
        self.by_fn = {}
        for rec in records:
            self.by_fn[id(rec.fn)] = rec
            for i, o in enumerate(rec.outputs):
                self.by_output[id(o)] = (rec, i)
        self.input_ids = {id(t): k for k, t in enumerate(inputs)}
        # raw arrays (as Functions keep them: embedding indices, lengths) -> value
        self.by_array = {}
        for k, t in enumerate(inputs):
            self.by_array.setdefault(id(t.array), ("input", k))
        for rec in records:
            for i, o in enumerate(rec.outputs):
                self.by_array.setdefault(id(o.array), ("rec", rec.index, i))

    def producer(self, t):
        """(Record, output index) that made Tensor ``t``, or None for a leaf."""
        hit = self.by_output.get(id(t))
        if hit is not None and hit[0].versions[hit[1]] == t._vc[0]:
            return hit
        fn = t.grad_fn
        if fn is not None and id(fn) in self.by_fn:
            return self.by_fn[id(fn)], t._out_index
        if hit is not None:
            raise RuntimeError(
                f"tinynet.onnx.export: the output of {hit[0].name} was changed in place "
                "without autograd recording it (an in-place op on a tensor that does not "
                "require grad); the export cannot follow that. Use the out-of-place op")
        return None

    def key(self, t):
        """A hashable name for the value Tensor ``t`` holds."""
        p = self.producer(t)
        if p is not None:
            return ("rec", p[0].index, p[1])
        if id(t) in self.input_ids:
            return ("input", self.input_ids[id(t)])
        if isinstance(t.grad_fn, _Input):      # an input's value before an in-place op
            return ("input", t.grad_fn.k)
        return ("leaf", id(t))

    def array_deps(self, rec):
        """Keys of the values whose raw arrays ``rec``'s Function keeps as
        settings (embedding indices, LSTM lengths, index arrays, where's
        condition) and that an input or a recorded op made."""
        deps = []
        stack = list(vars(rec.fn).items())
        while stack:
            name, v = stack.pop()
            if name in ("inputs", "outputs") or name.startswith("_"):
                continue
            if isinstance(v, (tuple, list)):
                stack.extend((name, x) for x in v)
            elif hasattr(v, "__array_interface__") or hasattr(v, "__cuda_array_interface__"):
                hit = self.by_array.get(id(v))
                if hit is not None and (hit[0] == "input" or hit[1] < rec.index):
                    deps.append(hit)
        return deps

    def dependencies(self, rec):
        """The records ``rec`` needs: producers of its inputs and of the arrays it keeps."""
        found = []
        for x in rec.inputs:
            p = self.producer(x)
            if p is not None:
                found.append(p[0])
        for key in self.array_deps(rec):
            if key[0] == "rec":
                found.append(self.records[key[1]])
        return found

    def order(self):
        """The records that the outputs depend on, producers before consumers."""
        done, order = set(), []
        stack = []
        for t in reversed(self.outputs):
            p = self.producer(t)
            if p is not None:
                stack.append((p[0], False))
        while stack:
            rec, expanded = stack.pop()
            if rec.index in done:
                continue
            if expanded:
                done.add(rec.index)
                order.append(rec)
                continue
            stack.append((rec, True))
            for dep in reversed(self.dependencies(rec)):
                if dep.index not in done:
                    stack.append((dep, False))
        return order


def _flatten(out, where="output"):
    """The Tensors of a forward's result (a Tensor, or nested tuples/lists of them)."""
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        flat = []
        for k, o in enumerate(out):
            flat.extend(_flatten(o, f"{where}[{k}]"))
        return flat
    raise TypeError(f"tinynet.onnx.export: the model's {where} is a {type(out).__name__}; "
                    "an exported model returns Tensors (or tuples/lists of them)")


def trace(model, inputs):
    """Run ``model(*inputs)`` once in eval mode, recording every Function call.

    ``inputs`` are Tensors; each is wrapped in a new Tensor object over the
    same array (a float one as the output of an ``_Input`` node, so that
    in-place ops on it join the graph), so the caller's Tensor objects are
    never changed. Returns a ``Trace``.
    """
    from tinynet.nn import BatchNorm1d, BatchNorm2d

    args = []
    for k, x in enumerate(inputs):
        t = Tensor._wrap(x.array)
        if t.dtype.kind in "fc":
            t = _Input(k)(t.requires_grad_(True))
        args.append(t)
    names, buffers = {}, set()
    for name, p in model.named_parameters():
        names.setdefault(id(p), name)
    for name, b in model.named_buffers():
        if id(b) not in names:
            names[id(b)] = name
            buffers.add(id(b))
    records = []
    thread = threading.get_ident()
    original = Function.__call__

    def recording_call(fn, *xs):
        if threading.get_ident() != thread:
            return original(fn, *xs)
        xs = tuple(x if isinstance(x, Tensor) else as_tensor(x) for x in xs)
        out = original(fn, *xs)
        outs = out if isinstance(out, tuple) else (out,)
        records.append(Record(fn, xs, outs, len(records)))
        return out

    was_training = [(m, m.training) for m in model.modules()]
    patched = []
    with _lock:
        try:
            model.eval()
            for m in model.modules():
                if isinstance(m, (BatchNorm1d, BatchNorm2d)) and m.running_mean is not None \
                        and "forward" not in m.__dict__:
                    object.__setattr__(m, "forward", _batchnorm_forward(m))
                    patched.append(m)
            Function.__call__ = recording_call
            out = model(*args)
        finally:
            Function.__call__ = original
            for m in patched:
                object.__delattr__(m, "forward")
            for m, mode in was_training:
                object.__setattr__(m, "training", mode)
    return Trace(records, args, _flatten(out), names, buffers)


def shuffled(arrays, seed=0, grow=None):
    """Copies of ``arrays`` with their elements shuffled (a fixed permutation
    per array), first grown by one along the axes ``grow[k]`` lists (the last
    slice repeated): the inputs of the second trace, which finds values that
    depend on the inputs or on the dynamic axes' sizes."""
    rng = np.random.default_rng(seed)
    out = []
    for k, a in enumerate(arrays):
        xp = get_array_module(a)
        host = a.get() if xp is not np else a
        for axis in sorted((grow or {}).get(k, ())):
            last = np.take(host, [-1], axis=axis)
            host = np.concatenate([host, last], axis=axis)
        flat = host.reshape(-1).copy()
        rng.shuffle(flat)
        flat = flat.reshape(host.shape)
        out.append(flat if xp is np else xp.asarray(flat))
    return out
