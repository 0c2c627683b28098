"""The tour's notebooks (docs/tour/notebooks/*.ipynb): the committed files
are exactly what ``python docs/tour/make_notebooks.py`` makes from the
chapters, so they never drift, and each runs top to bottom in a Jupyter
kernel (ipykernel's python3, through nbclient) without a cell error, in a
scratch folder as the tour test runs the chapters."""
import importlib.util
import json
from pathlib import Path

import nbclient
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
TOUR = ROOT / "docs" / "tour"


def _load_maker():
    spec = importlib.util.spec_from_file_location("make_notebooks", TOUR / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


maker = _load_maker()
CHAPTERS = maker.chapters()


def test_every_chapter_has_its_notebook_and_nothing_else():
    assert CHAPTERS, "docs/tour has no chapters"
    made = sorted(p.name for p in (TOUR / "notebooks").glob("*.ipynb"))
    assert made == [c.stem + ".ipynb" for c in CHAPTERS], \
        "run: python docs/tour/make_notebooks.py"
    assert maker.main(["make_notebooks.py", "--check"]) == 0


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_committed_notebook_is_what_the_command_makes(chapter):
    committed = maker.target(chapter).read_text(encoding="utf-8")
    assert committed == maker.render(chapter), \
        f"{maker.target(chapter).name} is stale: run python docs/tour/make_notebooks.py"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_notebook_has_the_chapters_code_and_relinked_prose(chapter):
    nb = nbformat.reads(maker.target(chapter).read_text(encoding="utf-8"), as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    blocks = [m["body"].rstrip("\n") for m in maker.FENCE.finditer(chapter.read_text("utf-8"))
              if m["info"] == "python"]
    assert code == blocks
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    # links resolve from the notebooks' folder
    for target in maker.LINK.findall(prose):
        path = target[1].partition("#")[0]
        if "://" in path or not path:
            continue
        assert (TOUR / "notebooks" / path).exists(), f"{chapter.name}: broken link {path}"


def test_relinking_rules():
    text = ("[a](05-mlp.md#top) [b](../../tinynet/tensor.py#L1-L2) ![c](img/x.svg) "
            "[d](https://example.org/a.md) [e](#local)")
    assert maker._relink(text) == (
        "[a](05-mlp.ipynb#top) [b](../../../tinynet/tensor.py#L1-L2) ![c](../img/x.svg) "
        "[d](https://example.org/a.md) [e](#local)")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_notebook_runs_without_errors(chapter, tmp_path):
    nb = nbformat.reads(maker.target(chapter).read_text(encoding="utf-8"), as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=600,
                                     startup_timeout=120,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()        # raises CellExecutionError, naming the cell, on any error
    ran = [c for c in nb.cells if c.cell_type == "code"]
    assert ran and all(c.execution_count for c in ran)
    errors = [o for c in ran for o in c.outputs if o.output_type == "error"]
    assert not errors, json.dumps(errors)[:2000]
