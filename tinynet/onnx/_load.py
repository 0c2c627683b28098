"""ONNX -> tinynet: a Module that runs an ONNX graph with tinynet ops.

``load(path)`` returns an ``OnnxModule``. Its forward evaluates the graph's
nodes in order, each with tinynet ops (``OPS`` maps an ONNX operator to the
code), so the loaded model is an ordinary tinynet model: it records a graph,
can be fine-tuned with an optimizer and checked with ``tn.gradcheck``, moved
with ``.double()`` or ``.to('cuda')``.

The graph's initializers become the module's state:

- the running mean and variance read by a BatchNormalization node, and
  initializers the tinynet exporter marked as buffers, are buffers;
- other float initializers with at least one dim are Parameters, except
  those the tinynet exporter marked as constants (gate-reordering matrices,
  LayerNorm's unit scale), which are non-persistent buffers;
- integer and 0-d initializers (shapes, axes, exponents) are constants.

BatchNormalization runs as ``_ops.BatchNormEval``, one differentiable node,
so that a loaded model exports as BatchNormalization again.

A dotted initializer name (``blocks.0.conv1.weight``, as the tinynet and
PyTorch exporters write state_dict names) becomes the same path of
submodules, so ``state_dict()`` has the original model's keys and
``load_state_dict`` of the original weights works; other characters that
cannot be in an attribute name become ``_``.
"""
import math
import re

import numpy as np

import tinynet.nn as nn
import tinynet.nn.functional as F
from tinynet import ops
from tinynet.ops import recurrent as R
from tinynet.tensor import Tensor, as_tensor, zeros as new_zeros

CONSTANT_DOC = "tinynet:constant"     # doc_string the exporter puts on its own constants
BUFFER_DOC = "tinynet:buffer"         # ... and on a model's buffers


class _Namespace(nn.Module):
    """A submodule that only holds parameters and buffers (a path segment)."""

    def forward(self, *args):
        raise RuntimeError("an OnnxModule's namespaces have no forward")


def _attrs(onnx, node):
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode("utf-8")
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [x.decode("utf-8") for x in v]
        out[a.name] = v
    return out


