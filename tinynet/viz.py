"""Pictures of the computation graph.

``tn.viz.draw(y)`` walks the graph behind ``y`` (``y.grad_fn`` is a Function,
``Function.inputs`` its input Tensors, their ``grad_fn`` the Functions before
them ...) and returns a ``Graph``. The picture reads top to bottom in the
direction the data flows: leaf tensors at the top, then the ops, the output at
the bottom; ``backward()`` walks the same arrows upwards.

A ``Graph`` gives

- ``graph.source``: DOT text, always (paste it into any Graphviz viewer);
- ``graph.render("g.svg")`` / ``"g.png"`` / ``"g.pdf"``: through the
  ``graphviz`` package when it is installed and its ``dot`` program is on the
  PATH, otherwise drawn with matplotlib (a runtime dependency), so it works on
  a machine with pip alone; ``"g.dot"`` writes the DOT text;
- ``graph.figure()``: a matplotlib Figure laid out by a small layered layout
  of tinynet's own (no extra package); ``figure(layout="networkx")`` uses
  networkx's multipartite layout instead when networkx is installed (the
  ``viz`` extra);
- in Jupyter, a ``Graph`` on its own in a cell shows as its SVG picture
  (``_repr_svg_``, the same picture as ``pipe("svg")``).

Every box says what a learner asks about: the op (the Function's class name),
the shape, dtype and device of each tensor, and whether a leaf has a gradient
yet. A graph built by ``backward(create_graph=True)`` or
``tn.grad(..., create_graph=True)`` is an ordinary graph and draws the same
way. A Function whose saved values were freed by a backward pass without
``retain_graph=True`` has forgotten its inputs; it is drawn as "freed", with
nothing above it.
"""
import os
import shutil

from tinynet.tensor import Tensor, describe

# fill colours by node kind (the legend of the picture)
COLORS = {
    "leaf": "#cfe2ff",       # a tensor that requires grad: a parameter or an input
    "const": "#f1f1f1",      # a tensor that does not: data, a scalar operand
    "op": "#e4e4e4",         # a Function
    "freed": "#f8d7da",      # a Function whose saved values backward freed
    "output": "#d1e7dd",     # a tensor handed to draw()
}


class Node:
    """One box of the picture: ``kind`` is one of COLORS' keys, ``lines`` the
    text lines of its label."""

    def __init__(self, id, kind, lines):
        self.id, self.kind, self.lines = id, kind, list(lines)

    @property
    def label(self):
        return "\n".join(self.lines)

    def __repr__(self):
        return f"Node({self.id!r}, {self.kind!r}, {self.lines!r})"


def has_graphviz():
    """True when SVG/PNG can be made by Graphviz: the ``graphviz`` package
    imports and its ``dot`` program is on the PATH."""
    try:
        import graphviz  # noqa: F401
    except ImportError:
        return False
    return shutil.which("dot") is not None


def _grad_line(t):
    if t.grad is None:
        return "grad: None"
    return f"grad: {tuple(t.grad.shape)}"


