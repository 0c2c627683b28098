"""Fuzzed inputs over the whole op set against PyTorch.

Every op of tests/op_table.py, plus the nn.functional ops (losses, norms,
linear, embedding, pooling) declared below, is called on inputs Hypothesis
derives from its declared cases: shapes with a dim set to 0 or 1, grown or
dropped (broadcasting and rank errors), float16/32/64, int32/64 and bool,
every-other-element, reversed and transposed views, NaN/Inf entries, Python
and NumPy scalars in place of a binary op's operand. Each call must either
match PyTorch (values, shape, dtype and gradients) or raise tinynet's own
error naming the op (see is_tinynet_error); both sides may refuse. A call
that only one side refuses must be one of the KNOWN differences below, each
named with its reason and a witness call that shows it (run by
test_known_difference_still_shows, so an entry that no longer holds fails
too). Hypothesis runs derandomized: a failure reproduces exactly; the number
of calls tried is printed at the end.
"""
import linecache
import os
import re
import traceback
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn.functional as F
from tinynet.testing import Case, OpCheck, as_case

from op_table import OPS

torch = pytest.importorskip("torch")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, given, settings, strategies as st  # noqa: E402

# ================================================================ the checker
TINYNET_DIR = os.path.dirname(tn.__file__) + os.sep
DTYPES = ("float16", "float32", "float64", "int32", "int64", "bool")
LAYOUTS = ("contiguous", "strided", "flipped", "transposed")
SCALARS = ("py_float", "py_int", "py_bool", "np_float64", "np_float32", "np_int64")
# every outcome of every fuzzed call, for the summary line
OUTCOMES = Counter()
# (op, spec, message, the Known entry) of the calls where only one side refused
ONE_SIDED = []
TOLERANCE = {"float16": (2e-2, 2e-2), "float32": (1e-4, 1e-5), "float64": (1e-8, 1e-10)}
# an error message must start with the op's name ("conv2d: ...", "Linear: ...")
# or say what it refuses in PyTorch's words (tensor-level Python protocol errors)
NAMED = re.compile(r"^[\w.\[\]]+( \w+)?: |^(only|the truth value|len\(\)|requires_grad)")


@dataclass
class Spec:
    """One fuzzed call: the case, the mutated shapes and how to build the inputs."""
    case: Case
    shapes: tuple
    dtype: str
    layout: str
    special: object
    scalar: object
    scalar_pos: int
    seed: int
    kinds: tuple = field(default=())

    def __str__(self):
        return (f"shapes={self.shapes} params={self.case.params} dtype={self.dtype} "
                f"layout={self.layout} special={self.special} scalar={self.scalar}"
                f"@{self.scalar_pos} seed={self.seed}")


def mutate(draw, st, shape):
    """The shape, or one dim set to 0, to 1 or grown by one."""
    mode = draw(st.sampled_from(("keep", "keep", "keep", "zero", "one", "grow", "drop")))
    shape = list(shape)
    if not shape or mode == "keep":
        return tuple(shape)
    i = draw(st.integers(0, len(shape) - 1))
    if mode == "drop":                     # one dim fewer: a broadcasting or rank error
        return tuple(shape[:i] + shape[i + 1:])
    shape[i] = {"zero": 0, "one": 1, "grow": shape[i] + 1}[mode]
    return tuple(shape)


def draw_spec(draw, st, check):
    """A Spec for the op ``check`` (an OpCheck from tests/op_table.py or the
    extra table), drawn by Hypothesis."""
    case = as_case(draw(st.sampled_from(check.cases)))
    kinds = getattr(check, "kinds", None) or ("f",) * len(case.shapes)
    shapes = tuple(mutate(draw, st, s) for s in case.shapes)
    binary = getattr(check, "elementwise", False) and len(case.shapes) == 2
    scalar = draw(st.sampled_from((None,) * 4 + SCALARS)) if binary else None
    specials = (None, None, None) + getattr(check, "specials", (np.nan, np.inf, -np.inf))
    return Spec(case, shapes, draw(st.sampled_from(getattr(check, "dtypes", DTYPES))),
                draw(st.sampled_from(LAYOUTS)), draw(st.sampled_from(specials)),
                scalar, draw(st.integers(0, len(shapes) - 1)), draw(st.integers(0, 2 ** 16)),
                kinds)


# ---------------------------------------------------------------- inputs
def _values(spec, k, shape, rng, check):
    kind = spec.kinds[k]
    if kind.startswith("i"):                # class indices below C, sometimes out of range
        C = int(kind[1:])
        lo, hi = (0, C) if rng.random() < 0.8 else (-1, C + 2)
        return rng.integers(lo, hi, shape)
    if check.make_inputs is not None:
        try:
            made = check.make_inputs(Case(spec.shapes, spec.case.params), rng)[k]
            if np.shape(made) == shape:
                a = np.array(made, dtype=np.float64)
            else:
                a = rng.standard_normal(shape) * 2
        except Exception:                   # fixed-shape generators: plain values
            a = rng.standard_normal(shape) * 2
    else:
        a = rng.standard_normal(shape) * 2
    if spec.special is not None and a.size and spec.dtype.startswith("float"):
        if k in getattr(check, "special_inputs", range(len(spec.shapes))):
            a.reshape(-1)[rng.integers(0, a.size)] = spec.special
    if spec.dtype == "bool":
        return a > 0
    if spec.dtype.startswith("int"):
        return np.round(a).astype(spec.dtype)
    return a.astype(spec.dtype)


