"""tn.viz.draw: the computation graph as DOT text, and as pictures made by
Graphviz or, on a machine without it, by matplotlib."""
import shutil
import sys

import numpy as np
import pytest

import tinynet as tn
import tinynet.viz as viz


def f32(*shape, seed=0):
    rng = np.random.default_rng(seed)
    return tn.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)


def small_net():
    """loss = sum(tanh(x @ w + b) * 2): leaves x, w, b and a scalar constant."""
    x, w, b = f32(2, 3), f32(3, 4, seed=1), f32(4, seed=2)
    loss = ((x @ w + b).tanh() * 2).sum()
    return loss, {"x": x, "w": w, "b": b, "loss": loss}


def node_with(graph, first_line):
    found = [n for n in graph.nodes if n.lines[0] == first_line]
    assert len(found) == 1, (first_line, graph.nodes)
    return found[0]


def edges_by_label(graph):
    label = {n.id: n.lines[0] for n in graph.nodes}
    return {(label[a], label[b]) for a, b in graph.edges}


# ---------------------------------------------------------------- the graph itself
def test_nodes_say_op_shape_dtype_device_and_grad():
    loss, names = small_net()
    g = viz.draw(loss, names=names)
    assert node_with(g, "w").lines == ["w", "(3, 4) float32 cpu", "grad: None"]
    assert node_with(g, "w").kind == "leaf"
    assert node_with(g, "MatMul").lines == ["MatMul", "(2, 4) float32 cpu"]
    assert node_with(g, "TanhFunction").kind == "op"
    assert node_with(g, "const 2").kind == "const"
    assert node_with(g, "loss").kind == "output"
    assert edges_by_label(g) == {
        ("x", "MatMul"), ("w", "MatMul"), ("MatMul", "Add"), ("b", "Add"),
        ("Add", "TanhFunction"), ("TanhFunction", "Mul"), ("const 2", "Mul"), ("Mul", "Sum"),
        ("Sum", "loss")}


def test_gradient_shows_after_backward():
    loss, names = small_net()
    loss.backward(retain_graph=True)
    g = viz.draw(loss, names=names)
    assert node_with(g, "w").lines[-1] == "grad: (3, 4)"
    assert node_with(g, "b").lines[-1] == "grad: (4,)"


def test_retained_intermediate_gradient_shows_on_its_op():
    x = f32(3)
    h = x.exp()
    h.retain_grad()
    h.sum().backward(retain_graph=True)
    g = viz.draw(h.sum())
    assert node_with(g, "Exp").lines == ["Exp", "(3,) float32 cpu", "grad: (3,)"]


def test_freed_graph_is_drawn_as_freed():
    loss, names = small_net()
    loss.backward()                     # frees every Function's saved values
    g = viz.draw(loss, names=names)
    freed = node_with(g, "Sum (freed)")
    assert freed.kind == "freed"
    assert "saved values freed by backward" in freed.lines
    # nothing above a freed op can be reached any more
    assert len(g.nodes) == 2 and edges_by_label(g) == {("Sum (freed)", "loss")}
    assert 'style="rounded,filled,dashed"' in g.source


def test_create_graph_backward_is_drawn():
    x = tn.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    y = (x * x * x).sum()
    gx, = tn.grad(y, x, create_graph=True)
    g = viz.draw(gx, names={"x": x, "gx": gx})
    assert node_with(g, "gx").kind == "output"
    assert node_with(g, "x").kind == "leaf"
    ops = [n.lines[0] for n in g.nodes if n.kind == "op"]
    # d(x*x*x)/dx = x*x*gy + (x*gy + gy*x)*x: products and sums of x
    assert set(ops) == {"Mul", "Add"} and len(ops) >= 4
    x_id = node_with(g, "x").id
    assert sum(1 for a, b in g.edges if a == x_id) >= 3      # x feeds several products
    # and the drawn graph is live: it differentiates again
    ggx, = tn.grad(gx.sum(), x)
    np.testing.assert_allclose(ggx.numpy(), 6 * x.numpy())


def test_multi_output_op_labels_each_output():
    x = f32(4, 2)
    a, b = tn.split(x, 2)
    g = viz.draw(a + b)
    split = node_with(g, "Split")
    assert split.lines[1:] == ["out 0: (2, 2) float32 cpu", "out 1: (2, 2) float32 cpu"]


def test_names_as_pairs_and_hidden_constants():
    loss, names = small_net()
    g = viz.draw(loss, names=list(names.items()), show_constants=False)
    assert all(n.kind != "const" for n in g.nodes)
    assert {"x", "w", "b", "loss"} <= {n.lines[0] for n in g.nodes}


def test_several_roots_and_a_leaf_root():
    x = f32(2)
    y1, y2 = x.exp(), x.sin()
    g = viz.draw([y1, y2], x, names={"y1": y1, "y2": y2, "x": x})
    assert [n.kind for n in g.nodes].count("output") == 2
    assert node_with(g, "x").kind == "leaf"             # x reached as a root and an input
    assert edges_by_label(g) == {("x", "Exp"), ("x", "Sin"), ("Exp", "y1"), ("Sin", "y2")}


def test_dot_source_is_reproducible_and_escaped():
    loss, names = small_net()
    names['say "hi"'] = names.pop("x")
    first = viz.draw(loss, names=names).source
    assert first == viz.draw(loss, names=names).source
    assert first.startswith("digraph tinynet {") and first.rstrip().endswith("}")
    assert 'label="say \\"hi\\"\\n(2, 3) float32 cpu\\ngrad: None"' in first
    assert str(viz.draw(loss)) == viz.draw(loss).source


