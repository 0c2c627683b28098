"""The Tensor methods that are ops, bound onto ``Tensor`` in one place.

``tinynet/tensor.py`` defines the Tensor as a data structure (its array, dtype,
device, grad, version counter, creation functions). Everything a Tensor does
through an op lives here: ``x.exp()`` is ``tn.exp(x)``, ``x + y`` is
``tn.add(x, y)``, ``x.backward()`` runs the engine, and the in-place methods
(``x.add_(y)``, ``x[i] = v``) write into the array and join the graph as
PyTorch's do. ``bind(Tensor)``, called once by ``tinynet/__init__.py``, attaches
them, so that each op is written once and the modules import each other in one
direction: backend -> tensor -> autograd -> ops -> tensor_methods.
"""
import numpy as np

from tinynet import interop, ops, random
from tinynet.autograd import engine
from tinynet.autograd.grad_mode import is_grad_enabled, no_grad
from tinynet.backend import get_array_module
from tinynet.ops import elementwise as ew
from tinynet.ops.shape import index_put
from tinynet.tensor import Tensor, as_tensor, describe, is_dtype_name

def clamp_min(x, min):
    """``clamp(x, min=min)``."""
    return ops.clamp(x, min=min)


def clamp_max(x, max):
    """``clamp(x, max=max)``."""
    return ops.clamp(x, max=max)


def _replaced_by(x, value):
    """``value`` broadcast to ``x``'s shape, as an op: the gradient goes to
    ``value`` and none to ``x`` (what fill_ and copy_ record)."""
    keep = get_array_module(x.array).ones(x.shape, dtype=bool)
    return ops.where(Tensor._const(keep), value, x)


def _raw_index(index):
    """An index with Tensors replaced by their arrays."""
    if isinstance(index, Tensor):
        return index.array
    if isinstance(index, tuple):
        return tuple(i.array if isinstance(i, Tensor) else i for i in index)
    return index


