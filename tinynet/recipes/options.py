"""Command-line options for a seed's model hyper-parameters.

A recipe defines the options of its own settings (``DEFAULTS``); every other
entry of a seed's registered defaults is a hyper-parameter of the model and
becomes an option by the type of its default value:

- an integer: ``--key N`` with N >= 1 (sizes, layers, heads);
- a number: ``--key X`` in [0, 1) when the key names a dropout, else X >= 0;
- a bool: ``--key`` (default False) or ``--key/--no-key`` (default True);
- a string: ``--key TEXT``.
"""
import argparse


def model_keys(entry, taken):
    """The registered defaults of ``entry`` that ``taken`` (the recipe's own settings) lacks."""
    return [k for k in entry.defaults if k not in taken]


def add_model_options(parser, entry, taken):
    """Add an option for each model hyper-parameter of ``entry`` (see the module docstring)."""
    from tinynet.cli import float_option, int_option
    for key in model_keys(entry, taken):
        flag, default = "--" + key.replace("_", "-"), entry.defaults[key]
        help = f"model hyper-parameter (default: {default})"
        if isinstance(default, bool):
            action = "store_true" if not default else argparse.BooleanOptionalAction
            parser.add_argument(flag, action=action, default=default, help=help)
        elif isinstance(default, int):
            parser.add_argument(flag, type=int_option(1), default=default, help=help)
        elif isinstance(default, float):
            kind = float_option(0, 1, high_open=True) if "dropout" in key else float_option(0)
            parser.add_argument(flag, type=kind, default=default, help=help)
        else:
            parser.add_argument(flag, default=default, help=help)


def model_config(args, entry, taken):
    """The model hyper-parameters' values from parsed ``args``."""
    return {k: getattr(args, k) for k in model_keys(entry, taken)}


def config_from(args):
    """The parsed options as a config dict (without the command line's own
    ``command`` and ``model`` entries)."""
    return {k: v for k, v in vars(args).items() if k not in ("command", "model")}
