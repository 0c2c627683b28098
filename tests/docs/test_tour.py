"""The tour (docs/tour/*.md) runs as tests, so it can never go stale.

For every chapter:

- every ```python block runs, in order, in one namespace per chapter; a
  traceback points at the chapter's own line numbers;
- an ```output block right after a python block must equal what that block
  printed, line by line, where ``...`` in a line matches any text (for
  digits that rounding may change);
- every picture, written as ![...](img/NAME.svg), must be made by the
  chapter's own code (it renders NAME.svg) and the committed
  docs/tour/img/NAME.svg must show the same labels, so no picture is stale;
- every source link, written as
  [`Name`, path/to/file.py lines A-B](../../path/to/file.py#LA-LB),
  must still point at exactly the lines of the function or class ``Name``.

When code moves, ``python tests/docs/test_tour.py --fix`` rewrites the line
numbers of the source links (and says which ones changed) and re-renders the
pictures.
"""
import ast
import contextlib
import html
import io
import os
import re
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOUR = ROOT / "docs" / "tour"
CHAPTERS = sorted(TOUR.glob("*.md"))

FENCE = re.compile(r"^```(?P<info>[\w-]*)[ \t]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
LINK = re.compile(
    r"\[`(?P<name>[A-Za-z_][\w.]*)`, (?P<file>[\w/.-]+\.py) lines (?P<a>\d+)-(?P<b>\d+)\]"
    r"\((?P<target>[^)#\s]+)#L(?P<ta>\d+)-L(?P<tb>\d+)\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(img/(?P<name>[\w.-]+\.svg)\)")
# anything that looks like a link to source lines, well-formed or not
ANY_SOURCE_LINK = re.compile(r"\]\([^)\s]*\.py#L[^)]*\)")


def blocks(path):
    """(info, code, first line number of the code) for each fenced block."""
    text = path.read_text(encoding="utf-8")
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start("body")) + 1
        yield m["info"], m["body"], line


def definition_lines(file, name):
    """(first, last) line of the def/class ``name`` ("Class.method" for a
    method) in ``file``; decorators count as part of it."""
    tree = ast.parse(file.read_text(encoding="utf-8"))
    scope = tree.body
    node = None
    for part in name.split("."):
        node = next((n for n in scope if isinstance(
            n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == part), None)
        if node is None:
            return None
        scope = node.body
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return first, node.end_lineno


def check_links(path):
    """Problems with the source links of one chapter, as strings, and the
    text with every link's line numbers set to the current ones."""
    text = path.read_text(encoding="utf-8")
    problems = []
    good = {m.start() for m in LINK.finditer(text)}
    for m in ANY_SOURCE_LINK.finditer(text):
        start = text.rfind("[", 0, m.start())
        if not any(start <= g <= m.start() for g in good):
            problems.append(f"{path.name}: malformed source link {text[start:m.end()]!r}; "
                            "write [`Name`, file.py lines A-B](../../file.py#LA-LB)")

    def fix(m):
        file = (path.parent / m["target"]).resolve()
        if file != (ROOT / m["file"]).resolve() or not file.exists():
            problems.append(f"{path.name}: link text names {m['file']} but points at "
                            f"{m['target']}")
            return m[0]
        lines = definition_lines(file, m["name"])
        if lines is None:
            problems.append(f"{path.name}: {m['name']} is not defined in {m['file']}")
            return m[0]
        a, b = lines
        found = tuple(int(m[k]) for k in ("a", "b", "ta", "tb"))
        if found != (a, b, a, b):
            problems.append(f"{path.name}: {m['name']} is at {m['file']} lines {a}-{b}, "
                            f"the link says {found[0]}-{found[1]} (#L{found[2]}-L{found[3]})")
        return (f"[`{m['name']}`, {m['file']} lines {a}-{b}]"
                f"({m['target']}#L{a}-L{b})")

    return problems, LINK.sub(fix, text)


def svg_labels(path):
    """The text shown in an SVG picture, as a multiset of lines (the same for
    Graphviz's and matplotlib's rendering of one graph)."""
    text = Path(path).read_text(encoding="utf-8")
    found = re.findall(r"<text\b[^>]*>(.*?)</text>", text, re.S)
    return Counter(html.unescape(re.sub(r"<[^>]+>", "", t)).strip() for t in found)


def pictures(path):
    return IMAGE.findall(path.read_text(encoding="utf-8"))


def output_matches(got, want):
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        pattern = ".*?".join(re.escape(part) for part in w.split("..."))
        if not re.fullmatch(pattern, g):
            return False
    return True


def run_chapter(path):
    namespace = {"__name__": f"tour_{path.stem.replace('-', '_')}"}
    items = list(blocks(path))
    for k, (info, code, line) in enumerate(items):
        if info != "python":
            continue
        # pad with newlines so that tracebacks show the chapter's line numbers
        compiled = compile("\n" * (line - 1) + code, str(path), "exec")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compiled, namespace)
        if k + 1 < len(items) and items[k + 1][0] == "output":
            expected = items[k + 1][1]
            got = [s.rstrip() for s in out.getvalue().rstrip().splitlines()]
            want = [s.rstrip() for s in expected.rstrip().splitlines()]
            assert output_matches(got, want), (
                f"{path.name} line {line}: the block printed\n" + "\n".join(got)
                + "\nbut the chapter shows\n" + "\n".join(want))


def test_tour_exists_and_chapters_are_listed():
    assert CHAPTERS, "docs/tour/*.md is missing"
    index = (TOUR / "README.md").read_text(encoding="utf-8")
    for chapter in CHAPTERS:
        if chapter.name != "README.md":
            assert f"({chapter.name})" in index, f"{chapter.name} is not linked from the index"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_links_to_other_files_resolve(chapter):
    text = FENCE.sub("", chapter.read_text(encoding="utf-8"))     # code is not prose
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        assert (chapter.parent / target).exists(), f"{chapter.name}: broken link {target}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_runs(chapter, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)               # files a chapter writes land here
    run_chapter(chapter)
    for name in pictures(chapter):
        made, committed = tmp_path / name, TOUR / "img" / name
        assert made.exists(), f"{chapter.name} shows img/{name} but its code does not render it"
        assert committed.exists(), f"docs/tour/img/{name} is missing (run --fix)"
        assert svg_labels(made) == svg_labels(committed), \
            f"docs/tour/img/{name} is stale (run: python tests/docs/test_tour.py --fix)"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_source_links_are_current(chapter):
    problems, _ = check_links(chapter)
    assert not problems, "\n".join(problems) + "\n(run: python tests/docs/test_tour.py --fix)"
    if chapter.name != "README.md":
        assert LINK.search(chapter.read_text(encoding="utf-8")), \
            f"{chapter.name} points at no source lines"


def main(argv):
    if argv[1:] != ["--fix"]:
        print(__doc__)
        return 2
    for chapter in CHAPTERS:
        problems, fixed = check_links(chapter)
        for p in problems:
            print(p)
        if fixed != chapter.read_text(encoding="utf-8"):
            chapter.write_text(fixed, encoding="utf-8")
            print(f"rewrote {os.path.relpath(chapter, ROOT)}")
        if pictures(chapter):
            render_pictures(chapter)
    return 0


def render_pictures(chapter):
    """Run the chapter in a scratch folder and keep the pictures it shows."""
    (TOUR / "img").mkdir(exist_ok=True)
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)
        try:
            run_chapter(chapter)
        finally:
            os.chdir(here)
        for name in pictures(chapter):
            shutil.copyfile(os.path.join(scratch, name), TOUR / "img" / name)
            print(f"rendered docs/tour/img/{name}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
