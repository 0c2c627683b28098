"""One MLP 784-128-10 Adam training step at batch 64, tinynet and PyTorch in the same run.

    python benchmarks/mlp.py [--quick] [--blas-env default|unset|both] [--json PATH]

The same as `python benchmarks/run.py --only mlp_step`: outputs are checked
against PyTorch's before anything is timed (see run.py)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run.main(["--only", *"mlp_step".split()] + sys.argv[1:]))
