"""Recurrent steps: LSTM, GRU and Elman RNN cells, fused and composed.

Shapes: N batch, I input size, H hidden size, T time steps. Gate order is
PyTorch's: LSTM i, f, g, o; GRU r, z, n (the reset gate multiplies the hidden
projection *after* the matmul, ``n = tanh(xg_n + r * (h @ w_hn.T + b_hn))``).

A step splits into two matmuls (input and hidden projections, BLAS) and the
element-wise gate math. Written with tinynet ops the gate math is about fifteen
graph nodes per step; here it is one fused Function with a hand-written
backward, whose array work lives in ``tinynet.kernels.lstm_cell`` /
``gru_cell`` behind one ``select()``:

    LSTMCellFunction(xg, hg, c_prev) -> (h, c)
    GRUCellFunction(xg, hg, h_prev)  -> h
    RNNCellFunction(xg, hg)          -> h = tanh or relu of (xg + hg)

Their backward runs the kernel on raw arrays. Under ``create_graph=True`` it
switches to the same formulas written with tinynet ops, so higher-order
gradients work (gradgradcheck covers it).

The readable versions, built only from tinynet ops, are ``lstm_cell_simple``
and ``gru_cell_simple``: the reference the fused path is tested against.

For a whole sequence, ``lstm_layer`` / ``gru_layer`` / ``rnn_layer`` take the
input projections of all T steps (one matmul, done by the caller) and run the
recurrence, three ways (``path=``):

- ``"sequence"`` (LSTM, GRU; the default): ``LSTMLayer`` /
  ``GRULayer``, one graph node for the whole direction. Forward and
  backward are plain loops over arrays calling BLAS and the fused kernels,
  as in Karpathy's min-char-rnn; the hidden-weight gradient is one big
  matmul at the end. Under ``create_graph`` the backward replays the
  sequence through the ``"step"`` path, so double backward still works.
- ``"step"``: per step a hidden matmul and one fused cell node; ``unbind``
  and ``stack`` (shape ops) cut the (T, N, .) array into steps and glue the
  outputs back with one node each.
- ``"simple"``: the composed reference cell, about 20 nodes per step.
"""
import numpy as np

from tinynet.autograd import Function, is_grad_enabled
from tinynet.backend import device_of, get_array_module, to_device
from tinynet.kernels import gru_cell as KG
from tinynet.kernels import lstm_cell as KL
from tinynet.ops.elementwise import relu, sigmoid, tanh, where
from tinynet.ops.linalg import matmul
from tinynet.ops.shape import cat, split, stack, unbind
from tinynet.tensor import Tensor, as_tensor, describe


__all__ = [
    "gru_cell", "gru_cell_simple", "gru_layer", "lstm_cell", "lstm_cell_simple",
    "lstm_layer", "rnn_cell", "rnn_cell_simple", "rnn_layer"
]


# ---------------------------------------------------------------- LSTM
class LSTMCellFunction(Function):
    """The LSTM gate math of one step, fused: (xg, hg, c_prev) -> (h, c)."""

    def forward(self, xg, hg, c_prev):
        self.impl = KL.select(xg)
        h, c, self.act = self.impl.forward(xg, hg, c_prev)
        self.c = c                 # saved as an array: backward needs tanh(c)
        return h, c

    def backward(self, gh, gc):
        xg, hg, c_prev = self.inputs
        if is_grad_enabled():
            # create_graph=True: the same gradient, built from tinynet ops so
            # that it can be differentiated again
            dpre, dc_prev = _lstm_cell_grads(xg, hg, c_prev, gh, gc)
        else:
            dpre, dc_prev = self.impl.backward(gh.array, gc.array, self.act, c_prev.array,
                                               self.c)
            dpre, dc_prev = Tensor._wrap(dpre), Tensor._wrap(dc_prev)
        # gates = xg + hg, so both projections get the same gradient
        return (dpre if xg.requires_grad else None, dpre if hg.requires_grad else None,
                dc_prev if c_prev.requires_grad else None)


def _lstm_gates(xg, hg, H):
    i, f, g, o = split(xg + hg, H, 1)
    return sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)