def _layout_base(a, layout):
    """(base array, how to view it) so that view(base) == a, the view being
    non-contiguous (every other element, or reversed, or transposed)."""
    if a.ndim == 0 or layout == "contiguous":
        return a, None
    if layout == "strided":
        base = np.repeat(a, 2, axis=-1)
        return base, "strided"
    if layout == "flipped":
        return a[..., ::-1].copy(), "flipped"      # a copy: positive strides
    if a.ndim < 2:
        return a, None
    return np.transpose(a).copy(), "transposed"


def _view(lib, base, how):
    if how is None:
        return base
    if how == "strided":
        return base[..., ::2]
    if how == "flipped":
        return base[..., ::-1] if lib == "tn" else base.flip(-1)
    return base.permute(*reversed(range(base.ndim)))


def _scalar(kind, rng):
    v = float(np.round(rng.standard_normal() * 2, 2)) or 1.5
    return {"py_float": v, "py_int": int(round(v)) or 2, "py_bool": bool(v > 0),
            "np_float64": np.float64(v), "np_float32": np.float32(v),
            "np_int64": np.int64(int(round(v)) or 2)}[kind]


def build(spec, check):
    """The arrays, plus (base, view) recipes for tinynet and PyTorch."""
    rng = np.random.default_rng(spec.seed)
    items = []
    for k, shape in enumerate(spec.shapes):
        if spec.scalar is not None and k == spec.scalar_pos:
            items.append(("scalar", _scalar(spec.scalar, rng), None))
            continue
        a = _values(spec, k, shape, rng, check)
        base, how = _layout_base(a, spec.layout)
        items.append(("tensor", base, how))
    return items


def _wants_grad(check, spec, k, base):
    return (check.grad and check.wants_grad(k) and spec.kinds[k] == "f"
            and base.dtype.kind == "f")


def run_tinynet(check, spec, items):
    bases, args = [], []
    for k, (what, value, how) in enumerate(items):
        if what == "scalar":
            bases.append(None)
            args.append(value)
            continue
        t = tn.tensor(value, requires_grad=_wants_grad(check, spec, k, value))
        bases.append(t)
        args.append(_view("tn", t, how))
    out = check.fn(*args, **spec.case.params)
    return bases, (list(out) if isinstance(out, (tuple, list)) else [out])


def run_torch(torch, check, spec, items, as_dtype=None):
    bases, args = [], []
    for k, (what, value, how) in enumerate(items):
        if what == "scalar":
            bases.append(None)
            args.append(value)
            continue
        if as_dtype is not None and value.dtype.kind == "f":
            value = value.astype(as_dtype)
        t = torch.tensor(value, requires_grad=_wants_grad(check, spec, k, value))
        bases.append(t)
        args.append(_view("torch", t, how))
    params = {k: (torch.tensor(v) if isinstance(v, np.ndarray) else v)
              for k, v in spec.case.params.items()}
    try:
        out = check.torch_fn(torch, *args, **params)
    except Exception:
        # PyTorch's binary functions (maximum, where, ...) take no Python scalar:
        # a 0-d tensor of the scalar has the same type-promotion category
        if not any(w == "scalar" for w, _, _ in items):
            raise
        other = next(v.dtype for w, v, _ in items if w == "tensor")
        args = [_weak(torch, a, other) if w == "scalar" else a
                for a, (w, _, _) in zip(args, items)]
        out = check.torch_fn(torch, *args, **params)
    return bases, (list(out) if isinstance(out, (tuple, list)) else [out])


_CATEGORY = {"b": 0, "i": 1, "u": 1, "f": 2}


def _weak(torch, v, other):
    """A number as the 0-d tensor PyTorch's Python-scalar promotion makes of it:
    the tensor operand's dtype when the number's kind is no higher (bool <
    int < float), else its kind's default (int64, float32)."""
    kind = "b" if isinstance(v, (bool, np.bool_)) else "i" if isinstance(
        v, (int, np.integer)) else "f"
    if _CATEGORY[kind] <= _CATEGORY[other.kind]:
        return torch.tensor(np.asarray(v).astype(other))
    return torch.tensor(int(v)) if kind == "i" else torch.tensor(
        float(v), dtype=torch.get_default_dtype())


# ---------------------------------------------------------------- classification
def is_tinynet_error(exc):
    """Raised by a ``raise`` statement of tinynet itself, naming the op?"""
    if isinstance(exc, np.exceptions.AxisError):
        return False
    if not isinstance(exc, (ValueError, TypeError, RuntimeError, IndexError)):
        return False
    frames = traceback.extract_tb(exc.__traceback__)
    last = frames[-1]
    return (last.filename.startswith(TINYNET_DIR) and last.line.lstrip().startswith("raise")
            and bool(NAMED.search(str(exc))))


def _reached_tinynet(exc):
    return any(f.filename.startswith(TINYNET_DIR)
               for f in traceback.extract_tb(exc.__traceback__))


