"""Every op in tests/op_table.py, every case: float64 gradcheck and
gradgradcheck, float32 preserved, non-contiguous inputs, and a live
comparison of outputs and gradients with PyTorch in float64 and float32."""
import numpy as np
import pytest

from op_table import OPS, torch_forward_backward
from tinynet.testing import assert_arrays_close

CASES = [pytest.param(check, case, id=f"{check.name}-{case.id}")
         for check in OPS for case in check.cases]
GRAD_CASES = [p for p in CASES if p.values[0].grad]
GRADGRAD_CASES = [p for p in GRAD_CASES if p.values[0].gradgrad]


@pytest.mark.parametrize("check, case", GRAD_CASES)
def test_gradcheck(check, case):
    check.check_gradcheck(case)


@pytest.mark.parametrize("check, case", GRADGRAD_CASES)
def test_gradgradcheck(check, case):
    check.check_gradgradcheck(case)


@pytest.mark.parametrize("check, case", CASES)
def test_float32_preserved(check, case):
    check.check_float32(case)


@pytest.mark.parametrize("check, case", CASES)
def test_noncontiguous_inputs(check, case):
    check.check_noncontiguous(case)


TOL = {np.float64: (1e-10, 1e-8), np.float32: (1e-5, 1e-4)}


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("check, case", CASES)
def test_matches_pytorch(check, case, dtype):
    torch = pytest.importorskip("torch")
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in check.inputs(case)]
    values, grads = check._forward_backward(arrays, case)
    t_values, t_grads, _ = torch_forward_backward(torch, check, arrays, case)
    atol, rtol = TOL[dtype]
    where = f"{check.name}[{case.id}] {np.dtype(dtype).name}"
    assert len(values) == len(t_values), f"{where}: {len(values)} outputs vs {len(t_values)}"
    for i, (v, tv) in enumerate(zip(values, t_values)):
        assert v.dtype == tv.dtype, f"{where}: output {i} dtype {v.dtype}, PyTorch {tv.dtype}"
        assert_arrays_close(v, tv, atol, rtol, f"{where} output {i} vs PyTorch")
    for k, (g, tg) in enumerate(zip(grads, t_grads)):
        assert (g is None) == (tg is None), f"{where}: gradient of input {k}: {g} vs {tg}"
        if g is not None:
            assert g.dtype == tg.dtype, f"{where}: grad {k} dtype {g.dtype}, PyTorch {tg.dtype}"
            assert_arrays_close(g, tg, atol, rtol, f"{where} gradient of input {k} vs PyTorch")