class OnnxModule(nn.Module):
    """A tinynet Module running an ONNX graph (see the module docstring).

    ``forward(*inputs)`` takes the graph's inputs in order (Tensors or
    arrays) and returns its output, or a tuple when it has several.
    ``input_names`` / ``output_names`` are the graph's.
    """

    def __init__(self, proto):
        super().__init__()
        import onnx
        from onnx import numpy_helper
        graph = proto.graph
        self._opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
                           None)
        if self._opset is None:
            raise ValueError("tinynet.onnx.load: the model imports no default ONNX opset")
        for o in proto.opset_import:
            if o.domain not in ("", "ai.onnx"):
                raise NotImplementedError(f"tinynet.onnx.load: the model uses the operator "
                                          f"domain {o.domain!r}; tinynet runs ONNX's own "
                                          "operators only")
        nodes = [(n.op_type, n.name, list(n.input), list(n.output), _attrs(onnx, n))
                 for n in graph.node]
        missing = sorted({op for op, *_ in nodes if op not in OPS})
        if missing:
            where = {op: name for op, name, *_ in reversed(nodes)}
            raise NotImplementedError(
                "tinynet.onnx.load: no tinynet implementation for ONNX operator(s) "
                + ", ".join(f"{op} (node {where[op]!r})" for op in missing)
                + f"; supported: {', '.join(sorted(OPS))}")
        stats = set()
        for op, _, ins, _, _ in nodes:
            if op == "BatchNormalization":
                stats.update(ins[3:5])
        self._nodes = nodes
        self._refs = {}                   # initializer name -> (module, attribute)
        self._consts = {}                 # initializer name -> array
        self._device_consts = {}          # device -> {name: Tensor} of the constants
        for init in graph.initializer:
            arr = numpy_helper.to_array(init).copy()
            kind = "param"
            if init.name in stats or init.doc_string == BUFFER_DOC:
                kind = "buffer"
            elif init.doc_string == CONSTANT_DOC:
                kind = "constant-buffer" if arr.dtype.kind == "f" and arr.ndim else "const"
            elif arr.dtype.kind != "f" or arr.ndim == 0:
                kind = "const"
            if kind == "const":
                self._consts[init.name] = arr
            else:
                self._register(init.name, Tensor._wrap(arr), kind)
        names = set(self._refs) | set(self._consts)
        self.input_names = [i.name for i in graph.input if i.name not in names]
        self.output_names = [o.name for o in graph.output]

    def _register(self, name, t, kind):
        parts = [re.sub(r"\W", "_", p) or "_" for p in name.split(".")]
        owner = self
        for p in parts[:-1]:
            child = owner._modules.get(p)
            if child is None:
                if p in owner._parameters or p in owner._buffers:
                    owner, parts = self, ["_".join(parts)]     # a name clash: keep it flat
                    break
                child = _Namespace()
                owner.add_module(p, child)
            owner = child
        attr = parts[-1]
        while attr in owner._modules or attr in owner._parameters or attr in owner._buffers:
            attr += "_"
        if kind == "param":
            owner.register_parameter(attr, nn.Parameter(t.array))
        else:
            owner.register_buffer(attr, t, persistent=kind == "buffer")
        self._refs[name] = (owner, attr)

    def _initial_values(self, device):
        env = {}
        for name, (owner, attr) in self._refs.items():
            env[name] = getattr(owner, attr)
        consts = self._device_consts.get(device)
        if consts is None:
            from tinynet.backend import to_device
            consts = {name: Tensor._wrap(arr if device == "cpu" else to_device(arr, device))
                      for name, arr in self._consts.items()}
            self._device_consts[device] = consts      # moved to a GPU once, not every call
        env.update(consts)
        return env

    def forward(self, *inputs):
        if len(inputs) != len(self.input_names):
            raise TypeError(f"OnnxModule: the graph takes {len(self.input_names)} inputs "
                            f"({', '.join(self.input_names)}), got {len(inputs)}")
        inputs = [as_tensor(x) for x in inputs]
        env = self._initial_values(inputs[0].device if inputs else "cpu")
        for name, x in zip(self.input_names, inputs):
            env[name] = x
        for op, name, ins, outs, attrs in self._nodes:
            args = [env[i] if i else None for i in ins]
            try:
                result = OPS[op](self, args, attrs, len(outs))
            except NotImplementedError as e:
                raise NotImplementedError(f"tinynet.onnx: node {name!r} ({op}): {e}") from None
            result = result if isinstance(result, (tuple, list)) else (result,)
            for o, r in zip(outs, result):
                if o:
                    env[o] = r
        out = tuple(env[o] for o in self.output_names)
        return out[0] if len(out) == 1 else out

    def extra_repr(self):
        return (f"opset={self._opset}, nodes={len(self._nodes)}, "
                f"inputs={self.input_names}, outputs={self.output_names}")


def load(f):
    """An ``OnnxModule`` running the ONNX model in file ``f`` (a path, or
    an ``onnx.ModelProto``) with tinynet ops. Raises NotImplementedError
    naming every operator tinynet has no implementation for."""
    import onnx
    proto = f if isinstance(f, onnx.ModelProto) else onnx.load(f)
    return OnnxModule(proto)


# ---------------------------------------------------------------- helpers
def _ints(t):
    """A Tensor of integers (shape, axes, pads) as a list of Python ints."""
    if t is None:
        return None
    a = t.array.get() if t.is_cuda else t.array
    return [int(v) for v in np.asarray(a).reshape(-1)]


def _axes(m, args, attrs, k=1):
    """``axes`` from input ``k`` (newer opsets) or the attribute (older)."""
    if len(args) > k and args[k] is not None:
        return _ints(args[k])
    return attrs.get("axes")