class Fuzzed:
    """An op declaration with fuzz-only overrides (a reference, the dtypes or
    special values to draw), leaving the shared declaration untouched."""

    def __init__(self, check, **overrides):
        self._check = check
        self.__dict__.update(overrides)

    def __getattr__(self, name):
        return getattr(self._check, name)


def _compare(got, want, dtype, what):
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if got.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    rtol, atol = TOLERANCE[str(got.dtype)]
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64),
                               rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def _torch_np_dtype(torch_tensor):
    return np.dtype(str(torch_tensor.dtype).replace("torch.", ""))


def check_call(torch, check, spec):
    """Run one fuzzed call; raise AssertionError when the rule is broken;
    return the outcome's name."""
    items = build(spec, check)
    try:
        tn_bases, tn_outs = run_tinynet(check, spec, items)
        tn_exc = None
    except Exception as e:               # noqa: BLE001 - classified below
        tn_exc = e
    fallback = None
    try:
        th_bases, th_outs = run_torch(torch, check, spec, items)
        th_exc = None
    except Exception as e:               # noqa: BLE001
        th_exc = e
        if spec.dtype == "float16" and tn_exc is None:
            # an op PyTorch's CPU build lacks in half precision: the float32
            # result rounded to float16 is the reference
            try:
                th_bases, th_outs = run_torch(torch, check, spec, items, as_dtype=np.float32)
                th_exc, fallback = None, np.float16
            except Exception:            # noqa: BLE001
                pass
    if tn_exc is not None and not _reached_tinynet(tn_exc):
        return "not applicable"           # the test's own lambda refused the input
    if tn_exc is not None:
        assert is_tinynet_error(tn_exc), (
            f"{check.name}: {spec}: not a tinynet error: "
            f"{type(tn_exc).__name__}: {tn_exc}\n" + "".join(traceback.format_tb(
                tn_exc.__traceback__)[-3:]))
        if th_exc is not None:
            return "both refused"
        one_sided(check.name, spec, "tinynet", tn_exc)
        return "tinynet refused, torch ran"
    if th_exc is not None:
        one_sided(check.name, spec, "torch", th_exc)
        return "torch refused, tinynet ran"
    assert len(tn_outs) == len(th_outs), f"{check.name}: {spec}: output count"
    for i, (o, r) in enumerate(zip(tn_outs, th_outs)):
        want = r.detach().numpy()
        if fallback is not None and want.dtype == np.float32:
            want = want.astype(fallback)
        _compare(np.asarray(o.detach().numpy()), want, spec.dtype,
                 f"{check.name}: {spec}: output {i}")
    _check_grads(torch, check, spec, tn_bases, tn_outs, th_bases, th_outs, fallback)
    return "matched"


def _check_grads(torch, check, spec, tn_bases, tn_outs, th_bases, th_outs, fallback):
    wanted = [k for k, b in enumerate(tn_bases) if b is not None and b.requires_grad]
    diff = [i for i, o in enumerate(tn_outs) if o.requires_grad]
    if not wanted or not diff or spec.special is not None or fallback is not None:
        return                            # NaN/Inf gradients: forward checked only
    if spec.dtype == "float16":
        return                            # half gradients: accumulation order dominates
    rng = np.random.default_rng(1)
    ws = [rng.standard_normal(tn_outs[i].shape).astype(tn_outs[i].dtype) for i in diff]
    got = tn.grad([tn_outs[i] for i in diff], [tn_bases[k] for k in wanted],
                  grad_outputs=[tn.tensor(w) for w in ws], allow_unused=True)
    th_diff = [th_outs[i] for i in diff]
    assert all(o.requires_grad for o in th_diff), f"{check.name}: {spec}: grad outputs"
    try:
        want = torch.autograd.grad(th_diff, [th_bases[k] for k in wanted],
                                   [torch.tensor(w) for w in ws], allow_unused=True)
    except RuntimeError as e:        # e.g. its own autograd refusing its scatter gradient
        one_sided(check.name, spec, "torch gradient", e)
        return
    for k, g, w in zip(wanted, got, want):
        if g is None or w is None:
            assert (g is None or not g.numpy().any()) and (w is None or not w.any()), (
                f"{check.name}: {spec}: gradient {k} missing on one side")
            continue
        _compare(g.numpy(), w.numpy(), spec.dtype, f"{check.name}: {spec}: gradient {k}")


# ---------------------------------------------------------------- one-sided refusals
@dataclass(frozen=True)
class Known:
    """A difference from PyTorch: calls of the ops matching ``ops`` (a regex
    on the op's name) that only ``side`` refuses ("tinynet", "torch", or
    "torch gradient": PyTorch computes the value but refuses the backward),
    with a message matching ``message``. ``witness`` is one such call
    (arguments of witness_spec)."""
    ops: str
    side: str
    message: str
    reason: str
    witness: tuple

    def matches(self, name, side, message):
        return (side == self.side and re.fullmatch(self.ops, name) is not None
                and re.search(self.message, message) is not None)


def known_difference(name, side, message):
    return next((k for k in KNOWN if k.matches(name, side, message)), None)


def one_sided(name, spec, side, exc):
    """Record a call only ``side`` refused; fail unless it is a KNOWN difference."""
    message = f"{type(exc).__name__}: {exc}"
    known = known_difference(name, side, message)
    assert known is not None, (
        f"{name}: {spec}: only {side} refused ({message[:300]}); a new difference from "
        f"PyTorch: fix it, or add it to KNOWN in tests/hardening/test_hardening_fuzz.py with the reason")
    ONE_SIDED.append((name, str(spec), f"{side}: {message}", known))


