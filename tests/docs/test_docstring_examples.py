"""The ``Example::`` sections of tinynet.nn and tinynet.optim run, and say
what they print.

Every module under ``tinynet.nn`` and ``tinynet.optim`` is searched with
``doctest.DocTestFinder``; each docstring with ``>>>`` lines becomes one
test. Examples see the names a reader would have after::

    import numpy as np
    import tinynet as tn
    import tinynet.nn as nn
    import tinynet.nn.functional as F
    import tinynet.optim as optim

and run with the random generator seeded (``tn.manual_seed(0)``) and
NumPy's default print options; the generator's state is put back after
each one. Outputs are compared exactly, so an example shows deterministic
things: shapes, or values computed from fixed inputs.

Besides, every public layer, optimizer and scheduler documents itself in
PyTorch's manner: its own docstring opens with a one-line summary and has
an ``Example::`` section, an ``Args:`` section naming each constructor
argument, and for layers a ``Shape:`` section.
"""
import doctest
import importlib
import inspect
import pkgutil
import re

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
import tinynet.nn.functional as F
import tinynet.optim as optim
from tinynet.optim import lr_scheduler

PACKAGES = (nn, optim)

# NumPy's defaults, in case another test changed the process-wide options
PRINT_OPTIONS = dict(precision=8, threshold=1000, edgeitems=3, linewidth=75,
                     suppress=False, nanstr="nan", infstr="inf", sign="-",
                     floatmode="maxprec", legacy=False)


def _globs():
    return {"np": np, "tn": tn, "nn": nn, "F": F, "optim": optim}


def _modules():
    """Every module of the searched packages, imported."""
    mods = []
    for pkg in PACKAGES:
        mods.append(pkg)
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            mods.append(importlib.import_module(info.name))
    return mods


def _doctests():
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = {}
    for mod in _modules():
        for test in finder.find(mod, mod.__name__, globs=_globs()):
            if test.examples:
                found.setdefault(test.name, test)
    return [found[name] for name in sorted(found)]


def _public_classes():
    """The layers of tinynet.nn (Module subclasses but Module itself), the
    optimizers of tinynet.optim and the learning-rate schedulers."""
    layers = [obj for name, obj in vars(nn).items()
              if not name.startswith("_") and inspect.isclass(obj)
              and issubclass(obj, nn.Module) and obj is not nn.Module]
    optimizers = [obj for name, obj in vars(optim).items()
                  if not name.startswith("_") and inspect.isclass(obj)
                  and issubclass(obj, optim.Optimizer)]
    schedulers = [getattr(lr_scheduler, name) for name in lr_scheduler.__all__]
    return layers, optimizers, schedulers


DOCTESTS = _doctests()
LAYERS, OPTIMIZERS, SCHEDULERS = _public_classes()


@pytest.fixture
def isolated_state():
    """A seeded generator and default print options; both restored after."""
    rng = tn.random.get_rng_state()
    tn.manual_seed(0)
    with np.printoptions(**PRINT_OPTIONS):
        yield
    tn.random.set_rng_state(rng)


@pytest.mark.parametrize("test", DOCTESTS, ids=[t.name for t in DOCTESTS])
def test_docstring_example(test, isolated_state):
    report = []
    runner = doctest.DocTestRunner(optionflags=doctest.REPORT_NDIFF, verbose=False)
    test.globs = _globs()           # a fresh namespace even when rerun
    result = runner.run(test, out=report.append)
    assert result.attempted == len(test.examples)
    assert result.failed == 0, "".join(report)


def test_examples_are_found():
    # the search above must not pass by finding nothing
    public = len(LAYERS) + len(OPTIMIZERS) + len(SCHEDULERS)
    n_examples = sum(len(t.examples) for t in DOCTESTS)
    assert len(LAYERS) >= 80 and len(OPTIMIZERS) >= 11 and len(SCHEDULERS) >= 15
    assert n_examples >= public, (f"{n_examples} doctest examples found for {public} "
                                  "public layers, optimizers and schedulers")


def _own_doc(cls):
    return cls.__dict__.get("__doc__") or ""


def _constructor_args(cls):
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params
            if p.name != "self" and not p.name.startswith("_")
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _section(doc, title):
    """The text of section ``title:`` of a docstring (up to the next section)."""
    m = re.search(rf"^\s*{title}:+\s*$(.*?)(?=^\s*[A-Z][A-Za-z ]*:+\s*$|\Z)", doc, re.M | re.S)
    return m.group(1) if m else None


@pytest.mark.parametrize("cls", LAYERS + OPTIMIZERS + SCHEDULERS,
                         ids=lambda c: c.__name__)
def test_public_class_is_documented(cls):
    doc = _own_doc(cls)
    name = cls.__name__
    assert doc.strip(), f"{name} has no docstring of its own"
    summary = doc.strip().split("\n\n")[0]
    assert "\n" not in summary, f"{name}: the docstring must open with a one-line summary"
    example = _section(doc, "Example")
    assert example and ">>>" in example, f"{name}: no 'Example::' section with >>> lines"
    args = _constructor_args(cls)
    if args:
        text = _section(doc, "Args")
        assert text is not None, f"{name}: no 'Args:' section for {args}"
        missing = [a for a in args if not re.search(rf"\b{a}\b", text)]
        assert not missing, f"{name}: 'Args:' does not describe {missing}"
    if cls in LAYERS:
        assert _section(doc, "Shape") is not None, f"{name}: no 'Shape:' section"
