"""Runs tinynet's seed model `sentiment`, the same as `tinynet train sentiment`: the
architecture is tinynet/models/sentiment_lstm.py and its training loop (a readable
one) the recipe tinynet/recipes/sentiment.py, both installed with the package.
`python examples/sentiment_lstm.py --help` lists the options."""
import sys

from tinynet.cli import train_command

if __name__ == "__main__":
    sys.exit(train_command("sentiment"))