def witness_spec(op, shapes, case=0, dtype="float32", layout="contiguous", special=None,
                 scalar=None, scalar_pos=0, seed=0):
    """The Spec of one call of ``op``: case ``case``'s parameters on ``shapes``."""
    check = CHECKS[op]
    shapes = tuple(tuple(s) for s in shapes)
    kinds = getattr(check, "kinds", None) or ("f",) * len(shapes)
    return Spec(Case(shapes, as_case(check.cases[case]).params), shapes, dtype, layout,
                special, scalar, scalar_pos, seed, kinds)


def w(op, shapes, **kw):
    return (op, shapes, tuple(sorted(kw.items())))


KNOWN = [
    Known(r"F\.log_softmax|F\.softmax|batch_norm|hardtanh|hardtanh-range|instance_norm|"
          "instance_norm-affine|log_softmax|pairwise_distance|pairwise_distance-inf|relu6|"
          "softmax|softmax-dim|softsign|tanhshrink",
          "tinynet", r"expected a floating point tensor, got .* (bool|u?int\d+) cpu",
          "activations, softmax, norms and distances take floating tensors only (the error "
          "says to convert); PyTorch also runs several of them on integer or bool tensors",
          w("softsign", ((),), dtype="int32", layout="strided", special=np.nan)),
    Known("adaptive_avg_pool2d|adaptive_max_pool2d|avg_pool1d|avg_pool2d|conv1d|conv2d|"
          "conv2d-groups-dilation|conv_transpose2d|fold|max_pool1d|max_pool2d|unfold",
          "tinynet", r"expected a float32 or float64 tensor, got .* (float16|bool|u?int\d+) "
          "cpu",
          "convolution, pooling, fold and unfold have float32/float64 kernels only; "
          "PyTorch's CPU build also runs them in float16, and some on integers or bools",
          w("fold", ((1, 8, 4),), dtype="bool", layout="strided")),
    Known("conv1d|conv2d|conv2d-groups-dilation|conv_transpose2d|fold|unfold",
          "tinynet", r"expected a \d-D input|fold: expected input \(N, .* got \(\d+, \d+\) ",
          "convolutions, fold and unfold take batched input only; PyTorch also takes "
          "unbatched input (one dim fewer)",
          w("unfold", ((2, 5, 4),), dtype="bool", layout="strided")),
    Known("median",
          "tinynet", "cannot take the median of an empty tensor",
          "the median of an empty tensor: PyTorch returns NaN, tinynet refuses",
          w("median", ((0, 4),), dtype="int64", layout="flipped")),
    Known("huber_loss|kl_div|l1_loss|mse_loss|smooth_l1_loss",
          "tinynet", "target shape .* must match input shape",
          "regression losses refuse a target shaped unlike the input; PyTorch broadcasts the "
          "two with a warning",
          w("smooth_l1_loss", ((2, 1), (1, 3)), dtype="float64", layout="flipped",
            special=np.nan, seed=82)),
    Known("batch_norm|instance_norm-affine",
          "tinynet", r"(weight|bias) must have \d+ elements, got shape \S+; input \((\d+, "
          ")*0[,)]",
          "on an empty input PyTorch's batch and instance norms return before checking the "
          "weight and bias sizes; tinynet checks them first",
          w("instance_norm-affine", ((2, 0, 4), (3,), (3,)), dtype="float16", layout="strided",
            seed=1)),
    Known("batch_norm",
          "tinynet", "expected more than 1 value per channel when training, got input of "
          r"shape \((\d+, )*0[,)]",
          "batch_norm on an empty batch: PyTorch returns an empty result, tinynet refuses as "
          "for a batch of one",
          w("batch_norm", ((0, 3), (3,), (3,)), dtype="float16", layout="flipped",
            special=np.nan)),
    Known("index_add|index_add_",
          "tinynet", r"index_add: index \d+ is out of bounds for dim \d+ with size 0",
          "index_add into a dim of size 0: PyTorch does no work and checks no index, tinynet "
          "refuses the out-of-bounds indices",
          w("index_add_", ((3, 0), (3, 2)), dtype="int32", layout="flipped", seed=4398)),
    Known("linear",
          "tinynet", r"linear: bias must have shape \(\d+,\), got \((1,)?\)",
          "linear with a bias of shape () or (1,): PyTorch broadcasts it, tinynet wants "
          "(out_features,)",
          w("linear", ((0, 3), (4, 3), ()), dtype="bool", layout="transposed", special=np.nan,
            seed=1)),
    Known("group_norm",
          "tinynet", r"reshape: cannot reshape a tensor of shape \((\d+, )*0[,)].* into shape "
          ".*-1",
          "group_norm of an empty batch: tinynet reshapes with a -1 that an empty tensor "
          "cannot resolve (a tinynet limitation, kept until fixed); PyTorch returns an empty "
          "result",
          w("group_norm", ((0, 4, 3),), dtype="float64", layout="flipped", special=np.nan)),
    Known("pow|pow-zero-base",
          "tinynet", "Integers to negative integer powers are not allowed",
          "an integer to a negative integer power: tinynet refuses as NumPy does, PyTorch "
          "returns 0, 1 or -1",
          w("pow", ((), ()), dtype="int64", seed=6734)),
    Known("sub",
          "tinynet", "subtraction with a bool tensor is not supported .*(got bool (True|False) "
          "and|and bool (True|False);)",
          "a Python bool on either side of a subtraction: PyTorch refuses bool tensors in "
          "subtraction, tinynet a Python bool operand too",
          w("sub", ((4, 1), (3, 1, 3)), dtype="float64", layout="transposed", scalar="py_bool",
            scalar_pos=0, seed=29778)),
    Known("view|view_as",
          "tinynet", "view size is not compatible with input tensor's size and stride: shape "
          r"\([^)]*\) with strides \([^)]*-\d",
          "viewing a reversed (negative-stride) tensor: tinynet cannot without a copy; "
          "PyTorch has no negative strides, so its flip() already copied",
          w("view", ((3, 4),), layout="flipped")),
    Known("cosine_similarity",
          "tinynet", "cosine_similarity: expected inputs with at least one dim",
          "cosine_similarity of 0-d inputs: PyTorch takes dim 0 of a scalar, tinynet asks "
          "for at least one dim",
          w("cosine_similarity", ((), ()), case=2, dtype="float64")),
    Known(r"F\.relu|abs|addmm|addmm-method|argmax|argmin|bmm|einsum|einsum-list|"
          "interpolate-nearest|interpolate-nearest-exact|kthvalue|linear|matmul|matmul-fn|median|"
          "median-dim|mm|"
          "pad-reflect|pad-replicate|pad-replicate-wide|pow|pow-zero-base|"
          "pow-zero-base-exponent-grad|relu",
          "torch", "not implemented for '(Bool|Int|Long|Half)'|Boolean inputs not supported|"
          "does not support bool input",
          "PyTorch's CPU build has no kernel for this dtype (mostly bool; nearest "
          "interpolation also integers); tinynet computes it as NumPy does",
          w("relu", ((),), dtype="bool", layout="flipped")),
    Known("avg_pool2d|interpolate-linear|interpolate-linear-align|interpolate-nearest|"
          "max_pool2d|pad-reflect|pad-replicate|pad-replicate-wide",
          "torch", r"Expected \d+D or \d+D .*tensor|Non-empty \d+D data tensor expected",
          "PyTorch's pooling, padding and interpolation refuse zero-size dims; tinynet "
          "returns an empty result",
          w("pad-replicate-wide", ((0, 2),), dtype="int64", layout="strided", special=np.inf)),
    Known("fold|unfold",
          "torch", r"Expected \dD or \dD \(batch mode\) tensor .*non-zero dimensions",
          "fold and unfold of an input with 0 channels: PyTorch refuses a size-0 dim other "
          "than the batch, tinynet returns the empty result (0 channels)",
          w("unfold", ((2, 0, 5, 4),))),
    Known("interpolate-.*",
          "torch", r"Non-empty \dD data tensor expected",
          "interpolation of an input with 0 channels: PyTorch refuses a size-0 dim other "
          "than the batch, tinynet returns the empty result",
          w("interpolate-trilinear", ((1, 0, 2, 3, 2),), dtype="float16")),
    Known("adaptive_max_pool2d|avg_pool1d|max_pool1d",
          "torch", r"Expected \dD or \dD \(batch mode\) tensor with optional 0 dim batch size|"
          "Expected input to have non-zero size for non-batch dimensions",
          "1-D and adaptive max pooling of an input with 0 channels: PyTorch refuses a size-0 "
          "dim other than the batch, tinynet returns the empty result",
          w("max_pool1d", ((2, 0, 6),))),
    Known("addmm",
          "torch", "result type Float can't be cast to the desired output type (Int|Long)",
          "integer addmm with an empty inner dim and a float beta: PyTorch refuses it (it "
          "computes beta * input in floats then), tinynet cuts beta to an int as PyTorch "
          "itself does when the inner dim is not empty",
          w("addmm", ((2, 4), (2, 0), (0, 4)), dtype="int32")),
    Known("pixel_shuffle|pixel_unshuffle",
          "torch gradient", r"PixelShuffleBackward\d* returned an invalid gradient|"
          "pixel_shuffle expects its input's 'channel' dimension to be divisible",
          "pixel_shuffle and pixel_unshuffle of an empty tensor: PyTorch computes the value, "
          "but its backward fails (a gradient of the output's shape, which its own autograd "
          "refuses, or a pixel_shuffle of the unchanged empty input); tinynet returns the "
          "empty gradient",
          w("pixel_shuffle", ((0, 8, 2, 3),))),
    Known("instance_norm-affine",
          "torch", r"select\(\): index 0 out of range for tensor of size \[0\]",
          "instance_norm of an empty batch: PyTorch fails inside (an internal select), "
          "tinynet returns an empty result",
          w("instance_norm-affine", ((0, 3, 4), (3,), (3,)), dtype="float16")),
    Known("scatter|scatter_|scatter_add|scatter_add_",
          "torch gradient", r"Scatter(Add)?Backward\d* returned an invalid gradient",
          "scatter: PyTorch computes the value, but its backward gives src a gradient of the "
          "index's shape, which its own autograd refuses when src is larger",
          w("scatter_add_", ((3, 6), (3, 3)), dtype="float64", layout="strided", seed=1)),
    Known("einsum|einsum-list",
          "torch", "expected scalar type Long but found (Int|Bool)",
          "einsum of int32 or bool operands where one operand's dim is summed alone (or "
          "broadcasts): "
          "PyTorch sums it first into int64 and then refuses to multiply int64 by int32; "
          "tinynet computes it (in int64, PyTorch's dtype for such sums)",
          w("einsum", ((2, 3), (4, 1, 2), (2, 2)), case=8, dtype="int32")),
]


