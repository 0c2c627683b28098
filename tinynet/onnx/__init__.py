"""ONNX export and import: ``tinynet.onnx.export`` and ``tinynet.onnx.load``.

- ``export(model, example_inputs, path, ...)`` traces one forward pass and
  writes each recorded op as ONNX nodes (opset 17 by default), checked with
  ``onnx.checker``; the file runs in onnxruntime and other ONNX runtimes.
- ``load(path)`` returns a tinynet Module that runs an ONNX graph with
  tinynet ops: models exported by tinynet or by ``torch.onnx.export``, to
  run, fine-tune or gradcheck.

Both need the ``onnx`` package (``pip install 'tinynet[interop]'``), which
``import tinynet`` never imports: it is imported when these functions run.
See docs/interop.md.
"""
from tinynet.onnx._export import HANDLERS, SUPPORTED_OPSETS, ExportError, export  # noqa: F401
from tinynet.onnx._load import OPS, OnnxModule, load  # noqa: F401

__all__ = ["export", "load", "ExportError", "OnnxModule", "HANDLERS", "OPS",
           "SUPPORTED_OPSETS"]
