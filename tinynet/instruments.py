"""Instruments: look inside a network while it trains.

``Recorder(model, every=10)`` puts a forward hook on the layers of a model
and, every ``every`` optimizer steps, records for each layer

- the activations it outputs: mean, standard deviation, a histogram, the
  fraction *saturated* (a ``Tanh`` output with ``|y| > 0.97``, a ``Sigmoid``
  output below 0.015 or above 0.985: the same pre-activations) and the
  fraction *dead* (``ReLU``/``ReLU6`` units whose output is 0 for every
  sample of the batch; a unit is one position of the output without the
  batch dimension, so a feature of a Linear layer, a pixel of a channel of a
  convolution);
- the gradient of the loss with respect to that output (a tensor hook put on
  the output during the recorded forward): mean, standard deviation,
  histogram;

and for each parameter the *update:data ratio*: the standard deviation of
the update the optimizer actually made (the parameter after the step minus
before it) over the standard deviation of the parameter before the step.
Around 1e-3 is the usual sign of a healthy learning rate: much lower, the
parameter hardly learns; much higher, it is being thrown around.

Use::

    rec = Recorder(model, every=10)
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        rec.step(optimizer, loss)        # runs optimizer.step() and records
    rec.save_figures("runs/look")        # activations.png, gradients.png, ...
    rec.remove()                         # no hook is left on the model

``rec.step(loss=loss)`` after your own ``optimizer.step()`` does the same.
A training loop with per-step callbacks ``fn(run, step, model, optimizer,
loss)`` called after the optimizer's step takes ``rec.callback``.

Only the steps that are recorded pay for it: on the others the hooks return
at once. Statistics are computed on the host in float64; standard deviations
are the population ones (``ddof=0``). ``rec.records`` holds plain lists,
dicts and floats (``json.dump`` writes them as they are).

(The module is not called ``inspect``: a file of that name next to a script
run from inside the package folder would hide Python's own ``inspect``
module, which much of the standard library imports.)
"""
import os

import numpy as np

from tinynet.autograd import is_grad_enabled, no_grad
from tinynet.backend import is_cupy_array
from tinynet.tensor import Tensor

__all__ = ["Recorder", "figure_grid", "savefig", "TANH_SATURATION"]

TANH_SATURATION = 0.97
# sigmoid(x) = (1 + tanh(x / 2)) / 2, so these are tanh's 0.97 for sigmoid
SIGMOID_SATURATION = (0.015, 0.985)
KINDS = ("activations", "gradients", "update_ratio", "saturation")


def _host(a):
    """An array as float64 NumPy (copied from the GPU if it is a CuPy array)."""
    if is_cupy_array(a):
        a = a.get()
    return np.asarray(a, dtype=np.float64)


def _histogram(a, bins):
    counts, edges = np.histogram(a, bins=bins)
    return {"counts": counts.tolist(), "edges": edges.tolist()}


def _first_tensor(x):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (tuple, list)):
        for v in x:
            t = _first_tensor(v)
            if t is not None:
                return t
    return None


def saturated_fraction(layer_type, y):
    """The fraction of a Tanh's or a Sigmoid's outputs ``y`` that are
    saturated; None for other layer types."""
    if layer_type == "Tanh":
        return float(np.mean(np.abs(y) > TANH_SATURATION))
    if layer_type == "Sigmoid":
        lo, hi = SIGMOID_SATURATION
        return float(np.mean((y < lo) | (y > hi)))
    return None


def dead_fraction(layer_type, y):
    """The fraction of a ReLU's (or ReLU6's) units that output 0 for every
    sample of the batch (axis 0); None for other layer types."""
    if layer_type not in ("ReLU", "ReLU6") or y.ndim == 0:
        return None
    per_unit = y.reshape(y.shape[0], -1) if y.ndim > 1 else y.reshape(-1, 1)
    return float(np.mean(np.all(per_unit == 0, axis=0)))


