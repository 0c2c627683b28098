"""gradcheck points at the bug: classic backward mistakes planted in custom
Functions are caught, and the report names the likely cause.

Each planted bug has a correct twin that differs only in the buggy line, so a
passing twin shows the failure comes from that line alone.
"""
import re

import numpy as np
import pytest

import tinynet as tn
from tinynet.ops.shape import sum_to
from tinynet.testing import broadcast_axes, heat_map


def f64(*shape, seed=0):
    rng = np.random.default_rng(seed)
    return tn.tensor(rng.standard_normal(shape), requires_grad=True)


# ---------------------------------------------------------------- planted bugs
class AddBias(tn.Function):
    """x + b with b broadcast over the rows; ``bug`` picks the mistake."""

    def __init__(self, bug=None):
        self.bug = bug

    def forward(self, x, b):
        return x + b

    def backward(self, gy):
        x, b = self.inputs
        if self.bug == "no sum":
            return gy, gy                        # the (4, 3) gradient for a (3,) input
        if self.bug == "mean":
            return gy, gy.mean(axis=0)           # averages where broadcasting sums
        if self.bug == "first row":
            return gy, gy[0]                     # keeps one row of the broadcast
        return gy, sum_to(gy, b.shape)


class MatMul(tn.Function):
    def __init__(self, bug=None):
        self.bug = bug

    def forward(self, x, w):
        return x @ w

    def backward(self, gy):
        x, w = self.inputs
        if self.bug == "w not transposed":
            return gy @ w, x.mT @ gy
        if self.bug == "gw transposed":
            return gy @ w.mT, gy.mT @ x
        return gy @ w.mT, x.mT @ gy


class Tanh(tn.Function):
    keep_outputs = True

    def __init__(self, bug=None):
        self.bug = bug

    def forward(self, x):
        return np.tanh(x)

    def backward(self, gy):
        y = self.output()
        if self.bug == "sign":
            return gy * (y * y - 1)
        return gy * (1 - y * y)


class Square(tn.Function):
    def __init__(self, bug=None):
        self.bug = bug

    def forward(self, x):
        return x * x

    def backward(self, gy):
        x, = self.inputs
        if self.bug == "ignores gy":
            return 2 * x
        if self.bug == "factor":
            return x * gy
        return 2 * x * gy


def _case(cls, bug, shapes):
    def make():
        inputs = tuple(f64(*s, seed=k) for k, s in enumerate(shapes))
        return (lambda *xs: cls(bug)(*xs)), inputs
    return make


# (id, Function, bug, input shapes, failing input, hint pattern)
JACOBIAN_BUGS = [
    ("bias-mean", AddBias, "mean", [(4, 3), (3,)], 1, r"missing sum over axis 0"),
    ("bias-first-row", AddBias, "first row", [(4, 3), (3,)], 1, r"missing sum over axis 0"),
    ("matmul-w-not-transposed", MatMul, "w not transposed", [(2, 3), (3, 3)], 0,
     r"wrong transpose.*input 1 were transposed"),
    ("matmul-gw-transposed", MatMul, "gw transposed", [(2, 3), (3, 3)], 1,
     r"wrong transpose.*axes 0 and 1 swapped"),
    ("tanh-sign", Tanh, "sign", [(3, 4)], 0, r"wrong sign"),
    ("square-ignores-gy", Square, "ignores gy", [(3, 4)], 0,
     r"ignores grad_output.*forgot to multiply by gy"),
    ("square-factor", Square, "factor", [(2, 3, 4)], 0, r"0\.5 times the numerical"),
]


@pytest.mark.parametrize("name, cls, bug, shapes, j, hint", JACOBIAN_BUGS,
                         ids=[c[0] for c in JACOBIAN_BUGS])
def test_planted_bug_is_caught_and_diagnosed(name, cls, bug, shapes, j, hint):
    fn, inputs = _case(cls, bug, shapes)()
    with pytest.raises(tn.GradcheckError) as info:
        tn.gradcheck(fn, inputs)
    err = info.value
    assert str(err).splitlines()[0] == f"Jacobian mismatch for output 0 with respect to input {j}"
    assert (err.output_index, err.input_index) == (0, j)
    assert len(err.hints) == 1 and re.search(hint, err.hints[0]), err.hints
    assert "likely cause: " + err.hints[0] in str(err)