# ================================================================ the ops
EXAMPLES = int(os.environ.get("TINYNET_FUZZ_EXAMPLES", 60))    # per op
FUZZ = settings(derandomize=True, max_examples=EXAMPLES, deadline=None, database=None,
                phases=(Phase.explicit, Phase.generate, Phase.shrink),
                suppress_health_check=list(HealthCheck))


def extra(name, fn, torch_fn, cases, kinds=None, **options):
    """An nn.functional op the op table does not hold; ``kinds`` marks each
    input "f" (float) or "iC" (class index below C)."""
    check = OpCheck(name, fn, cases=cases, **options)
    check.torch_fn, check.kinds = torch_fn, kinds
    return check


NF = lambda t: t.nn.functional  # noqa: E731
EXTRA = [
    extra("cross_entropy", F.cross_entropy, lambda t, x, y: NF(t).cross_entropy(x, y),
          [((4, 5), (4,)), ((2, 5, 3), (2, 3))], kinds=("f", "i5")),
    extra("cross_entropy-smoothing", lambda x, y: F.cross_entropy(x, y, label_smoothing=0.1),
          lambda t, x, y: NF(t).cross_entropy(x, y, label_smoothing=0.1),
          [((4, 5), (4,))], kinds=("f", "i5")),
    extra("nll_loss", lambda x, y: F.nll_loss(F.log_softmax(x, 1), y),
          lambda t, x, y: NF(t).nll_loss(NF(t).log_softmax(x, 1), y),
          [((3, 4), (3,))], kinds=("f", "i4")),
    extra("mse_loss", F.mse_loss, lambda t, x, y: NF(t).mse_loss(x, y), [((2, 3), (2, 3))]),
    extra("l1_loss", F.l1_loss, lambda t, x, y: NF(t).l1_loss(x, y), [((2, 3), (2, 3))]),
    extra("smooth_l1_loss", F.smooth_l1_loss, lambda t, x, y: NF(t).smooth_l1_loss(x, y),
          [((2, 3), (2, 3))]),
    extra("huber_loss", lambda x, y: F.huber_loss(x, y, reduction="sum", delta=0.5),
          lambda t, x, y: NF(t).huber_loss(x, y, reduction="sum", delta=0.5),
          [((2, 3), (2, 3))]),
    extra("binary_cross_entropy", lambda x, y: F.binary_cross_entropy(F.sigmoid(x),
                                                                      F.sigmoid(y)),
          lambda t, x, y: NF(t).binary_cross_entropy(t.sigmoid(x), t.sigmoid(y)),
          [((2, 3), (2, 3))]),
    extra("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits,
          lambda t, x, y: NF(t).binary_cross_entropy_with_logits(x, y), [((2, 3), (2, 3))]),
    extra("kl_div", lambda x, y: F.kl_div(F.log_softmax(x, -1), F.softmax(y, -1),
                                          reduction="batchmean"),
          lambda t, x, y: NF(t).kl_div(t.log_softmax(x, -1), t.softmax(y, -1),
                                       reduction="batchmean"), [((2, 3), (2, 3))]),
    extra("linear", F.linear, lambda t, x, w, b: NF(t).linear(x, w, b),
          [((2, 3), (4, 3), (4,)), ((2, 2, 3), (4, 3), (4,))]),
    extra("embedding", lambda i, w: F.embedding(i, w), lambda t, i, w: NF(t).embedding(i, w),
          [((2, 3), (6, 4))], kinds=("i6", "f")),
    extra("one_hot", lambda i: F.one_hot(i, 5), lambda t, i: NF(t).one_hot(i, 5),
          [((3,),), ((2, 2),)], kinds=("i5",), grad=False),
    extra("normalize", F.normalize, lambda t, x: NF(t).normalize(x), [(3, 4)]),
    extra("layer_norm", lambda x, w, b: F.layer_norm(x, (4,), w, b),
          lambda t, x, w, b: NF(t).layer_norm(x, (4,), w, b), [((2, 3, 4), (4,), (4,))]),
    extra("group_norm", lambda x: F.group_norm(x, 2), lambda t, x: NF(t).group_norm(x, 2),
          [(2, 4, 3)]),
    extra("batch_norm", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
          lambda t, x, w, b: NF(t).batch_norm(x, None, None, w, b, training=True),
          [((4, 3), (3,), (3,)), ((2, 3, 2, 2), (3,), (3,))]),
    extra("max_pool1d", lambda x: F.max_pool1d(x, 2), lambda t, x: NF(t).max_pool1d(x, 2),
          [(2, 3, 6)]),
    extra("avg_pool1d", lambda x: F.avg_pool1d(x, 3, 2, 1),
          lambda t, x: NF(t).avg_pool1d(x, 3, 2, 1), [(2, 3, 7)]),
    extra("adaptive_max_pool2d", lambda x: F.adaptive_max_pool2d(x, (2, 3)),
          lambda t, x: NF(t).adaptive_max_pool2d(x, (2, 3)), [(2, 3, 5, 7)]),
    extra("F.relu", F.relu, lambda t, x: NF(t).relu(x), [(2, 3)]),
    extra("F.softmax", lambda x: F.softmax(x, dim=-1), lambda t, x: NF(t).softmax(x, dim=-1),
          [(2, 3)]),
    extra("F.log_softmax", lambda x: F.log_softmax(x, dim=0),
          lambda t, x: NF(t).log_softmax(x, dim=0), [(2, 3)]),
]
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _torch_prod(t, x, axis, keepdims):
    # torch.prod reduces one dim at a time; the op table's reference skips 0-d inputs
    if axis is None:
        y = t.prod(x)
        return y.reshape((1,) * x.ndim) if keepdims else y
    for a in np.atleast_1d(axis):
        if not -max(x.ndim, 1) <= a < max(x.ndim, 1):
            raise IndexError(f"Dimension out of range (got {a} for {x.ndim} dims)")
    for d in sorted((a % x.ndim for a in np.atleast_1d(axis)), reverse=True):
        x = x.prod(int(d), keepdim=True)
    dims = {a % x.ndim for a in np.atleast_1d(axis)}
    return x if keepdims else x.reshape([s for i, s in enumerate(x.shape) if i not in dims])


