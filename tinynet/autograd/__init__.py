"""tinynet's autograd: grad mode, ``Function`` and the backward pass.

- ``grad_mode``: ``no_grad``, ``enable_grad``, ``inference_mode``,
  ``set_grad_enabled`` and the per-thread switch every op reads;
- ``function``: ``Function``, the node of the graph (and PyTorch-style
  ``Function.apply`` with its ``ctx``);
- ``engine``: the backward pass (``backward``, ``grad``), with
  ``backward_simple``, the same idea in a few lines for reading;
- ``debug``: ``detect_anomaly`` and ``graph_summary``.
"""
from tinynet.autograd.grad_mode import (
    enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled)
from tinynet.autograd.debug import GraphSummary, detect_anomaly, graph_summary, saved_arrays
from tinynet.autograd.function import Function, FunctionCtx
from tinynet.autograd.engine import backward, backward_simple, grad, run_backward

__all__ = ["Function", "FunctionCtx", "GraphSummary", "backward", "backward_simple",
           "detect_anomaly", "enable_grad", "grad", "graph_summary", "inference_mode",
           "is_grad_enabled", "no_grad", "run_backward", "saved_arrays", "set_grad_enabled"]