def _norm_axes(axes, ndim):
    return [a % ndim if ndim else 0 for a in axes]


def _scalar_of(t):
    return None if t is None else (t.array.get() if t.is_cuda else t.array).reshape(-1)[0].item()


def _refuse(cond, what):
    if cond:
        raise NotImplementedError(what)


# ---------------------------------------------------------------- operators
OPS = {}


def onnx_op(*names):
    def register(fn):
        for n in names:
            OPS[n] = fn
        return fn
    return register


def _unary(fn):
    return lambda m, a, attrs, n: fn(a[0])


for _name, _fn in {"Neg": ops.neg, "Exp": ops.exp, "Log": ops.log, "Sqrt": ops.sqrt,
                   "Abs": ops.abs, "Sin": ops.sin, "Cos": ops.cos, "Tanh": ops.tanh,
                   "Sigmoid": ops.sigmoid, "Relu": ops.relu, "Erf": ops.erf,
                   "Softplus": F.softplus, "HardSwish": F.hardswish,
                   "Reciprocal": lambda x: 1 / x, "Identity": lambda x: x,
                   "Softsign": F.softsign, "Not": ops.logical_not}.items():
    OPS[_name] = _unary(_fn)

for _name, _fn in {"Add": ops.add, "Sub": ops.sub, "Mul": ops.mul, "Div": ops.div,
                   "Pow": ops.pow, "MatMul": ops.matmul}.items():
    OPS[_name] = (lambda fn: lambda m, a, attrs, n: fn(a[0], a[1]))(_fn)


def _make_variadic(kind):
    def run(m, args, attrs, n):
        y = args[0]
        for x in args[1:]:
            y = {"Max": ops.maximum, "Min": ops.minimum}.get(kind, ops.add)(y, x)
        return y / len(args) if kind == "Mean" else y
    return run


for _name in ("Max", "Min", "Sum", "Mean"):
    OPS[_name] = _make_variadic(_name)


@onnx_op("Dropout")
def _dropout(m, args, attrs, n):
    training = len(args) > 2 and args[2] is not None and bool(_scalar_of(args[2]))
    _refuse(training, "Dropout with training_mode=True is not supported (inference only)")
    _refuse(n > 1, "Dropout's mask output is not supported")
    return args[0]


@onnx_op("LeakyRelu")
def _leaky_relu(m, args, attrs, n):
    return F.leaky_relu(args[0], attrs.get("alpha", 0.01))


@onnx_op("Elu")
def _elu(m, args, attrs, n):
    return F.elu(args[0], attrs.get("alpha", 1.0))


@onnx_op("Celu")
def _celu(m, args, attrs, n):
    return F.celu(args[0], attrs.get("alpha", 1.0))


@onnx_op("Selu")
def _selu(m, args, attrs, n):
    from tinynet.ops.elementwise import SELU_ALPHA, SELU_SCALE
    alpha = attrs.get("alpha", 1.67326319217681884765625)
    gamma = attrs.get("gamma", 1.05070102214813232421875)
    if math.isclose(alpha, SELU_ALPHA, rel_tol=1e-6) and math.isclose(gamma, SELU_SCALE,
                                                                      rel_tol=1e-6):
        return F.selu(args[0])
    x = args[0]
    return ops.where(x.array > 0, x * gamma, (ops.exp(ops.minimum(x, 0.0)) - 1) * (alpha * gamma))


@onnx_op("HardSigmoid")
def _hardsigmoid(m, args, attrs, n):
    alpha, beta = attrs.get("alpha", 0.2), attrs.get("beta", 0.5)
    return ops.clamp(args[0] * alpha + beta, 0.0, 1.0)


@onnx_op("Gelu")
def _gelu(m, args, attrs, n):
    return F.gelu(args[0], approximate=attrs.get("approximate", "none"))


