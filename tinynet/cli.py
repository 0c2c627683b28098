"""The ``tinynet`` command."""
import argparse
import math
import os
import sys
import time


# ---------------------------------------------------------------- option types
# argparse reports a type's ArgumentTypeError as "argument --NAME: MESSAGE"
# and exits with status 2, so each message only has to say what is allowed.
def int_option(low, high=None):
    """An argparse type: an integer in [low, high] (no upper bound if None)."""
    allowed = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {value}")
        return value
    return parse


def float_option(low=None, high=None, low_open=False, high_open=False):
    """An argparse type: a finite number in the given interval."""
    lo = "(-inf" if low is None else ("(" if low_open else "[") + f"{low:g}"
    hi = "inf)" if high is None else f"{high:g}" + (")" if high_open else "]")
    allowed = f"a finite number in {lo}, {hi}"

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}") from None
        bad = not math.isfinite(value) or \
            (low is not None and (value <= low if low_open else value < low)) or \
            (high is not None and (value >= high if high_open else value > high))
        if bad:
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text}")
        return value
    return parse


def existing_file(text):
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"expected an existing file, got {text!r}")
    return text


def existing_dir(text):
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"expected an existing folder, got {text!r}")
    return text


def device_option(text):
    """An argparse type: 'cpu', 'cuda' or 'cuda:N', where a CUDA device must
    exist here (checked at parse time, so a missing GPU is a usage error)."""
    if text != "cpu" and text != "cuda" and not (text.startswith("cuda:") and text[5:].isdigit()):
        raise argparse.ArgumentTypeError(f"expected 'cpu', 'cuda' or 'cuda:N', got {text!r}")
    if text != "cpu":
        import tinynet as tn
        count = tn.cuda.device_count()
        if count == 0:
            raise argparse.ArgumentTypeError(
                f"{text!r}: no usable CUDA GPU here (CuPy missing, or no device or driver; "
                f"`tinynet info` says which); use 'cpu'")
        if text.startswith("cuda:") and int(text[5:]) >= count:
            raise argparse.ArgumentTypeError(
                f"{text!r}: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}")
    return text


SEED = int_option(0, 2 ** 63 - 1)


def _run_dir(*files):
    """An argparse type: a run directory holding ``files``."""
    def parse(text):
        missing = [f for f in files if not os.path.isfile(os.path.join(text, f))]
        if missing:
            raise argparse.ArgumentTypeError(f"expected a run directory holding "
                                             f"{' and '.join(files)}; {text!r} has no "
                                             f"{' and '.join(missing)}")
        return text
    return parse


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


def _train(args, parsers):
    """``tinynet train NAME``: the registry's recipe for NAME runs it."""
    from tinynet import models
    entry = models.get(args.model)
    recipe = entry.recipe_module
    if hasattr(recipe, "check_arguments"):
        recipe.check_arguments(args, parsers[args.model])
    return recipe.command(args, entry)


def add_seed_parsers(subparsers):
    """One sub-command per registered seed model, with its recipe's options;
    returns them by name."""
    from tinynet import models
    parsers = {}
    for name in models.names():
        entry = models.get(name)
        parsers[name] = subparsers.add_parser(name, help=entry.description,
                                              description=entry.description)
        entry.recipe_module.add_arguments(parsers[name], entry)
    return parsers


def train_command(name, argv=None, prog=None):
    """``tinynet train NAME ARGV`` on its own parser (``prog`` names it in
    ``--help``): what the launchers in examples/ run. Returns the exit status."""
    from tinynet import models
    entry = models.get(name)
    parser = argparse.ArgumentParser(prog=prog, description=entry.description)
    entry.recipe_module.add_arguments(parser, entry)
    args = parser.parse_args(argv)
    if hasattr(entry.recipe_module, "check_arguments"):
        entry.recipe_module.check_arguments(args, parser)
    return entry.recipe_module.command(args, entry)


def _lead(distributed):
    """True on the process that prints and writes (rank 0 of a --distributed run)."""
    if not distributed:
        return True
    from tinynet import distributed as dist
    dist.init()
    return dist.rank() == 0


def _run_recipe(config):
    """The recipe of a run directory's model (``classify`` and ``char_lm`` keep run
    directories)."""
    from tinynet import models
    recipe = models.get(config["model"]).recipe_module
    if not hasattr(recipe, "fit"):
        raise SystemExit(f"tinynet: the {config['model']} seed's recipe keeps no run directory")
    return recipe


def _resume(args):
    from tinynet.recipes.run import Run, strategy_for
    if args.distributed:
        # only rank 0 needs the run directory (machines without a shared file system)
        from tinynet import distributed
        config = distributed.broadcast_object_list(
            [Run(args.run).config() if _lead(True) else None])[0]
    else:
        config = Run(args.run).config()
    if args.epochs:
        config["epochs"] = args.epochs
    config["max_steps"] = args.max_steps
    config["quiet"] = args.quiet or config.get("quiet", False)
    config["distributed"] = args.distributed or config.get("distributed", False)
    recipe = _run_recipe(config)
    run = Run(args.run, strategy=strategy_for(config))
    if run.lead:
        run.write_config(config)
    result = recipe.fit(config, run, resume=True)
    if run.lead:
        recipe.report(result)
    return 0