class TensorOpMethods:
    """Methods written against ``self`` as in a class body; ``bind`` copies
    each onto Tensor."""
    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``."""
        engine.backward(self, gradient, retain_graph, create_graph)

    def to(self, *args, dtype=None, device=None, copy=False):
        """``t.to('cuda')``, ``t.to(tn.device('cuda', 0))``, ``t.to(tn.float64)``,
        ``t.to('cpu', tn.float32)``, ``t.to(other)`` (other's dtype and device)."""
        for a in args:
            if isinstance(a, str) and not is_dtype_name(a):
                device = a                     # 'cpu', 'cuda:0', tn.device(...), or a wrong name
            elif isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            else:
                dtype = a
        t = self
        if dtype is not None and np.dtype(dtype) != t.dtype:
            t = t.astype(dtype)
        if device is not None and str(device) != t.device:
            t = ops.to_device(t, device)
        if copy and t is self:
            t = self.clone()
        return t

    def view_as(self, other):
        return ops.view(self, other.shape)

    # ------------------------------------------------------------ in-place
    # An in-place op writes into this tensor's array, so every alias sees the
    # change, and bumps the version counter, so the backward of an op that
    # saved the old value raises instead of silently using the new one.
    # While autograd records (grad mode on and this tensor or an operand
    # requires grad) the op also joins the graph, as PyTorch's does: the old
    # value moves into a new Tensor that takes this one's place in the graph,
    # the op runs on it out of place, and this tensor becomes its output.

    def _records(self, operands):
        if not is_grad_enabled():
            return False
        return self.requires_grad or any(isinstance(o, Tensor) and o.requires_grad
                                         for o in operands)

    def _inplace(self, name, op, *operands):
        """``self = op(self, *operands)`` in place; ``op`` is a tinynet op."""
        if not self._records(operands):
            with no_grad():
                self._write(name, op(self, *operands).array)
            return self
        result = op(self._old_value(name), *operands)
        self._write(name, result.array)
        self._become_output_of(result)
        return self

    def _write(self, name, value):
        if value.shape != self.array.shape:
            raise RuntimeError(
                f"{name}: the result has shape {tuple(value.shape)} but this tensor "
                f"{describe(self)} has shape {self.shape}; an in-place op cannot change "
                "the shape (broadcast the other operand, not this tensor)")
        if value.dtype != self.dtype and not np.can_cast(value.dtype, self.dtype, "same_kind"):
            raise RuntimeError(
                f"{name}: the result type {value.dtype} can't be cast to this tensor's "
                f"dtype {self.dtype} in place ({describe(self)}); convert first, e.g. "
                "x = x.float()")
        try:
            self.array[...] = value
        except ValueError as e:
            raise RuntimeError(f"{name}: cannot write into {describe(self)}: {e} (an "
                               "expanded tensor shares one element between positions; "
                               "clone() it first)") from None
        self._vc[0] += 1

    def _old_value(self, name):
        """A Tensor with this one's value and place in the graph, before an
        in-place op turns this tensor into the op's output."""
        if self.grad_fn is None and self.requires_grad:
            raise RuntimeError(
                f"{name}: a leaf tensor that requires grad {describe(self)} is being used "
                "in an in-place operation; wrap it in `with tn.no_grad():` (as optimizers "
                "do) or work on a clone()")
        if self._base is not None:
            raise RuntimeError(
                f"{name}: in-place change of a view {describe(self)} while autograd is "
                "recording; tinynet does not carry it back into the viewed tensor's graph "
                "as PyTorch does, so it refuses: change the tensor itself "
                "(`base[index] = value`) or work out of place")
        old = Tensor._const(self.array.copy(), self.requires_grad)
        old.grad_fn, old._out_index = self.grad_fn, self._out_index
        if old.grad_fn is not None:
            # hooks and create_graph see `old` as that op's output from now on;
            # an array the op saved is this tensor's and stays checked by version
            old.grad_fn._replace_output(old._out_index, old, saved=False)
        return old

    def _become_output_of(self, result):
        fn = result.grad_fn
        if fn is None:
            return
        self.grad_fn, self._out_index, self.requires_grad = fn, result._out_index, True
        fn._replace_output(result._out_index, self)

    def __setitem__(self, index, value):
        index = _raw_index(index)
        if not self._records((value,)):
            self.array[index] = value.array if isinstance(value, Tensor) else value
            self._vc[0] += 1
            return
        result = index_put(self._old_value("__setitem__"), index, value)
        self._write("__setitem__", result.array)
        self._become_output_of(result)

    def _overwrite(self, name, value):
        """Every element replaced by ``value`` (broadcast): fill_, copy_, zero_, normal_."""
        if not isinstance(value, Tensor):
            value = Tensor._const(get_array_module(self.array).asarray(value, dtype=self.dtype))
        elif value.device != self.device:
            value = value.to(self.device)
        if not self._records((value,)):
            try:
                self.array[...] = value.array
            except ValueError as e:
                raise RuntimeError(f"{name}: cannot write a {tuple(value.shape)} value into "
                                   f"{describe(self)}: {e}") from None
            self._vc[0] += 1
            return self
        return self._inplace(name, _replaced_by, value.astype(self.dtype))

    def copy_(self, src):
        return self._overwrite("copy_", as_tensor(src))

    def zero_(self):
        return self._overwrite("zero_", 0)

    def fill_(self, value):
        return self._overwrite("fill_", value)

    def add_(self, other, alpha=1):
        return self._inplace("add_", ops.add, other if alpha == 1 else other * alpha)

    def sub_(self, other, alpha=1):
        return self._inplace("sub_", ops.sub, other if alpha == 1 else other * alpha)

    def mul_(self, other):
        return self._inplace("mul_", ops.mul, other)

    def div_(self, other):
        return self._inplace("div_", ops.div, other)

    def pow_(self, exponent):
        return self._inplace("pow_", ops.pow, exponent)

    def clamp_(self, min=None, max=None):
        return self._inplace("clamp_", lambda x: ops.clamp(x, min, max))

    clip_ = clamp_

    def masked_fill_(self, mask, value):
        return self._inplace("masked_fill_", ops.masked_fill, mask, value)

    def clamp_min_(self, min):
        return self._inplace("clamp_min_", clamp_min, min)

    def clamp_max_(self, max):
        return self._inplace("clamp_max_", clamp_max, max)

    def scatter_(self, dim, index, src=None, *, value=None, reduce=None):
        """In-place ``scatter``: ``src`` (a Tensor) or ``value`` written at ``index``."""
        scatter = ops.scatter
        if isinstance(src, Tensor):
            return self._inplace("scatter_", lambda x, s: scatter(x, dim, index, s,
                                                                  reduce=reduce), src)
        value = src if value is None else value
        return self._inplace("scatter_", lambda x: scatter(x, dim, index, value=value,
                                                           reduce=reduce))

    def scatter_add_(self, dim, index, src):
        scatter_add = ops.scatter_add
        return self._inplace("scatter_add_", lambda x, s: scatter_add(x, dim, index, s), src)

    def index_add_(self, dim, index, source, *, alpha=1):
        index_add = ops.index_add
        return self._inplace("index_add_",
                             lambda x, s: index_add(x, dim, index, s, alpha=alpha), source)

    def index_fill_(self, dim, index, value):
        index_fill = ops.index_fill
        return self._inplace("index_fill_", lambda x, v: index_fill(x, dim, index, v), value)

    def bitwise_and_(self, other):
        return self._inplace("bitwise_and_", ew.bitwise_and, other)

    def bitwise_or_(self, other):
        return self._inplace("bitwise_or_", ew.bitwise_or, other)

    def bitwise_xor_(self, other):
        return self._inplace("bitwise_xor_", ew.bitwise_xor, other)

    __iadd__ = add_
    __iand__ = bitwise_and_
    __ior__ = bitwise_or_
    __ixor__ = bitwise_xor_
    __isub__ = sub_
    __imul__ = mul_
    __itruediv__ = div_
    __ipow__ = pow_
    # `x @= y` rebinds x (PyTorch defines no in-place matmul), so no __imatmul__.

    def uniform_(self, a=0.0, b=1.0):
        return self._overwrite("uniform_", random.uniform(a, b, self.shape, self.dtype,
                                                          self.device))

    def normal_(self, mean=0.0, std=1.0):
        return self._overwrite("normal_", random.normal(mean, std, self.shape, self.dtype,
                                                        self.device))

    def bernoulli_(self, p=0.5):
        """Fill with 0/1 draws that are 1 with probability ``p`` (a number or
        a tensor of probabilities broadcast to this tensor)."""
        if isinstance(p, Tensor):
            p = p.numpy()
        return self._overwrite("bernoulli_", random.bernoulli(self, p))


_DUNDERS = {"__setitem__", "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ipow__",
            "__iand__", "__ior__", "__ixor__"}


# ---------------------------------------------------------------- binding
def bind(Tensor):
    """Attach every method above and the ops' methods to ``Tensor``."""
    for name, value in vars(TensorOpMethods).items():
        if not (name.startswith("__") and name.endswith("__")) or name in _DUNDERS:
            setattr(Tensor, name, value)
    for name in ("abs", "clamp", "clip", "cos", "exp", "log", "log1p", "neg", "relu",
                 "rsqrt", "sigmoid", "sign", "sin", "sqrt", "tanh", "gelu", "softplus",
                 "elu", "leaky_relu", "erf", "maximum", "minimum", "masked_fill",
                 "matmul", "dot", "all", "any", "argmax", "argmin", "log_softmax",
                 "logsumexp", "max", "min", "amax", "amin", "mean", "prod", "softmax",
                 "std", "sum", "var", "astype", "broadcast_to", "chunk", "clone",
                 "expand", "flatten", "gather", "index_select", "movedim", "permute",
                 "repeat", "reshape", "split", "squeeze", "transpose", "unsqueeze", "view",
                 "sum_to", "isnan", "isfinite", "logical_not", "eq", "ne", "lt", "le",
                 "gt", "ge", "add", "sub", "mul", "div", "pow", "cumsum",
                 "cumprod", "flip", "roll", "tril", "triu", "diag", "narrow", "t",
                 "repeat_interleave", "contiguous", "sort", "argsort", "topk", "kthvalue",
                 "median", "mode", "unique", "norm", "mm", "bmm", "addmm", "scatter",
                 "scatter_add", "index_add", "index_fill", "nonzero", "argwhere", "unbind",
                 "floor", "ceil", "trunc", "round", "logical_and", "logical_or",
                 "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not"):
        setattr(Tensor, name, getattr(ops, name))
    Tensor.multinomial = random.multinomial
    Tensor.__dlpack__ = interop.__dlpack__            # torch.from_dlpack(t), np.from_dlpack(t)
    Tensor.__dlpack_device__ = interop.__dlpack_device__
    Tensor.bernoulli = random.bernoulli
    Tensor.clamp_min = clamp_min
    Tensor.clamp_max = clamp_max

    def swap(fn):
        return lambda self, other: fn(other, self)

    def expand_as(self, other):
        return ops.broadcast_to(self, other.shape)

    def reshape_as(self, other):
        return ops.reshape(self, other.shape)

    def where_method(self, condition, other):
        return ops.where(condition, self, other)

    Tensor.__add__ = ew.add
    Tensor.__radd__ = swap(ew.add)
    Tensor.__sub__ = ew.sub
    Tensor.__rsub__ = swap(ew.sub)
    Tensor.__mul__ = ew.mul
    Tensor.__rmul__ = swap(ew.mul)
    Tensor.__truediv__ = ew.div
    Tensor.__rtruediv__ = swap(ew.div)
    Tensor.__pow__ = ew.pow
    Tensor.__rpow__ = swap(ew.pow)
    Tensor.__matmul__ = ops.matmul
    Tensor.__rmatmul__ = swap(ops.matmul)
    Tensor.__neg__ = ew.neg
    Tensor.__pos__ = lambda self: self
    Tensor.__abs__ = ew.abs
    Tensor.__eq__ = ew.eq
    Tensor.__ne__ = ew.ne
    Tensor.__lt__ = ew.lt
    Tensor.__le__ = ew.le
    Tensor.__gt__ = ew.gt
    Tensor.__ge__ = ew.ge
    Tensor.__invert__ = ew.bitwise_not
    Tensor.__and__ = ew.bitwise_and
    Tensor.__rand__ = swap(ew.bitwise_and)
    Tensor.__or__ = ew.bitwise_or
    Tensor.__ror__ = swap(ew.bitwise_or)
    Tensor.__xor__ = ew.bitwise_xor
    Tensor.__rxor__ = swap(ew.bitwise_xor)
    Tensor.__getitem__ = ops.getitem
    # in-place forms of the elementwise ops: x.relu_() is x = relu(x), in place
    def inplace_method(name):
        op = getattr(ops, name)
        return lambda self: self._inplace(name + "_", op)

    for name in ("abs", "cos", "exp", "log", "log1p", "neg", "relu", "rsqrt", "sigmoid",
                 "sign", "sin", "sqrt", "tanh", "erf"):
        setattr(Tensor, name + "_", inplace_method(name))
    Tensor.expand_as = expand_as
    Tensor.reshape_as = reshape_as
    Tensor.where = where_method
    Tensor.T = property(lambda self: ops.transpose(self))
    Tensor.mT = property(ops.mT)
