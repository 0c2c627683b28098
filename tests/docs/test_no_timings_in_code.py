"""No comment or docstring in tinynet/ or kernels/ reports a measured figure.

Timings, throughputs and speed ratios ("4.6 ms", "2.3x faster", "about
145 us on a GPU", "12 GB/s", "5% faster") go stale as soon as the code or the
machine changes, and nobody can rerun them from a comment. They belong in a
docs/ page (docs/benchmarks.md, docs/kernels.md ...) next to the exact command
that produced them; the code says the rule it follows and why.

The check reads comments with ``tokenize`` and docstrings (module, class and
function) with ``ast``, so string literals such as error messages are not
searched. ``FIGURE`` is tuned to leave shapes ("3x3 kernel", "2x2 pooling",
"N32 H128"), formulas ("dy/dx = 2x"), eps values ("1e-5") and modulo
expressions alone; ``test_pattern_*`` pin what it must and must not flag.

Run as a script (``python tests/docs/test_no_timings_in_code.py``) to list
the offending lines.
"""
import ast
import io
import re
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("tinynet", "kernels")

_NUM = r"\d+(?:[.,]\d+)*(?:\s*[-–]\s*\d+(?:\.\d+)?)?"          # 8, 4.6, 2-4, 105-155
_APPROX = r"(?:about\s+|around\s+|roughly\s+|nearly\s+|almost\s+|~\s*)?"
_SPEED_WORDS = (r"faster|slower|quicker|speed-?ups?|speed|as\s+fast|the\s+time|"
                r"less\s+time|more\s+time|of\s+the\s+(?:run)?time|improvement|better|worse|"
                r"cheaper|costlier")

FIGURE = re.compile(
    "|".join([
        # a time: "4.6 ms", "145 us", "0.8 µs/op", "3 seconds", "2.5s" (not "0s and 1s")
        rf"\b{_NUM}\s*(?:ms|msecs?|µs|μs|us|usecs?|ns|nsecs?|secs?|seconds?|minutes?|mins?|"
        rf"hours?|hrs?)\b",
        rf"\b\d+\.\d+\s?s\b",
        rf"\b\d+\s+s\b(?!\s*=)",
        # a throughput: "12 GB/s", "3.1 GFLOP/s", "900 it/s", "40 TFLOPS"
        rf"\b{_NUM}\s*(?:[KMGT]i?B|[KMGT]?FLOPs?|[kKMGT]?flops?|it|its|steps?|samples?|"
        rf"images?|img|tokens?|batches|ops?)/s\b",
        rf"\b{_NUM}\s*[GT]FLOPS\b",
        # a speed ratio: "2.3x", "2.3×", "2-4x faster", "3x slower"
        rf"\b\d+\.\d+\s*[x×](?![\d(])",
        rf"\b{_NUM}\s*[x×]\s+(?:{_SPEED_WORDS})",
        # a percentage of speed: "5% faster", "a 30% speedup", "speedup of about 20%"
        rf"\b{_NUM}\s*%\s+(?:{_SPEED_WORDS}|less|more|fewer|lower|higher)\b",
        rf"\b{_NUM}\s*%\s+(?:speed-?up|improvement|reduction|gain|win)\b",
        rf"(?:speed-?ups?|faster|slower|improvement|gain)\s+(?:of\s+|by\s+)?{_APPROX}"
        rf"\d+(?:\.\d+)?\s*(?:%|[x×](?![\d(]))",
    ]),
    re.IGNORECASE)

