"""tinynet -> ONNX: each recorded Function becomes one or more ONNX nodes.

``export`` traces the model twice (``_trace.trace``): with the example inputs,
and with their elements shuffled (and grown by one along the dynamic axes,
if any). The two traces must run the same ops; what differs between them
tells the export what depends on the inputs:

- a constant made inside the forward (a tensor that no parameter, buffer or
  input flows into) is stored as an initializer; if its value differs
  between the traces it was computed from the inputs by something the
  trace cannot see (a comparison, ``.item()``), and the export refuses;
- a raw array kept by a Function (embedding indices, the lengths of an LSTM,
  the condition of ``where``, index arrays) is looked up among the inputs'
  and the recorded ops' arrays; one found nowhere must be the same in both
  traces (a constant) or the export refuses;
- a reshape or expand whose target shape changes with a dynamic axis keeps
  that dim symbolic (ONNX's 0 = copy the input's dim, -1 = infer).

The table ``HANDLERS`` maps a Function's kind (its class name without a
``Function`` suffix: ``_trace.op_kind``) to the code writing its ONNX nodes;
a Function without an entry is refused with its name.

The fused recurrent nodes: ``LSTMLayer`` becomes one ONNX LSTM node
per direction and layer. Its input is tinynet's ``xg`` (T, N, 4H), the input
projection already computed by MatMul and Add nodes, so the ONNX LSTM gets
an identity-like W (4H x 4H) that also reorders the gates from PyTorch's
i, f, g, o to ONNX's i, o, f, c; R is ``w_hh`` with its rows gathered in
that order, B is left out (the biases are inside ``xg``). GRU likewise
(r, z, n -> z, r, h, with ``linear_before_reset=1``, PyTorch's formula).
The Elman RNN and the single-step cells are written as elementwise nodes.
"""
import math

import numpy as np

from tinynet.onnx._load import BUFFER_DOC, CONSTANT_DOC
from tinynet.onnx._trace import op_kind, shuffled, trace

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min
SUPPORTED_OPSETS = (17, 18, 19, 20)


def _host(a):
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def _c_order(arr):
    """``arr`` in C order (a copy only when needed; 0-d arrays stay 0-d)."""
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def _is_array(a):
    return hasattr(a, "ndim") and hasattr(a, "dtype") and hasattr(a, "shape") and \
        not isinstance(a, np.generic)


# ---------------------------------------------------------------- graph building
class _Graph:
    """The ONNX nodes and initializers being written, with unique value names."""

    def __init__(self, onnx, opset):
        self.onnx, self.opset = onnx, opset
        self.nodes, self.initializers = [], []
        self.used = set()
        self.count = 0

    def fresh(self, hint):
        name = hint
        while name in self.used:
            self.count += 1
            name = f"{hint}_{self.count}"
        self.used.add(name)
        return name

    def const(self, array, hint="const"):
        """A new initializer holding ``array`` (copied to the host), marked as
        the exporter's constant (not a parameter) for tinynet.onnx.load; its name."""
        return self.initializer(array, self.fresh(hint), CONSTANT_DOC)

    def initializer(self, array, name, doc=None):
        from onnx import numpy_helper
        self.used.add(name)
        t = numpy_helper.from_array(_c_order(_host(array)), name)
        if doc:
            t.doc_string = doc
        self.initializers.append(t)
        return name

    def ints(self, values, hint="ints"):
        return self.const(np.asarray(values, dtype=np.int64), hint)

    def node(self, op, inputs, outputs=1, **attrs):
        """Add one node; ``outputs`` is a list of names or a count of new
        names. Returns the list of output names."""
        if isinstance(outputs, int):
            outputs = [self.fresh(f"{op.lower()}_out") for _ in range(outputs)]
        self.count += 1
        self.nodes.append(self.onnx.helper.make_node(
            op, list(inputs), list(outputs), name=f"{op}_{len(self.nodes)}",
            **{k: v for k, v in attrs.items() if v is not None}))
        return outputs

    def one(self, op, inputs, out=None, **attrs):
        """One node with one output (``out``, or a new name); that output's name."""
        return self.node(op, inputs, [out] if out else 1, **attrs)[0]

    def reduce(self, op, x, axes, keepdims, out=None):
        """A Reduce* node over ``axes``: axes are an input from opset 18 on
        (ReduceSum: from 13), an attribute before."""
        if op == "ReduceSum" or self.opset >= 18:
            return self.one(op, [x, self.ints(list(axes), "axes")], out,
                            keepdims=int(keepdims))
        return self.one(op, [x], out, axes=list(axes), keepdims=int(keepdims))


class ExportError(NotImplementedError):
    """The model uses something tinynet.onnx.export cannot write as ONNX."""


