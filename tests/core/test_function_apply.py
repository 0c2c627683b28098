"""Functions written in PyTorch's style (static forward/backward with a
``ctx``, called through ``apply``) run on tinynet and match PyTorch."""
import numpy as np
import pytest
import torch

import tinynet as tn


def make(lib):
    class ScaledReLU(lib.autograd.Function):
        @staticmethod
        def forward(ctx, input, scale):
            ctx.save_for_backward(input)
            ctx.scale = scale
            return input.clamp(min=0) * scale

        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            grad_input = grad_output.clone()
            grad_input[input < 0] = 0
            return grad_input * ctx.scale, None

    class Cube(lib.autograd.Function):          # the forward + setup_context style
        @staticmethod
        def forward(x):
            return x ** 3

        @staticmethod
        def setup_context(ctx, inputs, output):
            x, = inputs
            ctx.save_for_backward(x, output)

        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            return g * 3 * y / x

    class MulAdd(lib.autograd.Function):       # two tensor inputs, two outputs
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a * b, a + b

        @staticmethod
        def backward(ctx, g_prod, g_sum):
            a, b = ctx.saved_tensors
            ga = g_prod * b + g_sum if ctx.needs_input_grad[0] else None
            gb = g_prod * a + g_sum if ctx.needs_input_grad[1] else None
            return ga, gb

    return ScaledReLU, Cube, MulAdd


def run(lib):
    ScaledReLU, Cube, MulAdd = make(lib)
    x = lib.tensor([-1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
    w = lib.tensor([0.5, -1.5, 2.0], dtype=lib.float64, requires_grad=True)
    y = ScaledReLU.apply(x, 2.0)
    p, s = MulAdd.apply(x, w)
    (y * lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64)).sum().backward(retain_graph=True)
    (p.sum() * 2 + (s * s).sum() + Cube.apply(w).sum()).backward()
    g, = lib.autograd.grad(Cube.apply(x).sum(), x, create_graph=True)
    gg, = lib.autograd.grad(g.sum(), x)
    return [t.detach().numpy() for t in (y, p, s, x.grad, w.grad, g, gg)]


def test_pytorch_style_functions_match_pytorch():
    for a, b in zip(run(tn), run(torch)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_pytorch_style_function_passes_gradcheck_and_gradgradcheck():
    _, Cube, MulAdd = make(tn)
    x = tn.tensor([0.7, -1.2, 2.0], dtype=tn.float64, requires_grad=True)
    w = tn.tensor([0.3, 0.4, -0.5], dtype=tn.float64, requires_grad=True)
    assert tn.gradcheck(lambda t: Cube.apply(t), (x,))
    assert tn.gradgradcheck(lambda t: Cube.apply(t), (x,))
    assert tn.gradcheck(lambda a, b: MulAdd.apply(a, b), (x, w))


def test_needs_input_grad_and_names():
    seen = []

    class Probe(tn.autograd.Function):
        @staticmethod
        def forward(ctx, a, b, k):
            seen.append(ctx.needs_input_grad)
            return a * b * k

        @staticmethod
        def backward(ctx, g):
            return g, None, None

    a = tn.ones(2, requires_grad=True)
    y = Probe.apply(a, tn.ones(2), 3)
    assert seen == [(True, False, False)]
    assert "Probe" in repr(y.grad_fn) or y.grad_fn.name == "Probe"


def test_bad_returns_are_named_errors():
    class NoTensor(tn.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return 3.0

    class TooFew(tn.autograd.Function):
        @staticmethod
        def forward(ctx, a, k):
            return a * k

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(TypeError, match="NoTensor.forward must return a Tensor"):
        NoTensor.apply(tn.ones(2, requires_grad=True))
    y = TooFew.apply(tn.ones(2, requires_grad=True), 2.0)
    with pytest.raises(RuntimeError, match="TooFew.backward returned 1 gradients"):
        y.sum().backward()
