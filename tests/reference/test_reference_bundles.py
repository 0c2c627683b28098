"""tinynet against the committed PyTorch reference bundles (tests/reference/ops/,
written by tests/reference/make_ops.py). This file never imports torch: it
runs where PyTorch is not installed."""
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from op_table import OPS
from tinynet.testing import read_bundle

HERE = pathlib.Path(__file__).resolve().parent
REFERENCE = HERE / "ops"
REGENERATE = "regenerate with: python tests/reference/make_ops.py --only {}"


@pytest.mark.parametrize("check", OPS, ids=[c.name for c in OPS])
def test_op_matches_reference_bundle(check):
    path = REFERENCE / f"{check.name}.npz"
    assert path.exists(), f"no reference bundle for {check.name}; " + REGENERATE.format(check.name)
    bundle = read_bundle(path)
    assert bundle["meta"]["op"] == check.name
    assert bundle["meta"]["case_ids"] == [c.id for c in check.cases], (
        f"{check.name}: the op table's cases changed since the bundle was written; "
        + REGENERATE.format(check.name))
    for stored in bundle["cases"]:
        assert all(a.dtype == np.float64 for a in stored["inputs"])
    check.check_bundle(bundle)


def test_every_bundle_belongs_to_an_op_and_all_are_small():
    names = {c.name for c in OPS}
    files = sorted(REFERENCE.glob("*.npz"))
    assert {f.stem for f in files} == names
    assert sum(f.stat().st_size for f in files) < 1_000_000


def test_bundles_load_without_pickle_and_record_provenance():
    for path in sorted(REFERENCE.glob("*.npz"))[:10]:
        with np.load(path, allow_pickle=False) as f:
            assert all(f[k].dtype != object for k in f.files)
        meta = read_bundle(path)["meta"]
        assert meta["torch"] and meta["seed"] == 0 and meta["tolerance"]["atol"] > 0


def test_this_check_does_not_import_torch():
    # the op table (tests/) and this module (tests/reference/) on the path
    code = (f"import sys; sys.path[:0] = [{str(HERE.parent)!r}, {str(HERE)!r}]; "
            "import test_reference_bundles, tinynet.testing; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    root = HERE.parents[1]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True,
                   env={"PYTHONPATH": str(root), "PATH": ""})


# the op set tinynet promises (DESIGN.md); each name must have a table entry
REQUIRED = """add sub mul div pow add-scalar rsub-scalar rdiv-scalar rpow-scalar mul-npscalar
neg exp log log1p sqrt rsqrt abs sign sin cos tanh sigmoid relu leaky_relu elu gelu gelu-tanh
softplus clamp clip-max maximum minimum sum mean var std max min amax amin argmax argmin
logsumexp prod cumsum softmax log_softmax reshape view transpose permute T flatten squeeze
unsqueeze expand broadcast_to repeat cat stack split chunk pad index-int index-slice
index-negative-step index-ellipsis index-none index-int-array-repeats index-bool-mask
index_select gather matmul where eq ne lt le gt ge""".split()


def test_op_table_covers_the_op_set():
    names = {c.name for c in OPS}
    missing = [n for n in REQUIRED if n not in names]
    assert not missing, f"ops without a table entry: {missing}"
    assert len(names) == len(OPS), "two table entries share a name"