class Recorder:
    """Records activations, their gradients and the parameters' updates of
    ``model`` every ``every`` steps (see the module docstring).

    ``layers``: the modules to watch, as names (``model.named_modules()``
    names) or modules; by default every module without submodules.
    ``bins``: bins of the stored histograms.

    After ``step()``, ``records`` is a list with one dict per recorded step::

        {"step": 20, "loss": 0.41,
         "layers": {"1": {"type": "Tanh", "shape": [64, 100], "mean": ..., "std": ...,
                          "saturated": 0.05, "dead": None, "hist": {"counts", "edges"},
                          "grad_mean": ..., "grad_std": ..., "grad_hist": {...}}, ...},
         "params": {"0.weight": {"shape": [100, 64], "data_std": ..., "grad_std": ...,
                                 "update_std": ..., "update_ratio": ...}, ...}}

    ``grad_*`` entries are None when no gradient reached that output,
    ``update_ratio`` is None for a parameter whose data has zero spread.
    """

    def __init__(self, model, every=10, layers=None, bins=50):
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"Recorder: every must be an int >= 1, got {every!r}")
        self.model, self.every, self.bins = model, every, bins
        names = {id(m): n for n, m in model.named_modules()}
        by_name = dict(model.named_modules())
        if layers is None:
            chosen = [m for n, m in model.named_modules()
                      if n and not any(True for _ in m.children())]
            if not chosen:                         # a model that is one layer
                chosen = [model]
        else:
            chosen = []
            for item in layers:
                if isinstance(item, str):
                    if item not in by_name:
                        raise KeyError(f"Recorder: the model has no module named {item!r}")
                    chosen.append(by_name[item])
                elif id(item) in names:
                    chosen.append(item)
                else:
                    raise ValueError(f"Recorder: {type(item).__name__} is not a module of "
                                     "this model")
        self.layer_names = [names[id(m)] or type(m).__name__ for m in chosen]
        self.records = []
        self.steps = 0                     # optimizer steps seen so far
        self._handles = [m.register_forward_hook(self._forward_hook) for m in chosen]
        self._names = {id(m): n for m, n in zip(chosen, self.layer_names)}
        self._tensor_handles = []
        self._current = None
        self._before = None
        self._arm()

    # ------------------------------------------------------------ the step cycle
    @property
    def recording(self):
        """Whether the current step (the next ``step()``) is recorded."""
        return self.steps % self.every == 0

    def _arm(self):
        """Start a step: on a recorded one, remember the parameters as they
        are before the optimizer changes them."""
        self._current = None
        self._before = None
        if self.recording and self._handles:
            self._before = {name: p.array.copy() for name, p in self.model.named_parameters()}

    def _record(self):
        if self._current is None:
            self._current = {"step": self.steps, "loss": None, "layers": {}, "params": {}}
        return self._current

    def _forward_hook(self, module, args, output):
        if not self.recording or not is_grad_enabled():
            return None               # not a recorded step, or an evaluation pass
        out = _first_tensor(output)
        if out is None:
            return None
        name = self._names[id(module)]
        layer_type = type(module).__name__
        y = _host(out.array)
        entry = {"type": layer_type, "shape": list(y.shape),
                 "mean": float(y.mean()) if y.size else 0.0,
                 "std": float(y.std()) if y.size else 0.0,
                 "saturated": saturated_fraction(layer_type, y),
                 "dead": dead_fraction(layer_type, y),
                 "hist": _histogram(y, self.bins),
                 "grad_mean": None, "grad_std": None, "grad_hist": None}
        self._record()["layers"][name] = entry    # the last forward of the step wins
        if out.requires_grad:
            def grad_hook(g, entry=entry):
                ga = _host(g.array)
                entry["grad_mean"] = float(ga.mean()) if ga.size else 0.0
                entry["grad_std"] = float(ga.std()) if ga.size else 0.0
                entry["grad_hist"] = _histogram(ga, self.bins)
            self._tensor_handles.append(out.register_hook(grad_hook))
        return None

    def step(self, optimizer=None, loss=None):
        """End one training step: run ``optimizer.step()`` if an optimizer is
        given (otherwise call this right after your own), then, on a recorded
        step, store the parameters' updates and the record."""
        if optimizer is not None:
            optimizer.step()
        if self._before is not None:
            rec = self._record()
            if loss is not None:
                rec["loss"] = float(loss.item() if isinstance(loss, Tensor) else loss)
            with no_grad():
                for name, p in self.model.named_parameters():
                    before = self._before.get(name)
                    if before is None:
                        continue
                    data = _host(before)
                    update = _host(p.array) - data
                    data_std = float(data.std()) if data.size else 0.0
                    update_std = float(update.std()) if update.size else 0.0
                    rec["params"][name] = {
                        "shape": list(data.shape), "data_std": data_std,
                        "grad_std": None if p.grad is None else float(_host(p.grad.array).std()),
                        "update_std": update_std,
                        "update_ratio": update_std / data_std if data_std > 0 else None}
            self.records.append(rec)
        for h in self._tensor_handles:
            h.remove()
        self._tensor_handles = []
        self.steps += 1
        self._arm()

    def callback(self, run, step, model, optimizer, loss):
        """For a training loop's per-step callbacks ``fn(run, step, model,
        optimizer, loss)``, called after the optimizer's step."""
        self.step(loss=loss)

    def remove(self):
        """Take every hook off the model (module hooks and any tensor hook of
        an unfinished step). The records stay."""
        for h in self._handles + self._tensor_handles:
            h.remove()
        self._handles, self._tensor_handles = [], []
        self._before = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False

    def __repr__(self):
        return (f"<Recorder: {len(self.layer_names)} layers, every {self.every} steps, "
                f"{len(self.records)} records after {self.steps} steps>")

    # ------------------------------------------------------------ reading the records
    def _record_at(self, step):
        if not self.records:
            raise RuntimeError("Recorder: nothing recorded yet (call step() after each "
                               "optimizer step; the first step is recorded)")
        if step is None:
            return self.records[-1]
        for r in self.records:
            if r["step"] == step:
                return r
        raise KeyError(f"Recorder: step {step} was not recorded; recorded steps: "
                       f"{[r['step'] for r in self.records]}")

    def activation_layers(self):
        """The recorded nonlinearities (modules of ``tinynet.nn.activation``),
        or every recorded layer if the model has none."""
        import tinynet.nn.activation as act
        kinds = {name for name in dir(act) if isinstance(getattr(act, name), type)}
        types = {}
        for r in self.records:
            for name, e in r["layers"].items():
                types[name] = e["type"]
        chosen = [n for n in self.layer_names if types.get(n) in kinds]
        return chosen or [n for n in self.layer_names if n in types]

    def weight_names(self):
        """The recorded parameters with two or more dimensions (the weights)."""
        if not self.records:
            return []
        return [n for n, e in self.records[-1]["params"].items() if len(e["shape"]) >= 2]

    # ------------------------------------------------------------ pictures
    def figure(self, kind, ax=None, step=None, layers=None, params=None, legend=True,
               labels="names"):
        """One picture, ``kind`` one of

        - ``"activations"`` / ``"gradients"``: the histograms of the layers'
          outputs / of the gradients at them, one line per layer, at the
          recorded ``step`` (default: the last);
        - ``"update_ratio"``: each parameter's update:data ratio over the
          recorded steps, log scale, with the 1e-3 guide line (``params``:
          names, default the weights);
        - ``"saturation"``: per layer over the steps, the fraction saturated
          (Tanh, Sigmoid) or dead (ReLU).

        Draws into ``ax`` when given, else into a new matplotlib Figure (made
        without pyplot, so no display is needed); returns the Figure.
        ``legend``: True, False, or "outside" (to the right of the axes).
        ``labels``: "names" (the module and parameter names, "2 (Tanh)",
        "0.weight") or "order" (their rank: "Tanh 1", "Linear 1 weight"),
        which reads the same for models whose layers are numbered apart.
        """
        if labels not in ("names", "order"):
            raise ValueError(f"Recorder.figure: labels must be 'names' or 'order', got "
                             f"{labels!r}")
        if kind not in KINDS:
            raise ValueError(f"Recorder.figure: unknown kind {kind!r}; expected one of "
                             f"{', '.join(KINDS)}")
        if ax is None:
            from matplotlib.figure import Figure
            fig = Figure(figsize=(7, 4))
            ax = fig.add_subplot(1, 1, 1)
        if kind in ("activations", "gradients"):
            self._draw_histograms(ax, kind, step, layers, legend, labels)
        elif kind == "update_ratio":
            self._draw_ratios(ax, params, legend, labels)
        else:
            self._draw_saturation(ax, layers, legend, labels)
        return ax.figure

    def _layer_labels(self, names, labels):
        """{layer name: legend label}."""
        types = {n: type(m).__name__ for n, m in self.model.named_modules()}
        out, seen = {}, {}
        for name in names:
            kind = types.get(name, name)
            seen[kind] = seen.get(kind, 0) + 1
            out[name] = f"{name} ({kind})" if labels == "names" else f"{kind} {seen[kind]}"
        return out

    def _param_labels(self, names, labels):
        """{parameter name: legend label}."""
        types = {n: type(m).__name__ for n, m in self.model.named_modules()}
        out, seen = {}, {}
        for name in names:
            owner, _, attr = name.rpartition(".")
            kind = types.get(owner, type(self.model).__name__)
            seen[(kind, attr)] = seen.get((kind, attr), 0) + 1
            out[name] = name if labels == "names" else f"{kind} {seen[(kind, attr)]} {attr}"
        return out

    def _draw_histograms(self, ax, kind, step, layers, legend, labels):
        rec = self._record_at(step)
        key = "hist" if kind == "activations" else "grad_hist"
        names = layers or self.activation_layers()
        label = self._layer_labels(names, labels)
        for name in names:
            e = rec["layers"].get(name)
            if e is None or e[key] is None:
                continue
            counts = np.asarray(e[key]["counts"], dtype=np.float64)
            edges = np.asarray(e[key]["edges"])
            width = np.diff(edges)
            density = counts / max(counts.sum(), 1) / np.where(width > 0, width, 1)
            ax.plot((edges[:-1] + edges[1:]) / 2, density, label=label[name])
        ax.set_title(f"{'activation' if kind == 'activations' else 'gradient'} "
                     f"distribution, step {rec['step']}")
        ax.set_xlabel("layer output" if kind == "activations" else "gradient at layer output")
        ax.set_ylabel("density")
        _legend(ax, legend)

    def _draw_ratios(self, ax, params, legend, labels):
        self._record_at(None)
        names = params or self.weight_names()
        label = self._param_labels(names, labels)
        for name in names:
            points = [(r["step"], r["params"][name]["update_ratio"]) for r in self.records
                      if name in r["params"] and r["params"][name]["update_ratio"]]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, label=label[name])
        ax.set_yscale("log")
        ax.axhline(1e-3, color="black", linestyle="--", linewidth=1, label="1e-3")
        ax.set_title("update:data ratio")
        ax.set_xlabel("step")
        ax.set_ylabel("std(update) / std(data)")
        _legend(ax, legend)

    def _draw_saturation(self, ax, layers, legend, labels):
        self._record_at(None)
        names = layers or self.activation_layers()
        label = self._layer_labels(names, labels)
        for name in names:
            for key, what in (("saturated", "saturated"), ("dead", "dead")):
                points = [(r["step"], r["layers"][name][key]) for r in self.records
                          if name in r["layers"] and r["layers"][name][key] is not None]
                if points:
                    xs, ys = zip(*points)
                    ax.plot(xs, [100 * y for y in ys], label=f"{label[name]}, {what}")
        ax.set_ylim(-2, 102)
        ax.set_title("saturated (Tanh, Sigmoid) or dead (ReLU) units")
        ax.set_xlabel("step")
        ax.set_ylabel("% of units")
        _legend(ax, legend)

    def save_figures(self, run_dir, format="png"):
        """Write activations, gradients, update_ratio and saturation pictures
        into ``run_dir`` (made if missing) as ``<kind>.<format>``; returns
        their paths."""
        os.makedirs(run_dir, exist_ok=True)
        paths = []
        for kind in KINDS:
            path = os.path.join(run_dir, f"{kind}.{format}")
            savefig(self.figure(kind), path)
            paths.append(path)
        return paths


