"""Convolution A and B forward + backward, max-pool 2x2, and one seed-CNN training step at batch 64, tinynet and PyTorch in the same run.

    python benchmarks/conv.py [--quick] [--blas-env default|unset|both] [--json PATH]

The same as `python benchmarks/run.py --only conv2d_a conv2d_b maxpool cnn_step`: outputs are checked
against PyTorch's before anything is timed (see run.py)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run.main(["--only", *"conv2d_a conv2d_b maxpool cnn_step".split()] + sys.argv[1:]))
