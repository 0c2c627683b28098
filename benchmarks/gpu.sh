#!/usr/bin/env bash
# tinynet on a real GPU, in stages, each writing its log under OUTDIR:
#
#   check  versions, every kernel module's self-check (the CUDA versions
#          checked and timed against the reference), tests/gpu      -> check.log
#   bench  every workload of benchmarks/run.py, tinynet on CuPy against
#          PyTorch CUDA, and the GPT step op by op on the GPU       -> bench.log, bench-gpu.json
#   train  tinynet train cnn / gpt on the GPU and on this host's CPU -> train.log, train.json
#   suite  the whole test suite on the GPU host (GPU tests enabled) -> suite.log
#
# Run from the repository root on a machine with CuPy and Numba:
#     bash benchmarks/gpu.sh OUTDIR [STAGE ...]      (default stages: check bench train)
# The suite takes a call of its own: bash benchmarks/gpu.sh OUTDIR suite. Test
# packages the GPU host lacks travel as wheels in .whl/ (benchmarks/gpu_wheels.sh
# fetches them here) and are installed under /tmp/site for the run.
out=${1:-${OUT:-/tmp/tinynet-gpu}}
shift
stages=${*:-check bench train}
for s in $stages; do
    case $s in
        check|bench|train|suite) ;;
        *) echo "gpu.sh: unknown stage $s (expected check, bench, train or suite)"; exit 2 ;;
    esac
done
mkdir -p "$out"
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
set -o pipefail
# The lent GPU machine's numba-cuda still calls np.row_stack, which NumPy 2.5
# removed, so no Numba CUDA kernel compiled there. A start-up shim restores the
# alias for these runs only (tinynet itself falls back to CuPy when it fails).
shim=$(mktemp -d)
echo 'import numpy; numpy.row_stack = getattr(numpy, "row_stack", numpy.vstack)' \
    > "$shim/sitecustomize.py"
export PYTHONPATH="$shim${PYTHONPATH:+:$PYTHONPATH}"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH="$PYTHONPATH:/tmp/site" \
        PATH="$PATH:/tmp/site/bin"           # (mpich's mpiexec)
fi
python3 -m pip install -q --no-deps --no-build-isolation -e . || exit 1

step() { echo; echo "=== $* ($(date +%T))"; "$@"; echo "=== exit $? ($(date +%T))"; }

check() {
    step nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    step python3 -c "import cupy, numba, numpy, torch, tinynet as tn; print('cupy', cupy.__version__, 'numba', numba.__version__, 'numpy', numpy.__version__, 'torch', torch.__version__, 'tn.cuda.is_available()', tn.cuda.is_available())"
    # the new CUDA versions checked and timed in full, the others checked (--quick)
    step python3 -m tinynet.kernels adam rmsprop attention gelu
    step python3 -m tinynet.kernels conv2d pool2d lstm_cell gru_cell --quick
    step python3 -m pytest -q -p no:cacheprovider -rfEs -n 8 tests/gpu
}

bench() {
    TINYNET_BENCH_DEVICE=cuda step python3 benchmarks/run.py --quick \
        --json "$out/bench-gpu.json"
    TINYNET_BENCH_DEVICE=cuda step python3 benchmarks/op_profile.py gpt_step --steps 20
}

train() {
    step python3 benchmarks/train_devices.py --json "$out/train.json"
}

suite() {
    step timeout 480 python3 -m pytest -q -p no:cacheprovider -n 16 -rfE tests
}

for s in $stages; do
    $s 2>&1 | tee "$out/$s.log"
done