@onnx_op("Clip")
def _clip(m, args, attrs, n):
    lo = _scalar_of(args[1]) if len(args) > 1 else attrs.get("min")
    hi = _scalar_of(args[2]) if len(args) > 2 else attrs.get("max")
    if lo is None and hi is None:
        return args[0]
    return ops.clamp(args[0], lo, hi)


@onnx_op("Where")
def _where(m, args, attrs, n):
    return ops.where(args[0], args[1], args[2])


@onnx_op("Gemm")
def _gemm(m, args, attrs, n):
    a, b = args[0], args[1]
    c = args[2] if len(args) > 2 else None
    alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
    if attrs.get("transA", 0):
        a = a.T
    if attrs.get("transB", 0) and alpha == 1 and beta == 1 and \
            (c is None or c.ndim == 1 and c.shape[0] == b.shape[0]):
        return F.linear(a, b, c)             # the common layout: one fused node
    if attrs.get("transB", 0):
        b = b.T
    y = ops.matmul(a, b)
    if alpha != 1:
        y = y * alpha
    if c is not None:
        y = y + (c * beta if beta != 1 else c)
    return y


@onnx_op("Einsum")
def _einsum(m, args, attrs, n):
    return ops.einsum(attrs["equation"].replace(" ", ""), *args)


def _reduce(fn):
    def run(m, args, attrs, n):
        x = args[0]
        axes = _axes(m, args, attrs)
        keep = bool(attrs.get("keepdims", 1))
        if not axes:
            if attrs.get("noop_with_empty_axes", 0):
                return x
            axes = list(range(x.ndim))
        return fn(x, tuple(_norm_axes(axes, x.ndim)), keep)
    return run


OPS["ReduceSum"] = _reduce(lambda x, a, k: ops.sum(x, a, keepdims=k))
OPS["ReduceMean"] = _reduce(lambda x, a, k: ops.mean(x, a, keepdims=k))
OPS["ReduceMax"] = _reduce(lambda x, a, k: ops.amax(x, a, keepdims=k))
OPS["ReduceMin"] = _reduce(lambda x, a, k: ops.amin(x, a, keepdims=k))
OPS["ReduceProd"] = _reduce(lambda x, a, k: ops.prod(x, a, keepdims=k))
OPS["ReduceLogSumExp"] = _reduce(lambda x, a, k: ops.logsumexp(x, a, keepdims=k))
OPS["ReduceL2"] = _reduce(lambda x, a, k: ops.sqrt(ops.sum(x * x, a, keepdims=k)))


def _softmax_like(fn):
    def run(m, args, attrs, n):
        x = args[0]
        if m._opset >= 13:
            return fn(x, attrs.get("axis", -1))
        # before opset 13: the input is seen as 2-D, split before ``axis``
        axis = attrs.get("axis", 1) % x.ndim
        rows = int(np.prod(x.shape[:axis]))
        return ops.reshape(fn(ops.reshape(x, (rows, -1)), 1), x.shape)
    return run


OPS["Softmax"] = _softmax_like(lambda x, a: ops.softmax(x, a))
OPS["LogSoftmax"] = _softmax_like(lambda x, a: ops.log_softmax(x, a))


@onnx_op("CumSum")
def _cumsum(m, args, attrs, n):
    _refuse(attrs.get("exclusive", 0) or attrs.get("reverse", 0),
            "CumSum with exclusive or reverse is not supported")
    return ops.cumsum(args[0], int(_scalar_of(args[1])))


@onnx_op("Reshape")
def _reshape(m, args, attrs, n):
    x, shape = args[0], _ints(args[1])
    if not attrs.get("allowzero", 0):
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return ops.reshape(x, tuple(shape))


@onnx_op("Flatten")
def _flatten(m, args, attrs, n):
    x = args[0]
    axis = attrs.get("axis", 1) % (x.ndim + 1) if x.ndim else 0
    return ops.reshape(x, (int(np.prod(x.shape[:axis])), int(np.prod(x.shape[axis:]))))