def _eval(args):
    from tinynet.recipes.run import Run
    from tinynet.serialization import load
    run = Run(args.run)
    config = run.config()
    recipe = _run_recipe(config)
    if hasattr(recipe, "eval_command"):
        return recipe.eval_command(run)
    model, _, _, _, test_set = recipe.build(config)
    model.load_state_dict(load(run.file("checkpoint.npz"))["model"])
    loss, acc = recipe.evaluate(model, test_set, config["device"])
    print(f"{args.run}: held-out loss {loss:.4f}, accuracy {acc:.4f} "
          f"({len(test_set)} samples of {config['data']})")
    return 0


def _info(args):
    import os
    import platform

    import numpy as np

    import tinynet as tn
    from tinynet.kernels import blas_threads, conv2d, pool2d, threads
    print(f"tinynet {tn.__version__}  python {platform.python_version()}  numpy {np.__version__}")
    try:
        import numba
        print(f"numba {numba.__version__} (tinynet's kernels run on their own threads, not "
              "Numba's threading layer)")
    except ImportError:
        print("numba: not installed (kernels fall back to the NumPy reference)")
    print(f"tinynet kernel threads {threads.count()}, batch-parallel convolution "
          f"{conv2d.conv_threads()}; BLAS {blas_threads.threads()} threads, set to one during a "
          f"convolution: {'yes' if blas_threads.switching_allowed() else 'no'} (tune_process)")
    try:
        from threadpoolctl import threadpool_info
        for lib in threadpool_info():
            print(f"{lib['user_api']}: {lib.get('internal_api')} {lib.get('version')} "
                  f"({lib.get('architecture')}), {lib.get('num_threads')} threads")
    except ImportError:
        print("BLAS: install threadpoolctl (the 'bench' extra) to see which BLAS runs")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS",
                "NUMBA_THREADING_LAYER", "TINYNET_CONV_IMPL", "TINYNET_POOL_IMPL",
                "TINYNET_NUM_THREADS", "TINYNET_CONV_THREADS", "TINYNET_WORKSPACE_MB"):
        if var in os.environ:
            print(f"{var}={os.environ[var]}")
    print(f"kernels: conv {conv2d.select(np.zeros(1)).name}, pool "
          f"{pool2d.select(np.zeros(1)).name} (CPU)")
    if tn.cuda.is_available():
        print(f"CUDA: {tn.cuda.device_count()} GPU(s) through CuPy")
    else:
        print("CUDA: no usable GPU (CuPy missing, or no device/driver)")
    return 0


def main(argv=None):
    """The command line. Run as the ``tinynet`` command (``argv`` None: the
    arguments come from ``sys.argv``) it first opts the process in to
    ``tinynet.tune_process()``: the command is the whole program. Called
    with a list of arguments from other code, it leaves the process alone."""
    if argv is None:
        import tinynet
        tinynet.tune_process()
    argv = list(sys.argv[1:] if argv is None else argv)
    from tinynet import models
    parser = argparse.ArgumentParser(prog="tinynet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a tiny network with raw tensor ops")
    demo.add_argument("--steps", type=int_option(1), default=2000)
    demo.add_argument("--lr", type=float_option(0, low_open=True), default=0.1)
    demo.add_argument("--seed", type=SEED, default=0)

    tr = sub.add_parser("train", help=f"train a seed model: {', '.join(models.names())}; "
                                      "`tinynet train NAME --help` for its options",
                        description="Train a seed model (tinynet/models/) with its recipe "
                                    "(tinynet/recipes/).")
    seeds = add_seed_parsers(tr.add_subparsers(dest="model", required=True))

    rs = sub.add_parser("resume", help="continue a run from its checkpoint")
    rs.add_argument("run", type=_run_dir("config.json", "checkpoint.npz"))
    rs.add_argument("--epochs", type=int_option(1), help="new total number of epochs")
    rs.add_argument("--max-steps", type=int_option(1))
    rs.add_argument("--quiet", action="store_true")
    rs.add_argument("--distributed", action="store_true",
                    help="continue under `mpiexec -n N`, any N (kept from a --distributed run)")

    ev = sub.add_parser("eval", help="evaluate a run's checkpoint on its held-out set")
    ev.add_argument("run", type=_run_dir("config.json", "checkpoint.npz"))
    sub.add_parser("info", help="versions, BLAS, threads, kernels, GPU")

    args = parser.parse_args(argv)
    if args.command == "train":
        return _train(args, seeds)
    handlers = {"demo": _demo, "resume": _resume, "eval": _eval, "info": _info}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
