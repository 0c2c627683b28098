"""Make the Jupyter notebooks of the tour from its Markdown chapters.

    python docs/tour/make_notebooks.py           # (re)writes docs/tour/notebooks/*.ipynb
    python docs/tour/make_notebooks.py --check   # exit status 1 if any notebook is stale

Each chapter ``docs/tour/NN-name.md`` becomes ``docs/tour/notebooks/NN-name.ipynb``:
every ```python block is a code cell, the text between them (``output``
blocks included, as the expected output) a Markdown cell. Relative links are
rewritten for the notebooks' folder: a link to another chapter points at its
notebook, any other relative link (source files, pictures) gets one more
``../``. The notebooks are committed without outputs, and their cell ids are
derived from the chapter's name, so the same Markdown always gives the same
bytes; a test (tests/docs/test_tour_notebooks.py) checks that the committed
notebooks are what this script makes, and runs each of them.

Needs ``nbformat`` (tinynet's ``notebooks`` or ``test`` extra).
"""
import re
import sys
from pathlib import Path

TOUR = Path(__file__).resolve().parent
NOTEBOOKS = TOUR / "notebooks"

# the tour test's fence syntax: ```info on its own line ... ```
FENCE = re.compile(r"^```(?P<info>[\w-]*)[ \t]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
LINK = re.compile(r"(?P<head>!?\[[^\]]*\]\()(?P<target>[^)\s]+)(?P<tail>\))")


def chapters():
    """The chapters in order: docs/tour/NN-*.md."""
    return sorted(p for p in TOUR.glob("[0-9][0-9]-*.md"))


def _relink(text):
    """Rewrite the relative links of a chapter's prose for the notebooks' folder."""
    names = {p.name for p in chapters()}

    def fix(m):
        target = m["target"]
        if "://" in target or target.startswith(("#", "/", "mailto:")):
            return m[0]
        path, sep, anchor = target.partition("#")
        if path in names:
            path = path[:-len(".md")] + ".ipynb"
        else:
            path = "../" + path
        return m["head"] + path + sep + anchor + m["tail"]

    return LINK.sub(fix, text)


def _split(text):
    """(kind, source) cells: 'code' for python blocks, 'markdown' for the rest."""
    cells, pos = [], 0
    for m in FENCE.finditer(text):
        if m["info"] != "python":
            continue
        prose = text[pos:m.start()].strip("\n")
        if prose.strip():
            cells.append(("markdown", _relink(prose)))
        cells.append(("code", m["body"].rstrip("\n")))
        pos = m.end()
    rest = text[pos:].strip("\n")
    if rest.strip():
        cells.append(("markdown", _relink(rest)))
    return cells


def notebook(chapter):
    """The notebook of one chapter, as an nbformat NotebookNode."""
    import nbformat
    from nbformat import v4
    text = Path(chapter).read_text(encoding="utf-8")
    stem = Path(chapter).stem
    note = (f"*This notebook is made from [{Path(chapter).name}](../{Path(chapter).name}) by "
            "`python docs/tour/make_notebooks.py`: edit the Markdown, not the notebook. "
            "Run the cells in order; files the code writes land in the notebook's folder.*")
    cells = [v4.new_markdown_cell(note)]
    for kind, source in _split(text):
        cells.append(v4.new_code_cell(source) if kind == "code" else v4.new_markdown_cell(source))
    for k, cell in enumerate(cells):
        cell["id"] = f"{stem[:50]}-{k:03d}"
    nb = v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })
    nbformat.validate(nb)
    return nb


def render(chapter):
    """The notebook file's text for one chapter."""
    import nbformat
    return nbformat.writes(notebook(chapter)) + "\n"


def target(chapter):
    return NOTEBOOKS / (Path(chapter).stem + ".ipynb")


def main(argv):
    check = argv[1:] == ["--check"]
    if argv[1:] and not check:
        print(__doc__)
        return 2
    stale = []
    expected = {target(c) for c in chapters()}
    for chapter in chapters():
        path, text = target(chapter), render(chapter)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not check:
            NOTEBOOKS.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(TOUR.parent.parent)}")
    orphans = sorted(set(NOTEBOOKS.glob("*.ipynb")) - expected) if NOTEBOOKS.exists() else []
    for path in orphans:
        stale.append(path)
        if not check:
            path.unlink()
            print(f"removed {path.relative_to(TOUR.parent.parent)} (no chapter)")
    if check and stale:
        print("stale notebooks (run: python docs/tour/make_notebooks.py):\n  "
              + "\n  ".join(str(p.relative_to(TOUR.parent.parent)) for p in stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
