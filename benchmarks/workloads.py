"""The benchmark workloads, each written once for tinynet and once for PyTorch.

``build(name, lib, **sizes)`` returns a ``Case`` with:

- ``step()``   one timed unit of work (forward + backward, plus an optimizer
               step for the training workloads);
- ``check()``  a dict of arrays (outputs and gradients) after one step from
               the shared initial state, compared between the two libraries
               before anything is timed;
- ``flops``    floating-point operations per step (0 when not meaningful);
- ``unit``     how to report a step ('ms', or 'us/op' for op_overhead).

Both libraries start from the same NumPy-generated inputs and weights, so
their outputs must agree to float32 rounding.

``sizes`` vary a workload for ``run.py --scaling``: ``cnn_step`` takes
``batch`` and ``image`` (the side of the square images), ``lstm_step`` takes
``T`` (sequence length) and ``H`` (hidden size). Without them every workload
is the one the normal run times.

``lib='torch-float64'`` builds the training steps in PyTorch in float64, from
the same float32-drawn data and weights: the nearly exact result the output
check falls back on when float32 PyTorch and tinynet disagree (see
``run._check_child``).
"""
import os

import numpy as np

N_CHAIN = 1000
TORCH64 = "torch-float64"
# the workloads that can be built in float64 for PyTorch
FLOAT64_REFERENCE = ("mlp_step", "cnn_step", "lstm_step")
# TINYNET_BENCH_DEVICE=cuda runs every workload on the GPU (CuPy for tinynet)
DEVICE = os.environ.get("TINYNET_BENCH_DEVICE", "cpu")


class Case:
    def __init__(self, step, check, flops=0, unit="ms", per_step=1):
        self.step, self.check, self.flops, self.unit, self.per_step = \
            step, check, flops, unit, per_step


def _rng(seed=0):
    return np.random.default_rng(seed)


def _libs(lib):
    """(the library module, its functional namespace)."""
    if lib == "tinynet":
        import tinynet
        return tinynet, _functional("tinynet.nn.functional")
    import torch
    if DEVICE != "cpu":
        # full float32 like tinynet: PyTorch uses TF32 tensor cores for
        # convolutions by default on recent GPUs (seen: 3e-4 relative difference)
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    return torch, _functional("torch.nn.functional")


def _functional(name):
    import importlib
    try:
        return importlib.import_module(name)
    except ImportError:          # op_overhead needs no functional namespace
        return None


def _tensor(lib, array, requires_grad=False):
    mod, _ = _libs(lib)
    return mod.tensor(array, requires_grad=requires_grad, device=DEVICE)


def _np(t):
    if hasattr(t, "detach") and hasattr(t, "cpu"):
        t = t.detach().cpu()
    return np.array(t.numpy() if hasattr(t, "numpy") else t)


def synchronize(lib):
    """Wait for the GPU (timings of asynchronous GPU work need it)."""
    if DEVICE == "cpu":
        return
    mod, _ = _libs(lib)
    mod.cuda.synchronize()


