"""Runs tinynet's seed model `char_lstm`: the code (a readable training loop) is
tinynet/seeds/char_lstm.py, installed with the package so that `tinynet train`
can run it too. `python examples/char_lstm.py --help` lists the options."""
import sys

from tinynet.seeds.char_lstm import main

if __name__ == "__main__":
    sys.exit(main())
