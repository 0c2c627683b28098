"""Fuzzed inputs over the whole op set against PyTorch.

Every op of tests/op_table.py, plus the nn.functional ops (losses, norms,
linear, embedding, pooling) declared below, is called on inputs Hypothesis
derives from its declared cases: shapes with a dim set to 0 or 1, grown or
dropped (broadcasting and rank errors), float16/32/64, int32/64 and bool,
every-other-element, reversed and transposed views, NaN/Inf entries, Python
and NumPy scalars in place of a binary op's operand. Each call must either
match PyTorch (values, shape, dtype and gradients) or raise tinynet's own
error naming the op (see is_tinynet_error). Hypothesis runs derandomized:
a failure reproduces exactly; the number of calls tried is printed at the end.
"""
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
# (op, spec, message) of the calls where only one side refused, for review
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
        ONE_SIDED.append((check.name, str(spec), f"tinynet: {tn_exc}"))
        return "tinynet refused, torch ran"
    if th_exc is not None:
        ONE_SIDED.append((check.name, str(spec), f"torch: {th_exc}"))
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
    except RuntimeError as e:        # e.g. its internal assert on x ** True's backward
        ONE_SIDED.append((check.name, str(spec), f"torch gradient: {e}"))
        return
    for k, g, w in zip(wanted, got, want):
        if g is None or w is None:
            assert (g is None or not g.numpy().any()) and (w is None or not w.any()), (
                f"{check.name}: {spec}: gradient {k} missing on one side")
            continue
        _compare(g.numpy(), w.numpy(), spec.dtype, f"{check.name}: {spec}: gradient {k}")


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
    for d in sorted((a % x.ndim for a in np.atleast_1d(axis)), reverse=True):
        x = x.prod(int(d), keepdim=True)
    dims = {a % x.ndim for a in np.atleast_1d(axis)}
    return x if keepdims else x.reshape([s for i, s in enumerate(x.shape) if i not in dims])


OVERRIDES = {
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
    lines = [line] + ([" | ".join(row)[:400] for row in ONE_SIDED]
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
