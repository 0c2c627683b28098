"""Write tests/reference/rnn/rnn.npz: PyTorch's outputs and gradients for the
recurrent layers and cells, so tests/reference/test_rnn_reference.py can
compare tinynet with PyTorch where PyTorch is not installed.

    python tests/reference/make_rnn.py

Every case stores, under ``<case>/``: the layer's state_dict (``w/<name>``),
the inputs (``in/<k>``), the output gradients used (``gy/<k>``), PyTorch's
outputs (``out/<k>``) and the gradients of inputs and parameters
(``gin/<k>``, ``gw/<name>``), all float64; plus ``meta/<case>`` (a JSON
string: the module, its arguments and the lengths, if any).
"""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "rnn", "rnn.npz")

# (case name, module, constructor kwargs, T, N, lengths)
LAYERS = [
    ("lstm-L2-bi-bf-lengths", "LSTM", dict(input_size=3, hidden_size=4, num_layers=2,
                                           bidirectional=True, batch_first=True), 5, 3,
     [5, 2, 4]),
    ("lstm-L1-tf", "LSTM", dict(input_size=3, hidden_size=4), 4, 2, None),
    ("gru-L2-bi-bf-lengths", "GRU", dict(input_size=3, hidden_size=4, num_layers=2,
                                         bidirectional=True, batch_first=True), 5, 3, [1, 5, 3]),
    ("gru-L1-nobias", "GRU", dict(input_size=3, hidden_size=4, bias=False), 4, 2, None),
    ("rnn_tanh-L3", "RNN", dict(input_size=2, hidden_size=3, num_layers=3), 4, 2, None),
    ("rnn_relu-bi-lengths", "RNN", dict(input_size=2, hidden_size=3, nonlinearity="relu",
                                        bidirectional=True), 4, 2, [2, 4]),
]
CELLS = [("lstmcell", "LSTMCell"), ("grucell", "GRUCell"), ("rnncell", "RNNCell")]


def _states(kind, out):
    y, s = out
    return [y] + (list(s) if kind in ("LSTM", "LSTMCell") and isinstance(s, tuple) else [s])


def main():
    import torch
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    store = {}
    for name, kind, kw, T, N, lengths in LAYERS:
        m = getattr(torch.nn, kind)(**kw).double()
        D = 2 if kw.get("bidirectional") else 1
        L, H, I = kw.get("num_layers", 1), kw["hidden_size"], kw["input_size"]
        xshape = (N, T, I) if kw.get("batch_first") else (T, N, I)
        ins = [rng.standard_normal(xshape)] + \
            [rng.standard_normal((L * D, N, H)) for _ in range(2 if kind == "LSTM" else 1)]
        tins = [torch.tensor(a, requires_grad=True) for a in ins]
        hx = tuple(tins[1:]) if kind == "LSTM" else tins[1]
        if lengths is None:
            outs = _states(kind, m(tins[0], hx))
        else:
            packed = torch.nn.utils.rnn.pack_padded_sequence(
                tins[0], torch.tensor(lengths), batch_first=kw.get("batch_first", False),
                enforce_sorted=False)
            y, s = m(packed, hx)
            y, _ = torch.nn.utils.rnn.pad_packed_sequence(
                y, batch_first=kw.get("batch_first", False), total_length=T)
            outs = _states(kind, (y, s))
        _record(store, name, m, ins, tins, outs, rng, torch,
                {"module": kind, "kwargs": kw, "lengths": lengths})
    for name, kind in CELLS:
        m = getattr(torch.nn, kind)(3, 4).double()
        ins = [rng.standard_normal((2, 3))] + \
            [rng.standard_normal((2, 4)) for _ in range(2 if kind == "LSTMCell" else 1)]
        tins = [torch.tensor(a, requires_grad=True) for a in ins]
        out = m(tins[0], tuple(tins[1:])) if kind == "LSTMCell" else m(tins[0], tins[1])
        outs = list(out) if isinstance(out, tuple) else [out]
        _record(store, name, m, ins, tins, outs, rng, torch,
                {"module": kind, "kwargs": {"input_size": 3, "hidden_size": 4},
                 "lengths": None})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    np.savez_compressed(OUT, **store)
    print(f"wrote {os.path.normpath(OUT)} ({len(LAYERS) + len(CELLS)} cases, torch "
          f"{torch.__version__})")
    return 0


def _record(store, name, m, ins, tins, outs, rng, torch, meta):
    gys = [rng.standard_normal(tuple(o.shape)) for o in outs]
    params = list(m.named_parameters())
    grads = torch.autograd.grad(outs, tins + [p for _, p in params],
                                [torch.tensor(g) for g in gys])
    for k, v in m.state_dict().items():
        store[f"{name}/w/{k}"] = v.numpy()
    for k, a in enumerate(ins):
        store[f"{name}/in/{k}"] = a
    for k, (o, g) in enumerate(zip(outs, gys)):
        store[f"{name}/out/{k}"] = o.detach().numpy()
        store[f"{name}/gy/{k}"] = g
    for k in range(len(ins)):
        store[f"{name}/gin/{k}"] = grads[k].numpy()
    for (pname, _), g in zip(params, grads[len(ins):]):
        store[f"{name}/gw/{pname}"] = g.numpy()
    meta = dict(meta, torch=torch.__version__)
    store[f"meta/{name}"] = np.array(json.dumps(meta))


if __name__ == "__main__":
    sys.exit(main())