@onnx_op("Transpose")
def _transpose(m, args, attrs, n):
    x = args[0]
    perm = attrs.get("perm") or list(reversed(range(x.ndim)))
    return ops.permute(x, tuple(perm))


@onnx_op("Expand")
def _expand(m, args, attrs, n):
    x = args[0]
    shape = np.broadcast_shapes(tuple(x.shape), tuple(_ints(args[1])))
    return ops.broadcast_to(x, shape)


@onnx_op("Concat")
def _concat(m, args, attrs, n):
    return ops.cat([a for a in args if a is not None], attrs["axis"])


@onnx_op("Split")
def _split(m, args, attrs, n):
    x = args[0]
    axis = attrs.get("axis", 0) % x.ndim
    sizes = _ints(args[1]) if len(args) > 1 and args[1] is not None else attrs.get("split")
    if not sizes:
        k = attrs.get("num_outputs", n)
        size = -(-x.shape[axis] // k)
        sizes = [size] * (x.shape[axis] // size) + ([x.shape[axis] % size]
                                                    if x.shape[axis] % size else [])
    out = ops.split(x, list(sizes), axis)
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


@onnx_op("Slice")
def _slice(m, args, attrs, n):
    x = args[0]
    if len(args) > 1:
        starts, ends = _ints(args[1]), _ints(args[2])
        axes = _ints(args[3]) if len(args) > 3 and args[3] is not None else None
        steps = _ints(args[4]) if len(args) > 4 and args[4] is not None else None
    else:                                     # opset < 10: attributes
        starts, ends, axes, steps = attrs["starts"], attrs["ends"], attrs.get("axes"), None
    axes = _norm_axes(axes if axes is not None else list(range(len(starts))), x.ndim)
    steps = steps or [1] * len(starts)
    index = [slice(None)] * x.ndim
    for a, s, e, st in zip(axes, starts, ends, steps):
        index[a] = slice(s, e, st)
    return x[tuple(index)]


@onnx_op("Squeeze")
def _squeeze(m, args, attrs, n):
    x = args[0]
    axes = _axes(m, args, attrs)
    if axes is None:
        return ops.squeeze(x)
    return ops.squeeze(x, tuple(_norm_axes(axes, x.ndim)))


@onnx_op("Unsqueeze")
def _unsqueeze(m, args, attrs, n):
    x = args[0]
    axes = _axes(m, args, attrs)
    rank = x.ndim + len(axes)
    new = set(_norm_axes(axes, rank))
    it = iter(x.shape)
    return ops.reshape(x, tuple(1 if d in new else next(it) for d in range(rank)))


@onnx_op("Gather")
def _gather(m, args, attrs, n):
    x, idx = args[0], args[1]
    axis = attrs.get("axis", 0) % x.ndim
    return x[(slice(None),) * axis + (idx.array,)]


@onnx_op("Cast")
def _cast(m, args, attrs, n):
    import onnx
    return args[0].astype(onnx.helper.tensor_dtype_to_np_dtype(attrs["to"]))


@onnx_op("Pad")
def _pad(m, args, attrs, n):
    x = args[0]
    if len(args) > 1:
        pads = _ints(args[1])
        value = _scalar_of(args[2]) if len(args) > 2 and args[2] is not None else 0.0
        axes = _ints(args[3]) if len(args) > 3 and args[3] is not None else None
    else:
        pads, value, axes = attrs["pads"], attrs.get("value", 0.0), None
    axes = _norm_axes(axes if axes is not None else list(range(x.ndim)), x.ndim)
    k = len(axes)
    begin, end = dict(zip(axes, pads[:k])), dict(zip(axes, pads[k:]))
    _refuse(any(v < 0 for v in pads), "Pad with negative pads (cropping) is not supported")
    mode = attrs.get("mode", "constant")
    flat = []
    for d in reversed(range(x.ndim)):          # PyTorch's order: last dim first
        flat += [begin.get(d, 0), end.get(d, 0)]
    while flat[-2:] == [0, 0] and len(flat) > 2:
        flat = flat[:-2]
    if mode == "constant":
        return F.pad(x, flat, "constant", value)
    return F.pad(x, flat, {"reflect": "reflect", "edge": "replicate", "wrap": "circular"}[mode])


@onnx_op("Tile")
def _tile(m, args, attrs, n):
    return ops.repeat(args[0], tuple(_ints(args[1])))


@onnx_op("Trilu")
def _trilu(m, args, attrs, n):
    k = int(_scalar_of(args[1])) if len(args) > 1 and args[1] is not None else 0
    return ops.triu(args[0], k) if attrs.get("upper", 1) else ops.tril(args[0], k)


@onnx_op("Shape")
def _shape(m, args, attrs, n):
    shape = np.array(args[0].shape, dtype=np.int64)
    start, end = attrs.get("start", 0), attrs.get("end")
    return Tensor._wrap(shape[start:end])


@onnx_op("Size")
def _size(m, args, attrs, n):
    return Tensor._wrap(np.array(args[0].numel(), dtype=np.int64))


@onnx_op("Constant")
def _constant(m, args, attrs, n):
    from onnx import numpy_helper
    if "value" in attrs:
        return Tensor._wrap(numpy_helper.to_array(attrs["value"]).copy())
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in attrs:
            return Tensor._wrap(np.array(attrs[key], dtype=dtype))
    raise NotImplementedError(f"Constant with attributes {sorted(attrs)} is not supported")


@onnx_op("ConstantOfShape")
def _constant_of_shape(m, args, attrs, n):
    from onnx import numpy_helper
    value = numpy_helper.to_array(attrs["value"]) if "value" in attrs else \
        np.zeros(1, np.float32)
    return Tensor._wrap(np.full(tuple(_ints(args[0])), value.reshape(-1)[0], value.dtype))


def _conv_pads(x, kernel, attrs, strides, dilations):
    """(begin, end) padding per spatial dim, from ``pads`` or ``auto_pad``."""
    k = len(kernel)
    auto = attrs.get("auto_pad", "NOTSET")
    if auto in ("NOTSET", "VALID"):
        pads = attrs.get("pads", [0] * (2 * k)) if auto == "NOTSET" else [0] * (2 * k)
        return list(zip(pads[:k], pads[k:]))
    out = []
    for i in range(k):
        size = x.shape[2 + i]
        target = -(-size // strides[i])
        total = max((target - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size, 0)
        small, big = total // 2, total - total // 2
        out.append((small, big) if auto == "SAME_UPPER" else (big, small))
    return out


def _symmetric(x, pads, value=0.0):
    """``x`` explicitly padded where begin != end; returns (x, per-dim padding)."""
    if all(b == e for b, e in pads):
        return x, [b for b, _ in pads]
    flat = []
    for b, e in reversed(pads):
        flat += [b, e]
    return F.pad(x, flat, "constant", value), [0] * len(pads)


@onnx_op("Conv")
def _conv(m, args, attrs, n):
    x, w = args[0], args[1]
    b = args[2] if len(args) > 2 else None
    kernel = attrs.get("kernel_shape") or list(w.shape[2:])
    k = len(kernel)
    strides = attrs.get("strides", [1] * k)
    dilations = attrs.get("dilations", [1] * k)
    x, pads = _symmetric(x, _conv_pads(x, kernel, attrs, strides, dilations))
    group = attrs.get("group", 1)
    if k == 1:
        return F.conv1d(x, w, b, strides[0], pads[0], dilations[0], group)
    _refuse(k != 2, f"Conv with {k} spatial dims is not supported (1 or 2)")
    return F.conv2d(x, w, b, tuple(strides), tuple(pads), tuple(dilations), group)


@onnx_op("ConvTranspose")
def _conv_transpose(m, args, attrs, n):
    x, w = args[0], args[1]
    b = args[2] if len(args) > 2 else None
    kernel = attrs.get("kernel_shape") or list(w.shape[2:])
    _refuse(len(kernel) != 2, "ConvTranspose is supported in 2-D only")
    _refuse("output_shape" in attrs, "ConvTranspose's output_shape is not supported")
    _refuse(attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"),
            "ConvTranspose with auto_pad SAME is not supported")
    pads = attrs.get("pads", [0] * 4)
    _refuse(pads[:2] != pads[2:], "ConvTranspose with uneven pads is not supported")
    return F.conv_transpose2d(x, w, b, tuple(attrs.get("strides", [1, 1])), tuple(pads[:2]),
                              tuple(attrs.get("output_padding", [0, 0])), attrs.get("group", 1),
                              tuple(attrs.get("dilations", [1, 1])))


def _pool(kind):
    def run(m, args, attrs, n):
        _refuse(n > 1 and kind == "max", "MaxPool's indices output is not supported")
        x = args[0]
        kernel = attrs["kernel_shape"]
        k = len(kernel)
        strides = attrs.get("strides", [1] * k)
        dilations = attrs.get("dilations", [1] * k)
        ceil = bool(attrs.get("ceil_mode", 0))
        pads = _conv_pads(x, kernel, attrs, strides, dilations)
        include = bool(attrs.get("count_include_pad", 0))
        if kind == "max":
            x, p = _symmetric(x, pads, -np.inf)
        else:
            _refuse(any(b != e for b, e in pads) and not include,
                    "AveragePool with uneven pads and count_include_pad=0 is not supported")
            x, p = _symmetric(x, pads)
        _refuse(k not in (1, 2), f"pooling with {k} spatial dims is not supported (1 or 2)")
        if k == 1:
            if kind == "max":
                return F.max_pool1d(x, kernel[0], strides[0], p[0], dilations[0], ceil)
            return F.avg_pool1d(x, kernel[0], strides[0], p[0], ceil, include)
        if kind == "max":
            return F.max_pool2d(x, tuple(kernel), tuple(strides), tuple(p), tuple(dilations),
                                ceil)
        _refuse(any(d != 1 for d in dilations), "AveragePool with dilations is not supported")
        return F.avg_pool2d(x, tuple(kernel), tuple(strides), tuple(p), ceil, include)
    return run


OPS["MaxPool"] = _pool("max")
OPS["AveragePool"] = _pool("avg")


@onnx_op("GlobalAveragePool")
def _global_avg(m, args, attrs, n):
    x = args[0]
    return ops.mean(x, tuple(range(2, x.ndim)), keepdims=True)


@onnx_op("GlobalMaxPool")
def _global_max(m, args, attrs, n):
    x = args[0]
    return ops.amax(x, tuple(range(2, x.ndim)), keepdims=True)


@onnx_op("BatchNormalization")
def _batch_norm(m, args, attrs, n):
    _refuse(attrs.get("training_mode", 0) or n > 1,
            "BatchNormalization in training mode is not supported (inference graphs only)")
    from tinynet.onnx._ops import BatchNormEval
    return BatchNormEval(attrs.get("epsilon", 1e-5))(*args[:5])


@onnx_op("InstanceNormalization")
def _instance_norm(m, args, attrs, n):
    return F.instance_norm(args[0], weight=args[1], bias=args[2],
                           eps=attrs.get("epsilon", 1e-5))


@onnx_op("LayerNormalization")
def _layer_norm(m, args, attrs, n):
    _refuse(n > 1, "LayerNormalization's Mean and InvStdDev outputs are not supported")
    x, scale = args[0], args[1]
    bias = args[2] if len(args) > 2 else None
    axis = attrs.get("axis", -1) % x.ndim
    return F.layer_norm(x, tuple(x.shape[axis:]), scale, bias, attrs.get("epsilon", 1e-5))


# ---------------------------------------------------------------- recurrent
def _rows(t, H, order):
    """``t`` with its gate blocks (H rows each, along dim 0) in ``order``."""
    idx = np.concatenate([np.arange(b * H, (b + 1) * H) for b in order])
    return t[idx]


def _recurrent(kind):
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[kind]
    # ONNX's gate order -> PyTorch's (which tinynet's layers use)
    to_torch = {"LSTM": (0, 2, 3, 1), "GRU": (1, 0, 2), "RNN": (0,)}[kind]

    def run(m, args, attrs, n):
        args = list(args) + [None] * (8 - len(args))
        X, W, Rw, B, seq, h0 = args[:6]
        c0 = args[6] if kind == "LSTM" else None
        H = attrs["hidden_size"]
        direction = attrs.get("direction", "forward")
        acts = attrs.get("activations")
        default = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"],
                   "RNN": ["Tanh"]}[kind]
        nonlinearity = "tanh"
        if kind == "RNN" and acts and acts[0] == "Relu":
            nonlinearity = "relu"
        elif acts and [a for a in acts[:len(default)]] != default * (len(acts) // len(default)):
            raise NotImplementedError(f"{kind} with activations {acts} is not supported")
        _refuse("clip" in attrs or attrs.get("input_forget", 0) or
                (kind == "LSTM" and args[7] is not None),
                f"{kind} with clip, input_forget or peepholes is not supported")
        _refuse(kind == "GRU" and not attrs.get("linear_before_reset", 0),
                "GRU with linear_before_reset=0 is not supported (PyTorch's GRU, which "
                "tinynet implements, applies the reset gate after the matmul)")
        if attrs.get("layout", 0):
            X = ops.transpose(X, 0, 1)
            h0 = ops.transpose(h0, 0, 1) if h0 is not None else None
            c0 = ops.transpose(c0, 0, 1) if c0 is not None else None
        T, N, _ = X.shape
        lengths = None if seq is None else np.asarray(_ints(seq))
        D = 2 if direction == "bidirectional" else 1
        outs, hs, cs = [], [], []
        for d in range(D):
            reverse = direction == "reverse" or d == 1
            w_ih = _rows(W[d], H, to_torch)
            w_hh = _rows(Rw[d], H, to_torch)
            G = gates * H
            xg = ops.reshape(ops.matmul(ops.reshape(X, (T * N, -1)), w_ih.T), (T, N, G))
            b_ih = b_hh = None
            if B is not None:
                b_ih, b_hh = _rows(B[d][:G], H, to_torch), _rows(B[d][G:], H, to_torch)
                xg = xg + (b_ih if kind == "GRU" else b_ih + b_hh)
            zeros = new_zeros(N, H, dtype=X.dtype, device=X.device)
            h = h0[d] if h0 is not None else zeros
            if kind == "LSTM":
                c = c0[d] if c0 is not None else zeros
                out, h, c = R.lstm_layer(xg, h, c, w_hh, reverse, lengths)
                cs.append(c)
            elif kind == "GRU":
                out, h = R.gru_layer(xg, h, w_hh, b_hh, reverse, lengths)
            else:
                out, h = R.rnn_layer(xg, h, w_hh, nonlinearity, reverse, lengths)
            outs.append(out)
            hs.append(h)
        Y = ops.stack(outs, 1)                    # (T, D, N, H)
        Yh = ops.stack(hs, 0)
        result = [Y, Yh] + ([ops.stack(cs, 0)] if kind == "LSTM" else [])
        if attrs.get("layout", 0):
            result = [ops.permute(result[0], (2, 0, 1, 3))] + \
                [ops.transpose(r, 0, 1) for r in result[1:]]
        return tuple(result)
    return run


OPS["LSTM"] = _recurrent("LSTM")
OPS["GRU"] = _recurrent("GRU")
OPS["RNN"] = _recurrent("RNN")
