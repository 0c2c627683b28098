"""Fit y = sin(x) with a third-degree Legendre polynomial written as a custom
autograd Function, as in the "Learning PyTorch with examples" tutorial.

Idioms: ``class LegendrePolynomial3(torch.autograd.Function)`` with
``@staticmethod forward(ctx, input)``, ``ctx.save_for_backward`` and
``ctx.saved_tensors``, ``P3 = LegendrePolynomial3.apply``; ``torch.full((),
...)`` scalar parameters with ``requires_grad=True`` updated by hand under
``torch.no_grad()``, ``a.grad = None``; also ``nn.Parameter`` in a module
with ``x.unsqueeze(-1).pow(p)`` features and ``nn.Flatten(0, 1)``.
Randomness: none.
"""
import math

import torch
import torch.nn as nn


class LegendrePolynomial3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


class Polynomial3(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.zeros(()))
        self.b = nn.Parameter(torch.full((), 0.5))
        self.c = nn.Parameter(torch.full((), -0.5))
        self.d = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3


def build():
    return Polynomial3()


def train(model, steps=40):
    x = torch.linspace(-math.pi, math.pi, 200)
    y = torch.sin(x)
    log = []

    a = torch.full((), 0.0, requires_grad=True)
    b = torch.full((), -1.0, requires_grad=True)
    c = torch.full((), 0.0, requires_grad=True)
    d = torch.full((), 0.3, requires_grad=True)
    learning_rate = 5e-6
    P3 = LegendrePolynomial3.apply
    for t in range(steps):
        y_pred = a + b * P3(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        loss.backward()
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
        log.append(loss.item())

    p = torch.tensor([1, 2, 3])
    xx = x.unsqueeze(-1).pow(p)
    linear = nn.Sequential(nn.Linear(3, 1), nn.Flatten(0, 1))
    with torch.no_grad():
        linear[0].weight.fill_(0.1)
        linear[0].bias.zero_()
    optimizer = torch.optim.RMSprop(list(linear.parameters()) + list(model.parameters()),
                                    lr=1e-3)
    for t in range(steps):
        loss = ((linear(xx) + model(x) - y) ** 2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        log.append(loss.item())
    log += [linear[0].weight[:, 0].item(), model.d.item()]
    return log


if __name__ == "__main__":
    print(train(build()))
