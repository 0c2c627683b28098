"""What Jupyter shows: a ``tn.viz.draw`` graph as an SVG picture, a Module as
its summary table (HTML), checked with IPython's display formatter and in a
real kernel through nbclient."""
import re

import nbclient
import nbformat
from IPython.core.formatters import DisplayFormatter

import tinynet as tn
import tinynet.nn as nn


def small_graph():
    x = tn.ones(2, 3, requires_grad=True)
    w = tn.ones(3, 4, requires_grad=True)
    return tn.viz.draw((x @ w).tanh().sum(), names={"x": x, "w": w})


def test_graph_displays_as_svg():
    graph = small_graph()
    data, _ = DisplayFormatter().format(graph)
    assert set(data) == {"text/plain", "image/svg+xml"}
    svg = data["image/svg+xml"]
    assert "<svg" in svg and svg.rstrip().endswith("</svg>")
    shown = "\n".join(re.sub(r"<[^>]+>", "", t)
                      for t in re.findall(r"<text\b[^>]*>(.*?)</text>", svg, re.S))
    # every box of the graph (ops, named leaves, shapes) is in the picture
    for node in graph.nodes:
        for line in node.lines:
            assert line in shown, (line, shown)
    assert "MatMul" in shown and "w" in shown
    assert data["text/plain"] == repr(graph)


def test_module_displays_as_its_summary_table():
    tn.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    data, _ = DisplayFormatter().format(model)
    assert set(data) == {"text/plain", "text/html"}
    assert data["text/plain"] == repr(model)
    page = data["text/html"]
    assert page.startswith("<div class='tinynet-summary'>")
    for cell in ("0: Linear", "1: ReLU", "2: Linear", "40", "18", "Total params", "58"):
        assert cell in page, cell


def test_a_notebook_shows_them_inline(tmp_path):
    cells = [
        "import tinynet as tn\nimport tinynet.nn as nn\n"
        "x = tn.ones(2, 3, requires_grad=True)\n"
        "tn.viz.draw((x * 2).sum())",
        "nn.Sequential(nn.Linear(3, 5), nn.Tanh())",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=300, startup_timeout=120,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    graph_out = nb.cells[0].outputs[-1]
    model_out = nb.cells[1].outputs[-1]
    assert graph_out.output_type == "execute_result"
    assert "<svg" in graph_out.data["image/svg+xml"]
    assert model_out.output_type == "execute_result"
    assert "0: Linear" in model_out.data["text/html"]
    assert "Total params: " not in model_out.data["text/html"]      # an HTML table row...
    assert "<td style='text-align:left'>Total params</td>" in model_out.data["text/html"]
