"""A tensor hook's handle: ``remove()``, or a ``with`` block (as PyTorch's
RemovableHandle)."""
import numpy as np

import tinynet as tn


def test_register_hook_handle_works_as_a_context_manager():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    with x.register_hook(lambda g: seen.append(g) or g * 2):
        (x * 3).sum().backward()
    (x * 3).sum().backward()                 # removed on exit of the with block
    assert len(seen) == 1
    np.testing.assert_array_equal(x.grad.numpy(), [6.0 + 3.0, 6.0 + 3.0])
