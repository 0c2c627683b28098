"""PyTorch's ``torch.utils`` namespace: ``tinynet.utils.data``,
``tinynet.utils.hooks`` (``RemovableHandle``), and ``summary``, the table of
a model's layers (torchinfo's ``summary``)."""
from tinynet.utils import data, hooks  # noqa: F401
from tinynet.utils.model_summary import ModelSummary, summary  # noqa: F401

__all__ = ["ModelSummary", "data", "hooks", "summary"]
