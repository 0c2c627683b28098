"""Fuzzed inputs over the whole op set against PyTorch.

Every op of tests/op_table.py, plus the nn.functional ops (losses, norms,
linear, embedding, pooling) declared below, is called on inputs Hypothesis
derives from its declared cases: shapes with a dim set to 0 or 1, grown or
dropped (broadcasting and rank errors), float16/32/64, int32/64 and bool,
every-other-element, reversed and transposed views, NaN/Inf entries, Python
and NumPy scalars in place of a binary op's operand. Each call must either
match PyTorch (values, shape, dtype and gradients) or raise tinynet's own
error naming the op (see hardening_fuzz_lib). Hypothesis runs derandomized:
a failure reproduces exactly; the number of calls tried is printed at the end.
"""
import os

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn.functional as F
from tinynet.testing import OpCheck, as_case

import hardening_fuzz_lib as lib
from op_table import OPS

torch = pytest.importorskip("torch")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, given, settings, strategies as st  # noqa: E402

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
CHECKS = {c.name: lib.Fuzzed(c, **OVERRIDES.get(c.name, {})) for c in OPS + EXTRA}


@pytest.fixture(scope="module", autouse=True)
def report_cases(request):
    """Print how many fuzzed calls ran and how each ended."""
    yield
    total = sum(lib.OUTCOMES.values())
    line = f"hardening fuzz: {total} calls over {len(CHECKS)} ops: " + ", ".join(
        f"{n} {k}" for k, n in lib.OUTCOMES.most_common())
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n" + line)
        if os.environ.get("TINYNET_FUZZ_VERBOSE"):
            for row in lib.ONE_SIDED:
                print(" | ".join(row)[:400])


@st.composite
def fuzzed_call(draw, check):
    return lib.draw_spec(draw, st, check)


@pytest.mark.parametrize("name", list(CHECKS))
@FUZZ
@given(data=st.data())
def test_fuzzed_call_matches_pytorch_or_raises_a_named_error(name, data):
    check = CHECKS[name]
    spec = data.draw(fuzzed_call(check), label="call")
    lib.OUTCOMES[lib.check_call(torch, check, spec)] += 1


def test_the_fuzz_checker_catches_a_wrong_answer_and_a_numpy_error():
    """The checker itself: a silently wrong op and an op leaking NumPy's
    IndexError both fail it, so a green suite means something."""
    base = CHECKS["exp"]
    spec = lib.Spec(as_case((2, 3)), ((2, 3),), "float32", "contiguous", None, None, 0, 0,
                    ("f",))
    wrong = lib.Fuzzed(base, fn=lambda x: tn.exp(x) * 1.001, grad=False)
    with pytest.raises(AssertionError, match="exp: .* output 0"):
        lib.check_call(torch, wrong, spec)
    # an op whose code lives in the tinynet package and lets NumPy's error out
    ns = {}
    exec(compile("def leaky(x):\n    return x.numpy()[5]\n",
                 os.path.join(lib.TINYNET_DIR, "ops", "leaky.py"), "exec"), ns)
    leaky = lib.Fuzzed(base, fn=ns["leaky"])
    with pytest.raises(AssertionError, match="not a tinynet error: IndexError"):
        lib.check_call(torch, leaky, spec)
    assert lib.check_call(torch, base, spec) == "matched"
