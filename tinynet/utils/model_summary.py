"""``tinynet.utils.summary``: a model's table of layers, in the manner of
torchinfo's ``summary``.

(The module is not called ``summary.py``: ``tinynet.utils.summary`` is the
function, and a module of the same name would be hidden behind it.)

``summary(model, input_size=(64, 1, 8, 8))`` runs one forward pass on a
random batch of that size (batch dimension included) with a forward hook on
every module, and returns a ``ModelSummary``: one row per module (nested
names, output shape, parameter count, trainable or not, multiply-adds, bytes
of the outputs) and the totals. It prints as a text table and shows as an
HTML table in Jupyter. Without an input it lists the parameters only.

The forward pass leaves the model as it found it: it runs under
``no_grad``, and the random number generator and every buffer (BatchNorm's
running statistics) are restored afterwards.

Multiply-adds ("mult-adds") count, for each parameter, one multiply-add per
element each time the layer applies it (torchinfo's convention, which also
counts a bias's add as one):

- ``Linear``: weight and bias once per output row (per sample, per time step);
- ``Conv1d``/``Conv2d``: weight and bias once per output position, batch
  included; ``ConvTranspose2d``: the weight once per *input* position (each
  input pixel scatters one kernel), the bias once per output position;
- ``RNN``/``GRU``/``LSTM``: every weight and bias once per sequence and time
  step; the cells once per sequence;
- normalisation layers and ``PReLU``: each weight once per element it scales;
- ``Embedding``: 0 (a lookup, no arithmetic);
- any other layer with parameters: each parameter once per sample.

On the layers that most models are made of (Linear on (N, features),
convolutions, BatchNorm1d, RNNs) these are torchinfo's figures; torchinfo
counts normalisation layers on images, Linear on (N, T, features) and
transposed convolutions differently (it takes only the batch as positions,
or the output positions), see docs/nn.md.

"Activations" are the bytes of the tensors each module returns. The total
counts every array returned by a module without submodules once (a view or
an in-place result shares its input's memory), which is the memory the
layer outputs of one forward pass take at that batch size; what the ops keep
for backward is a little more (``tn.autograd.graph_summary`` counts it).
"""
import html

import numpy as np

__all__ = ["ModelSummary", "summary"]


def summary(model, input_size=None, input_data=None, dtypes=None, depth=3):
    """The table of ``model``'s layers (a ``ModelSummary``).

    ``input_size``: the shape of one input batch, batch dimension included,
    e.g. ``(64, 1, 8, 8)``, or a list of shapes for a model that takes
    several inputs. ``input_data``: the input itself instead (a Tensor, a
    tuple/list of positional inputs, or a dict of keyword inputs).
    ``dtypes``: one dtype per input of ``input_size`` (default float32;
    integer inputs are zeros, floating ones uniform in [0, 1)). ``depth``:
    modules nested deeper than this are folded into their ancestor's row.
    With neither input, no forward runs and only parameters are listed.
    """
    from tinynet.nn.module import Module
    if not isinstance(model, Module):
        raise TypeError(f"summary: expected an nn.Module, got {type(model).__name__}")
    if input_size is not None and input_data is not None:
        raise ValueError("summary: pass input_size or input_data, not both")
    if not isinstance(depth, int) or depth < 0:
        raise ValueError(f"summary: depth must be an int >= 0, got {depth!r}")
    import tinynet as tn
    args, kwargs, calls = (), {}, None
    rng = tn.get_rng_state()          # the random input and Dropout draw from it
    try:
        if input_size is not None:
            args = _make_inputs(model, input_size, dtypes)
        elif input_data is not None:
            args, kwargs = _split_input_data(input_data)
        if input_size is not None or input_data is not None:
            calls = _run(model, args, kwargs)
    finally:
        tn.set_rng_state(rng)
    return ModelSummary(model, calls, args, kwargs, depth)


# ---------------------------------------------------------------- inputs
def _make_inputs(model, input_size, dtypes):
    import tinynet as tn
    sizes = _as_size_list(input_size)
    if dtypes is None:
        dtypes = [tn.float32] * len(sizes)
    elif not isinstance(dtypes, (list, tuple)):
        dtypes = [dtypes]
    if len(dtypes) != len(sizes):
        raise ValueError(f"summary: {len(dtypes)} dtypes for {len(sizes)} input sizes")
    device = next((p.device for p in model.parameters()), "cpu")
    inputs = []
    for size, dtype in zip(sizes, dtypes):
        dtype = np.dtype(dtype)
        if dtype.kind == "f":
            x = tn.rand(*size, dtype=dtype)
        else:
            x = tn.zeros(*size, dtype=dtype)
        inputs.append(x.to(device) if device != "cpu" else x)
    return tuple(inputs)