# ---------------------------------------------------------------- the exporter
class _Exporter:
    def __init__(self, onnx, opset, tr, peer, input_names, output_names):
        self.g = _Graph(onnx, opset)
        self.onnx = onnx
        self.tr, self.peer = tr, peer
        self.order = tr.order()
        self.peer_order = peer.order()
        self._check_same_ops()
        self.pairs = {rec.index: p for rec, p in zip(self.order, self.peer_order)}
        self.input_names = input_names
        self.names = {}                      # value key -> ONNX name
        for k, name in enumerate(input_names):
            self.names[("input", k)] = name
            self.g.used.add(name)
        self.constant = set()                # keys of values that depend on no input/param
        self._find_constants()
        # the model's outputs are written straight into their names where possible
        self.output_names = output_names
        self.pending = {}
        for t, name in zip(tr.outputs, output_names):
            key = tr.key(t)
            if key[0] == "rec" and key not in self.pending and key not in self.constant:
                self.pending[key] = name
                self.g.used.add(name)

    # ------------------------------------------------------------ the two traces
    def _check_same_ops(self):
        a = [r.kind for r in self.order]
        b = [r.kind for r in self.peer_order]
        if a != b:
            k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            raise ExportError(
                "tinynet.onnx.export: the model runs different ops when its inputs change "
                f"(op {k}: {a[k] if k < len(a) else 'none'} with the example inputs, "
                f"{b[k] if k < len(b) else 'none'} with other values or sizes of the dynamic "
                "axes): its forward has control flow that depends on the data, which one "
                "ONNX graph cannot hold")

    def _find_constants(self):
        for rec in self.order:
            keys = [self.tr.key(x) for x in rec.inputs] + self.tr.array_deps(rec)
            if all(self._is_constant(k) for k in keys):
                for i in range(len(rec.outputs)):
                    self.constant.add(("rec", rec.index, i))

    def _is_constant(self, key):
        if key[0] == "leaf":
            return key[1] not in self.tr.names
        return key in self.constant

    # ------------------------------------------------------------ values
    def inp(self, rec, j):
        """The ONNX name of input ``j`` of ``rec``."""
        t = rec.inputs[j]
        key = self.tr.key(t)
        if key in self.names:
            return self.names[key]
        peer_t = self.pairs[rec.index].inputs[j]
        if key[0] == "leaf" and key[1] in self.tr.names:
            name = self._named(t, key)
        elif key in self.constant or key[0] == "leaf":
            arr = self._constant_array(t, key)
            self._same_constant(arr, _host(peer_t.array), rec, f"its input {j}")
            name = self.g.const(arr, "const")
        else:
            raise AssertionError(f"value {key} used before it was written")
        self.names[key] = name
        return name

    def _named(self, t, key):
        """A parameter or buffer, as an initializer under its state_dict name."""
        name = self.tr.names[key[1]]
        doc = BUFFER_DOC if key[1] in self.tr.buffers else None
        return self.g.initializer(t.array, name, doc)

    def _constant_array(self, t, key):
        if key[0] == "rec":
            rec = self.tr.records[key[1]]
            if rec.versions[key[2]] != rec.outputs[key[2]]._vc[0]:
                raise ExportError(f"tinynet.onnx.export: a constant made by {rec.name} was "
                                  "changed in place later in the forward; the export cannot "
                                  "follow that")
        return _host(t.array)

    def _same_constant(self, a, b, rec, what):
        if a.shape != b.shape:
            raise ExportError(
                f"tinynet.onnx.export: {rec.name} (op {rec.index}) uses, as {what}, a "
                f"constant whose shape {a.shape} changes with the size of a dynamic axis "
                f"({b.shape} in the second trace); make it from the inputs with tinynet ops "
                "or export without that dynamic axis")
        if not np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"):
            raise ExportError(
                f"tinynet.onnx.export: {rec.name} (op {rec.index}) uses, as {what}, a value "
                "that changes with the inputs but was computed outside the recorded ops "
                "(e.g. by a comparison, .item() or NumPy); ONNX would freeze it. Compute it "
                "with tinynet ops on tensors, or pass it as an input")

    def array_value(self, rec, arr, peer_arr, what):
        """The ONNX name for a raw array a Function keeps (not among its inputs)."""
        hit = self.tr.by_array.get(id(arr))
        if hit is not None:
            if hit[0] == "input":
                return self.names[("input", hit[1])]
            key = hit
            if key in self.names:
                return self.names[key]
            if key in self.constant:
                return self._const_for(rec, arr, peer_arr, what)
            # a value recorded later than its use cannot happen (the array exists first)
        return self._const_for(rec, arr, peer_arr, what)

    def _const_for(self, rec, arr, peer_arr, what):
        a, b = _host(arr), _host(peer_arr)
        self._same_constant(a, b, rec, what)
        return self.g.const(a, "const")

    def is_zero_constant(self, rec, j):
        t = rec.inputs[j]
        key = self.tr.key(t)
        return self._is_constant(key) and not _host(t.array).any() and \
            not _host(self.pairs[rec.index].inputs[j].array).any()

    def out(self, rec, i):
        """The name for output ``i`` of ``rec`` (a model output's own name)."""
        key = ("rec", rec.index, i)
        if key not in self.names:
            self.names[key] = self.pending.get(key) or self.g.fresh(f"{rec.name}_{rec.index}")
        return self.names[key]

    def outs(self, rec):
        return [self.out(rec, i) for i in range(len(rec.outputs))]

    # ------------------------------------------------------------ the walk
    def run(self):
        for rec in self.order:
            if ("rec", rec.index, 0) in self.constant:
                continue                     # folded: consumers read it as an initializer
            handler = HANDLERS.get(rec.kind)
            if handler is None:
                raise ExportError(
                    f"tinynet.onnx.export: no ONNX mapping for op {rec.name} (op {rec.index} "
                    f"of the forward, output shape {tuple(rec.outputs[0].shape)}); the ops "
                    f"that export are listed in tinynet.onnx.HANDLERS")
            self._check_settings(rec)
            handler(self, rec)
        # outputs that are inputs, initializers, constants or repeated get an Identity
        written = set()
        for k, (t, name) in enumerate(zip(self.tr.outputs, self.output_names)):
            key = self.tr.key(t)
            if self.pending.get(key) == name and name not in written:
                written.add(name)
                continue
            src = self._value_for_output(t, key, self.peer.outputs[k], name)
            self.g.used.add(name)
            self.g.node("Identity", [src], [name])
            written.add(name)

    def _value_for_output(self, t, key, peer_t, name):
        if key in self.names:
            return self.names[key]
        if key[0] == "leaf" and key[1] in self.tr.names:
            self.names[key] = self._named(t, key)
            return self.names[key]
        arr = self._constant_array(t, key)
        b = _host(peer_t.array)
        if arr.shape != b.shape or not np.array_equal(arr, b, equal_nan=arr.dtype.kind in "fc"):
            raise ExportError(
                f"tinynet.onnx.export: the output {name!r} changes with the inputs but was "
                "computed outside the recorded ops (e.g. argmax, a comparison or NumPy); "
                "ONNX would freeze it. Return what it is computed from instead")
        return self.g.const(arr, "const")

    def _check_settings(self, rec):
        """The op's settings must not change between the two traces (beyond the
        shapes the handlers deal with)."""
        peer = self.pairs[rec.index]
        skip = _SHAPE_ATTRS.get(rec.kind, ()) + _ALWAYS_SKIP
        a = _settings(rec.fn, skip)
        b = _settings(peer.fn, skip)
        if a != b:
            diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            raise ExportError(
                f"tinynet.onnx.export: {rec.name} (op {rec.index}) has settings that change "
                f"with the inputs ({', '.join(diff)}: {a.get(diff[0])!r} vs "
                f"{b.get(diff[0])!r} in the second trace, with shuffled values or larger "
                "dynamic axes); one ONNX graph cannot hold both")

    def shape_for(self, rec, target, peer_target, in_shape=None, peer_in_shape=None,
                  mode="reshape"):
        """A target shape for Reshape/Expand whose dims that change between
        the traces are expressed symbolically (0: copy the input's dim; -1:
        infer, for Reshape; 1: keep the input's dim, for Expand)."""
        target, peer_target = list(target), list(peer_target)
        if len(target) != len(peer_target):
            raise ExportError(f"tinynet.onnx.export: {rec.name} (op {rec.index}) changes rank "
                              "with the dynamic axes")
        out = list(target)
        free = []
        for d, (a, b) in enumerate(zip(target, peer_target)):
            if a == b:
                continue
            if mode == "expand":
                if in_shape is not None and len(in_shape) == len(target) and \
                        in_shape[d] == a and peer_in_shape[d] == b:
                    out[d] = 1
                    continue
            elif in_shape is not None and d < len(in_shape) and in_shape[d] == a and \
                    peer_in_shape[d] == b and 0 not in target:
                out[d] = 0
                continue
            free.append(d)
        if mode == "reshape" and len(free) == 1 and -1 not in target:
            out[free[0]] = -1
            free = []
        if free:
            raise ExportError(
                f"tinynet.onnx.export: {rec.name} (op {rec.index}) has the target shape "
                f"{tuple(target)} ({tuple(peer_target)} in the second trace): more than one "
                "dim follows the dynamic axes, which a static shape cannot express")
        return out


