"""Every relative link in README.md and docs/**/*.md points at something that
exists inside the repository (a clone has nothing outside it), and every
``page.md#heading`` anchor names a heading of that page.

Links inside fenced code blocks, inline code and HTML comments are not
links; absolute URLs (http:, https:, mailto:) are not checked. Line anchors
(``file.py#L10-L20``) are checked for the file only; tests/docs/test_tour.py
checks the tour's line numbers.

Run as a script (``python tests/docs/test_docs_links.py``) to list the broken
links.
"""
import re
import sys
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
COMMENT = re.compile(r"<!--.*?-->", re.S)
INLINE_CODE = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
# [text](target) and ![alt](target); target optionally <...> and followed by a "title"
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]*)(?:\s+\"[^\"]*\")?\s*\)")
# [label]: target (reference definitions)
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)", re.M)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$", re.M)


def pages():
    """README.md and every markdown page under docs/."""
    return [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))


def _blank(m):
    return re.sub(r"[^\n]", " ", m.group(0))


def prose(text, inline_code=False):
    """The text with code blocks, comments and (unless ``inline_code``)
    inline code blanked out; newlines kept, so line numbers stay right."""
    text = COMMENT.sub(_blank, FENCE.sub(_blank, text))
    return text if inline_code else INLINE_CODE.sub(_blank, text)


def links(text):
    """(line number, target) for every link and reference definition."""
    text = prose(text)
    for pattern in (LINK, REFERENCE):
        for m in pattern.finditer(text):
            target = m.group(1)
            if target.startswith("<") and target.endswith(">"):
                target = target[1:-1]
            yield text.count("\n", 0, m.start()) + 1, target


def slug(heading):
    """The anchor GitHub gives a heading: lower case, markup and punctuation
    dropped (letters, digits, '-', '_' and spaces kept), spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)   # links: keep their text
    text = re.sub(r"<[^>]+>", "", text)                           # inline HTML
    text = text.lower().replace("`", "").replace("*", "")
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(page):
    """The heading anchors of a markdown page (duplicates numbered as GitHub does)."""
    seen, result = {}, set()
    for m in HEADING.finditer(prose(page.read_text(encoding="utf-8"), inline_code=True)):
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        result.add(base if n == 0 else f"{base}-{n}")
    return result


def problems(page):
    """Broken links of one page, as strings."""
    found = []
    rel = page.relative_to(ROOT)
    for line, target in links(page.read_text(encoding="utf-8")):
        where = f"{rel}:{line}: ({target})"
        if not target:
            found.append(f"{where} empty link")
            continue
        if SCHEME.match(target) or target.startswith("//"):
            continue                                  # an absolute URL
        path, _, fragment = target.partition("#")
        path = unquote(path.split("?", 1)[0])
        if not path:                                  # "#heading" in the same page
            dest = page
        else:
            if path.startswith("/"):
                found.append(f"{where} absolute path; links must be relative")
                continue
            dest = (page.parent / path).resolve()
            if dest != ROOT and ROOT not in dest.parents:
                found.append(f"{where} points outside the repository")
                continue
            if not dest.exists():
                found.append(f"{where} does not exist")
                continue
        if fragment and dest.suffix == ".md" and dest.is_file():
            if unquote(fragment).lower() not in anchors(dest):
                found.append(f"{where} no heading with anchor #{fragment} in "
                             f"{dest.relative_to(ROOT)}")
    return found


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = problems(page)
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_checker_catches_broken_links(tmp_path, monkeypatch):
    """The checker itself: it must flag each kind of broken link and accept
    the good ones, or the test above could pass on anything."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "docs" / "other.md").write_text("# Other page\n\n## The `tinynet` command\n")
    page = tmp_path / "README.md"
    page.write_text(
        "# Title\n"
        "[ok](docs/other.md) [ok](code.py#L1-L1) [ok](docs) [ok](#title)\n"
        "[ok](docs/other.md#the-tinynet-command) [ok](https://example.com/x)\n"
        "![ok](<docs/other.md> \"a title\")\n"
        "`[not a link](missing.md)`\n"
        "<!-- [not a link](missing.md) -->\n"
        "```\n[not a link](missing.md)\n```\n"
        "[bad](missing.md)\n"
        "[bad](../outside.md)\n"
        "[bad](docs/other.md#no-such-heading)\n"
        "[bad](#nowhere)\n"
        "[label]: gone.py\n")
    found = problems(page)
    assert len(found) == 5, found
    assert [f.split(":")[1] for f in found] == ["10", "11", "12", "13", "14"], found


if __name__ == "__main__":
    broken = [p for page in pages() for p in problems(page)]
    print("\n".join(broken) or "all links resolve")
    sys.exit(1 if broken else 0)
