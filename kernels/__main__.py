"""``python -m tinynet.kernels [--quick] [module ...]``: the self-check of
every kernel module (or of the ones named), one after the other; the exit
status is 1 if any version of any module differs from its reference.

A kernel module is one of this package's modules that defines
``self_check(quick)``; ``python -m tinynet.kernels.<module>`` runs one alone.
"""
import argparse
import importlib
import pkgutil

import tinynet.kernels


def kernel_modules():
    """The names of the modules that have a ``self_check``, alphabetically."""
    names = sorted(m.name for m in pkgutil.iter_modules(tinynet.kernels.__path__)
                   if not m.name.startswith("_"))
    return [n for n in names
            if hasattr(importlib.import_module(f"tinynet.kernels.{n}"), "self_check")]


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m tinynet.kernels",
        description="Check every version of every kernel module against its reference, "
                    "then time them.")
    parser.add_argument("modules", nargs="*", help="kernel modules (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="small problems only, timed with few calls (a smoke run)")
    args = parser.parse_args(argv)
    known = kernel_modules()
    unknown = [m for m in args.modules if m not in known]
    if unknown:
        parser.error(f"unknown kernel module(s) {unknown}; expected some of {known}")
    status = 0
    for name in args.modules or known:
        module = importlib.import_module(f"tinynet.kernels.{name}")
        status |= module.self_check(quick=args.quick)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