def _settings(fn, skip):
    out = {}
    for k, v in vars(fn).items():
        if k in skip or k.startswith("_"):
            continue
        s = _simple(v)
        if s is not _NOT_SIMPLE:
            out[k] = s
    return out


_NOT_SIMPLE = object()


def _simple(v):
    if v is None or isinstance(v, (bool, int, float, str, np.integer, np.floating)):
        return v
    if isinstance(v, slice):
        return ("slice", v.start, v.stop, v.step)
    if isinstance(v, (tuple, list)):
        items = [_simple(x) for x in v]
        return tuple(("array",) if x is _NOT_SIMPLE else x for x in items)
    if v is Ellipsis:
        return "..."
    return _NOT_SIMPLE


_ALWAYS_SKIP = ("inputs", "outputs", "keep_outputs")
# settings that are shapes: the handlers make them symbolic where they change
_SHAPE_ATTRS = {"Reshape": ("shape",), "View": ("shape",), "BroadcastTo": ("shape",),
                "SumTo": ("shape",), "MaxPool2d": ("out_hw",), "AvgPool2d": ("out_hw",),
                "Conv2dGradInput": ("x_shape",), "TakeAlong": ("shape",)}


# ---------------------------------------------------------------- handlers
HANDLERS = {}


def handles(*names):
    """Register a handler for the op kinds ``names`` (class names without a
    ``Function`` suffix or leading ``_``: see ``_trace.op_kind``)."""
    def register(fn):
        for n in names:
            HANDLERS[op_kind(n)] = fn
        return fn
    return register


def _same(onnx_op):
    def handler(ex, rec):
        ex.g.node(onnx_op, [ex.inp(rec, j) for j in range(len(rec.inputs))], ex.outs(rec))
    return handler


for _tn, _op in {"Add": "Add", "Sub": "Sub", "Mul": "Mul", "Div": "Div", "Pow": "Pow",
                 "Maximum": "Max", "Minimum": "Min", "Neg": "Neg", "Exp": "Exp", "Log": "Log",
                 "Sqrt": "Sqrt", "Abs": "Abs", "Sin": "Sin", "Cos": "Cos", "Tanh": "Tanh",
                 "Sigmoid": "Sigmoid", "Relu": "Relu", "Erf": "Erf", "MatMul": "MatMul",
                 "Clone": "Identity", "ToDevice": "Identity", "StdFromVar": "Sqrt",
                 "Hardswish": "HardSwish"}.items():
    HANDLERS[op_kind(_tn)] = _same(_op)


def _scalar(value, like):
    """A 0-d constant of ``like``'s dtype (a Tensor or array)."""
    return np.asarray(value, dtype=like.dtype)


@handles("PowScalar")
def _pow_scalar(ex, rec):
    x = rec.inputs[0]
    c = rec.fn.c
    ex.g.one("Pow", [ex.inp(rec, 0), ex.g.const(_scalar(c, x), "exponent")], ex.out(rec, 0))


@handles("Rsqrt")
def _rsqrt(ex, rec):
    ex.g.one("Reciprocal", [ex.g.one("Sqrt", [ex.inp(rec, 0)])], ex.out(rec, 0))


@handles("Log1p")
def _log1p(ex, rec):
    one = ex.g.const(_scalar(1, rec.inputs[0]), "one")
    ex.g.one("Log", [ex.g.one("Add", [ex.inp(rec, 0), one])], ex.out(rec, 0))


@handles("LeakyRelu")
def _leaky_relu(ex, rec):
    ex.g.one("LeakyRelu", [ex.inp(rec, 0)], ex.out(rec, 0), alpha=float(rec.fn.slope))


@handles("Elu")
def _elu(ex, rec):
    from tinynet.ops.elementwise import SELU_ALPHA, SELU_SCALE
    fn, x, y = rec.fn, ex.inp(rec, 0), ex.out(rec, 0)
    if fn.scale == 1 and fn.input_scale == 1:
        ex.g.one("Elu", [x], y, alpha=float(fn.alpha))
    elif fn.input_scale == 1 and fn.alpha == SELU_ALPHA and fn.scale == SELU_SCALE:
        ex.g.one("Selu", [x], y, alpha=float(fn.alpha), gamma=float(fn.scale))
    elif fn.scale == 1 and math.isclose(fn.input_scale * fn.alpha, 1.0):
        ex.g.one("Celu", [x], y, alpha=float(fn.alpha))
    else:
        raise ExportError(f"tinynet.onnx.export: no ONNX mapping for Elu with alpha="
                          f"{fn.alpha}, scale={fn.scale}, input_scale={fn.input_scale}")


@handles("Softplus")
def _softplus(ex, rec):
    # ONNX's Softplus has no threshold: above it tinynet returns x, ONNX
    # log(1 + e^x), which differs from x by less than e^-threshold
    fn, x = rec.fn, rec.inputs[0]
    if fn.beta == 1:
        ex.g.one("Softplus", [ex.inp(rec, 0)], ex.out(rec, 0))
        return
    beta = ex.g.const(_scalar(fn.beta, x), "beta")
    sp = ex.g.one("Softplus", [ex.g.one("Mul", [ex.inp(rec, 0), beta])])
    ex.g.one("Div", [sp, beta], ex.out(rec, 0))


@handles("Gelu")
def _gelu(ex, rec):
    x, g = rec.inputs[0], ex.g
    xn = ex.inp(rec, 0)
    if g.opset >= 20:
        g.one("Gelu", [xn], ex.out(rec, 0), approximate=rec.fn.approximate)
        return
    c = lambda v: g.const(_scalar(v, x), "c")       # noqa: E731
    if rec.fn.approximate == "tanh":
        cube = g.one("Mul", [g.one("Mul", [xn, xn]), xn])
        inner = g.one("Mul", [g.one("Add", [xn, g.one("Mul", [cube, c(0.044715)])]),
                              c(math.sqrt(2 / math.pi))])
        phi = g.one("Add", [g.one("Tanh", [inner]), c(1.0)])
    else:
        phi = g.one("Add", [g.one("Erf", [g.one("Mul", [xn, c(1 / math.sqrt(2))])]), c(1.0)])
    g.one("Mul", [g.one("Mul", [xn, phi]), c(0.5)], ex.out(rec, 0))


