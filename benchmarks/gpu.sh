#!/usr/bin/env bash
# tinynet on a real GPU: the GPU tests, the CUDA kernels' self-checks, the
# whole suite, the seed CNN on the GPU, and the benchmarks (tinynet CuPy vs
# PyTorch CUDA, and tinynet NumPy vs PyTorch CPU on the same machine).
# Run from the repository root on a machine with CuPy and Numba installed:
#     bash benchmarks/gpu.sh [OUTDIR]        (FULL=1 adds the whole suite and CPU figures)
out=${1:-${OUT:-/tmp/tinynet-gpu}}
mkdir -p "$out"
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
# The lent GPU machine's numba-cuda still calls np.row_stack, which NumPy 2.5
# removed, so no Numba CUDA kernel compiled there. A start-up shim restores the
# alias for these runs only (tinynet itself falls back to CuPy when it fails).
shim=$(mktemp -d)
echo 'import numpy; numpy.row_stack = getattr(numpy, "row_stack", numpy.vstack)' \
    > "$shim/sitecustomize.py"
export PYTHONPATH="$shim${PYTHONPATH:+:$PYTHONPATH}"
step() { echo; echo "=== $*"; "$@"; echo "=== exit $?"; }
step python3 -m pip install -q --no-deps --no-build-isolation -e .
step nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
step python3 -c "import cupy, numba, numpy, tinynet as tn; print('cupy', cupy.__version__, 'numba', numba.__version__, 'numpy', numpy.__version__, 'tn.cuda.is_available()', tn.cuda.is_available())"
step python3 -m tinynet.kernels.conv2d
step python3 -m tinynet.kernels.pool2d
step python3 -m tinynet.kernels.lstm_cell
step python3 -m tinynet.kernels.gru_cell
step python3 -m pytest -q -p no:cacheprovider -rfEs tests/gpu
[ -n "$FULL" ] && step timeout 240 python3 -m pytest -q -p no:cacheprovider -n 8 tests
step python3 -m tinynet.cli train cnn --device cuda --quiet --out "$out/run-cnn-cuda"
TINYNET_BENCH_DEVICE=cuda step python3 benchmarks/run.py --quick \
    --only mlp_step conv2d_a conv2d_b maxpool cnn_step --json "$out/bench-gpu.json"
[ -n "$FULL" ] && step python3 benchmarks/run.py --quick --only mlp_step conv2d_b cnn_step \
    --json "$out/bench-cpu.json"
