"""Recurrent layers: RNN, GRU, LSTM and their single-step cells.

PyTorch's contract (constructor arguments, parameter names and shapes, gate
order, initialisation, forward signature), so a PyTorch state_dict loads and
gives the same outputs. The step math lives in ``tinynet.ops.recurrent``:
the input projection of all T steps is one matmul; then each direction of
each layer of an LSTM or GRU is one graph node (a loop over the fused gate
kernel), and each step of an Elman RNN a matmul plus one fused node.

Shapes: T steps, N batch, I ``input_size``, H ``hidden_size``, L
``num_layers``, D = 2 if ``bidirectional`` else 1. Input (T, N, I), or (N, T,
I) with ``batch_first``, or unbatched (T, I). Output (T, N, D*H); h_n and c_n
(L*D, N, H). Variable-length batches: a ``PackedSequence`` input, or
``forward(x, hx, lengths=...)`` on a padded batch.
"""
import math

import numpy as np

from tinynet.autograd import no_grad
from tinynet.nn.module import Module, Parameter
from tinynet.nn.utils.rnn import PackedSequence, pack_rows, pad_packed_sequence
from tinynet.ops import recurrent as R
from tinynet.ops.nn_ops import linear
from tinynet.ops.shape import cat, reshape, squeeze, stack, transpose, unbind, unsqueeze
from tinynet.tensor import as_tensor, describe, empty, zeros

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _init_uniform(params, hidden_size):
    # PyTorch's default for every recurrent weight and bias: U(-1/sqrt(H), 1/sqrt(H))
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
    with no_grad():
        for p in params:
            p.uniform_(-bound, bound)