def figure_grid(recorders, kind, titles=None, step=None, legend=True, sharex=None):
    """The same ``kind`` of picture for several recorders side by side (one
    row of panels), e.g. to compare initialisations: ``recorders`` is a dict
    {title: Recorder} or a list. Lines are labelled by rank ("Tanh 1"), so
    one legend, right of the last panel, serves models whose layers are
    numbered apart. Returns a matplotlib Figure."""
    from matplotlib.figure import Figure
    if isinstance(recorders, dict):
        titles, recorders = list(recorders), list(recorders.values())
    titles = titles or [None] * len(recorders)
    if sharex is None:
        sharex = kind in ("activations", "update_ratio", "saturation")
    fig = Figure(figsize=(3.6 * len(recorders), 3.4))
    axes = fig.subplots(1, len(recorders), sharex=sharex, sharey=kind != "gradients",
                        squeeze=False)[0]
    for k, (ax, rec, title) in enumerate(zip(axes, recorders, titles)):
        last = k == len(recorders) - 1
        rec.figure(kind, ax=ax, step=step, legend="outside" if legend and last else False,
                   labels="order")
        if title:
            ax.set_title(title)
        if k:
            ax.set_ylabel("")
    fig.tight_layout()
    return fig


def _legend(ax, where):
    """A legend inside the axes (``where`` True), to their right ("outside")
    or none (False)."""
    if not where or not ax.lines:
        return
    if where == "outside":
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1),
                  borderaxespad=0)
    else:
        ax.legend(fontsize="small")


def savefig(fig, path):
    """Save a matplotlib Figure; an SVG keeps its text as text (searchable,
    and comparable by the tour's tests). Returns ``path``."""
    import matplotlib
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "tinynet"}):
        fig.savefig(path, bbox_inches="tight", dpi=100)
    return path
