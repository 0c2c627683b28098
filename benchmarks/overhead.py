"""Per-op Python overhead: a 1 000-op elementwise chain on a 1-element tensor, forward + backward, in µs per op, tinynet and PyTorch in the same run.

    python benchmarks/overhead.py [--quick] [--blas-env default|unset|both] [--json PATH]

The same as `python benchmarks/run.py --only op_overhead`: outputs are checked
against PyTorch's before anything is timed (see run.py)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run.main(["--only", *"op_overhead".split()] + sys.argv[1:]))