@handles("Hardtanh")
def _hardtanh(ex, rec):
    x = rec.inputs[0]
    ex.g.one("Clip", [ex.inp(rec, 0), ex.g.const(_scalar(rec.fn.lo, x), "min"),
                      ex.g.const(_scalar(rec.fn.hi, x), "max")], ex.out(rec, 0))


@handles("Clamp")
def _clamp(ex, rec):
    x = rec.inputs[0]
    lo = "" if rec.fn.lo is None else ex.g.const(_scalar(rec.fn.lo, x), "min")
    hi = "" if rec.fn.hi is None else ex.g.const(_scalar(rec.fn.hi, x), "max")
    ex.g.one("Clip", [ex.inp(rec, 0), lo, hi], ex.out(rec, 0))


@handles("Hardsigmoid")
def _hardsigmoid(ex, rec):
    ex.g.one("HardSigmoid", [ex.inp(rec, 0)], ex.out(rec, 0), alpha=1 / 6, beta=0.5)


@handles("Silu")
def _silu(ex, rec):
    x = ex.inp(rec, 0)
    ex.g.one("Mul", [x, ex.g.one("Sigmoid", [x])], ex.out(rec, 0))


@handles("Mish")
def _mish(ex, rec):
    x = ex.inp(rec, 0)
    ex.g.one("Mul", [x, ex.g.one("Tanh", [ex.g.one("Softplus", [x])])], ex.out(rec, 0))


@handles("Logsigmoid")
def _logsigmoid(ex, rec):
    g = ex.g
    g.one("Neg", [g.one("Softplus", [g.one("Neg", [ex.inp(rec, 0)])])], ex.out(rec, 0))


@handles("Where")
def _where(ex, rec):
    cond = ex.array_value(rec, rec.fn.cond, ex.pairs[rec.index].fn.cond, "its condition")
    ex.g.one("Where", [cond, ex.inp(rec, 0), ex.inp(rec, 1)], ex.out(rec, 0))


@handles("LinearFunction")
def _linear(ex, rec):
    g = ex.g
    x, w = ex.inp(rec, 0), ex.inp(rec, 1)
    b = ex.inp(rec, 2) if len(rec.inputs) == 3 else None
    if rec.inputs[0].ndim == 2:
        g.one("Gemm", [x, w] + ([b] if b else []), ex.out(rec, 0), transB=1)
        return
    y = g.one("MatMul", [x, g.one("Transpose", [w], perm=[1, 0])],
              None if b else ex.out(rec, 0))
    if b:
        g.one("Add", [y, b], ex.out(rec, 0))


@handles("Einsum")
def _einsum(ex, rec):
    eq = ",".join(rec.fn.terms) + "->" + rec.fn.out
    ex.g.node("Einsum", [ex.inp(rec, j) for j in range(len(rec.inputs))], [ex.out(rec, 0)],
              equation=eq)


def _reduction(onnx_op):
    def handler(ex, rec):
        axes, keep = tuple(rec.fn.axes), bool(rec.fn.keepdims)
        if not axes:                          # NumPy reduces nothing; ONNX would reduce all
            ex.g.one("Identity", [ex.inp(rec, 0)], ex.out(rec, 0))
            return
        ex.g.reduce(onnx_op, ex.inp(rec, 0), axes, keep, ex.out(rec, 0))
    return handler


for _tn, _op in {"Sum": "ReduceSum", "Mean": "ReduceMean", "Max": "ReduceMax",
                 "Min": "ReduceMin", "LogSumExp": "ReduceLogSumExp",
                 "Prod": "ReduceProd"}.items():
    HANDLERS[op_kind(_tn)] = _reduction(_op)


@handles("Softmax", "LogSoftmax")
def _softmax(ex, rec):
    ex.g.one(rec.kind, [ex.inp(rec, 0)], ex.out(rec, 0), axis=int(rec.fn.axis))


@handles("ScaledDotProductAttention")
def _attention(ex, rec):
    """The fused attention node as the products it stands for: softmax(q @ k^T
    * scale + mask) @ v, the causal mask an additive constant of -inf above
    the diagonal."""
    g, fn = ex.g, rec.fn
    q = rec.inputs[0]
    L, S = q.shape[1], rec.inputs[1].shape[1]
    peer = ex.pairs[rec.index].inputs
    if fn.causal and (peer[0].shape[1], peer[1].shape[1]) != (L, S):
        raise ExportError("tinynet.onnx.export: causal scaled_dot_product_attention over a "
                          "dynamic sequence axis: the causal mask is written for the traced "
                          f"length ({L} queries, {S} keys); export without a dynamic axis "
                          "on the sequence")
    k_t = g.one("Transpose", [ex.inp(rec, 1)], perm=[0, 2, 1])
    scores = g.one("Mul", [g.one("MatMul", [ex.inp(rec, 0), k_t]),
                           g.const(_scalar(fn.scale, q), "scale")])
    keep = np.ones((1, L, S), bool)
    if fn.causal:
        keep &= np.tri(L, S, dtype=bool)
        scores = g.one("Add", [scores, g.const(np.where(np.tri(L, S, dtype=bool), 0, -np.inf)
                                               .astype(q.dtype), "causal_mask")])
    if fn.mask is not None:
        keep = keep & ~np.isneginf(_host(fn.mask))
        mask = ex.array_value(rec, fn.mask, ex.pairs[rec.index].fn.mask, "its mask")
        scores = g.one("Add", [scores, mask])
    if not keep.any(axis=-1).all():
        # ONNX's Softmax gives NaN for a row of -inf; tinynet gives zeros
        raise ExportError("tinynet.onnx.export: scaled_dot_product_attention with a mask that "
                          "hides every key from some query has no ONNX equivalent (ONNX's "
                          "Softmax gives NaN there, tinynet 0); unmask at least one key per "
                          "query")
    weights = g.one("Softmax", [scores], axis=-1)
    g.one("MatMul", [weights, ex.inp(rec, 2)], ex.out(rec, 0))


@handles("Cumsum")
def _cumsum(ex, rec):
    ex.g.one("CumSum", [ex.inp(rec, 0), ex.g.const(np.array(rec.fn.axis, np.int64), "axis")],
             ex.out(rec, 0))