# ---------------------------------------------------------------- op_overhead
def op_overhead(lib):
    """A 1 000-op elementwise chain on a 1-element tensor, forward + backward."""
    def run():
        x = _tensor(lib, np.ones(1, np.float32), requires_grad=True)
        y = x
        for _ in range(N_CHAIN // 2):
            y = y * 1.0001
            y = y + 0.0001
        y.sum().backward()
        return x, y

    def check():
        x, y = run()
        return {"y": _np(y), "dx": _np(x.grad)}

    return Case(run, check, unit="us/op", per_step=N_CHAIN)


# ---------------------------------------------------------------- convolution
def _conv(lib, N, C, HW, O, input_grad):
    mod, F = _libs(lib)
    rng = _rng(1)
    x = _tensor(lib, rng.standard_normal((N, C, HW, HW)).astype(np.float32), input_grad)
    bound = 1 / np.sqrt(C * 9)
    w = _tensor(lib, rng.uniform(-bound, bound, (O, C, 3, 3)).astype(np.float32), True)
    b = _tensor(lib, rng.uniform(-bound, bound, O).astype(np.float32), True)
    gy = _tensor(lib, rng.standard_normal((N, O, HW - 2, HW - 2)).astype(np.float32))

    def step():
        w.grad = b.grad = None
        if input_grad:
            x.grad = None
        y = F.conv2d(x, w, b)
        y.backward(gy)
        return y

    def check():
        y = step()
        out = {"y": _np(y), "dw": _np(w.grad), "db": _np(b.grad)}
        if input_grad:
            out["dx"] = _np(x.grad)
        return out

    macs = N * O * (HW - 2) ** 2 * C * 9
    return Case(step, check, flops=2 * macs * (3 if input_grad else 2))


def conv2d_a(lib):
    """conv A of the seed CNN: (64, 1, 28, 28) -> 32 channels, k3; the first
    layer, so no input gradient (as in training)."""
    return _conv(lib, 64, 1, 28, 32, input_grad=False)


def conv2d_b(lib):
    """conv B: (64, 32, 13, 13) -> 64 channels, k3, with the input gradient."""
    return _conv(lib, 64, 32, 13, 64, input_grad=True)


def maxpool(lib):
    """max_pool2d 2x2 on (64, 32, 26, 26), forward + backward."""
    mod, F = _libs(lib)
    rng = _rng(2)
    x = _tensor(lib, rng.standard_normal((64, 32, 26, 26)).astype(np.float32), True)
    gy = _tensor(lib, rng.standard_normal((64, 32, 13, 13)).astype(np.float32))

    def step():
        x.grad = None
        y = F.max_pool2d(x, 2)
        y.backward(gy)
        return y

    def check():
        y = step()
        return {"y": _np(y), "dx": _np(x.grad)}

    return Case(step, check)


# ---------------------------------------------------------------- attention
def attention(lib):
    """Causal self-attention, F.scaled_dot_product_attention forward +
    backward: batch 32, 4 heads, 256 tokens, head size 64, float32."""
    mod, F = _libs(lib)
    rng = _rng(7)
    N, H, T, d = 32, 4, 256, 64
    q, k, v = (_tensor(lib, rng.standard_normal((N, H, T, d)).astype(np.float32), True)
               for _ in range(3))
    gy = _tensor(lib, rng.standard_normal((N, H, T, d)).astype(np.float32))

    def step():
        q.grad = k.grad = v.grad = None
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y.backward(gy)
        return y

    def check():
        y = step()
        return {"y": _np(y), "dq": _np(q.grad), "dk": _np(k.grad), "dv": _np(v.grad)}

    # the matrix products (two forward, four backward) over the causal half
    return Case(step, check, flops=2 * N * H * T * T * d * 6 * 0.5)


# ---------------------------------------------------------------- training steps
def _load_weights(model, arrays, lib):
    mod, _ = _libs(lib)
    state = {k: (mod.tensor(v) if lib != "tinynet" else v) for k, v in arrays.items()}
    model.load_state_dict(state)


def _train_case(lib, make_model, make_opt, x, y, flops, seed):
    mod, F = _libs(lib)
    nn = mod.nn
    model = make_model(nn)
    # one set of initial weights, drawn here, for both libraries
    rng = _rng(seed)
    arrays = {}
    for k, v in model.state_dict().items():
        shape = tuple(v.shape)
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        arrays[k] = rng.uniform(-1, 1, shape).astype(np.float32) / np.sqrt(fan_in)
    if lib == TORCH64:
        model.double()                 # loading then widens the float32 weights
        x = x.astype(np.float64)
    _load_weights(model, arrays, lib)
    model.to(DEVICE)
    opt = make_opt(mod.optim, model.parameters())
    xt = _tensor(lib, x)
    yt = _tensor(lib, y)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
        return loss

    def check():
        # the loss and every parameter gradient of one step; the optimizers'
        # own trajectories are compared with PyTorch's in tests/optim/test_optim.py
        # (after one RMSprop step a tiny gradient may round either way, and
        # the step of size ~lr/sqrt(1 - alpha) does not depend on its size)
        opt.zero_grad()
        loss = F.cross_entropy(model(xt), yt)
        loss.backward()
        out = {"loss": _np(loss)}
        for k, p in model.named_parameters():
            out["grad " + k] = _np(p.grad)
        opt.step()
        return out

    return Case(step, check, flops=flops)


def mlp_step(lib):
    """MLP 784-128-10, batch 64, cross-entropy, one Adam step."""
    rng = _rng(3)
    x = rng.standard_normal((64, 784)).astype(np.float32)
    y = rng.integers(0, 10, 64)

    def make_model(nn):
        return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))

    return _train_case(lib, make_model, lambda optim, p: optim.Adam(p, lr=1e-3), x, y,
                       flops=3 * 2 * 64 * (784 * 128 + 128 * 10), seed=4)


