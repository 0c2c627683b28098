"""Moved: the run directory is ``tinynet.recipes.run.Run`` and the image
classifiers' training loop ``tinynet.recipes.classify``. The names this
module had stay importable from here.

``fit`` keeps its old return value: ``{"epochs", "steps", "val_acc",
"seconds"}`` for a finished run, ``{"stopped_at_step", "epoch"}`` for one
stopped by ``max_steps``; ``tinynet.recipes.classify.fit`` returns a
``Result`` (the same fields for every recipe).
"""
from tinynet.recipes import classify as _classify
from tinynet.recipes.classify import (  # noqa: F401
    METRICS, build, default_run_dir, evaluate, image_geometry, load_data, make_optimizer)
from tinynet.recipes.run import Run  # noqa: F401


def fit(config, run, resume=False):
    """Train (or continue) the run; returns a summary dict (see the module docstring)."""
    result = _classify.fit(config, run, resume)
    if result.stopped:
        return {"stopped_at_step": result.steps, "epoch": result.epochs}
    return {"epochs": result.epochs, "steps": result.steps,
            "val_acc": result.metrics.get("val_acc"), "seconds": result.seconds}
