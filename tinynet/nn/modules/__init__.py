"""PyTorch's ``torch.nn.modules`` path, for code that reaches the global
module hooks through it: ``tinynet.nn.modules.module`` is ``tinynet.nn.module``
itself (``register_module_forward_hook`` and the other global hooks live there).
"""
import sys

from tinynet.nn import module
from tinynet.nn.module import (  # noqa: F401
    Module, register_module_forward_hook, register_module_forward_pre_hook,
    register_module_full_backward_hook, register_module_full_backward_pre_hook)

# `import tinynet.nn.modules.module` finds the very same module object
sys.modules[__name__ + ".module"] = module

__all__ = ["Module", "module", "register_module_forward_hook",
           "register_module_forward_pre_hook", "register_module_full_backward_hook",
           "register_module_full_backward_pre_hook"]
