"""Runs tinynet's seed model `rnn`, the same as `tinynet train rnn`: the
architecture is tinynet/models/timeseries_rnn.py and its training loop (a readable
one) the recipe tinynet/recipes/forecast.py, both installed with the package.
`python examples/timeseries_rnn.py --help` lists the options."""
import sys

from tinynet.cli import train_command

if __name__ == "__main__":
    sys.exit(train_command("rnn"))