@handles("Reshape", "View")
def _reshape(ex, rec):
    peer = ex.pairs[rec.index]
    target = [int(d) for d in rec.outputs[0].shape]
    shape = ex.shape_for(rec, target, [int(d) for d in peer.outputs[0].shape],
                         rec.inputs[0].shape, peer.inputs[0].shape)
    allowzero = 1 if 0 in target else None
    ex.g.one("Reshape", [ex.inp(rec, 0), ex.g.ints(shape, "shape")], ex.out(rec, 0),
             allowzero=allowzero)


@handles("Permute")
def _permute(ex, rec):
    ex.g.one("Transpose", [ex.inp(rec, 0)], ex.out(rec, 0), perm=[int(a) for a in rec.fn.axes])


@handles("BroadcastTo")
def _broadcast_to(ex, rec):
    peer = ex.pairs[rec.index]
    x, px = rec.inputs[0].shape, peer.inputs[0].shape
    lead = len(rec.fn.shape) - len(x)
    shape = ex.shape_for(rec, rec.fn.shape, peer.fn.shape, (1,) * lead + tuple(x),
                         (1,) * lead + tuple(px), mode="expand")
    ex.g.one("Expand", [ex.inp(rec, 0), ex.g.ints(shape, "shape")], ex.out(rec, 0))


@handles("SumTo")
def _sum_to(ex, rec):
    x = rec.inputs[0]
    shape = tuple(rec.fn.shape)
    lead = x.ndim - len(shape)
    axes = list(range(lead)) + [lead + i for i, s in enumerate(shape)
                                if s == 1 and x.shape[lead + i] != 1]
    if not lead:
        ex.g.reduce("ReduceSum", ex.inp(rec, 0), axes, True, ex.out(rec, 0))
        return
    y = ex.g.reduce("ReduceSum", ex.inp(rec, 0), axes, True)
    ex.g.one("Reshape", [y, ex.g.ints(list(shape), "shape")], ex.out(rec, 0))


@handles("Cat")
def _cat(ex, rec):
    ex.g.node("Concat", [ex.inp(rec, j) for j in range(len(rec.inputs))], [ex.out(rec, 0)],
              axis=int(rec.fn.axis))


@handles("Stack")
def _stack(ex, rec):
    axes = ex.g.ints([int(rec.fn.axis)], "axes")
    parts = [ex.g.one("Unsqueeze", [ex.inp(rec, j), axes]) for j in range(len(rec.inputs))]
    ex.g.node("Concat", parts, [ex.out(rec, 0)], axis=int(rec.fn.axis))


@handles("Unbind")
def _unbind(ex, rec):
    axis = int(rec.fn.axis)
    axes = ex.g.ints([axis], "axes")
    n = len(rec.outputs)
    if n == 1:
        ex.g.one("Squeeze", [ex.inp(rec, 0), axes], ex.out(rec, 0))
        return
    parts = ex.g.node("Split", [ex.inp(rec, 0), ex.g.ints([1] * n, "split")], n, axis=axis)
    for i, p in enumerate(parts):
        ex.g.one("Squeeze", [p, axes], ex.out(rec, i))


@handles("Split")
def _split(ex, rec):
    ex.g.node("Split", [ex.inp(rec, 0), ex.g.ints(list(rec.fn.sizes), "split")], ex.outs(rec),
              axis=int(rec.fn.axis))


@handles("Repeat")
def _repeat(ex, rec):
    ex.g.one("Tile", [ex.inp(rec, 0), ex.g.ints(list(rec.fn.reps), "repeats")], ex.out(rec, 0))


@handles("Pad")
def _pad(ex, rec):
    widths = rec.fn.widths
    pads = [w[0] for w in widths] + [w[1] for w in widths]
    value = ex.g.const(_scalar(rec.fn.value, rec.inputs[0]), "value")
    ex.g.one("Pad", [ex.inp(rec, 0), ex.g.ints(pads, "pads"), value], ex.out(rec, 0),
             mode="constant")


@handles("Cast")
def _cast(ex, rec):
    to = ex.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(rec.fn.dtype))
    ex.g.one("Cast", [ex.inp(rec, 0)], ex.out(rec, 0), to=int(to))


@handles("Flip")
def _flip(ex, rec):
    axes = [int(a) for a in rec.fn.axes]
    g = ex.g
    g.one("Slice", [ex.inp(rec, 0), g.ints([-1] * len(axes), "starts"),
                    g.ints([INT64_MIN] * len(axes), "ends"), g.ints(axes, "axes"),
                    g.ints([-1] * len(axes), "steps")], ex.out(rec, 0))


@handles("Tril", "Triu")
def _trilu(ex, rec):
    ex.g.one("Trilu", [ex.inp(rec, 0), ex.g.const(np.array(rec.fn.k, np.int64), "k")],
             ex.out(rec, 0), upper=int(rec.kind == "Triu"))