class RNNBase(Module):
    """Shared machinery of RNN, GRU and LSTM (PyTorch's nn.RNNBase)."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, proj_size=0,
                 device=None, dtype=None):
        super().__init__()
        name = "LSTM" if mode == "LSTM" else "GRU" if mode == "GRU" else "RNN"
        for what, v in (("input_size", input_size), ("hidden_size", hidden_size),
                        ("num_layers", num_layers)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"{name}: {what} must be a positive int, got {v!r}")
        if not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1 or \
                isinstance(dropout, bool):
            raise ValueError(f"{name}: dropout must be a number in [0, 1], got {dropout!r}")
        if proj_size != 0:
            raise NotImplementedError(f"{name}: proj_size is not supported by tinynet")
        self.mode = mode
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers, self.bias = int(num_layers), bool(bias)
        self.batch_first, self.dropout = bool(batch_first), float(dropout)
        self.bidirectional, self.proj_size = bool(bidirectional), proj_size
        G, H = _GATES[mode], self.hidden_size
        self._flat_weights_names = []
        for k in range(self.num_layers):
            in_k = self.input_size if k == 0 else H * self.num_directions
            for suffix in ("", "_reverse")[:self.num_directions]:
                shapes = [("weight_ih", (G * H, in_k)), ("weight_hh", (G * H, H))]
                if self.bias:
                    shapes += [("bias_ih", (G * H,)), ("bias_hh", (G * H,))]
                for base, shape in shapes:
                    pname = f"{base}_l{k}{suffix}"
                    setattr(self, pname, Parameter(empty(*shape, device=device, dtype=dtype)))
                    self._flat_weights_names.append(pname)
        self.reset_parameters()

    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    @property
    def _name(self):
        return type(self).__name__

    def reset_parameters(self):
        _init_uniform(self.parameters(), self.hidden_size)

    def flatten_parameters(self):
        """Accepted for PyTorch compatibility; tinynet's weights are always usable."""

    @property
    def all_weights(self):
        """Per layer and direction, [weight_ih, weight_hh, bias_ih, bias_hh]."""
        per = 4 if self.bias else 2
        ws = [getattr(self, n) for n in self._flat_weights_names]
        return [ws[i:i + per] for i in range(0, len(ws), per)]

    # ------------------------------------------------------------ checks
    def _check_input(self, x):
        if x.ndim not in (2, 3):
            raise ValueError(f"{self._name}: expected input to be 2-D (unbatched) or 3-D, "
                             f"got {x.ndim}-D input {describe(x)}")
        if x.dtype.kind != "f":
            raise TypeError(f"{self._name}: expected a floating-point input, got {describe(x)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{self._name}: input.size(-1) must be equal to input_size. "
                             f"Expected {self.input_size}, got {x.shape[-1]} "
                             f"(input {describe(x)})")
        t_dim = 1 if self.batch_first and x.ndim == 3 else 0
        if x.shape[t_dim] == 0:
            raise ValueError(f"{self._name}: expected a sequence length above 0, got input "
                             f"{describe(x)} (batch_first={self.batch_first})")
        if x.ndim == 3 and x.shape[1 - t_dim] == 0:
            raise ValueError(f"{self._name}: empty batch: the batch size is 0 in input "
                             f"{describe(x)} (batch_first={self.batch_first})")
        w = self.weight_ih_l0
        if x.dtype != w.dtype:
            raise TypeError(f"{self._name}: input dtype {x.dtype} does not match the "
                            f"parameters' {w.dtype}; input {describe(x)}")

    def _check_hidden(self, h, N, batched, what):
        want = (self.num_layers * self.num_directions, N, self.hidden_size)
        if not batched:
            want = (want[0], want[2])
        h = as_tensor(h)
        if tuple(h.shape) != want:
            raise ValueError(f"{self._name}: expected {what} of shape {want}, got {describe(h)}")
        return h if batched else unsqueeze(h, 1)

    def _check_lengths(self, lengths, T, N):
        arr = np.asarray(lengths.numpy() if hasattr(lengths, "numpy") else lengths)
        if arr.shape != (N,) or arr.dtype.kind not in "iu":
            raise ValueError(f"{self._name}: expected lengths to be {N} ints (one per "
                             f"sequence), got {arr.dtype} array of shape {arr.shape}")
        if N and (arr.min() < 1 or arr.max() > T):
            raise ValueError(f"{self._name}: every length must be in [1, {T}] (the padded "
                             f"sequence length), got min {arr.min()} max {arr.max()}")
        return arr

    # ------------------------------------------------------------ forward
    def _initial_states(self, hx, x, N, batched):
        """h0 (and c0 for the LSTM) as (L*D, N, H) Tensors."""
        n_states = 2 if self.mode == "LSTM" else 1
        if hx is None:
            shape = (self.num_layers * self.num_directions, N, self.hidden_size)
            z = zeros(*shape, dtype=x.dtype, device=x.device)
            return [z] * n_states
        if self.mode == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"LSTM: expected hx to be a tuple (h_0, c_0), got "
                                f"{type(hx).__name__}")
            return [self._check_hidden(hx[0], N, batched, "h_0"),
                    self._check_hidden(hx[1], N, batched, "c_0")]
        return [self._check_hidden(hx, N, batched, "hx")]

    def _project(self, x, k, suffix):
        """All T input projections of layer k at once: (T, N, G*H)."""
        T, N, I = x.shape
        w_ih = getattr(self, f"weight_ih_l{k}{suffix}")
        b = None
        if self.bias:
            b = getattr(self, f"bias_ih_l{k}{suffix}")
            if self.mode != "GRU":        # GRU: b_hh stays inside the step, scaled by r
                b = b + getattr(self, f"bias_hh_l{k}{suffix}")
        # one node and one (T*N, G*H) array: the product with the bias added in place
        xg = linear(reshape(x, (T * N, I)), w_ih, b)
        return reshape(xg, (T, N, -1))

    def _run_direction(self, x, k, suffix, states, lengths):
        xg = self._project(x, k, suffix)
        w_hh = getattr(self, f"weight_hh_l{k}{suffix}")
        reverse = suffix == "_reverse"
        if self.mode == "LSTM":
            out, h, c = R.lstm_layer(xg, states[0], states[1], w_hh, reverse, lengths)
            return out, [h, c]
        if self.mode == "GRU":
            b_hh = getattr(self, f"bias_hh_l{k}{suffix}") if self.bias else None
            out, h = R.gru_layer(xg, states[0], w_hh, b_hh, reverse, lengths)
            return out, [h]
        nl = "tanh" if self.mode == "RNN_TANH" else "relu"
        out, h = R.rnn_layer(xg, states[0], w_hh, nl, reverse, lengths)
        return out, [h]

    def forward(self, input, hx=None, lengths=None):
        """Run the whole sequence. Returns (output, h_n), or (output, (h_n, c_n))
        for the LSTM.

        ``input`` may be a ``PackedSequence`` (``tinynet.nn.utils.rnn``); the
        output is then one too, packed like the input, and h_n/c_n hold each
        sequence's state after its last step, in the original batch order
        (``hx`` is given in that order too), as in PyTorch.

        ``lengths`` (N ints, optional): the true length of each sequence in a
        padded batch. Steps past a sequence's end neither change its state
        nor get gradient, their outputs are zero, and h_n/c_n are taken at
        each sequence's last real step (PyTorch's packed-sequence results).
        """
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError(f"{self._name}: lengths= cannot be combined with a "
                                 "PackedSequence input, which carries its own lengths")
            return self._forward_packed(input, hx)
        x = as_tensor(input)
        self._check_input(x)
        batched = x.ndim == 3
        if not batched:
            x = unsqueeze(x, 1)
        elif self.batch_first:
            x = transpose(x, 0, 1)
        T, N, _ = x.shape
        if lengths is not None:
            lengths = self._check_lengths(lengths, T, N)
        output, states = self._run_layers(x, hx, lengths, batched)
        if not batched:
            output = squeeze(output, 1)
            states = [squeeze(s, 1) for s in states]
        elif self.batch_first:
            output = transpose(output, 0, 1)
        return self._result(output, states)

    def _forward_packed(self, packed, hx):
        if packed.data.ndim != 2:
            raise ValueError(f"{self._name}: expected the PackedSequence's data to be 2-D "
                             f"(sum of lengths, input_size), got {describe(packed.data)}")
        self._check_input(packed.data)
        # the padded batch in its original order: hx and h_n are in that order
        x, lengths = pad_packed_sequence(packed)
        output, states = self._run_layers(x, hx, lengths.numpy(), True)
        data = pack_rows(output, packed.batch_sizes, packed.sorted_indices, False)
        return self._result(packed._replace(data=data), states)

    def _result(self, output, states):
        if self.mode == "LSTM":
            return output, (states[0], states[1])
        return output, states[0]

    def _run_layers(self, x, hx, lengths, batched):
        """Every layer and direction over x (T, N, I): returns the last
        layer's output (T, N, D*H) and the final states, each (L*D, N, H)."""
        N = x.shape[1]
        init = [unbind_states(s) for s in self._initial_states(hx, x, N, batched)]
        finals = [[] for _ in init]
        D = self.num_directions
        for k in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(("", "_reverse")[:D]):
                out, last = self._run_direction(x, k, suffix, [s[k * D + d] for s in init],
                                                lengths)
                outs.append(out)
                for f, s in zip(finals, last):
                    f.append(s)
            x = outs[0] if D == 1 else cat(outs, 2)
            if self.dropout and self.training and k < self.num_layers - 1:
                from tinynet.nn.functional import dropout
                x = dropout(x, self.dropout, True)
        return x, [stack(f) for f in finals]

    def extra_repr(self):
        # PyTorch's text, which does not mention the RNN's nonlinearity
        s = f"{self.input_size}, {self.hidden_size}"
        for name, default in (("num_layers", 1), ("bias", True), ("batch_first", False),
                              ("dropout", 0.0), ("bidirectional", False)):
            v = getattr(self, name)
            if v != default:
                s += f", {name}={v}"
        return s


