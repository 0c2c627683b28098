"""Runs tinynet's seed model `timeseries_rnn`: the code (a readable training loop) is
tinynet/seeds/timeseries_rnn.py, installed with the package so that `tinynet train`
can run it too. `python examples/timeseries_rnn.py --help` lists the options."""
import sys

from tinynet.seeds.timeseries_rnn import main

if __name__ == "__main__":
    sys.exit(main())