def test_long_chain_needs_no_recursion():
    x = f32(1)
    y = x
    for _ in range(3000):
        y = y * 1.0
    g = viz.draw(y)
    assert len(g.nodes) == 3000 + 3001 + 1          # ops, their constants, x (+ y)
    layers = viz._layers(g.nodes, g.edges)
    assert len(layers) == 3002


def test_rows_are_ordered_to_avoid_crossings():
    a, b = f32(1), f32(1, seed=1)
    ya, yb = a.exp(), b.sin()
    # hand the roots in the opposite order to the leaves' first appearance
    g = viz.draw(yb, ya, names={"a": a, "b": b, "ya": ya, "yb": yb})
    label = {n.id: n.lines[0] for n in g.nodes}
    layers = [[label[n] for n in row] for row in viz._layers(g.nodes, g.edges)]
    leaf_row, op_row, out_row = layers
    # each column holds one chain: leaf, op, output
    assert [leaf_row.index(v) for v in ("a", "b")] == [op_row.index(v) for v in ("Exp", "Sin")]
    assert [op_row.index(v) for v in ("Exp", "Sin")] == [out_row.index(v) for v in ("ya", "yb")]


def test_bad_arguments():
    with pytest.raises(TypeError, match="viz.draw: expected at least one Tensor"):
        viz.draw()
    with pytest.raises(TypeError, match="expected Tensors, got int"):
        viz.draw([1, 2])
    g = viz.draw(f32(2).exp())
    with pytest.raises(ValueError, match="unknown format 'jpg'"):
        g.render("graph.jpg")
    with pytest.raises(ValueError, match="unknown backend 'tikz'"):
        g.pipe("svg", backend="tikz")
    with pytest.raises(ValueError, match="unknown layout 'circle'"):
        g.figure(layout="circle")


# ---------------------------------------------------------------- files
def test_render_dot_file(tmp_path):
    loss, names = small_net()
    g = viz.draw(loss, names=names)
    path = g.render(tmp_path / "net.dot")
    assert open(path).read() == g.source


def test_render_svg_with_matplotlib(tmp_path):
    loss, names = small_net()
    path = viz.draw(loss, names=names).render(tmp_path / "net.svg", backend="matplotlib")
    text = open(path, encoding="utf-8").read()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    # labels are kept as text, so the picture can be checked (and searched)
    for word in ("MatMul", "TanhFunction", "(2, 4) float32 cpu", "grad: None", "const 2"):
        assert word in text, word


def test_render_png_with_matplotlib(tmp_path):
    from matplotlib.image import imread
    loss, names = small_net()
    path = viz.draw(loss, names=names).render(tmp_path / "net.png", backend="matplotlib")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    pixels = imread(path)[..., :3]
    assert pixels.shape[0] > 200 and pixels.shape[1] > 150

    def share(color):
        rgb = np.array([int(color[k:k + 2], 16) / 255 for k in (1, 3, 5)])
        return np.mean(np.all(np.abs(pixels - rgb) < 0.02, axis=-1))
    # three leaf boxes, seven op boxes and one output box are painted
    assert share(viz.COLORS["leaf"]) > 0.005
    assert share(viz.COLORS["op"]) > share(viz.COLORS["leaf"])
    assert share(viz.COLORS["output"]) > 0.001


def test_figure_has_one_box_per_node_and_one_arrow_per_edge():
    loss, names = small_net()
    g = viz.draw(loss, names=names)
    fig = g.figure()
    ax = fig.axes[0]
    texts = sorted(t.get_text() for t in ax.texts if t.get_text())
    assert texts == sorted(n.label for n in g.nodes)
    arrows = [t for t in ax.texts if t.get_text() == "" and t.arrow_patch is not None]
    assert len(arrows) == len(g.edges)


def test_matplotlib_path_without_networkx(monkeypatch, tmp_path):
    # a fresh machine: no networkx, no graphviz; pictures still come out
    monkeypatch.setitem(sys.modules, "networkx", None)
    monkeypatch.setitem(sys.modules, "graphviz", None)
    assert viz._networkx() is None and not viz.has_graphviz()
    loss, names = small_net()
    g = viz.draw(loss, names=names)
    path = g.render(tmp_path / "net.svg")              # picks matplotlib by itself
    assert "MatMul" in open(path, encoding="utf-8").read()
    assert "<svg" in g._repr_svg_()
    with pytest.raises(ImportError, match="needs networkx"):
        g.figure(layout="networkx")


def test_networkx_layout_keeps_the_rows():
    pytest.importorskip("networkx")
    loss, names = small_net()
    g = viz.draw(loss, names=names)
    layers = viz._layers(g.nodes, g.edges)
    pos = viz._positions_networkx(layers, g.edges)
    for row, layer in enumerate(layers):
        assert {pos[n][1] for n in layer} == {len(layers) - 1 - row}
    fig = g.figure(layout="networkx")
    assert len([t for t in fig.axes[0].texts if t.get_text()]) == len(g.nodes)


def test_graphviz_backend_refuses_without_dot(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert not viz.has_graphviz()
    g = viz.draw(f32(2).exp())
    with pytest.raises(RuntimeError, match="needs the graphviz package and the dot program"):
        g.pipe("svg", backend="graphviz")


def test_render_svg_with_graphviz(tmp_path):
    pytest.importorskip("graphviz")      # in the test extra: skipping here fails the run
    if shutil.which("dot") is None:      # the program comes from apt/brew, not pip
        pytest.skip("no `dot` program (apt/brew install graphviz)")
    loss, names = small_net()
    path = viz.draw(loss, names=names).render(tmp_path / "net.svg", backend="graphviz")
    text = open(path, encoding="utf-8").read()
    assert "<svg" in text and "MatMul" in text and "grad: None" in text