CNN_MIN_IMAGE = 10     # the smallest side for which the second pooling keeps a pixel


def cnn_step(lib, batch=64, image=28):
    """The seed CNN (conv32 k3 relu, maxpool 2, conv64 k3 relu, maxpool 2,
    dense 512 relu, dense 10) on (batch, 1, image, image), RMSprop; the
    dense layer's input width follows the image size."""
    if image < CNN_MIN_IMAGE or batch < 1:
        raise ValueError(f"cnn_step: batch {batch}, image {image}x{image}: the seed CNN "
                         f"needs batch >= 1 and images of at least {CNN_MIN_IMAGE}x"
                         f"{CNN_MIN_IMAGE} (two 3x3 convolutions and two 2x2 poolings)")
    s1 = image - 2                    # first convolution's output side
    s2 = s1 // 2 - 2                  # after pooling, the second convolution's
    s3 = s2 // 2                      # after the second pooling
    rng = _rng(5)
    x = rng.standard_normal((batch, 1, image, image)).astype(np.float32)
    y = rng.integers(0, 10, batch)

    def make_model(nn):
        return nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * s3 * s3, 512), nn.ReLU(), nn.Linear(512, 10))

    macs = batch * (32 * s1 * s1 * 9 + 64 * s2 * s2 * 32 * 9 + 64 * s3 * s3 * 512
                    + 512 * 10)
    return _train_case(lib, make_model, lambda optim, p: optim.RMSprop(p, lr=1e-3), x, y,
                       flops=3 * 2 * macs, seed=6)


def lstm_step(lib, T=64, H=128):
    """The char-LSTM training step (vocab 65 one-hot, hidden H, seq T,
    batch 32, linear to vocab, cross-entropy over all steps, Adam); the
    workload itself lives in benchmarks/lstm.py."""
    import lstm
    return lstm.lstm_step(lib, T=T, H=H)


def gpt_step(lib):
    """The GPT seed's training step (4 layers, 4 heads, width 64, 64
    characters, batch 32, vocab 65, AdamW) against the same architecture in
    torch.nn with the same weights; the workload lives in benchmarks/gpt.py."""
    import gpt
    return gpt.gpt_step(lib)


WORKLOADS = {
    "op_overhead": op_overhead,
    "mlp_step": mlp_step,
    "conv2d_a": conv2d_a,
    "conv2d_b": conv2d_b,
    "maxpool": maxpool,
    "cnn_step": cnn_step,
    "lstm_step": lstm_step,
    "attention": attention,
    "gpt_step": gpt_step,
}


def build(name, lib, **sizes):
    """The workload ``name`` for ``lib`` ('tinynet' or 'torch'), at the given
    sizes (see the module's docstring) or at its default ones."""
    import inspect
    make = WORKLOADS[name]
    if lib == TORCH64 and name not in FLOAT64_REFERENCE:
        raise ValueError(f"workload {name} has no float64 PyTorch version; "
                         f"{FLOAT64_REFERENCE} have")
    known = [p for p in inspect.signature(make).parameters if p != "lib"]
    unknown = sorted(set(sizes) - set(known))
    if unknown:
        raise TypeError(f"workload {name} has no size(s) {unknown}; it takes "
                        f"{known or 'none'}")
    return make(lib, **sizes)
