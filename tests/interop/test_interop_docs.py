"""docs/interop.md runs as a test: its python blocks in order, in one
namespace, in a temporary folder; each ```output block must equal what the
python block before it printed."""
import contextlib
import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "interop.md"
FENCE = re.compile(r"^```(?P<info>[\w-]*)[ \t]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)


def test_interop_page_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = PAGE.read_text(encoding="utf-8")
    namespace, printed, ran = {"__name__": "interop_docs"}, None, 0
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start("body")) + 1
        if m["info"] == "python":
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(m["body"], f"{PAGE}:{line}", "exec"), namespace)
            printed = out.getvalue()
            ran += 1
        elif m["info"] == "output":
            assert printed is not None, f"{PAGE}:{line}: an output block before any code"
            assert printed.rstrip("\n") == m["body"].rstrip("\n"), \
                f"{PAGE}:{line}: the block before printed\n{printed}"
            printed = None
    assert ran >= 6
    assert (tmp_path / "cnn.onnx").exists() and (tmp_path / "cnn.safetensors").exists()