def _as_size_list(input_size):
    """input_size as a list of shapes: (64, 10) -> [(64, 10)]; [(2, 3), (2, 5)] stays."""
    def is_shape(s):
        return isinstance(s, (tuple, list)) and all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in s)
    if is_shape(input_size) and len(input_size) > 0:
        return [tuple(int(d) for d in input_size)]
    if isinstance(input_size, (tuple, list)) and input_size \
            and all(is_shape(s) for s in input_size):
        return [tuple(int(d) for d in s) for s in input_size]
    raise ValueError(f"summary: input_size must be a shape such as (64, 1, 8, 8) (batch "
                     f"dimension included) or a list of shapes, got {input_size!r}")


def _split_input_data(data):
    from tinynet.tensor import Tensor
    if isinstance(data, Tensor):
        return (data,), {}
    if isinstance(data, dict):
        return (), dict(data)
    if isinstance(data, (tuple, list)):
        return tuple(data), {}
    raise TypeError(f"summary: input_data must be a Tensor, a tuple/list of inputs or a "
                    f"dict of keyword inputs, got {type(data).__name__}")


# ---------------------------------------------------------------- the forward pass
class _Call:
    """What one call of one module produced."""
    __slots__ = ("shape", "nbytes", "mult_adds", "arrays")

    def __init__(self, shape, nbytes, mult_adds, arrays):
        self.shape, self.nbytes, self.mult_adds, self.arrays = shape, nbytes, mult_adds, arrays


def _run(model, args, kwargs):
    """{id(module): [_Call, ...]} from one forward pass with a hook on every module."""
    import tinynet as tn
    calls = {}

    def hook(module, inputs, output):
        arrays = _arrays(output)
        calls.setdefault(id(module), []).append(_Call(
            _shape_of(output), sum(int(a.nbytes) for a in arrays),
            _mult_adds(module, inputs, output), arrays))

    buffers = [(b, b.array.copy()) for b in model.buffers()]
    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with tn.no_grad():
            model(*args, **kwargs)
    finally:
        for h in handles:
            h.remove()
        for b, saved in buffers:
            b.array[...] = saved
    return calls


def _tensors(x):
    """The Tensors inside an output (nested tuples, lists, dicts), in order."""
    from tinynet.tensor import Tensor
    if isinstance(x, Tensor):
        return [x]
    if isinstance(x, dict):
        x = list(x.values())
    if isinstance(x, (tuple, list)):
        return [t for v in x for t in _tensors(v)]
    data = getattr(x, "data", None)          # a PackedSequence
    return [data] if isinstance(data, Tensor) else []


def _arrays(output):
    return [t.array for t in _tensors(output)]


