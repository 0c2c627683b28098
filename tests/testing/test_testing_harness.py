"""tinynet.testing: the harness passes a correct Function and catches each
kind of deliberately wrong one with a precise message."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.testing
from tinynet.testing import Case, OpCheck, as_case, check_op, read_bundle, write_bundle


class Cube(tn.Function):
    def forward(self, x):
        return x * x * x

    def backward(self, gy):
        x, = self.inputs
        return 3 * x * x * gy


class CubeWrongGrad(Cube):
    def backward(self, gy):
        x, = self.inputs
        return 2 * x * x * gy                   # wrong factor


class CubeConstantGrad(Cube):
    def backward(self, gy):
        # right first derivative, but built from a constant: no second derivative
        x, = self.inputs
        return 3 * tn.tensor(x.array * x.array) * gy


class CubeFloat64(Cube):
    def forward(self, x):
        return (x * x * x).astype(np.float64)    # silently promotes float32


class CubeMemoryOrder(Cube):
    def forward(self, x):
        # reads the buffer in memory order: wrong for transposed views
        return x.ravel(order="K").reshape(x.shape) ** 3


class CubeInPlace(Cube):
    def forward(self, x):
        x *= 1.0000001                          # modifies the caller's array
        return x ** 3


class MulNoSumTo(tn.Function):
    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        return gy * b, gy * a                    # forgets sum_to for broadcast inputs


def cube_check(cls, **options):
    options.setdefault("cases", [(2, 3), (3,)])
    return OpCheck("cube", lambda x: cls()(x), reference=lambda x: x ** 3, **options)


def test_docstring_example_runs():
    # the module docstring's example is real code: run it
    example = tinynet.testing.__doc__.split("::")[1].split("A case is")[0]
    globs = {}
    exec(compile("\n".join(line[4:] for line in example.splitlines()), "doc", "exec"), globs)
    assert "Cube" in globs


def test_correct_function_passes_every_check():
    check = cube_check(Cube, elementwise=True)
    check.check()
    assert {c.id for c in check.cases} >= {"2x3", "3", "0d", "1x1", "1x3x1"}


@pytest.mark.parametrize("cls, check, message", [
    (CubeWrongGrad, "gradcheck", "cube[2x3] gradcheck failed:\nJacobian mismatch for output 0"),
    (CubeConstantGrad, "gradgradcheck", "cube[2x3] gradgradcheck failed"),
    (CubeFloat64, "float32", "cube[2x3] float32: output 0 has dtype float64, expected float32"),
    (CubeMemoryOrder, "noncontiguous", "cube[2x3] non-contiguous output 0 vs contiguous"),
    (CubeInPlace, "noncontiguous", "cube[2x3] inputs: input 0 was modified in place"),
], ids=["wrong-gradient", "no-second-derivative", "float64-promotion", "memory-order",
        "in-place"])
def test_wrong_function_is_caught_by_the_right_check(cls, check, message):
    c = cube_check(cls)
    with pytest.raises(AssertionError) as info:
        getattr(c, f"check_{check}")(c.cases[0])
    assert message in str(info.value)
    with pytest.raises(AssertionError):
        c.check()                               # and the full run fails too


def test_wrong_forward_is_reported_with_the_worst_element():
    c = OpCheck("cube", lambda x: Cube()(x), reference=lambda x: x ** 3 + (x > 1.5),
                cases=[(4,)], domain=(0, 2))
    with pytest.raises(AssertionError, match=r"cube\[4\] forward output 0: \d+ of 4 elements "
                                             r"differ .* worst at index \(\d,\)"):
        c.check_forward(c.cases[0])


def test_broadcasting_edge_case_catches_missing_sum_to():
    c = OpCheck("mul", lambda a, b: MulNoSumTo()(a, b), reference=np.multiply,
                cases=[((2, 3), (2, 3))], elementwise=True)
    c.check_case(c.cases[0])                     # same shapes: fine
    broadcast = [k for k in c.cases if k.shapes[0] != k.shapes[1]]
    with pytest.raises(AssertionError, match=r"mul\[.*\] gradcheck raised RuntimeError: "
                                             r".*a broadcast input needs sum_to"):
        for k in broadcast:
            c.check_gradcheck(k)


def test_kinks_keep_inputs_away_from_non_differentiable_points():
    c = OpCheck("relu", tn.relu, cases=[(50,)], domain=(-0.1, 0.1), kinks=(0.0,))
    x = c.inputs(c.cases[0])[0]
    assert np.abs(x).min() >= 0.05
    c.check_gradcheck(c.cases[0])


def test_inputs_are_deterministic_per_case():
    c = OpCheck("exp", tn.exp, cases=[(3,), (2, 2)])
    a, b = c.inputs(c.cases[0])[0], c.inputs(c.cases[0])[0]
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float64 and not np.array_equal(a, c.inputs(c.cases[1])[0].ravel()[:3])


def test_case_forms_and_ids():
    assert as_case((2, 3)).shapes == ((2, 3),)
    assert as_case(()).shapes == ((),)
    assert as_case(((2, 3), (3,))).id == "2x3,3"
    assert Case(((2, 3),), {"axis": (0, 1)}).id == "2x3-axis=(0,1)"
    assert as_case(((), (1, 2))).id == "0d,1x2"


def test_params_are_passed_to_fn_and_reference():
    check_op("sum", tn.sum, reference=lambda x, axis, keepdims: x.sum(axis, keepdims=keepdims),
             cases=[Case(((2, 3),), {"axis": 1, "keepdims": True})])


def test_bundle_round_trip_without_pickle(tmp_path):
    x = np.arange(6.0).reshape(2, 3)
    w = np.ones(3)
    path = tmp_path / "sum.npz"
    write_bundle(path, {"op": "sum", "tolerance": {"atol": 1e-12, "rtol": 1e-12}},
                 [{"inputs": [x], "outputs": [x.sum(0)], "weights": [w], "grads": [np.ones((2, 3))],
                   "params": {"axis": 0, "index": np.array([1, 0])}}])
    with np.load(path, allow_pickle=False) as f:     # plain arrays only
        assert all(f[k].dtype != object for k in f.files)
    b = read_bundle(path)
    assert b["meta"]["op"] == "sum"
    assert b["cases"][0]["params"]["axis"] == 0
    np.testing.assert_array_equal(b["cases"][0]["params"]["index"], [1, 0])
    OpCheck("sum", lambda t, axis, index: tn.sum(t, axis)).check_bundle(path)
    with pytest.raises(AssertionError, match=r"mean\[bundle-case0\] vs bundle .* output 0"):
        OpCheck("mean", lambda t, axis, index: tn.mean(t, axis)).check_bundle(path)


def test_bundle_catches_wrong_gradient(tmp_path):
    x = np.linspace(0.1, 1, 4)
    path = tmp_path / "cube.npz"
    write_bundle(path, {"op": "cube"}, [{"inputs": [x], "outputs": [x ** 3],
                                         "weights": [np.ones(4)], "grads": [3 * x ** 2]}])
    OpCheck("cube", lambda t: Cube()(t), atol=1e-12, rtol=1e-10).check_bundle(path)
    with pytest.raises(AssertionError, match="gradient of input 0"):
        OpCheck("cube", lambda t: CubeWrongGrad()(t)).check_bundle(path)
    # a bundle path as the reference: check() compares with it, then runs the rest
    check_op("cube", lambda t: Cube()(t), reference=str(path), cases=[(4,)])
    with pytest.raises(AssertionError, match=r"cube\[bundle-case0\] vs bundle"):
        check_op("cube", lambda t: CubeWrongGrad()(t), reference=str(path), cases=[(4,)])


def test_empty_cases_are_refused():
    with pytest.raises(ValueError, match="OpCheck exp: needs at least one case"):
        OpCheck("exp", tn.exp, cases=[])