def _guarded_sdpa(name):
    """PyTorch 2.13's CPU scaled_dot_product_attention kills the process
    (SIGFPE) on some inputs with a zero-size dim, and where the batch dims of
    query, key and value do not broadcast it returns a shape that ignores one
    of them; the fuzz does not call it there and counts that as PyTorch
    refusing (tinynet refuses the second with a named error)."""
    reference = next(c for c in OPS if c.name == name).torch_fn

    def torch_fn(t, *xs, **p):
        if any(0 in tuple(x.shape) for x in xs):
            raise RuntimeError("scaled_dot_product_attention: a zero-size input is not passed "
                               "to PyTorch (it can crash the process)")
        lead = 3 if "gqa" in name else 2              # grouped heads need not broadcast
        np.broadcast_shapes(*(tuple(x.shape)[:-lead] for x in xs[:3]))
        return reference(t, *xs, **p)
    return torch_fn


KNOWN.append(
    Known("scaled_dot_product_attention.*",
          "torch", "a zero-size input is not passed to PyTorch",
          "attention with a zero-size dim: PyTorch's CPU kernel can crash the process, so "
          "the fuzz does not call it; tinynet returns the empty (or zero) result",
          w("scaled_dot_product_attention", ((2, 0, 4), (2, 5, 4), (2, 5, 2)))))

