"""Run a PyTorch program on tinynet by renaming modules, and nothing else.

``install()`` puts an import hook first on ``sys.meta_path`` that answers
every import of ``torch`` or ``torch.<sub>`` with ``tinynet`` or
``tinynet.<sub>``: ``import torch.nn.functional as F`` gives
``tinynet.nn.functional``. It adds no feature and patches no attribute: a
name tinynet lacks fails exactly as it would in user code (``AttributeError``
for a missing attribute, ``ModuleNotFoundError`` naming the missing
``tinynet.<sub>`` module). Real PyTorch is never imported once the hook is in.
"""
import importlib
import importlib.abc
import importlib.util
import sys

SOURCE = "torch"
TARGET = "tinynet"


def target_name(fullname):
    """``torch.nn.functional`` -> ``tinynet.nn.functional``."""
    return TARGET + fullname[len(SOURCE):]


class _AliasLoader(importlib.abc.Loader):
    """Hands back the already-imported tinynet module under the torch name."""

    def __init__(self, target):
        self.target = target
        self._saved = {}

    def create_module(self, spec):
        module = importlib.import_module(self.target)
        # the import system stamps the alias spec onto the module; keep the
        # original so that tinynet's own imports keep working unchanged
        self._saved[id(module)] = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self._saved.pop(id(module))


class _TorchToTinynet(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != SOURCE and not fullname.startswith(SOURCE + "."):
            return None
        name = target_name(fullname)
        if importlib.util.find_spec(name) is None:
            # answer here rather than let a later finder reach real PyTorch
            raise ModuleNotFoundError(f"No module named '{name}' (the shim's name for "
                                      f"'{fullname}')", name=fullname)
        return importlib.util.spec_from_loader(fullname, _AliasLoader(name))


def install():
    """Map ``torch*`` imports to ``tinynet*`` in this process (idempotent)."""
    if any(isinstance(f, _TorchToTinynet) for f in sys.meta_path):
        return
    loaded = [m for m in sys.modules if m == SOURCE or m.startswith(SOURCE + ".")]
    if loaded:
        raise RuntimeError(f"shim.install: real PyTorch is already imported ({loaded[0]}); "
                           "install the shim before anything imports torch")
    sys.meta_path.insert(0, _TorchToTinynet())