def _lstm_cell_grads(xg, hg, c_prev, gh, gc):
    """d(gate pre-activations), d(c_prev) from tinynet ops (differentiable)."""
    i, f, g, o = _lstm_gates(xg, hg, c_prev.shape[1])
    tc = tanh(f * c_prev + i * g)
    dc = gc + gh * o * (1 - tc * tc)
    dpre = cat([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g * g),
                gh * tc * o * (1 - o)], 1)
    return dpre, dc * f


# ---------------------------------------------------------------- GRU
class GRUCellFunction(Function):
    """The GRU gate math of one step, fused: (xg, hg, h_prev) -> h."""

    def forward(self, xg, hg, h_prev):
        self.impl = KG.select(xg)
        h, self.act = self.impl.forward(xg, hg, h_prev)
        return h

    def backward(self, gh):
        xg, hg, h_prev = self.inputs
        if is_grad_enabled():
            dxg, dhg, dh_prev = _gru_cell_grads(xg, hg, h_prev, gh)
        else:
            grads = self.impl.backward(gh.array, self.act, hg.array, h_prev.array)
            dxg, dhg, dh_prev = (Tensor._wrap(a) for a in grads)
        return (dxg if xg.requires_grad else None, dhg if hg.requires_grad else None,
                dh_prev if h_prev.requires_grad else None)


def _gru_cell_grads(xg, hg, h_prev, gh):
    """d(xg), d(hg), d(h_prev) from tinynet ops (differentiable)."""
    H = h_prev.shape[1]
    xr, xz, xn = split(xg, H, 1)
    hr, hz, hn = split(hg, H, 1)
    r, z = sigmoid(xr + hr), sigmoid(xz + hz)
    n = tanh(xn + r * hn)
    dn = gh * (1 - z) * (1 - n * n)
    dr = dn * hn * r * (1 - r)
    dz = gh * (h_prev - n) * z * (1 - z)
    return cat([dr, dz, dn], 1), cat([dr, dz, dn * r], 1), gh * z


# ---------------------------------------------------------------- Elman RNN
class RNNCellFunction(Function):
    """h = tanh(xg + hg) or relu(xg + hg): the add and activation as one node."""
    keep_outputs = True

    def __init__(self, nonlinearity):
        self.nonlinearity = nonlinearity

    def forward(self, xg, hg):
        xp = get_array_module(xg)
        pre = xg + hg
        return xp.tanh(pre) if self.nonlinearity == "tanh" else xp.maximum(pre, 0)

    def backward(self, gh):
        xg, hg = self.inputs
        h = self.output()        # the live output under create_graph: differentiable
        if self.nonlinearity == "tanh":
            g = gh * (1 - h * h)
        else:
            g = where(h.array > 0, gh, gh * 0)
        return (g if xg.requires_grad else None, g if hg.requires_grad else None)


# ---------------------------------------------------------------- argument checks
def _check_cell(op, x, hx, w_ih, w_hh, b_ih, b_hh, gates, cx=None):
    """Shapes of one cell step; ``gates`` is 4 (LSTM), 3 (GRU) or 1 (RNN)."""
    tensors = [("input", x), ("hx", hx), ("w_ih", w_ih), ("w_hh", w_hh)]
    if x.ndim != 2:
        raise ValueError(f"{op}: expected a 2-D input (N, input_size), got {describe(x)}")
    if w_ih.ndim != 2 or w_hh.ndim != 2:
        raise ValueError(f"{op}: expected 2-D weights, got w_ih {describe(w_ih)}, "
                         f"w_hh {describe(w_hh)}")
    GH, I = w_ih.shape
    H = w_hh.shape[1]
    if GH != gates * H or w_hh.shape[0] != gates * H:
        raise ValueError(f"{op}: expected w_ih ({gates}*H, I) and w_hh ({gates}*H, H), got "
                         f"w_ih {describe(w_ih)}, w_hh {describe(w_hh)}")
    if x.shape[1] != I:
        raise ValueError(f"{op}: input has {x.shape[1]} features but w_ih expects {I}; "
                         f"input {describe(x)}, w_ih {describe(w_ih)}")
    for name, s in (("hx", hx), ("cx", cx)):
        if s is not None and s.shape != (x.shape[0], H):
            raise ValueError(f"{op}: expected {name} of shape {(x.shape[0], H)}, got "
                             f"{describe(s)}")
    for name, b in (("b_ih", b_ih), ("b_hh", b_hh)):
        if b is not None:
            tensors.append((name, b))
            if b.shape != (gates * H,):
                raise ValueError(f"{op}: expected {name} of shape {(gates * H,)}, got "
                                 f"{describe(b)}")
    if cx is not None:
        tensors.append(("cx", cx))
    dtypes = {t.dtype for _, t in tensors}
    if len(dtypes) > 1:
        raise TypeError(f"{op}: all tensors must have one dtype, got " +
                        ", ".join(f"{n} {describe(t)}" for n, t in tensors))