@handles("GetItem")
def _getitem(ex, rec):
    g = ex.g
    x = rec.inputs[0]
    index = rec.fn.index
    peer_index = ex.pairs[rec.index].fn.index
    items = list(index) if isinstance(index, tuple) else [index]
    peer_items = list(peer_index) if isinstance(peer_index, tuple) else [peer_index]
    consumed = sum(1 for i in items if i is not None and i is not Ellipsis)
    full, peer_full = [], []
    for i, p in zip(items, peer_items):
        if i is Ellipsis:
            full += [slice(None)] * (x.ndim - consumed)
            peer_full += [slice(None)] * (x.ndim - consumed)
        else:
            full.append(i)
            peer_full.append(p)
    while sum(1 for i in full if i is not None) < x.ndim:
        full.append(slice(None))
        peer_full.append(slice(None))
    is_int = lambda i: isinstance(i, (int, np.integer)) or \
        (_is_array(i) and i.ndim == 0)                              # noqa: E731
    arrays = [k for k, i in enumerate(full) if _is_array(i) and i.ndim > 0]
    advanced = [k for k, i in enumerate(full) if k in arrays or (arrays and is_int(i))]
    if len(arrays) > 1:
        raise ExportError(f"tinynet.onnx.export: GetItem (op {rec.index}) indexes with "
                          f"{len(arrays)} integer arrays at once; the export writes one "
                          "(a Gather): index one dim at a time")
    if advanced and advanced != list(range(advanced[0], advanced[-1] + 1)):
        raise ExportError(f"tinynet.onnx.export: GetItem (op {rec.index}) mixes an index "
                          "array with integers in separate places (NumPy then moves the "
                          "indexed dims first); index in two steps")
    starts, ends, axes, steps, squeeze = [], [], [], [], []
    gather = None
    axis, out_pos, unsqueeze = 0, 0, []
    for k, i in enumerate(full):
        if i is None:
            unsqueeze.append(out_pos)
            out_pos += 1
            continue
        if isinstance(i, slice):
            step = 1 if i.step is None else int(i.step)
            start = int(i.start) if i.start is not None else (0 if step > 0 else -1)
            stop = int(i.stop) if i.stop is not None else (INT64_MAX if step > 0 else INT64_MIN)
            if not (start == 0 and stop == INT64_MAX and step == 1):
                starts.append(start)
                ends.append(stop)
                axes.append(axis)
                steps.append(step)
            out_pos += 1
        elif is_int(i):
            v = int(i)
            starts.append(v)
            ends.append(v + 1 if v != -1 else INT64_MAX)
            axes.append(axis)
            steps.append(1)
            squeeze.append(axis)
        else:
            gather = (axis, i, peer_full[k])
            out_pos += i.ndim
        axis += 1
    y = ex.inp(rec, 0)
    if starts:
        y = g.one("Slice", [y, g.ints(starts, "starts"), g.ints(ends, "ends"),
                            g.ints(axes, "axes"), g.ints(steps, "steps")])
    if gather is not None:
        ax, arr, peer_arr = gather
        if arr.dtype.kind not in "iu":
            raise ExportError(f"tinynet.onnx.export: GetItem (op {rec.index}) indexes with "
                              f"a {arr.dtype} array")
        idx = ex.array_value(rec, arr, peer_arr, "its index array")
        if arr.dtype != np.int64:
            idx = g.one("Cast", [idx], to=int(ex.onnx.TensorProto.INT64))
        y = g.one("Gather", [y, idx], axis=ax)
        shift = arr.ndim - 1
        squeeze = [s + shift if s > ax else s for s in squeeze]
    if squeeze:
        y = g.one("Squeeze", [y, g.ints(squeeze, "axes")])
    if unsqueeze:
        y = g.one("Unsqueeze", [y, g.ints(unsqueeze, "axes")])
    g.one("Identity", [y], ex.out(rec, 0))


@handles("TakeAlong")
def _take_along(ex, rec):
    # max(dim) / min(dim): the indices are the argmax / argmin of the input,
    # which ONNX's ReduceMax / ReduceMin recompute; other uses (sort, topk) are refused
    x = _host(rec.inputs[0].array)
    idx, axis = _host(rec.fn.indices), int(rec.fn.axis)
    for op, arg in (("ReduceMax", np.argmax), ("ReduceMin", np.argmin)):
        if idx.shape[axis] == 1 and np.array_equal(idx, np.expand_dims(arg(x, axis), axis)):
            y = ex.g.reduce(op, ex.inp(rec, 0), [axis], True)
            if tuple(rec.fn.shape) != idx.shape:
                ex.g.one("Squeeze", [y, ex.g.ints([axis], "axes")], ex.out(rec, 0))
            else:
                ex.g.one("Identity", [y], ex.out(rec, 0))
            return
    raise ExportError(f"tinynet.onnx.export: no ONNX mapping for TakeAlong (op {rec.index}) "
                      "other than max(dim) / min(dim) values (sort, topk, kthvalue, median "
                      "and mode do not export)")


@handles("Conv2dFunction")
def _conv(ex, rec):
    p = rec.fn.p
    w = rec.inputs[1]
    ex.g.node("Conv", [ex.inp(rec, j) for j in range(len(rec.inputs))], [ex.out(rec, 0)],
              kernel_shape=list(w.shape[2:]), strides=list(p.stride),
              pads=list(p.padding) * 2, dilations=list(p.dilation), group=int(p.groups))


@handles("Conv2dGradInput")
def _conv_transpose(ex, rec):
    # conv_transpose2d's forward is the conv's input gradient (x, w) -> y of x_shape
    p = rec.fn.p
    x, w = rec.inputs
    out_hw = rec.fn.x_shape[2:]
    k = w.shape[2:]
    extra = [out_hw[i] - ((x.shape[2 + i] - 1) * p.stride[i] - 2 * p.padding[i] +
                          p.dilation[i] * (k[i] - 1) + 1) for i in range(2)]
    ex.g.node("ConvTranspose", [ex.inp(rec, 0), ex.inp(rec, 1)], [ex.out(rec, 0)],
              kernel_shape=list(k), strides=list(p.stride), pads=list(p.padding) * 2,
              dilations=list(p.dilation), group=int(p.groups),
              output_padding=extra if any(extra) else None)


