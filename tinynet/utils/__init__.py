"""PyTorch's ``torch.utils`` namespace: ``tinynet.utils.data``."""
from tinynet.utils import data  # noqa: F401

__all__ = ["data"]
