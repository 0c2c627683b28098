"""Runs tinynet's seed model `lstm`, the same as `tinynet train lstm`: the
architecture is tinynet/models/char_lstm.py and its training loop (a readable
one) the recipe tinynet/recipes/char_lm.py, both installed with the package.
`python examples/char_lstm.py --help` lists the options."""
import sys

from tinynet.cli import train_command

if __name__ == "__main__":
    sys.exit(train_command("lstm"))
