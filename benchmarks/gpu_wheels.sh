#!/usr/bin/env bash
# Fetch, here, the wheels of the test packages that the lent GPU machine's image
# lacks (it has no network): torchinfo, nbformat/nbclient/ipykernel (the tour's
# notebooks), graphviz, mpich (mpiexec for tinynet.distributed), with what they
# need, for its Python 3.12 on x86-64. They go to .whl/ (ignored by git), which
# `benchmarks/gpu.sh OUTDIR suite` installs under /tmp/site; a device run must
# carry .whl. Packages the image already has are left out (docs/gpu.md).
set -e
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
rm -rf .whl
python3 -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 \
    -d .whl torchinfo nbformat nbclient ipykernel graphviz mpich
# already in the GPU image: keep its versions
for have in attrs packaging psutil pygments python_dateutil typing_extensions; do
    rm -f .whl/"$have"-*.whl
done
du -sh .whl
ls .whl