@pytest.mark.parametrize("name, cls, bug, shapes, j, hint", JACOBIAN_BUGS,
                         ids=[c[0] for c in JACOBIAN_BUGS])
def test_correct_twin_passes(name, cls, bug, shapes, j, hint):
    fn, inputs = _case(cls, None, shapes)()
    assert tn.gradcheck(fn, inputs)


@pytest.mark.parametrize("cls, bug, shapes, hint", [
    (AddBias, "no sum", [(4, 3), (3,)], r"missing sum over axis 0.*sum_to\(g, \(3,\)\)"),
    (AddBias, "no sum", [(2, 4, 3), (4, 1)], r"missing sum over axes 0, 2"),
    (MatMul, "gw transposed", [(2, 3), (3, 4)], r"wrong transpose.*\(4, 3\) for \(3, 4\)"),
], ids=["bias-no-sum", "bias-no-sum-two-axes", "matmul-gw-transposed-rectangular"])
def test_wrong_gradient_shape_is_diagnosed(cls, bug, shapes, hint):
    # the engine refuses a gradient of the wrong shape before any number is
    # compared; gradcheck reads that refusal and names the bug
    fn, inputs = _case(cls, bug, shapes)()
    with pytest.raises(RuntimeError) as info:
        tn.gradcheck(fn, inputs)
    err = info.value
    # still the engine's RuntimeError (backward crashed, nothing was compared),
    # with its message first and the likely cause added
    assert type(err) is RuntimeError and not isinstance(err, tn.GradcheckError)
    assert "backward returned a gradient of shape" in str(err).splitlines()[0]
    assert "likely cause: " + err.hints[0] in str(err)
    assert re.search(hint, err.hints[0]), err.hints
    assert isinstance(err.__cause__, RuntimeError)


def test_ignored_grad_output_on_one_element_output():
    # a one-element output cannot show it in the Jacobian; the scaling check does
    fn, inputs = _case(Square, "ignores gy", [(1,)])()
    with pytest.raises(tn.GradcheckError, match="does not scale with grad_output") as info:
        tn.gradcheck(fn, inputs)
    assert "forgot to multiply by gy" in info.value.hints[0]


# ---------------------------------------------------------------- verbose report
def test_verbose_report_names_elements_heat_map_and_hint(capsys):
    fn, inputs = _case(AddBias, "first row", [(4, 3), (3,)])()
    with pytest.raises(tn.GradcheckError) as info:
        tn.gradcheck(fn, inputs, verbose=True)
    out = capsys.readouterr().out
    lines = out.splitlines()
    # input 0 is fine and says so; input 1 gets the failure report
    assert lines[0].startswith("gradcheck: output 0 with respect to input 0 (4, 3): ok")
    assert "gradcheck failed: output 0 with respect to input 1" in lines
    assert "  wrong gradient at 3 of 3 input elements: [0], [1], [2]" in lines
    # the heat map: a header of indices, then one cell per element, all at the maximum
    k = next(n for n, line in enumerate(lines) if line.startswith("  numerical - analytical"))
    assert lines[k + 1].split() == ["0", "1", "2"]
    assert lines[k + 2].split() == ["+9", "+9", "+9"]
    assert "likely cause: looks like a missing sum over axis 0" in out
    assert info.value.report == out.rstrip("\n").split("\n", 1)[1]