OVERRIDES = {
    **{c.name: {"torch_fn": _guarded_sdpa(c.name)} for c in OPS
       if c.name.startswith("scaled_dot_product_attention")},
    # a NaN or inf in a key or value that the causal or explicit mask hides:
    # PyTorch adds the mask to the scores and multiplies the zero weight by the
    # value, so the NaN reaches rows that cannot see it; tinynet skips hidden
    # keys. Non-finite values go only to the unmasked entry.
    **{c.name: {"torch_fn": _guarded_sdpa(c.name), "specials": ()} for c in OPS
       if c.name.startswith("scaled_dot_product_attention-")},
    # the op table's references reshape, and permute a 0-d tensor with no dims
    # given (which PyTorch refuses); here the reference calls the same methods
    "view": {"torch_fn": lambda t, x: x.view(2, 6)},
    "T": {"torch_fn": lambda t, x: x.permute(*reversed(range(x.ndim))) if x.ndim else x},
    "prod": {"torch_fn": _torch_prod},
    "prod-zeros": {"torch_fn": _torch_prod},
    # the reference casts the bounds to the input's dtype, tinynet's call does not
    "clamp-tensor": {"dtypes": ("float32", "float64")},
    # PyTorch's CPU gelu gives nan at +inf (x * (1 + erf(x / sqrt 2)) is inf there)
    "gelu": {"specials": (np.nan,)},
    # PyTorch's sign(nan) is 0; tinynet keeps NumPy's nan
    "sign": {"specials": (np.inf, -np.inf)},
    # kl_div: PyTorch gives 0 * -inf = nan where the target is 0; tinynet's
    # 0 log 0 = 0 rule gives 0 there
    "kl_div": {"specials": (np.nan,)},
    # an inf in a channel makes its mean inf and variance nan: both sides give
    # non-finite garbage there, differing in where it is inf and where nan
    "batch_norm": {"specials": (np.nan,)},
    # PyTorch leaves the order of tied elements unspecified, and integers tie
    **{name: {"dtypes": ("float32", "float64")} for name in ("topk", "kthvalue", "median-dim")},
    # PyTorch's mode counts wrongly around a NaN (its sort comparator breaks)
    "mode": {"specials": (np.inf, -np.inf)},
    # an inf against a size-1 (broadcast) dim: PyTorch sums before multiplying,
    # NumPy's einsum multiplies first and can meet inf - inf = nan
    "einsum": {"specials": (np.nan,)},
    # an inf weight: PyTorch folds the mean into one shift, b - mean * w / std, and
    # meets inf - inf = nan where tinynet's (x - mean) / std * w + b gives +-inf;
    # NaN/Inf go in the data only
    "instance_norm-affine": {"special_inputs": (0,)},
    # a NaN weight meets zero padding: PyTorch skips the padded taps,
    # tinynet multiplies them (0 * nan = nan); NaN/Inf go in the data only
    **{name: {"special_inputs": (0,)}
       for name in ("conv2d", "conv2d-groups-dilation", "conv1d", "conv_transpose2d")},
}
CHECKS = {c.name: Fuzzed(c, **OVERRIDES.get(c.name, {})) for c in OPS + EXTRA}