def _shape_of(x):
    """The shape structure of an output: a list for a Tensor, tuples for tuples."""
    from tinynet.tensor import Tensor
    if isinstance(x, Tensor):
        return list(x.shape)
    if isinstance(x, dict):
        return {k: _shape_of(v) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return tuple(_shape_of(v) for v in x)
    data = getattr(x, "data", None)
    if isinstance(data, Tensor):
        return list(data.shape)
    return None


def _numel(shape):
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _mult_adds(module, inputs, output):
    """Multiply-adds of one call for the module's own parameters (the rules
    in the module docstring)."""
    from tinynet.nn import (GRU, LSTM, RNN, BatchNorm1d, BatchNorm2d, Embedding, GroupNorm,
                            InstanceNorm1d, InstanceNorm2d, LayerNorm, Linear, PReLU)
    from tinynet.nn.rnn import RNNCellBase
    params = [p for p in module._parameters.values() if p is not None]
    outs = _tensors(output)
    if not params or not outs:
        return 0
    n_params = sum(p.numel() for p in params)
    out = outs[0]
    ins = _tensors(inputs)
    if isinstance(module, Embedding):
        return 0
    if isinstance(module, Linear):
        return out.numel() // module.out_features * n_params
    if hasattr(module, "transposed") and isinstance(getattr(module, "kernel_size", None), tuple):
        # a convolution (Conv1d, Conv2d, ConvTranspose2d)
        spatial = len(module.kernel_size)
        out_positions = _numel(out.shape[:1]) * _numel(out.shape[out.ndim - spatial:]) \
            if out.ndim == spatial + 2 else _numel(out.shape[out.ndim - spatial:])
        if getattr(module, "transposed", False) and ins:
            x = ins[0]
            in_positions = x.numel() // x.shape[x.ndim - spatial - 1]
            bias = module.bias.numel() if module.bias is not None else 0
            return in_positions * module.weight.numel() + out_positions * bias
        return out_positions * n_params
    if isinstance(module, (RNN, GRU, LSTM)):
        x = ins[0] if ins else out
        if x.ndim == 2 and getattr(inputs[0], "batch_sizes", None) is not None:
            steps = x.shape[0]                       # a PackedSequence: its time steps
        elif x.ndim == 3:
            steps = x.shape[0] * x.shape[1]
        else:
            steps = x.shape[0]                       # one unbatched sequence
        return steps * n_params
    if isinstance(module, RNNCellBase):
        x = ins[0] if ins else out
        return (x.shape[0] if x.ndim == 2 else 1) * n_params
    if isinstance(module, (BatchNorm1d, BatchNorm2d, InstanceNorm1d, InstanceNorm2d, LayerNorm,
                           GroupNorm, PReLU)):
        return sum(out.numel() // p.numel() * p.numel() for p in params)
    return (out.shape[0] if out.ndim else 1) * n_params


# ---------------------------------------------------------------- the result
def _trainable(params):
    total = sum(p.numel() for p in params)
    trained = sum(p.numel() for p in params if p.requires_grad)
    if total == 0:
        return "--"
    if trained == 0:
        return "False"
    return "True" if trained == total else "Partial"


def _root_id(a):
    while getattr(a, "base", None) is not None:
        a = a.base
    return id(a)


class ModelSummary:
    """The result of ``summary``: ``rows`` (one dict per module, in the order
    of ``named_modules``) and the totals as attributes (``total_params``,
    ``trainable_params``, ``non_trainable_params``, ``total_mult_adds``,
    ``activation_bytes``, ``param_bytes``, ``buffer_bytes``,
    ``input_bytes``). ``str()`` is the text table; Jupyter shows the HTML one.

    A row has ``name`` (dotted, "" for the model), ``type``, ``depth``,
    ``output_shape`` (a list per Tensor, tuples for tuples; None if the
    module did not run), ``calls``, ``params`` (the module's own parameters,
    or its whole subtree's when its submodules are folded into it),
    ``trainable`` ("True", "False", "Partial" or "--"), ``mult_adds`` and
    ``activation_bytes`` (summed over calls; a folded row sums its subtree,
    a row whose submodules have rows of their own counts only itself, so
    each column adds up to its total).
    """

    def __init__(self, model, calls, args, kwargs, depth):
        self.depth = depth
        self.ran = calls is not None
        calls = calls or {}
        named = list(model.named_modules())
        own = {id(m): [p for p in m._parameters.values() if p is not None] for _, m in named}
        self.rows = []
        for name, m in named:
            d = 0 if name == "" else name.count(".") + 1
            if d > depth:
                continue
            folded = d == depth and any(True for _ in m.children())
            subtree = list(m.parameters()) if folded else own[id(m)]
            members = [sub for _, sub in m.named_modules()] if folded else [m]
            mc = calls.get(id(m), [])
            self.rows.append({
                "name": name, "type": type(m).__name__, "depth": d,
                "output_shape": mc[0].shape if mc else None, "calls": len(mc),
                "params": sum(p.numel() for p in subtree), "trainable": _trainable(subtree),
                "mult_adds": sum(c.mult_adds for sub in members for c in calls.get(id(sub), [])),
                "activation_bytes": sum(c.nbytes for sub in members
                                        if not any(True for _ in sub.children())
                                        for c in calls.get(id(sub), [])),
                "folded": folded,
            })
        params = list(model.parameters())
        self.total_params = sum(p.numel() for p in params)
        self.trainable_params = sum(p.numel() for p in params if p.requires_grad)
        self.non_trainable_params = self.total_params - self.trainable_params
        self.param_bytes = sum(int(p.array.nbytes) for p in params)
        self.buffer_bytes = sum(int(b.array.nbytes) for b in model.buffers())
        self.total_mult_adds = sum(c.mult_adds for cs in calls.values() for c in cs)
        seen = set()
        self.activation_bytes = 0
        for _, m in named:
            if any(True for _ in m.children()):
                continue
            for c in calls.get(id(m), []):
                for a in c.arrays:
                    if _root_id(a) not in seen:
                        seen.add(_root_id(a))
                        self.activation_bytes += int(a.nbytes)
        inputs = _tensors(tuple(args) + tuple(kwargs.values()))
        self.input_bytes = sum(int(t.array.nbytes) for t in inputs)
        self.input_shapes = [list(t.shape) for t in inputs]

    # ------------------------------------------------------------ text
    _HEAD = ("Layer (type)", "Output shape", "Param #", "Trainable", "Mult-adds", "Activations")

    def _cells(self, row):
        label = (row["name"].rsplit(".", 1)[-1] + ": " if row["name"] else "") + row["type"]
        if row["calls"] > 1:
            label += f" (x{row['calls']})"
        shape = "--" if row["output_shape"] is None else _format_shape(row["output_shape"])
        return (label, shape,
                f"{row['params']:,}" if row["params"] else "--",
                row["trainable"],
                f"{row['mult_adds']:,}" if row["mult_adds"] else "--",
                _bytes(row["activation_bytes"]) if row["activation_bytes"] else "--")

    def totals(self):
        """The totals as (label, value text) pairs, in display order."""
        out = [("Total params", f"{self.total_params:,}"),
               ("Trainable params", f"{self.trainable_params:,}"),
               ("Non-trainable params", f"{self.non_trainable_params:,}")]
        if self.ran:
            mult_adds = f"{self.total_mult_adds:,} ({_count(self.total_mult_adds)})"
            out += [("Total mult-adds", mult_adds),
                    ("Input size", _bytes(self.input_bytes)),
                    ("Forward activations", _bytes(self.activation_bytes))]
        out.append(("Params size", _bytes(self.param_bytes)))
        if self.buffer_bytes:
            out.append(("Buffers size", _bytes(self.buffer_bytes)))
        return out

    def __str__(self):
        rows = [self._cells(r) for r in self.rows]
        labels = ["  " * r["depth"] + c[0] for r, c in zip(self.rows, rows)]
        table = [self._HEAD] + [(lab,) + c[1:] for lab, c in zip(labels, rows)]
        widths = [max(len(r[k]) for r in table) for k in range(len(self._HEAD))]

        def fmt(r):
            parts = [r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].rjust(widths[2]),
                     r[3].ljust(widths[3]), r[4].rjust(widths[4]), r[5].rjust(widths[5])]
            return "  ".join(parts).rstrip()

        width = sum(widths) + 2 * (len(widths) - 1)
        out = [fmt(self._HEAD), "=" * width] + [fmt(r) for r in table[1:]] + ["=" * width]
        out += [f"{label}: {value}" for label, value in self.totals()]
        if not self.ran:
            out.append("(no input given: pass input_size or input_data for output shapes, "
                       "mult-adds and activations)")
        return "\n".join(out)

    __repr__ = __str__

    # ------------------------------------------------------------ HTML
    def _repr_html_(self):
        esc = html.escape
        head = "".join(f"<th style='text-align:{'left' if k in (0, 1, 3) else 'right'}'>"
                       f"{esc(h)}</th>" for k, h in enumerate(self._HEAD))
        body = []
        for row in self.rows:
            cells = self._cells(row)
            tds = [f"<td style='text-align:left;padding-left:{0.3 + 1.2 * row['depth']:.1f}em'>"
                   f"{esc(cells[0])}</td>"]
            for k, c in enumerate(cells[1:], start=1):
                align = "left" if k in (1, 3) else "right"
                tds.append(f"<td style='text-align:{align}'><code>{esc(c)}</code></td>"
                           if k == 1 else f"<td style='text-align:{align}'>{esc(c)}</td>")
            body.append("<tr>" + "".join(tds) + "</tr>")
        totals = "".join(f"<tr><td style='text-align:left'>{esc(k)}</td>"
                         f"<td style='text-align:right'>{esc(v)}</td></tr>"
                         for k, v in self.totals())
        note = "" if self.ran else ("<p><em>No input given: pass input_size or input_data for "
                                    "output shapes, mult-adds and activations.</em></p>")
        return (f"<div class='tinynet-summary'><table><thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(body)}</tbody></table>"
                f"<table><tbody>{totals}</tbody></table>{note}</div>")


def _format_shape(s):
    if isinstance(s, list):
        return "[" + ", ".join(str(d) for d in s) + "]"
    if isinstance(s, dict):
        return "{" + ", ".join(f"{k}: {_format_shape(v)}" for k, v in s.items()) + "}"
    if isinstance(s, tuple):
        return "(" + ", ".join(_format_shape(v) for v in s) + ")"
    return "--"


def _bytes(n):
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def _count(n):
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return str(n)