def unbind_states(s):
    """(L*D, N, H) -> L*D tensors (N, H), one graph node."""
    return unbind(s)


class RNN(RNNBase):
    """Elman recurrent network over a sequence, with ``tanh`` or ``relu``.

    For each step ``t`` and layer,
    ``h_t = tanh(x_t @ W_ih.T + b_ih + h_(t-1) @ W_hh.T + b_hh)``
    (``relu`` instead of ``tanh`` with ``nonlinearity='relu'``).

    ``x_t`` is the input at step ``t`` for the first layer, the previous
    layer's ``h_t`` for the others.

    Args:
        input_size (int): the number of features of each step's input, ``I``.
        hidden_size (int): the number of features of the hidden state, ``H``.
        num_layers (int, optional): stacked layers, each taking the previous
            one's output sequence as input. Default: ``1``.
        nonlinearity (str, optional): ``'tanh'`` or ``'relu'``.
            Default: ``'tanh'``.
        bias (bool, optional): learn the biases ``b_ih`` and ``b_hh``.
            Default: ``True``.
        batch_first (bool, optional): input and output are ``(N, T, *)``
            instead of ``(T, N, *)`` (the hidden states keep their layout).
            Default: ``False``.
        dropout (float, optional): dropout on the output of every layer but
            the last, in training mode. Default: ``0.0``.
        bidirectional (bool, optional): add a second layer per level that runs
            the sequence backwards; the two outputs are concatenated.
            Default: ``False``.
        device, dtype (optional): where and in which floating dtype the
            parameters are created. Default: ``None`` (CPU, float32).

    Inputs: ``input``, ``hx`` (optional), ``lengths`` (optional)
        - ``input``: ``(T, N, I)``, ``(N, T, I)`` with ``batch_first``, or
          unbatched ``(T, I)``; or a ``PackedSequence``
          (``nn.utils.rnn.pack_padded_sequence``) for sequences of different
          lengths.
        - ``hx``: the initial hidden state,
          ``(D * num_layers, N, H)``, or ``(D * num_layers, H)`` unbatched;
          zeros when omitted.
        - ``lengths``: ``N`` ints, the true length of each sequence of a padded
          batch (a tinynet extension, giving the results of a packed
          sequence): steps past a sequence's end leave its state unchanged
          and output zeros.

    Outputs: ``output``, ``h_n``
        - ``output``: ``(T, N, D * H)`` (``(N, T, D * H)`` with ``batch_first``,
          ``(T, D * H)`` unbatched; a ``PackedSequence`` for a packed input):
          the last layer's hidden state at every step, both directions
          concatenated.
        - ``h_n``: the final hidden state,
          ``(D * num_layers, N, H)``, after each sequence's last step, for
          every layer and direction.

    Shape:
        ``T`` the sequence length, ``N`` the batch size, ``I = input_size``,
        ``H = hidden_size``, ``D = 2`` if ``bidirectional`` else ``1``.

    Attributes:
        weight_ih_l[k]: ``(H, I)`` for layer 0, ``(H, D * H)`` above.
        weight_hh_l[k]: ``(H, H)``.
        bias_ih_l[k], bias_hh_l[k]: ``(H,)``.
        The backward direction's parameters end in ``_reverse``.
        All weights and biases are initialised from ``U(-1/sqrt(H), 1/sqrt(H))``.

    Example::

        >>> rnn = nn.RNN(10, 20, num_layers=2)
        >>> output, h_n = rnn(tn.randn(5, 3, 10), tn.zeros(2, 3, 20))
        >>> output.shape, h_n.shape
        ((5, 3, 20), (2, 3, 20))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None,
                 dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}; expected 'tanh' "
                             "or 'relu'")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)
        self.nonlinearity = nonlinearity


class GRU(RNNBase):
    """Gated recurrent unit network over a sequence (Cho et al., 2014).

    PyTorch's formulation. For each step and layer, with ``x`` the step's
    input and ``h`` the previous hidden state::

        r = sigmoid(x @ W_ir.T + b_ir + h @ W_hr.T + b_hr)       (reset gate)
        z = sigmoid(x @ W_iz.T + b_iz + h @ W_hz.T + b_hz)       (update gate)
        n = tanh(x @ W_in.T + b_in + r * (h @ W_hn.T + b_hn))    (candidate)
        h' = (1 - z) * n + z * h

    Args:
        input_size (int): the number of features of each step's input, ``I``.
        hidden_size (int): the number of features of the hidden state, ``H``.
        num_layers (int, optional): stacked layers, each taking the previous
            one's output sequence as input. Default: ``1``.
        bias (bool, optional): learn the biases ``b_ih`` and ``b_hh``.
            Default: ``True``.
        batch_first (bool, optional): input and output are ``(N, T, *)``
            instead of ``(T, N, *)`` (the hidden states keep their layout).
            Default: ``False``.
        dropout (float, optional): dropout on the output of every layer but
            the last, in training mode. Default: ``0.0``.
        bidirectional (bool, optional): add a second layer per level that runs
            the sequence backwards; the two outputs are concatenated.
            Default: ``False``.
        device, dtype (optional): where and in which floating dtype the
            parameters are created. Default: ``None`` (CPU, float32).

    Inputs: ``input``, ``hx`` (optional), ``lengths`` (optional)
        - ``input``: ``(T, N, I)``, ``(N, T, I)`` with ``batch_first``, or
          unbatched ``(T, I)``; or a ``PackedSequence``
          (``nn.utils.rnn.pack_padded_sequence``) for sequences of different
          lengths.
        - ``hx``: the initial hidden state,
          ``(D * num_layers, N, H)``, or ``(D * num_layers, H)`` unbatched;
          zeros when omitted.
        - ``lengths``: ``N`` ints, the true length of each sequence of a padded
          batch (a tinynet extension, giving the results of a packed
          sequence): steps past a sequence's end leave its state unchanged
          and output zeros.

    Outputs: ``output``, ``h_n``
        - ``output``: ``(T, N, D * H)`` (``(N, T, D * H)`` with ``batch_first``,
          ``(T, D * H)`` unbatched; a ``PackedSequence`` for a packed input):
          the last layer's hidden state at every step, both directions
          concatenated.
        - ``h_n``: the final hidden state,
          ``(D * num_layers, N, H)``, after each sequence's last step, for
          every layer and direction.

    Shape:
        ``T`` the sequence length, ``N`` the batch size, ``I = input_size``,
        ``H = hidden_size``, ``D = 2`` if ``bidirectional`` else ``1``.

    Attributes:
        weight_ih_l[k]: ``(3H, I)`` for layer 0, ``(3H, D * H)`` above: the
            ``W_ir``, ``W_iz``, ``W_in`` blocks stacked in this order.
        weight_hh_l[k]: ``(3H, H)``, ``W_hr``, ``W_hz``, ``W_hn``.
        bias_ih_l[k], bias_hh_l[k]: ``(3H,)``.
        The backward direction's parameters end in ``_reverse``.
        All weights and biases are initialised from ``U(-1/sqrt(H), 1/sqrt(H))``.

    Example::

        >>> gru = nn.GRU(10, 20, batch_first=True, bidirectional=True)
        >>> output, h_n = gru(tn.randn(3, 5, 10))
        >>> output.shape, h_n.shape
        ((3, 5, 40), (2, 3, 20))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype)


