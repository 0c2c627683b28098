"""The recurrent layers and cells against PyTorch's committed outputs and
gradients (tests/reference/rnn/rnn.npz, written by
tests/reference/make_rnn.py). Never imports torch: this is the PyTorch
comparison that runs where PyTorch is not installed."""
import json
import pathlib

import numpy as np
import pytest

import tinynet as tn
from tinynet.nn import rnn

PATH = pathlib.Path(__file__).parent / "rnn" / "rnn.npz"


def load():
    with np.load(PATH, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    cases = {k.split("/", 1)[1]: json.loads(str(v)) for k, v in data.items()
             if k.startswith("meta/")}
    return data, cases


DATA, CASES = load()


def part(name, kind):
    prefix = f"{name}/{kind}/"
    items = {k[len(prefix):]: v for k, v in DATA.items() if k.startswith(prefix)}
    if kind in ("in", "gy", "out", "gin"):
        return [items[str(k)] for k in range(len(items))]
    return items


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch_reference(name):
    meta = CASES[name]
    m = getattr(rnn, meta["module"])(**meta["kwargs"], dtype=tn.float64)
    m.load_state_dict(part(name, "w"))
    xs = [tn.tensor(a, requires_grad=True) for a in part(name, "in")]
    cell = meta["module"].endswith("Cell")
    lstm = meta["module"].startswith("LSTM")
    hx = tuple(xs[1:]) if lstm else xs[1]
    if cell:
        out = m(xs[0], hx)
        outs = list(out) if lstm else [out]
    else:
        y, s = m(xs[0], hx, lengths=meta["lengths"])
        outs = [y] + (list(s) if lstm else [s])
    for got, want in zip(outs, part(name, "out")):
        np.testing.assert_allclose(got.array, want, rtol=1e-10, atol=1e-12)
    params = list(m.named_parameters())
    grads = tn.grad(outs, xs + [p for _, p in params],
                    grad_outputs=[tn.tensor(g) for g in part(name, "gy")])
    for got, want in zip(grads, part(name, "gin")):
        np.testing.assert_allclose(got.array, want, rtol=1e-9, atol=1e-11)
    gw = part(name, "gw")
    assert sorted(gw) == sorted(n for n, _ in params)
    for (pname, _), got in zip(params, grads[len(xs):]):
        np.testing.assert_allclose(got.array, gw[pname], rtol=1e-9, atol=1e-11, err_msg=pname)


def test_reference_is_small_and_plain():
    assert PATH.stat().st_size < 200_000
    assert all(v.dtype == np.float64 for k, v in DATA.items() if not k.startswith("meta/"))