def test_verbose_heat_map_marks_only_the_wrong_elements(capsys):
    # the transposed weight gradient is right on the diagonal and wrong elsewhere
    fn, inputs = _case(MatMul, "gw transposed", [(2, 3), (3, 3)])()
    assert tn.gradcheck(fn, inputs, verbose=True, raise_exception=False) is False
    lines = capsys.readouterr().out.splitlines()
    k = next(n for n, line in enumerate(lines) if line.startswith("  numerical - analytical"))
    grid = [line.split()[1:] for line in lines[k + 2:k + 5]]
    assert [row[r] for r, row in enumerate(grid)] == [".", ".", "."]
    off_diagonal = [row[c] for r, row in enumerate(grid) for c in range(3) if c != r]
    assert all(re.fullmatch(r"[+-][1-9]", cell) for cell in off_diagonal)
    assert "9" in "".join(off_diagonal)


def test_verbose_success_prints_one_line_per_pair(capsys):
    fn, inputs = _case(MatMul, None, [(2, 3), (3, 4)])()
    assert tn.gradcheck(fn, inputs, verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("gradcheck: output 0 with respect to input 0 (2, 3): ok")
    assert lines[1].startswith("gradcheck: output 0 with respect to input 1 (3, 4): ok")


def test_gradgradcheck_passes_verbose_through(capsys):
    fn, inputs = _case(Tanh, None, [(2, 3)])()
    assert tn.gradgradcheck(fn, inputs, verbose=True)
    out = capsys.readouterr().out
    # inputs of the first-derivative map: x, then grad_output
    assert out.startswith("gradgradcheck: checking the gradients of fn as a function of its "
                          "inputs 0..0 and of grad_outputs 1..1\n")
    assert "with respect to input 0 (2, 3): ok" in out
    assert "with respect to input 1 (2, 3): ok" in out


def test_non_verbose_prints_nothing(capsys):
    fn, inputs = _case(Tanh, "sign", [(2, 3)])()
    assert tn.gradcheck(fn, inputs, raise_exception=False) is False
    assert capsys.readouterr().out == ""


def test_kink_hint_wins_over_structural_guesses():
    # 1e-7 is closer to relu's kink than eps=1e-6: the finite difference straddles it
    x = tn.tensor(np.array([0.5, 1e-7, -0.7]), requires_grad=True)
    with pytest.raises(tn.GradcheckError) as info:
        tn.gradcheck(lambda t: t.relu(), (x,))
    assert len(info.value.hints) == 1 and "kink" in info.value.hints[0]


def test_float32_input_still_gets_the_diagnosis():
    x = tn.tensor(np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32),
                  requires_grad=True)
    with pytest.warns(UserWarning, match="promoted"):
        with pytest.raises(tn.GradcheckError) as info:
            tn.gradcheck(lambda t: Tanh("sign")(t), (x,))
    hints = info.value.hints
    assert "float32" in hints[0] and "wrong sign" in hints[1]


# ---------------------------------------------------------------- helpers
@pytest.mark.parametrize("x_shape, y_shape, axes", [
    ((3,), (4, 3), [0]),
    ((4, 1), (2, 4, 3), [0, 2]),
    ((1, 3), (1, 3), []),
    ((3,), (3, 4), None),
    ((2, 3), (3,), None),
])
def test_broadcast_axes(x_shape, y_shape, axes):
    assert broadcast_axes(x_shape, y_shape) == axes


def test_heat_map_slices_nan_and_window():
    values = np.zeros((2, 2, 20))
    bad = np.zeros(values.shape, dtype=bool)
    values[1, 0, 15], bad[1, 0, 15] = -2.0, True
    values[1, 1, 16], bad[1, 1, 16] = np.nan, True
    rows = heat_map(values, bad, top=2.0)
    # only the slice with wrong elements, a window of 12 columns that ends at the last
    assert rows[0] == "[1, :, :]"
    assert rows[1].split() == [str(c) for c in range(8, 20)]
    assert rows[2].split()[0] == "0" and rows[2].split()[8] == "-9"
    assert rows[3].split()[9] == "?"
    assert len(rows) == 4


def test_output_sharing_memory_with_an_input():
    # fn = identity returns the input itself, and the first-derivative map of
    # a + b returns grad_output itself: the finite differences must copy
    x, y = f64(3), f64(3, seed=1)
    assert tn.gradcheck(lambda t: t, (x,))
    assert tn.gradgradcheck(lambda a, b: a + b, (x, y))