class LSTM(RNNBase):
    """Long short-term memory network over a sequence (Hochreiter & Schmidhuber, 1997).

    For each step and layer, with ``x`` the step's input and ``h``, ``c`` the
    previous hidden and cell states::

        i = sigmoid(x @ W_ii.T + b_ii + h @ W_hi.T + b_hi)    (input gate)
        f = sigmoid(x @ W_if.T + b_if + h @ W_hf.T + b_hf)    (forget gate)
        g = tanh(x @ W_ig.T + b_ig + h @ W_hg.T + b_hg)       (cell candidate)
        o = sigmoid(x @ W_io.T + b_io + h @ W_ho.T + b_ho)    (output gate)
        c' = f * c + i * g
        h' = o * tanh(c')

    Args:
        input_size (int): the number of features of each step's input, ``I``.
        hidden_size (int): the number of features of the hidden state, ``H``.
        num_layers (int, optional): stacked layers, each taking the previous
            one's output sequence as input. Default: ``1``.
        bias (bool, optional): learn the biases ``b_ih`` and ``b_hh``.
            Default: ``True``.
        batch_first (bool, optional): input and output are ``(N, T, *)``
            instead of ``(T, N, *)`` (the hidden states keep their layout).
            Default: ``False``.
        dropout (float, optional): dropout on the output of every layer but
            the last, in training mode. Default: ``0.0``.
        bidirectional (bool, optional): add a second layer per level that runs
            the sequence backwards; the two outputs are concatenated.
            Default: ``False``.
        proj_size (int, optional): PyTorch's projected LSTM; only ``0`` is
            supported (other values raise NotImplementedError). Default: ``0``.
        device, dtype (optional): where and in which floating dtype the
            parameters are created. Default: ``None`` (CPU, float32).

    Inputs: ``input``, ``(h_0, c_0)`` (optional), ``lengths`` (optional)
        - ``input``: ``(T, N, I)``, ``(N, T, I)`` with ``batch_first``, or
          unbatched ``(T, I)``; or a ``PackedSequence``
          (``nn.utils.rnn.pack_padded_sequence``) for sequences of different
          lengths.
        - ``(h_0, c_0)``: the initial hidden and cell states, each
          ``(D * num_layers, N, H)``, or ``(D * num_layers, H)`` unbatched;
          zeros when omitted.
        - ``lengths``: ``N`` ints, the true length of each sequence of a padded
          batch (a tinynet extension, giving the results of a packed
          sequence): steps past a sequence's end leave its state unchanged
          and output zeros.

    Outputs: ``output``, ``(h_n, c_n)``
        - ``output``: ``(T, N, D * H)`` (``(N, T, D * H)`` with ``batch_first``,
          ``(T, D * H)`` unbatched; a ``PackedSequence`` for a packed input):
          the last layer's hidden state at every step, both directions
          concatenated.
        - ``(h_n, c_n)``: the final hidden and cell states, each
          ``(D * num_layers, N, H)``, after each sequence's last step, for
          every layer and direction.

    Shape:
        ``T`` the sequence length, ``N`` the batch size, ``I = input_size``,
        ``H = hidden_size``, ``D = 2`` if ``bidirectional`` else ``1``.

    Attributes:
        weight_ih_l[k]: ``(4H, I)`` for layer 0, ``(4H, D * H)`` above: the
            ``W_ii``, ``W_if``, ``W_ig``, ``W_io`` blocks stacked in this order.
        weight_hh_l[k]: ``(4H, H)``, ``W_hi``, ``W_hf``, ``W_hg``, ``W_ho``.
        bias_ih_l[k], bias_hh_l[k]: ``(4H,)``.
        The backward direction's parameters end in ``_reverse``.
        All weights and biases are initialised from ``U(-1/sqrt(H), 1/sqrt(H))``.

    Example::

        >>> lstm = nn.LSTM(10, 20, num_layers=2)
        >>> x = tn.randn(5, 3, 10)
        >>> output, (h_n, c_n) = lstm(x, (tn.zeros(2, 3, 20), tn.zeros(2, 3, 20)))
        >>> output.shape, h_n.shape, c_n.shape
        ((5, 3, 20), (2, 3, 20), (2, 3, 20))
        >>> output, (h_n, c_n) = lstm(x, lengths=[5, 2, 4])   # a padded batch
        >>> bool((output[2:, 1] == 0).all())                   # past sequence 1's end
        True
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device=device, dtype=dtype)


# ---------------------------------------------------------------- cells
class RNNCellBase(Module):
    """Shared parts of the cells: parameters weight_ih (G*H, I), weight_hh
    (G*H, H), bias_ih and bias_hh (G*H,), checks, unbatched inputs."""

    def __init__(self, input_size, hidden_size, bias, gates, device=None, dtype=None):
        super().__init__()
        for what, v in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"{type(self).__name__}: {what} must be a positive int, "
                                 f"got {v!r}")
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bias
        G, H = gates, self.hidden_size
        self.weight_ih = Parameter(empty(G * H, self.input_size, device=device, dtype=dtype))
        self.weight_hh = Parameter(empty(G * H, H, device=device, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(empty(G * H, device=device, dtype=dtype))
            self.bias_hh = Parameter(empty(G * H, device=device, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        _init_uniform(self.parameters(), self.hidden_size)

    def _prepare(self, input, states):
        """Input as (N, I) and each state as (N, H) (zeros when None)."""
        name = type(self).__name__
        x = as_tensor(input)
        if x.ndim not in (1, 2):
            raise ValueError(f"{name}: expected input to be 1-D (unbatched) or 2-D, got "
                             f"{x.ndim}-D input {describe(x)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input has {x.shape[-1]} features, expected "
                             f"input_size={self.input_size}; input {describe(x)}")
        batched = x.ndim == 2
        if not batched:
            x = unsqueeze(x, 0)
        N = x.shape[0]
        out = []
        for what, s in states:
            if s is None:
                out.append(zeros(N, self.hidden_size, dtype=x.dtype, device=x.device))
                continue
            s = as_tensor(s)
            want = (N, self.hidden_size) if batched else (self.hidden_size,)
            if tuple(s.shape) != want:
                raise ValueError(f"{name}: expected {what} of shape {want}, got {describe(s)}")
            out.append(s if batched else unsqueeze(s, 0))
        return x, out, batched

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"     # PyTorch prints it unquoted
        return s


class RNNCell(RNNCellBase):
    """One step of an Elman RNN.

    ``h' = tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)``
    (``relu`` instead of ``tanh`` with ``nonlinearity='relu'``).

    Args:
        input_size (int): the number of input features, ``I``.
        hidden_size (int): the number of hidden features, ``H``.
        bias (bool, optional): learn the biases ``b_ih`` and ``b_hh``.
            Default: ``True``.
        nonlinearity (str, optional): ``'tanh'`` or ``'relu'``.
            Default: ``'tanh'``.
        device, dtype (optional): where and in which floating dtype the
            parameters are created. Default: ``None`` (CPU, float32).

    Inputs: ``input``, ``hx`` (optional).

    Shape:
        - input: ``(N, I)`` or unbatched ``(I,)``, with ``I = input_size``.
        - hx: ``(N, H)`` or ``(H,)``, with ``H = hidden_size``; zeros when
          omitted.
        - Output: ``h'``, the shape of ``hx``.

    Attributes:
        weight_ih: ``(H, I)``; weight_hh: ``(H, H)``; bias_ih, bias_hh: ``(H,)``.
        All weights and biases are initialised from ``U(-1/sqrt(H), 1/sqrt(H))``.

    Example::

        >>> cell = nn.RNNCell(10, 20)
        >>> x, h = tn.randn(6, 3, 10), tn.zeros(3, 20)
        >>> for t in range(6):
        ...     h = cell(x[t], h)
        >>> h.shape
        (3, 20)
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r}; expected "
                             "'tanh' or 'relu'")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, [("hx", hx)])
        h = R.rnn_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                       self.nonlinearity)
        return h if batched else squeeze(h, 0)


