"""The ``tinynet`` command."""
import argparse
import sys
import time



def _demo(args):
    """Fit y = sin(x) with a two-layer tanh network written in raw tensor ops,
    then gradcheck the model's loss: the whole engine in a few seconds."""
    import tinynet as tn

    tn.manual_seed(args.seed)
    x = tn.linspace(-3, 3, 256).reshape(-1, 1)
    y = x.sin()
    w1 = (tn.randn(1, 32) * 1.0).requires_grad_()
    b1 = tn.zeros(32, requires_grad=True)
    w2 = (tn.randn(32, 1) * (1 / 32 ** 0.5)).requires_grad_()
    b2 = tn.zeros(1, requires_grad=True)
    params = [w1, b1, w2, b2]

    def loss_fn(*p):
        a1, c1, a2, c2 = p
        return (((x @ a1 + c1).tanh() @ a2 + c2 - y) ** 2).mean()

    start = time.perf_counter()
    for step in range(args.steps + 1):
        loss = loss_fn(*params)
        for p in params:
            p.grad = None
        loss.backward()
        with tn.no_grad():
            for p in params:
                p.sub_(p.grad * args.lr)
        if step % max(args.steps // 10, 1) == 0:
            print(f"step {step:5d}  mse {loss.item():.5f}")
    print(f"trained in {time.perf_counter() - start:.2f} s; final mse {loss.item():.5f}")
    checked = tn.gradcheck(loss_fn, tuple(p.detach().double().requires_grad_() for p in params))
    print(f"gradcheck of the model's loss: {'passed' if checked else 'FAILED'}")
    return 0 if loss.item() < 0.05 and checked else 1


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tinynet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a tiny network with raw tensor ops")
    demo.add_argument("--steps", type=int, default=2000)
    demo.add_argument("--lr", type=float, default=0.1)
    demo.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