@pytest.fixture(scope="module", autouse=True)
def report_cases(request):
    """Print how many fuzzed calls ran and how each ended."""
    yield
    total = sum(OUTCOMES.values())
    line = f"hardening fuzz: {total} calls over {len(CHECKS)} ops: " + ", ".join(
        f"{n} {k}" for k, n in OUTCOMES.most_common())
    used = Counter(row[3] for row in ONE_SIDED)
    line += (f"; {len(ONE_SIDED)} one-sided refusals, all among the {len(KNOWN)} known "
             f"differences ({len(used)} seen)")
    lines = [line] + ([" | ".join(row[:3])[:400] for row in ONE_SIDED]
                      if os.environ.get("TINYNET_FUZZ_VERBOSE") else [])
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is None:
        print("\n" + "\n".join(lines))
        return
    with capture.global_and_fixture_disabled():
        print("\n" + "\n".join(lines))


@st.composite
def fuzzed_call(draw, check):
    return draw_spec(draw, st, check)


@pytest.mark.parametrize("name", list(CHECKS))
@FUZZ
@given(data=st.data())
def test_fuzzed_call_matches_pytorch_or_raises_a_named_error(name, data):
    check = CHECKS[name]
    spec = data.draw(fuzzed_call(check), label="call")
    OUTCOMES[check_call(torch, check, spec)] += 1


def test_the_fuzz_checker_catches_a_wrong_answer_and_a_numpy_error():
    """The checker itself: a silently wrong op and an op leaking NumPy's
    IndexError both fail it, so a green suite means something."""
    base = CHECKS["exp"]
    spec = Spec(as_case((2, 3)), ((2, 3),), "float32", "contiguous", None, None, 0, 0,
                    ("f",))
    wrong = Fuzzed(base, fn=lambda x: tn.exp(x) * 1.001, grad=False)
    with pytest.raises(AssertionError, match="exp: .* output 0"):
        check_call(torch, wrong, spec)
    # an op whose code lives in the tinynet package and lets NumPy's error out
    ns = {}
    exec(compile("def leaky(x):\n    return x.numpy()[5]\n",
                 os.path.join(TINYNET_DIR, "ops", "leaky.py"), "exec"), ns)
    leaky = Fuzzed(base, fn=ns["leaky"])
    with pytest.raises(AssertionError, match="not a tinynet error: IndexError"):
        check_call(torch, leaky, spec)
    assert check_call(torch, base, spec) == "matched"


def test_the_fuzz_checker_catches_a_refusal_not_on_the_known_list():
    base = CHECKS["exp"]
    spec = Spec(as_case((2, 3)), ((2, 3),), "float32", "contiguous", None, None, 0, 0,
                ("f",))
    # a refusal raised by a tinynet op (its source known to linecache, as a real one's is)
    source = "def picky(x):\n    raise ValueError('exp: refused for this test')\n"
    filename, ns = os.path.join(TINYNET_DIR, "ops", "picky.py"), {}
    exec(compile(source, filename, "exec"), ns)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        with pytest.raises(AssertionError, match=r"exp: .* only tinynet refused \(ValueError: "
                                                 r"exp: refused for this test\); a new "
                                                 r"difference"):
            check_call(torch, Fuzzed(base, fn=ns["picky"]), spec)
    finally:
        linecache.cache.pop(filename, None)
    refusing = Fuzzed(base, torch_fn=lambda t, x: t.exp(x, nonsense=1))
    with pytest.raises(AssertionError, match=r"only torch refused .*a new difference"):
        check_call(torch, refusing, spec)


@pytest.mark.filterwarnings("ignore:Using a target size")     # PyTorch's broadcasting losses
@pytest.mark.parametrize("known", KNOWN, ids=lambda k: f"{k.side}-{k.witness[0]}")
def test_known_difference_still_shows(known):
    """Each known difference's witness call is still refused by that side
    alone, with that message: an entry that no longer holds fails here."""
    op, shapes, options = known.witness
    assert re.fullmatch(known.ops, op), f"the witness {op} is not among {known.ops}"
    before = len(ONE_SIDED)
    try:
        check_call(torch, CHECKS[op], witness_spec(op, shapes, **dict(options)))
    except AssertionError as e:
        raise AssertionError(f"the witness of {known.reason!r} fails: {e}") from None
    seen = [row for row in ONE_SIDED[before:] if row[3] is known]
    del ONE_SIDED[before:]
    assert seen, f"stale known difference (remove it from KNOWN): {known.reason}"
