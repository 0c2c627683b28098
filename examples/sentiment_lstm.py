"""Runs tinynet's seed model `sentiment_lstm`: the code (a readable training loop) is
tinynet/seeds/sentiment_lstm.py, installed with the package so that `tinynet train`
can run it too. `python examples/sentiment_lstm.py --help` lists the options."""
import sys

from tinynet.seeds.sentiment_lstm import main

if __name__ == "__main__":
    sys.exit(main())