def _floor_out(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


@handles("MaxPool2dFunction")
def _max_pool(ex, rec):
    fn = rec.fn
    H, W = rec.inputs[0].shape[2:]
    floor = (_floor_out(H, fn.k[0], fn.s[0], fn.p[0], fn.d[0]),
             _floor_out(W, fn.k[1], fn.s[1], fn.p[1], fn.d[1]))
    ex.g.node("MaxPool", [ex.inp(rec, 0)], [ex.out(rec, 0)], kernel_shape=list(fn.k),
              strides=list(fn.s), pads=list(fn.p) * 2, dilations=list(fn.d),
              ceil_mode=int(tuple(fn.out_hw) != floor))


def _avg_divisors(shape, k, s, p, out_hw, include_pad):
    """The divisor of each window of an average pooling: its size, counting
    the padding (``include_pad``) or only the input elements under it."""
    counts = []
    for i in range(2):
        size = shape[2 + i]
        starts = np.arange(out_hw[i]) * s[i] - p[i]
        ends = np.minimum(starts + k[i], size + p[i])    # windows stop at the padded edge
        if not include_pad:
            ends = np.minimum(ends, size)
            starts = np.maximum(starts, 0)
        counts.append(ends - starts)
    return np.outer(*counts).astype(np.float64)


@handles("AvgPool2dFunction")
def _avg_pool(ex, rec):
    fn = rec.fn
    shape = rec.inputs[0].shape
    H, W = shape[2:]
    ceil = tuple(fn.out_hw) != (_floor_out(H, fn.k[0], fn.s[0], fn.p[0], 1),
                                _floor_out(W, fn.k[1], fn.s[1], fn.p[1], 1))
    divisor = _host(fn.divisor)
    include = None
    for flag in (True, False):
        want = _avg_divisors(shape, fn.k, fn.s, fn.p, fn.out_hw, flag)
        if np.allclose(np.broadcast_to(divisor, want.shape), want):
            include = flag
            break
    if include is None:
        raise ExportError(f"tinynet.onnx.export: AvgPool2dFunction (op {rec.index}) uses "
                          "divisor_override, which ONNX's AveragePool has no setting for")
    ex.g.node("AveragePool", [ex.inp(rec, 0)], [ex.out(rec, 0)], kernel_shape=list(fn.k),
              strides=list(fn.s), pads=list(fn.p) * 2, ceil_mode=int(ceil),
              count_include_pad=int(include))


@handles("EmbeddingFunction")
def _embedding(ex, rec):
    g = ex.g
    arr = rec.fn.indices
    idx = ex.array_value(rec, arr, ex.pairs[rec.index].fn.indices, "its indices")
    if arr.dtype != np.int64:
        idx = g.one("Cast", [idx], to=int(ex.onnx.TensorProto.INT64))
    g.one("Gather", [ex.inp(rec, 0), idx], ex.out(rec, 0), axis=0)


@handles("Normalize")
def _normalize(ex, rec):
    g = ex.g
    x = rec.inputs[0]
    axes = tuple(int(a) for a in rec.fn.axes)
    eps = float(rec.fn.eps)
    if axes and axes == tuple(range(x.ndim - len(axes), x.ndim)):
        ones = g.const(np.ones(x.shape[axes[0]:], x.dtype), "ones")
        g.one("LayerNormalization", [ex.inp(rec, 0), ones], ex.out(rec, 0), axis=axes[0],
              epsilon=eps)
        return
    xn = ex.inp(rec, 0)
    mu = g.reduce("ReduceMean", xn, axes, True)
    xc = g.one("Sub", [xn, mu])
    var = g.reduce("ReduceMean", g.one("Mul", [xc, xc]), axes, True)
    std = g.one("Sqrt", [g.one("Add", [var, g.const(_scalar(eps, x), "eps")])])
    g.one("Div", [xc, std], ex.out(rec, 0))


@handles("BatchNormEval")
def _batch_norm(ex, rec):
    ex.g.node("BatchNormalization", [ex.inp(rec, j) for j in range(5)], [ex.out(rec, 0)],
              epsilon=float(rec.fn.eps))


def _gate_rows(H, order):
    """Row indices taking gate blocks of size H in ``order`` (block numbers)."""
    return np.concatenate([np.arange(b * H, (b + 1) * H) for b in order]).astype(np.int64)


def _recurrent_common(ex, rec, G, order, x_dtype):
    """W (an identity reordering xg's gates), R (w_hh's rows reordered, as an
    ONNX value), the perm and sequence_lens for an ONNX LSTM/GRU node."""
    g = ex.g
    H = G // len(order)
    perm = _gate_rows(H, order)
    W = np.eye(G, dtype=x_dtype)[perm][None]
    w_hh_index = 3 if rec.kind == "LSTMLayer" else 2
    R = g.one("Unsqueeze", [g.one("Gather", [ex.inp(rec, w_hh_index), g.ints(perm, "perm")],
                                  axis=0), g.ints([0], "axes")])
    seq = ""
    lengths = rec.fn.lengths
    if lengths is not None:
        lengths = np.asarray(lengths) if not _is_array(lengths) else lengths
        seq = ex.array_value(rec, lengths, ex.pairs[rec.index].fn.lengths, "its lengths")
        seq = g.one("Cast", [seq], to=int(ex.onnx.TensorProto.INT32))
    return g.const(W, "W"), R, perm, seq


def _initial_state(ex, rec, j):
    if ex.is_zero_constant(rec, j):
        return ""                              # ONNX's default initial state is zeros
    return ex.g.one("Unsqueeze", [ex.inp(rec, j), ex.g.ints([0], "axes")])


@handles("LSTMLayer")
def _lstm_layer(ex, rec):
    g = ex.g
    xg = rec.inputs[0]
    G = xg.shape[-1]
    H = G // 4
    # PyTorch's gate blocks i, f, g, o -> ONNX's i, o, f, c
    W, R, _, seq = _recurrent_common(ex, rec, G, (0, 3, 1, 2), xg.dtype)
    h0, c0 = _initial_state(ex, rec, 1), _initial_state(ex, rec, 2)
    Y, Yh, Yc = g.node("LSTM", [ex.inp(rec, 0), W, R, "", seq, h0, c0], 3, hidden_size=H,
                       direction="reverse" if rec.fn.reverse else "forward")
    g.one("Squeeze", [Y, g.ints([1], "axes")], ex.out(rec, 0))
    g.one("Squeeze", [Yh, g.ints([0], "axes")], ex.out(rec, 1))
    g.one("Squeeze", [Yc, g.ints([0], "axes")], ex.out(rec, 2))


@handles("GRULayer")
def _gru_layer(ex, rec):
    g = ex.g
    xg = rec.inputs[0]
    G = xg.shape[-1]
    H = G // 3
    # PyTorch's r, z, n -> ONNX's z, r, h; b_hh stays inside the step (Rb)
    W, R, perm, seq = _recurrent_common(ex, rec, G, (1, 0, 2), xg.dtype)
    rb = g.one("Gather", [ex.inp(rec, 3), g.ints(perm, "perm")], axis=0)
    B = g.one("Unsqueeze", [g.node("Concat", [g.const(np.zeros(G, xg.dtype), "zeros"), rb], 1,
                                   axis=0)[0], g.ints([0], "axes")])
    h0 = _initial_state(ex, rec, 1)
    Y, Yh = g.node("GRU", [ex.inp(rec, 0), W, R, B, seq, h0], 2, hidden_size=H,
                   direction="reverse" if rec.fn.reverse else "forward", linear_before_reset=1)
    g.one("Squeeze", [Y, g.ints([1], "axes")], ex.out(rec, 0))
    g.one("Squeeze", [Yh, g.ints([0], "axes")], ex.out(rec, 1))


@handles("LSTMCellFunction")
def _lstm_cell(ex, rec):
    g = ex.g
    H = rec.inputs[2].shape[-1]
    gates = g.one("Add", [ex.inp(rec, 0), ex.inp(rec, 1)])
    i, f, gg, o = g.node("Split", [gates, g.ints([H] * 4, "split")], 4, axis=1)
    c = g.one("Add", [g.one("Mul", [g.one("Sigmoid", [f]), ex.inp(rec, 2)]),
                      g.one("Mul", [g.one("Sigmoid", [i]), g.one("Tanh", [gg])])],
              ex.out(rec, 1))
    g.one("Mul", [g.one("Sigmoid", [o]), g.one("Tanh", [c])], ex.out(rec, 0))


@handles("GRUCellFunction")
def _gru_cell(ex, rec):
    g = ex.g
    h_prev = rec.inputs[2]
    H = h_prev.shape[-1]
    xr, xz, xn = g.node("Split", [ex.inp(rec, 0), g.ints([H] * 3, "split")], 3, axis=1)
    hr, hz, hn = g.node("Split", [ex.inp(rec, 1), g.ints([H] * 3, "split")], 3, axis=1)
    r = g.one("Sigmoid", [g.one("Add", [xr, hr])])
    z = g.one("Sigmoid", [g.one("Add", [xz, hz])])
    n = g.one("Tanh", [g.one("Add", [xn, g.one("Mul", [r, hn])])])
    one = g.const(_scalar(1, h_prev), "one")
    g.one("Add", [g.one("Mul", [g.one("Sub", [one, z]), n]),
                  g.one("Mul", [z, ex.inp(rec, 2)])], ex.out(rec, 0))


@handles("RNNCellFunction")
def _rnn_cell(ex, rec):
    act = "Tanh" if rec.fn.nonlinearity == "tanh" else "Relu"
    ex.g.one(act, [ex.g.one("Add", [ex.inp(rec, 0), ex.inp(rec, 1)])], ex.out(rec, 0))


# ---------------------------------------------------------------- entry point
def _axes_spec(spec, name):
    """dynamic_axes[name] as {axis: dim name}."""
    if isinstance(spec, dict):
        return {int(a): str(n) for a, n in spec.items()}
    if isinstance(spec, (list, tuple)):
        return {int(a): f"{name}_dim{int(a)}" for a in spec}
    raise TypeError(f"tinynet.onnx.export: dynamic_axes[{name!r}] must be a dict "
                    f"{{axis: name}} or a list of axes, got {type(spec).__name__}")


def _value_info(onnx, name, t, dims):
    elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(t.dtype))
    shape = [dims.get(a, int(d)) for a, d in enumerate(t.shape)]
    return onnx.helper.make_tensor_value_info(name, elem, shape)