def _proj(x, w, b):
    y = matmul(x, w.T)
    return y if b is None else y + b


# ---------------------------------------------------------------- cells: fused
def lstm_cell(x, hx, cx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step, fused gate math. Returns (h, c).

    Shape: x (N, I), hx and cx (N, H), w_ih (4H, I), w_hh (4H, H), biases (4H,).
    """
    x, hx, cx, w_ih, w_hh = (as_tensor(t) for t in (x, hx, cx, w_ih, w_hh))
    _check_cell("lstm_cell", x, hx, w_ih, w_hh, b_ih, b_hh, 4, cx)
    return LSTMCellFunction()(_proj(x, w_ih, b_ih), _proj(hx, w_hh, b_hh), cx)


def gru_cell(x, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step, fused gate math. Returns h.

    Shape: x (N, I), hx (N, H), w_ih (3H, I), w_hh (3H, H), biases (3H,).
    """
    x, hx, w_ih, w_hh = (as_tensor(t) for t in (x, hx, w_ih, w_hh))
    _check_cell("gru_cell", x, hx, w_ih, w_hh, b_ih, b_hh, 3)
    return GRUCellFunction()(_proj(x, w_ih, b_ih), _proj(hx, w_hh, b_hh), hx)


def rnn_cell(x, hx, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """One Elman RNN step: act(x @ w_ih.T + b_ih + hx @ w_hh.T + b_hh).

    Shape: x (N, I), hx (N, H), w_ih (H, I), w_hh (H, H), biases (H,).
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_cell: unknown nonlinearity {nonlinearity!r}; expected "
                         "'tanh' or 'relu'")
    x, hx, w_ih, w_hh = (as_tensor(t) for t in (x, hx, w_ih, w_hh))
    _check_cell("rnn_cell", x, hx, w_ih, w_hh, b_ih, b_hh, 1)
    return RNNCellFunction(nonlinearity)(_proj(x, w_ih, b_ih), _proj(hx, w_hh, b_hh))


# ---------------------------------------------------------------- cells: composed
def lstm_cell_simple(x, hx, cx, w_ih, w_hh, b_ih=None, b_hh=None):
    """``lstm_cell`` written only with tinynet ops: the readable reference."""
    gates = _proj(x, w_ih, b_ih) + _proj(hx, w_hh, b_hh)
    i, f, g, o = split(gates, w_hh.shape[1], 1)
    c = sigmoid(f) * cx + sigmoid(i) * tanh(g)
    h = sigmoid(o) * tanh(c)
    return h, c


def gru_cell_simple(x, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """``gru_cell`` written only with tinynet ops: the readable reference."""
    H = w_hh.shape[1]
    xr, xz, xn = split(_proj(x, w_ih, b_ih), H, 1)
    hr, hz, hn = split(_proj(hx, w_hh, b_hh), H, 1)
    r = sigmoid(xr + hr)
    z = sigmoid(xz + hz)
    n = tanh(xn + r * hn)
    return (1 - z) * n + z * hx


def rnn_cell_simple(x, hx, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """``rnn_cell`` written only with tinynet ops: the readable reference."""
    pre = _proj(x, w_ih, b_ih) + _proj(hx, w_hh, b_hh)
    return tanh(pre) if nonlinearity == "tanh" else relu(pre)


# ---------------------------------------------------------------- whole sequences
def _steps(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


def _mask_array(lengths, T, like):
    """(T, N, 1) bool array on the device of ``like`` (an array or Tensor): is
    step t inside sequence n?"""
    data = like.array if isinstance(like, Tensor) else like
    m = np.arange(T)[:, None, None] < np.asarray(lengths)[None, :, None]
    return m if get_array_module(data) is np else to_device(m, device_of(data))


# The whole-sequence NumPy loop of kernels/lstm_cell.py (sequence_forward_np)
# runs an unmasked CPU LSTM direction when the gate kernel is the reference;
# False runs the per-step loop below it, which it is tested against.
INPLACE_SEQUENCE = True


def _use_inplace_sequence(impl, lengths, xg, *arrays):
    return (INPLACE_SEQUENCE and lengths is None and impl.name == "ref"
            and xg.dtype in (np.float32, np.float64) and xg.ndim == 3 and xg.shape[0] >= 1
            and all(type(a) is np.ndarray and a.dtype == xg.dtype for a in (xg,) + arrays))


class LSTMLayer(Function):
    """A whole LSTM direction as one node: (xg, h0, c0, w_hh) -> (out, h_n, c_n).

    Forward and backward are loops over raw arrays (BLAS matmul + the fused
    gate kernel per step); the backward gathers the gradient of ``w_hh`` as
    one (4H, T*N) @ (T*N, H) matmul instead of T small ones. No graph is
    built per step. Under ``create_graph`` the backward replays the sequence
    with per-step ``LSTMCellFunction`` nodes (differentiable) instead.

    On the CPU without ``lengths`` (and with the reference gate kernel) both
    loops are ``kernels/lstm_cell.py``'s ``sequence_forward_np`` /
    ``sequence_backward_np``, which write each step into preallocated arrays
    instead of allocating its temporaries; the loops below are the general
    version they are tested against (``INPLACE_SEQUENCE = False``).
    """

    def __init__(self, reverse, lengths):
        self.reverse, self.lengths = reverse, lengths

    def forward(self, xg, h0, c0, w_hh):
        xp = get_array_module(xg)
        T, N, G = xg.shape
        self.impl = impl = KL.select(xg)
        self.saved = None
        if _use_inplace_sequence(impl, self.lengths, xg, h0, c0, w_hh):
            out, h, c, self.saved = KL.sequence_forward_np(xg, h0, c0, w_hh, self.reverse)
            return out, h, c
        mask = None if self.lengths is None else _mask_array(self.lengths, T, xg)
        out = xp.empty((T, N, G // 4), xg.dtype)        # every step writes its row
        # per step: the h and c the step started from, its gates and its new c
        self.h_in, self.c_in = xp.empty_like(out), xp.empty_like(out)
        self.acts, self.c_new = xp.empty_like(xg), xp.empty_like(out)
        h, c, w_t = h0, c0, w_hh.T
        for t in _steps(T, self.reverse):
            self.h_in[t], self.c_in[t] = h, c
            h_new, c_new, self.acts[t] = impl.forward(xg[t], h @ w_t, c)
            self.c_new[t] = c_new
            if mask is None:
                h, c = h_new, c_new
                out[t] = h
            else:
                # past a sequence's end: keep the state, output zero
                h, c = xp.where(mask[t], h_new, h), xp.where(mask[t], c_new, c)
                out[t] = h_new * mask[t]
        self.mask = mask
        return out, h, c

    def backward(self, g_out, g_h, g_c):
        if is_grad_enabled():
            return _replay_grads(self, lstm_layer, (g_out, g_h, g_c))
        xg, h0, c0, w_hh = (x.array for x in self.inputs)
        if self.saved is not None:
            grads = KL.sequence_backward_np(g_out.array, g_h.array, g_c.array, w_hh,
                                            self.saved, self.reverse)
            return tuple(Tensor._wrap(g) for g in grads)
        xp = get_array_module(xg)
        T, N, G = xg.shape
        g_out, dh, dc = g_out.array, g_h.array, g_c.array
        dxg = xp.empty_like(xg)          # not zeros: every step writes its row
        for t in _steps(T, not self.reverse):
            m = None if self.mask is None else self.mask[t]
            gh_new = g_out[t] + dh if m is None else (g_out[t] + dh) * m
            gc_new = dc if m is None else dc * m
            dxg[t], dc_prev = self.impl.backward(gh_new, gc_new, self.acts[t], self.c_in[t],
                                                 self.c_new[t])
            dh_prev = dxg[t] @ w_hh
            if m is None:
                dh, dc = dh_prev, dc_prev
            else:
                # a padded step passed its incoming state straight through
                dh, dc = dh_prev + dh * ~m, dc_prev + dc * ~m
        gw = dxg.reshape(T * N, G).T @ self.h_in.reshape(T * N, -1)
        return Tensor._wrap(dxg), Tensor._wrap(dh), Tensor._wrap(dc), Tensor._wrap(gw)


class GRULayer(Function):
    """A whole GRU direction as one node: (xg, h0, w_hh, b_hh) -> (out, h_n).
    As ``LSTMLayer``; ``b_hh`` is added inside each step (the reset
    gate scales it)."""

    def __init__(self, reverse, lengths):
        self.reverse, self.lengths = reverse, lengths

    def forward(self, xg, h0, w_hh, b_hh):
        xp = get_array_module(xg)
        T, N, G = xg.shape
        self.impl = impl = KG.select(xg)
        mask = None if self.lengths is None else _mask_array(self.lengths, T, xg)
        out = xp.empty((T, N, G // 3), xg.dtype)
        self.h_in, self.hg = xp.empty_like(out), xp.empty_like(xg)
        self.acts = xp.empty_like(xg)
        h, w_t = h0, w_hh.T
        for t in _steps(T, self.reverse):
            self.h_in[t] = h
            self.hg[t] = h @ w_t + b_hh
            h_new, self.acts[t] = impl.forward(xg[t], self.hg[t], h)
            if mask is None:
                h = h_new
                out[t] = h
            else:
                h = xp.where(mask[t], h_new, h)
                out[t] = h_new * mask[t]
        self.mask = mask
        return out, h

    def backward(self, g_out, g_h):
        if is_grad_enabled():
            return _replay_grads(self, gru_layer, (g_out, g_h))
        xg, h0, w_hh, b_hh = (x.array for x in self.inputs)
        xp = get_array_module(xg)
        T, N, G = xg.shape
        g_out, dh = g_out.array, g_h.array
        dxg, dhg = xp.empty_like(xg), xp.empty_like(xg)
        for t in _steps(T, not self.reverse):
            m = None if self.mask is None else self.mask[t]
            gh_new = g_out[t] + dh if m is None else (g_out[t] + dh) * m
            dxg[t], dhg[t], dh_direct = self.impl.backward(gh_new, self.acts[t], self.hg[t],
                                                           self.h_in[t])
            dh_prev = dh_direct + dhg[t] @ w_hh
            dh = dh_prev if m is None else dh_prev + dh * ~m
        gw = dhg.reshape(T * N, G).T @ self.h_in.reshape(T * N, -1)
        return Tensor._wrap(dxg), Tensor._wrap(dh), Tensor._wrap(gw), Tensor._wrap(dhg.sum(axis=(0, 1)))


def _replay_grads(fn, layer, gys):
    """create_graph=True: the gradients of a layer Function, obtained by
    replaying its sequence with differentiable per-step nodes."""
    from tinynet.autograd import grad
    inputs = fn.inputs
    outs = layer(*inputs, reverse=fn.reverse, lengths=fn.lengths, path="step")
    wanted = [k for k, x in enumerate(inputs) if x.requires_grad]
    gs = grad(list(outs), [inputs[k] for k in wanted], grad_outputs=list(gys),
              create_graph=True, allow_unused=True)
    result = [None] * len(inputs)
    for k, g in zip(wanted, gs):
        result[k] = g
    return tuple(result)


_PATHS = ("sequence", "step", "simple")


def _check_path(path):
    if path not in _PATHS:
        raise ValueError(f"recurrent layer: path must be one of {_PATHS}, got {path!r}")


def lstm_layer(xg, h0, c0, w_hh, reverse=False, lengths=None, path="sequence"):
    """Run one LSTM direction over a sequence of input projections.

    ``xg`` (T, N, 4H) holds x_t @ w_ih.T + b_ih + b_hh for every step (one
    matmul for the whole sequence, done by the caller). With ``lengths`` (N,)
    the steps past a sequence's end leave its state unchanged, output zeros
    and pass no gradient. Returns out (T, N, H), h_n (N, H), c_n (N, H).

    ``path`` picks how: ``"sequence"`` (one graph node for the whole
    direction, the fast default), ``"step"`` (one fused node per step) or
    ``"simple"`` (the composed reference cell, about 20 nodes per step).
    """
    _check_path(path)
    if path == "sequence":
        return LSTMLayer(reverse, lengths)(xg, h0, c0, w_hh)
    T = xg.shape[0]
    H = w_hh.shape[1]
    xs = unbind(xg)
    w_t = w_hh.T                     # transposed once, not once per step
    masks = None if lengths is None else _mask_array(lengths, T, xg)
    h, c = h0, c0
    outs = [None] * T
    for t in _steps(T, reverse):
        hg = matmul(h, w_t)
        if path == "simple":
            i, f, g, o = _lstm_gates(xs[t], hg, H)
            c_new = f * c + i * g
            h_new = o * tanh(c_new)
        else:
            h_new, c_new = LSTMCellFunction()(xs[t], hg, c)
        if masks is None:
            h, c = h_new, c_new
            outs[t] = h
        else:
            h, c = where(masks[t], h_new, h), where(masks[t], c_new, c)
            outs[t] = where(masks[t], h_new, h_new * 0)
    return stack(outs), h, c


def gru_layer(xg, h0, w_hh, b_hh=None, reverse=False, lengths=None, path="sequence"):
    """Run one GRU direction; ``xg`` (T, N, 3H) = x @ w_ih.T + b_ih for every
    step. ``b_hh`` stays inside the step (the reset gate scales it). Returns
    out (T, N, H), h_n (N, H). ``lengths`` and ``path`` as in ``lstm_layer``."""
    _check_path(path)
    if path == "sequence":
        if b_hh is None:
            b_hh = Tensor._wrap(get_array_module(xg.array).zeros(xg.shape[-1], xg.dtype))
        return GRULayer(reverse, lengths)(xg, h0, w_hh, b_hh)
    T = xg.shape[0]
    H = w_hh.shape[1]
    xs = unbind(xg)
    w_t = w_hh.T
    masks = None if lengths is None else _mask_array(lengths, T, xg)
    h = h0
    outs = [None] * T
    for t in _steps(T, reverse):
        hg = matmul(h, w_t)
        if b_hh is not None:
            hg = hg + b_hh
        if path == "simple":
            xr, xz, xn = split(xs[t], H, 1)
            hr, hz, hn = split(hg, H, 1)
            r, z = sigmoid(xr + hr), sigmoid(xz + hz)
            n = tanh(xn + r * hn)
            h_new = (1 - z) * n + z * h
        else:
            h_new = GRUCellFunction()(xs[t], hg, h)
        if masks is None:
            h = h_new
            outs[t] = h
        else:
            h = where(masks[t], h_new, h)
            outs[t] = where(masks[t], h_new, h_new * 0)
    return stack(outs), h


def rnn_layer(xg, h0, w_hh, nonlinearity="tanh", reverse=False, lengths=None, path="step"):
    """Run one Elman RNN direction; ``xg`` (T, N, H) = x @ w_ih.T + b_ih + b_hh
    for every step. Returns out (T, N, H), h_n (N, H). ``path`` is ``"step"``
    (a matmul and one fused add+activation node per step) or ``"simple"``."""
    if path not in ("step", "simple"):
        raise ValueError(f"rnn_layer: path must be 'step' or 'simple', got {path!r}")
    T = xg.shape[0]
    xs = unbind(xg)
    w_t = w_hh.T
    masks = None if lengths is None else _mask_array(lengths, T, xg)
    h = h0
    outs = [None] * T
    for t in _steps(T, reverse):
        if path == "simple":
            pre = xs[t] + matmul(h, w_t)
            h_new = tanh(pre) if nonlinearity == "tanh" else relu(pre)
        else:
            h_new = RNNCellFunction(nonlinearity)(xs[t], matmul(h, w_t))
        if masks is None:
            h = h_new
            outs[t] = h
        else:
            h = where(masks[t], h_new, h)
            outs[t] = where(masks[t], h_new, h_new * 0)
    return stack(outs), h
