"""tn.gradcheck / tn.gradgradcheck themselves: they pass correct ops, catch
wrong ones with a precise report, and handle view outputs, several outputs
and non-tensor arguments."""
import warnings

import numpy as np
import pytest

import tinynet as tn


def f64(*shape, seed=0, requires_grad=True):
    rng = np.random.default_rng(seed)
    return tn.tensor(rng.uniform(0.5, 1.5, shape), requires_grad=requires_grad)


class Square(tn.Function):
    def forward(self, x):
        return x * x

    def backward(self, gy):
        x, = self.inputs
        return 2 * x * gy


class SquareWrong(Square):
    def backward(self, gy):
        x, = self.inputs
        return 3 * x * gy


class SquareIgnoresGy(Square):
    def backward(self, gy):
        x, = self.inputs
        return 2 * x


class SquareFrozen(Square):
    def backward(self, gy):
        x, = self.inputs
        return 2 * tn.tensor(x.array) * gy          # no second derivative


def test_correct_op_passes_both_checks():
    x = f64(2, 3)
    assert tn.gradcheck(lambda t: Square()(t), (x,))
    assert tn.gradgradcheck(lambda t: Square()(t), (x,))


def test_wrong_gradient_is_reported_precisely():
    with pytest.raises(tn.GradcheckError) as info:
        tn.gradcheck(lambda t: SquareWrong()(t), (f64(3),))
    msg = str(info.value)
    assert "Jacobian mismatch for output 0 with respect to input 0" in msg
    assert "eps=1e-06 atol=1e-05 rtol=0.001" in msg
    assert "3 of 9 Jacobian entries" in msg and "numerical=" in msg and "analytical=" in msg


def test_backward_ignoring_grad_output_is_caught():
    # on a one-element output the Jacobian alone cannot tell
    with pytest.raises(tn.GradcheckError, match="does not scale with grad_output"):
        tn.gradcheck(lambda t: SquareIgnoresGy()(t), (f64(1),))


def test_missing_second_derivative_is_caught_by_gradgradcheck():
    x = f64(3)
    assert tn.gradcheck(lambda t: SquareFrozen()(t), (x,))
    with pytest.raises(tn.GradcheckError, match="Jacobian mismatch"):
        tn.gradgradcheck(lambda t: SquareFrozen()(t), (x,))


def test_raise_exception_false_returns_false():
    assert tn.gradcheck(lambda t: SquareWrong()(t), (f64(2),), raise_exception=False) is False


@pytest.mark.parametrize("name, fn", [
    ("reshape", lambda t: t.reshape(-1)),
    ("getitem", lambda t: t[1:]),
    ("squeeze", lambda t: t.unsqueeze(0).squeeze(0)),
    ("split", lambda t: t.split(1, dim=0)),
    ("identity-add", lambda t: t + 0.0),
])
def test_outputs_that_are_views_of_the_input(name, fn):
    # regression: the numerical Jacobian was 0 when an output aliased the input
    x = f64(2, 3)
    assert tn.gradcheck(fn, (x,))
    assert tn.gradgradcheck(fn, (x,))


def test_several_outputs_and_non_tensor_arguments():
    def fn(a, b, scale, index):
        return (a * b * scale)[index], (a - b).exp()
    assert tn.gradcheck(fn, (f64(2, 3), f64(3, seed=1), 2.5, np.array([1, 1, 0])))
    assert tn.gradgradcheck(fn, (f64(2, 3), f64(3, seed=1), 2.5, np.array([1, 1, 0])))


def test_only_inputs_requiring_grad_are_checked():
    a, b = f64(2), f64(2, seed=1, requires_grad=False)
    assert tn.gradcheck(lambda x, y: SquareWrong()(y) + x, (a, b))


def test_float32_inputs_are_promoted_with_a_warning_and_left_untouched():
    x = tn.tensor([0.5, 1.0], requires_grad=True)
    with pytest.warns(UserWarning, match=r"gradcheck: input\(s\) \[0\] are not float64"):
        assert tn.gradcheck(lambda t: t.exp(), (x,))
    assert x.dtype == tn.float32 and x.grad is None


def test_kink_hint_in_the_report():
    x = tn.tensor(np.array([1e-7, 0.5]), requires_grad=True)
    with pytest.raises(tn.GradcheckError, match="kink"):
        tn.gradcheck(lambda t: tn.relu(t), (x,))


def test_no_differentiable_input_is_an_error():
    with pytest.raises(ValueError, match="no input has requires_grad=True"):
        tn.gradcheck(lambda t: t * 2, (f64(2, requires_grad=False),))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="no input has requires_grad=True"):
            tn.gradgradcheck(lambda t: t * 2, (f64(2, requires_grad=False),))


def test_an_infinite_numerical_derivative_does_not_allow_any_error():
    class ZeroPow(tn.Function):          # 0 ** b: the derivative at b = 0 is -inf
        def forward(self, b):
            return np.zeros_like(b) ** b

        def backward(self, gy):
            return gy * 123.0

    b = tn.tensor([0.0], dtype=tn.float64, requires_grad=True)
    with np.errstate(all="ignore"):
        with pytest.raises(tn.GradcheckError, match="Jacobian mismatch"):
            tn.gradcheck(lambda t: ZeroPow()(t), (b,))


def test_nan_on_both_sides_is_not_called_non_reentrant():
    x = tn.tensor(np.array(2.0), requires_grad=True)      # var of one element: 0/0
    with np.errstate(all="ignore"):
        assert tn.gradcheck(tn.var, (x,))
