"""``tinynet.utils.hooks``: the handle that every ``register_*_hook`` returns
(PyTorch's ``torch.utils.hooks.RemovableHandle``).

A hook lives in an ordered dict keyed by an integer id that is unique in the
whole process, so one id can also be looked up in the side dicts that say how
a hook is called (``with_kwargs``, ``always_call``). The handle remembers the
dicts only through weak references: holding a handle does not keep a module
alive.
"""
import itertools
import weakref

_ids = itertools.count()


class RemovableHandle:
    """Removes the hook it was returned for: ``handle.remove()``, or leave a
    ``with`` block (``with model.register_forward_hook(fn): ...``).

    ``hooks_dict`` is the dict the hook was stored in, under ``handle.id``;
    ``extra_dict`` is one dict or a list of dicts whose entry for the same id
    goes away with it. Removing twice is harmless.
    """

    def __init__(self, hooks_dict, *, extra_dict=None):
        self.id = next(_ids)
        self.hooks_dict_ref = _ref(hooks_dict)
        if extra_dict is None:
            extra = ()
        elif isinstance(extra_dict, dict):
            extra = (extra_dict,)
        else:
            extra = tuple(extra_dict)
        self.extra_dict_ref = tuple(_ref(d) for d in extra)

    def remove(self):
        for ref in (self.hooks_dict_ref, *self.extra_dict_ref):
            d = ref()
            if d is not None:
                d.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False

    def __repr__(self):
        d = self.hooks_dict_ref()
        state = "active" if d is not None and self.id in d else "removed"
        return f"<RemovableHandle id={self.id} ({state})>"


def _ref(d):
    """A weak reference to ``d`` (an OrderedDict), or a strong one for a plain
    dict, which Python cannot reference weakly."""
    try:
        return weakref.ref(d)
    except TypeError:
        return lambda: d