class GRUCell(RNNCellBase):
    """One step of a GRU (the equations of ``nn.GRU`` for a single step).

    Args:
        input_size (int): the number of input features, ``I``.
        hidden_size (int): the number of hidden features, ``H``.
        bias (bool, optional): learn the biases ``b_ih`` and ``b_hh``.
            Default: ``True``.
        device, dtype (optional): where and in which floating dtype the
            parameters are created. Default: ``None`` (CPU, float32).

    Inputs: ``input``, ``hx`` (optional).

    Shape:
        - input: ``(N, I)`` or unbatched ``(I,)``, with ``I = input_size``.
        - hx: ``(N, H)`` or ``(H,)``, with ``H = hidden_size``; zeros when
          omitted.
        - Output: ``h'``, the shape of ``hx``.

    Attributes:
        weight_ih: ``(3H, I)``; weight_hh: ``(3H, H)``; bias_ih, bias_hh:
        ``(3H,)``, the reset, update and candidate blocks in this order.
        All weights and biases are initialised from ``U(-1/sqrt(H), 1/sqrt(H))``.

    Example::

        >>> cell = nn.GRUCell(10, 20)
        >>> h = cell(tn.randn(3, 10))
        >>> h.shape
        (3, 20)
        >>> cell(tn.randn(10), tn.zeros(20)).shape       # unbatched
        (20,)
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, [("hx", hx)])
        h = R.gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h if batched else squeeze(h, 0)


class LSTMCell(RNNCellBase):
    """One step of an LSTM (the equations of ``nn.LSTM`` for a single step).

    Args:
        input_size (int): the number of input features, ``I``.
        hidden_size (int): the number of hidden features, ``H``.
        bias (bool, optional): learn the biases ``b_ih`` and ``b_hh``.
            Default: ``True``.
        device, dtype (optional): where and in which floating dtype the
            parameters are created. Default: ``None`` (CPU, float32).

    Inputs: ``input``, ``hx`` (optional): ``hx`` is the tuple ``(h, c)``.

    Shape:
        - input: ``(N, I)`` or unbatched ``(I,)``, with ``I = input_size``.
        - h, c: ``(N, H)`` or ``(H,)``, with ``H = hidden_size``; zeros when
          omitted.
        - Output: the tuple ``(h', c')``, each the shape of ``h``.

    Attributes:
        weight_ih: ``(4H, I)``; weight_hh: ``(4H, H)``; bias_ih, bias_hh:
        ``(4H,)``, the input, forget, cell and output blocks in this order.
        All weights and biases are initialised from ``U(-1/sqrt(H), 1/sqrt(H))``.

    Example::

        >>> cell = nn.LSTMCell(10, 20)
        >>> x = tn.randn(6, 3, 10)
        >>> h, c = tn.zeros(3, 20), tn.zeros(3, 20)
        >>> for t in range(6):
        ...     h, c = cell(x[t], (h, c))
        >>> h.shape, c.shape
        ((3, 20), (3, 20))
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"LSTMCell: expected hx to be a tuple (h, c), got "
                            f"{type(hx).__name__}")
        h0, c0 = hx if hx is not None else (None, None)
        x, (h, c), batched = self._prepare(input, [("h", h0), ("c", c0)])
        h, c = R.lstm_cell(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h, c) if batched else (squeeze(h, 0), squeeze(c, 0))