class Graph:
    """The computation graph behind some tensors: ``nodes`` (a list of Node)
    and ``edges`` (pairs of node ids, in the direction the data flows)."""

    def __init__(self, nodes, edges):
        self.nodes = nodes
        self.edges = edges

    # ------------------------------------------------------------ DOT
    @property
    def source(self):
        """The graph as DOT text (Graphviz's language)."""
        out = ["digraph tinynet {",
               '  graph [rankdir=TB, fontname="Helvetica"];',
               '  node [fontname="Helvetica", fontsize=10, shape=box, style="rounded,filled"];',
               '  edge [color="#555555", arrowsize=0.7];']
        for n in self.nodes:
            style = "rounded,filled,dashed" if n.kind in ("freed", "const") else "rounded,filled"
            label = "\\n".join(_dot_escape(line) for line in n.lines)
            out.append(f'  {n.id} [label="{label}", fillcolor="{COLORS[n.kind]}", '
                       f'style="{style}"];')
        for a, b in self.edges:
            out.append(f"  {a} -> {b};")
        out.append("}")
        return "\n".join(out) + "\n"

    def __str__(self):
        return self.source

    def __repr__(self):
        ops = sum(n.kind in ("op", "freed") for n in self.nodes)
        return f"<tinynet.viz.Graph: {ops} ops, {len(self.nodes) - ops} tensors>"

    # ------------------------------------------------------------ files
    def render(self, filename, format=None, backend=None):
        """Write the picture to ``filename`` and return its path.

        ``format`` defaults to the file's suffix: ``dot``/``gv`` (DOT text),
        ``svg``, ``png`` or ``pdf``. ``backend`` is ``"graphviz"`` or
        ``"matplotlib"``; by default Graphviz when ``has_graphviz()``.
        """
        filename = os.fspath(filename)
        fmt = (format or os.path.splitext(filename)[1].lstrip(".")).lower()
        if fmt in ("dot", "gv"):
            with open(filename, "w", encoding="utf-8") as f:
                f.write(self.source)
            return filename
        if fmt not in ("svg", "png", "pdf"):
            raise ValueError(f"viz.render: unknown format {fmt!r} for {filename!r}; "
                             "expected dot, gv, svg, png or pdf")
        with open(filename, "wb") as f:
            f.write(self.pipe(fmt, backend))
        return filename

    def pipe(self, format="svg", backend=None):
        """The picture as bytes in ``format`` (svg, png or pdf)."""
        backend = backend or ("graphviz" if has_graphviz() else "matplotlib")
        if backend == "graphviz":
            if not has_graphviz():
                raise RuntimeError("viz: backend='graphviz' needs the graphviz package and "
                                   "the dot program on the PATH; use backend='matplotlib'")
            import graphviz
            return graphviz.Source(self.source).pipe(format=format)
        if backend != "matplotlib":
            raise ValueError(f"viz: unknown backend {backend!r}; expected 'graphviz' or "
                             "'matplotlib'")
        import io
        import matplotlib
        buf = io.BytesIO()
        # svg.fonttype none keeps labels as text, so an SVG can be searched
        with matplotlib.rc_context({"svg.fonttype": "none"}):
            self.figure().savefig(buf, format=format, bbox_inches="tight")
        return buf.getvalue()

    def _repr_svg_(self):
        # Jupyter shows a Graph as this picture
        return self.pipe("svg").decode("utf-8")

    # ------------------------------------------------------------ matplotlib
    def figure(self, layout="auto", fontsize=8):
        """The picture as a matplotlib Figure (made without pyplot).

        ``layout``: ``"layered"`` (tinynet's own: rows by distance to the
        output, ordered to keep arrows from crossing; ``"auto"`` is this) or
        ``"networkx"`` (networkx's multipartite layout of the same rows; needs
        networkx, e.g. from tinynet's ``viz`` extra).
        """
        from matplotlib.figure import Figure
        layers = _layers(self.nodes, self.edges)
        if layout in ("auto", "layered"):
            pos = _positions_layered(layers)
        elif layout == "networkx":
            pos = _positions_networkx(layers, self.edges)
        else:
            raise ValueError(f"viz.figure: unknown layout {layout!r}; expected 'auto', "
                             "'layered' or 'networkx'")
        # box sizes in points, from the label text in a monospace font
        char_w, line_h, pad = 0.6 * fontsize, 1.25 * fontsize, 0.4 * fontsize
        half = {n.id: (char_w * max(len(line) for line in n.lines) / 2 + pad,
                       line_h * len(n.lines) / 2 + pad) for n in self.nodes}
        # one data unit between box centres: the widest box plus a gap
        unit_x = 2 * max(w for w, _ in half.values()) + 24
        unit_y = 2 * max(h for _, h in half.values()) + 36
        xs = [p[0] for p in pos.values()]
        x_lo, x_hi = min(xs) - 0.6, max(xs) + 0.6
        y_lo, y_hi = -0.6, len(layers) - 0.4
        fig = Figure(figsize=(min(40, (x_hi - x_lo) * unit_x / 72),
                              min(60, (y_hi - y_lo) * unit_y / 72)))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        ax.set_xlim(x_lo, x_hi)
        ax.set_ylim(y_lo, y_hi)
        for n in self.nodes:
            ax.text(*pos[n.id], n.label, ha="center", va="center", fontsize=fontsize,
                    family="monospace", zorder=3,
                    bbox=dict(boxstyle=f"round,pad={pad / fontsize:.2f}", fc=COLORS[n.kind],
                              ec="#666666",
                              ls="--" if n.kind in ("freed", "const") else "-"))
        # points per data unit, after the caps on the figure size
        sx = fig.get_figwidth() * 72 / (x_hi - x_lo)
        sy = fig.get_figheight() * 72 / (y_hi - y_lo)
        for a, b in self.edges:
            dx = (pos[b][0] - pos[a][0]) * sx
            dy = (pos[b][1] - pos[a][1]) * sy
            ax.annotate("", xy=pos[b], xytext=pos[a], zorder=2,
                        arrowprops=dict(arrowstyle="-|>", color="#555555", lw=0.8,
                                        shrinkA=_to_edge(half[a], dx, dy) + 1,
                                        shrinkB=_to_edge(half[b], dx, dy) + 2))
        return fig