# Lines the pattern must flag, and lines it must leave alone.
MUST_FLAG = [
    "took conv B from 8.0 to 4.6 ms",
    "the fused kernel is 2.3x faster than the reference",
    "about 145 us on an H200",
    "0.8 µs/op on the development machine",
    "ran about 5% faster at 2 MB",
    "ref was 2-4x faster than both Numba versions",
    "(about 45 us against 105-155 us for fwd+bwd)",
    "the main job takes 2.7-2.9 s",
    "one epoch: 3.2s",
    "the simulator: ~1 ms a thread",
    "an epoch takes 3 minutes",
    "copies at 12 GB/s",
    "reaches 3.1 GFLOP/s",
    "40 TFLOPS on the GPU",
    "900 it/s with the fused path",
    "a speedup of about 20%",
    "a 30% speedup",
    "speedup 1.8x over im2col",
    "cuts the step to 0.6x",
    "about 3x slower with the mask",
    "takes 10 seconds",
]
MUST_NOT_FLAG = [
    "a 3x3 kernel with stride 1",
    "2x2 pooling halves H and W",
    "weight (C_out, C_in/groups, KH, KW)",
    "eps=1e-5 keeps the division finite",
    "dy/dx = 2x",
    "Shape: (N, C, H, W) -> (N, C, 2H, 2W)",
    "at the char-LSTM size N32 H128",
    "0x1F is a mask",
    "a mask of 0s and 1s",
    "if step % 10 == 0",
    "C % groups must be 0",
    "extrapolate: at least 1% beyond t, at most 10 t",
    "within 10% of the bracket's ends",
    "wasting at most 12.5% of the block",
    "each class ~20% test",
    "lr=1e-3, momentum=0.9",
    "run it for 5 steps",
    "the 2-core development machine",
    "a 4x4 tile per thread",
    "(2, 3) -> (3, 2)",
    "the output is 2x the input in each spatial dim",
    "use 16 threads per block",
    "scale_factor=2.0",
]


def _comments(source):
    """(line, text) of every comment."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [(tok.start[0], tok.string) for tok in tokens if tok.type == tokenize.COMMENT]


def _docstrings(source, path):
    """(line, text) of every line of every module, class and function docstring."""
    out = []
    tree = ast.parse(source, filename=str(path))
    nodes = [tree] + [n for n in ast.walk(tree)
                      if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    for node in nodes:
        body = node.body
        if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            first = body[0].value.lineno
            for i, line in enumerate(body[0].value.value.splitlines()):
                out.append((first + i, line))
    return out


def offending_lines(root=ROOT):
    """``path:line: text`` for every comment or docstring line with a figure."""
    found = []
    for top in SCANNED:
        for path in sorted((root / top).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            rel = path.relative_to(root).as_posix()
            for line, text in sorted(_comments(source) + _docstrings(source, path)):
                if FIGURE.search(text):
                    found.append(f"{rel}:{line}: {text.strip()}")
    return found


def test_pattern_flags_measured_figures():
    missed = [line for line in MUST_FLAG if not FIGURE.search(line)]
    assert not missed, f"FIGURE misses these measured figures: {missed}"


def test_pattern_leaves_shapes_formulas_and_constants_alone():
    wrong = [(line, FIGURE.search(line).group(0)) for line in MUST_NOT_FLAG
             if FIGURE.search(line)]
    assert not wrong, f"FIGURE flags legitimate text: {wrong}"


def test_extraction_finds_comments_and_docstrings_only(tmp_path):
    src = ('"""Module doc: 3 ms."""\n'
           'def f():\n'
           '    """Function doc,\n'
           '    second line: 2.3x faster."""\n'
           '    x = "an error message: 4 ms"  # a comment: 5 us\n'
           '    return x\n')
    pkg = tmp_path / "tinynet"
    pkg.mkdir()
    (pkg / "m.py").write_text(src)
    (tmp_path / "kernels").mkdir()
    assert offending_lines(tmp_path) == [
        "tinynet/m.py:1: Module doc: 3 ms.",
        "tinynet/m.py:4: second line: 2.3x faster.",
        "tinynet/m.py:5: # a comment: 5 us",
    ]


def test_scanned_trees_exist_and_hold_python_files():
    # the walk below must not pass by finding nothing
    for top in SCANNED:
        assert len(list((ROOT / top).rglob("*.py"))) >= 3, f"no Python files under {top}/"


def test_no_measured_figures_in_comments_or_docstrings():
    found = offending_lines()
    assert not found, (
        "measured figures in code comments or docstrings (move each to a docs/ page "
        "with the command that produced it, and say in the code the rule it follows "
        "and why):\n" + "\n".join(found))


if __name__ == "__main__":
    lines = offending_lines()
    print("\n".join(lines) or "no measured figures found")
    sys.exit(1 if lines else 0)
