"""Grad mode: whether ops record a graph, per thread.

``state`` is the one switch every op reads (``state.enabled``) and the anomaly
flag that ``detect_anomaly`` sets (``state.anomaly``). The context managers
below are PyTorch's: ``no_grad``, ``enable_grad``, ``inference_mode`` and
``set_grad_enabled``, each also usable as a decorator.
"""
import functools
import threading


class _GradMode(threading.local):
    # threading.local: no_grad in one thread does not affect another
    enabled = True
    anomaly = False


state = _GradMode()


def is_grad_enabled():
    return state.enabled


class _GradModeContext:
    """A context manager and decorator that sets grad mode inside it."""
    mode = True

    def __new__(cls, *args, **kwargs):
        # `@tn.no_grad` without parentheses decorates the function directly
        if cls is not set_grad_enabled and len(args) == 1 and callable(args[0]) \
                and not kwargs:
            return cls()(args[0])
        return super().__new__(cls)

    def __init__(self):
        self.prev = []

    def __enter__(self):
        self.prev.append(state.enabled)
        state.enabled = self.mode

    def __exit__(self, *exc):
        state.enabled = self.prev.pop()
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = state.enabled
            state.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                state.enabled = prev
        return wrapper


class no_grad(_GradModeContext):
    """Ops run inside ``with tn.no_grad():`` (or a function decorated with
    ``@tn.no_grad()``) record no graph."""
    mode = False


class enable_grad(_GradModeContext):
    """Turns graph recording back on inside a ``no_grad`` block."""
    mode = True


class inference_mode(_GradModeContext):
    """PyTorch's ``inference_mode(mode=True)``: in tinynet the same as
    ``no_grad`` (nothing is recorded; tensors made inside carry no extra
    restriction)."""

    def __init__(self, mode=True):
        super().__init__()
        self.mode = not mode


class set_grad_enabled(_GradModeContext):
    """``tn.set_grad_enabled(False)`` switches grad mode at once, as a call;
    as a context manager it restores the previous mode on exit, and it also
    decorates functions (PyTorch's semantics)."""

    def __init__(self, mode):
        self.mode = bool(mode)
        self.prev = [state.enabled]
        state.enabled = self.mode

    def __enter__(self):
        pass

    def __call__(self, fn):
        state.enabled = self.prev[0]     # as a decorator it changes nothing until called
        return super().__call__(fn)