def export(model, example_inputs, path, input_names=None, output_names=None,
           dynamic_axes=None, opset_version=17):
    """Write ``model`` as an ONNX file at ``path`` and return the ``onnx.ModelProto``.

    The model runs forward once on ``example_inputs`` (a Tensor or a tuple
    of Tensors/arrays) in eval mode (its train/eval modes are restored after)
    and every op it records becomes ONNX nodes: parameters and buffers are
    initializers under their state_dict names, BatchNorm uses its running
    statistics, Dropout is the identity. ``input_names`` / ``output_names``
    default to ``input_0``, ... and ``output_0``, ...; ``dynamic_axes`` maps
    an input or output name to the axes whose size may change (``{'x':
    {0: 'batch'}}`` or ``{'x': [0]}``). ``opset_version`` is 17 to 20.

    Raises ``ExportError`` (a NotImplementedError) naming the op for any op
    without an ONNX mapping, and for values the ONNX graph would freeze:
    see the module docstring of ``tinynet.onnx._export``. Needs the ``onnx``
    package (``pip install 'tinynet[interop]'``).
    """
    import onnx

    from tinynet.serialization import atomic_write
    from tinynet.tensor import Tensor, as_tensor
    if opset_version not in SUPPORTED_OPSETS:
        raise ValueError(f"tinynet.onnx.export: opset_version must be one of "
                         f"{SUPPORTED_OPSETS}, got {opset_version!r}")
    if isinstance(example_inputs, (Tensor, np.ndarray)):
        example_inputs = (example_inputs,)
    inputs = [as_tensor(x) for x in example_inputs]
    input_names = list(input_names or [f"input_{k}" for k in range(len(inputs))])
    if len(input_names) != len(inputs) or len(set(input_names)) != len(input_names):
        raise ValueError(f"tinynet.onnx.export: {len(inputs)} inputs need as many distinct "
                         f"input_names, got {input_names}")
    dynamic_axes = dynamic_axes or {}
    tr = trace(model, inputs)
    n_out = len(tr.outputs)
    output_names = list(output_names or [f"output_{k}" for k in range(n_out)])
    if len(output_names) != n_out or len(set(output_names)) != n_out or \
            set(output_names) & set(input_names):
        raise ValueError(f"tinynet.onnx.export: the model returns {n_out} tensors; "
                         f"output_names must be {n_out} distinct names not among the "
                         f"input names, got {output_names}")
    unknown = set(dynamic_axes) - set(input_names) - set(output_names)
    if unknown:
        raise ValueError(f"tinynet.onnx.export: dynamic_axes names {sorted(unknown)}, "
                         f"which are neither input_names {input_names} nor output_names "
                         f"{output_names}")
    in_dims = [_axes_spec(dynamic_axes.get(n, {}), n) for n in input_names]
    for k, dims in enumerate(in_dims):
        for a in dims:
            if not 0 <= a < inputs[k].ndim:
                raise ValueError(f"tinynet.onnx.export: dynamic axis {a} of input "
                                 f"{input_names[k]!r}, which has {inputs[k].ndim} dims")
    grow = {k: sorted(d) for k, d in enumerate(in_dims) if d}
    again = shuffled([x.array for x in inputs], grow=grow)
    try:
        peer = trace(model, [Tensor._wrap(a) for a in again])
    except Exception as e:
        raise ExportError(
            "tinynet.onnx.export: the second trace (the example inputs' elements shuffled, "
            "and one larger along the dynamic axes, to find what depends on them) failed "
            f"with {type(e).__name__}: {e}") from e
    if len(peer.outputs) != n_out:
        raise ExportError("tinynet.onnx.export: the model returns a different number of "
                          "tensors for other input values")
    ex = _Exporter(onnx, opset_version, tr, peer, input_names, output_names)
    ex.run()
    graph_inputs = [_value_info(onnx, n, t, d) for n, t, d in zip(input_names, inputs, in_dims)]
    graph_outputs = []
    for k, (name, t) in enumerate(zip(output_names, tr.outputs)):
        dims = _axes_spec(dynamic_axes.get(name, {}), name)
        for a, (d1, d2) in enumerate(zip(t.shape, peer.outputs[k].shape)):
            if d1 != d2 and a not in dims:
                dims[a] = f"{name}_dim{a}"
        graph_outputs.append(_value_info(onnx, name, t, dims))
    graph = onnx.helper.make_graph(ex.g.nodes, "tinynet", graph_inputs, graph_outputs,
                                   ex.g.initializers)
    opset = onnx.helper.make_opsetid("", opset_version)
    proto = onnx.helper.make_model(graph, opset_imports=[opset], producer_name="tinynet")
    proto.ir_version = onnx.helper.find_min_ir_version_for([opset])
    onnx.checker.check_model(proto)
    atomic_write(path, lambda tmp: onnx.save(proto, tmp))
    return proto