def _to_edge(half_size, dx, dy):
    """Distance in points from a box's centre to its edge along (dx, dy), so
    that an arrow starts and ends at the boxes, not under them."""
    hw, hh = half_size
    length = (dx * dx + dy * dy) ** 0.5
    if length == 0:
        return 0.0
    t = min(hw / abs(dx) if dx else float("inf"), hh / abs(dy) if dy else float("inf"))
    return t * length


def _dot_escape(text):
    return text.replace("\\", "\\\\").replace('"', '\\"')


# ---------------------------------------------------------------- walking the graph
def draw(*tensors, names=None, show_constants=True):
    """The computation graph behind ``tensors`` as a ``Graph``.

    ``names`` labels tensors: a dict ``{name: tensor}`` or pairs such as
    ``model.named_parameters()``. ``show_constants=False`` hides tensors that
    do not require grad (data, scalar operands).

    Example::

        g = tn.viz.draw(loss, names={"w": w, "x": x})
        print(g.source)              # DOT text
        g.render("loss.svg")         # Graphviz if present, matplotlib otherwise
    """
    roots = []
    for t in tensors:
        roots.extend(t if isinstance(t, (list, tuple)) else [t])
    if not roots:
        raise TypeError("viz.draw: expected at least one Tensor")
    for t in roots:
        if not isinstance(t, Tensor):
            raise TypeError(f"viz.draw: expected Tensors, got {type(t).__name__}")
    label_of = {}
    if names is not None:
        items = names.items() if isinstance(names, dict) else names
        for name, t in items:
            label_of[id(t)] = str(name)
    return _Walker(label_of, show_constants).walk(roots)


class _Walker:
    """Turns tensors and Functions into numbered Nodes (n0, n1, ...) in the
    order they are first met, so the DOT text of a graph is reproducible."""

    def __init__(self, label_of, show_constants):
        self.label_of = label_of
        self.show_constants = show_constants
        self.ids = {}            # id(tensor or Function) -> node id
        self.keep = []           # the objects behind self.ids, so their ids stay unique
        self.nodes, self.edges = [], []
        self.edge_set = set()

    def _new(self, obj, kind, lines):
        node_id = f"n{len(self.nodes)}"
        self.ids[id(obj)] = node_id
        self.keep.append(obj)
        self.nodes.append(Node(node_id, kind, lines))
        return node_id

    def tensor(self, t, root=False):
        if id(t) in self.ids:
            return self.ids[id(t)]
        name = self.label_of.get(id(t))
        if root:
            kind = "output"
        else:
            kind = "leaf" if t.requires_grad else "const"
        lines = [name] if name else (["output"] if root else [])
        if kind == "const" and not name:
            value = t.numpy().reshape(()).item() if t.numel() == 1 else None
            lines.append("const" if value is None else f"const {value:.4g}")
        lines.append(describe(t))
        if t.requires_grad and (t.grad_fn is None or t.grad is not None):
            lines.append(_grad_line(t))
        return self._new(t, kind, lines)

    def function(self, f):
        if id(f) in self.ids:
            return self.ids[id(f)], False
        freed = getattr(f, "_freed", False)
        lines = [f.name + (" (freed)" if freed else "")]
        outs = [ref() for ref in getattr(f, "outputs", ())]
        for k, o in enumerate(outs):
            if o is None:
                continue
            prefix = f"out {k}: " if len(outs) > 1 else ""
            lines.append(prefix + describe(o))
            if o._retains_grad and o.grad is not None:
                lines.append(_grad_line(o))
        if freed:
            lines.append("saved values freed by backward")
        return self._new(f, "freed" if freed else "op", lines), True

    def walk(self, roots):
        stack = []
        for t in roots:
            node = self.tensor(t, root=t.grad_fn is not None)
            if t.grad_fn is not None:
                fid, new = self.function(t.grad_fn)
                self.edges.append((fid, node))
                if new:
                    stack.append(t.grad_fn)
        # iterative depth-first walk: a long chain must not hit the recursion limit
        while stack:
            f = stack.pop()
            if getattr(f, "_freed", False):
                continue
            fid = self.ids[id(f)]
            for x in f.inputs:
                if x.grad_fn is not None:
                    src, new = self.function(x.grad_fn)
                    if new:
                        stack.append(x.grad_fn)
                elif x.requires_grad or self.show_constants:
                    src = self.tensor(x)
                else:
                    continue
                if (src, fid) not in self.edge_set:
                    self.edge_set.add((src, fid))
                    self.edges.append((src, fid))
        return Graph(self.nodes, self.edges)


# ---------------------------------------------------------------- layout
def _networkx():
    try:
        import networkx
    except ImportError:
        return None
    return networkx


def _layers(nodes, edges):
    """Rows of node ids, top to bottom. A node's row is set by its longest
    path down to an output, so each leaf sits just above its latest user;
    within a row, nodes are ordered by the mean position of their neighbours
    (a few barycenter sweeps) to keep arrows from crossing."""
    succ = {n.id: [] for n in nodes}
    pred = {n.id: [] for n in nodes}
    for a, b in edges:
        succ[a].append(b)
        pred[b].append(a)
    height = {}
    for n in _reverse_topological(nodes, succ):
        height[n] = 1 + max((height[s] for s in succ[n]), default=-1)
    top = max(height.values(), default=0)
    layers = [[] for _ in range(top + 1)]
    for n in nodes:                          # discovery order is the first guess
        layers[top - height[n.id]].append(n.id)
    for _ in range(4):
        for layer_list, neighbours in ((layers, pred), (layers[::-1], succ)):
            place = {}
            for layer in layer_list:
                for i, n in enumerate(layer):
                    place[n] = i - (len(layer) - 1) / 2
            for layer in layer_list:
                def key(n, neighbours=neighbours, place=place):
                    near = [place[m] for m in neighbours[n] if m in place]
                    return sum(near) / len(near) if near else place[n]
                layer.sort(key=key)
                for i, n in enumerate(layer):
                    place[n] = i - (len(layer) - 1) / 2
    return layers


def _reverse_topological(nodes, succ):
    """Node ids, every node after all of its successors (iterative DFS)."""
    order, seen = [], set()
    for n in nodes:
        if n.id in seen:
            continue
        seen.add(n.id)
        stack = [(n.id, iter(succ[n.id]))]
        while stack:
            node, it = stack[-1]
            nxt = next((s for s in it if s not in seen), None)
            if nxt is None:
                order.append(node)
                stack.pop()
            else:
                seen.add(nxt)
                stack.append((nxt, iter(succ[nxt])))
    return order


def _positions_layered(layers):
    """(x, y) per node: rows at integer heights, boxes one unit apart and
    centred in their row."""
    pos = {}
    for row, layer in enumerate(layers):
        y = len(layers) - 1 - row
        for i, n in enumerate(layer):
            pos[n] = (i - (len(layer) - 1) / 2, y)
    return pos


def _positions_networkx(layers, edges):
    """The same rows laid out by networkx's multipartite layout."""
    nx = _networkx()
    if nx is None:
        raise ImportError("viz: layout='networkx' needs networkx "
                          "(pip install networkx, or tinynet's viz extra)")
    g = nx.DiGraph()
    for row, layer in enumerate(layers):
        for n in layer:                      # insertion order is the order in the row
            g.add_node(n, layer=row)
    g.add_edges_from(edges)
    raw = nx.multipartite_layout(g, subset_key="layer", align="horizontal")
    # networkx scales to [-1, 1]; bring x back to one unit per box and put
    # the rows at the same heights as the layered layout
    width = max(len(layer) for layer in layers)
    xs = [float(p[0]) for p in raw.values()]
    span = (max(xs) - min(xs)) or 1.0
    pos = {}
    for row, layer in enumerate(layers):
        for n in layer:
            x = (float(raw[n][0]) - (max(xs) + min(xs)) / 2) / span * (width - 1)
            pos[n] = (x, len(layers) - 1 - row)
    return pos
