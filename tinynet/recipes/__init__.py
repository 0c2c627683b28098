"""Training recipes: one module per task, each a short loop around ``Run``.

    run.py        Run (run directory, checkpoints, Ctrl-C, progress bars,
                  metrics.csv, curves.png, per-step callbacks), the
                  strategies Local and DataParallel (MPI), and Result
    classify.py   image classifiers: the mlp, cnn, resnet and binary_cnn seeds
                  (a run directory, resume, --distributed)
    char_lm.py    character language models: the lstm seed, and any model
                  mapping token ids (B, T) to logits (B, T, V)
    forecast.py   time-series forecasting: the rnn seed
    sentiment.py  text classification: the sentiment seed
    options.py    command-line options for a seed's model hyper-parameters

Which recipe trains which model is the registry's business
(``tinynet.models``). Every recipe module provides:

- ``DEFAULTS``: its own settings (a seed's registered defaults extend and
  override them; the rest of those are the model's hyper-parameters);
- ``train(config=None, model=NAME, run=None) -> Result``; every recipe
  returns the same ``Result`` fields (``tinynet.recipes.run.Result``:
  model, steps, epochs, stopped, history, losses, metrics, seconds,
  run_dir, extras);
- ``add_arguments(parser, entry)`` and ``command(args, entry) -> exit
  status``: ``tinynet train NAME``; optionally ``check_arguments(args,
  parser)`` for checks across options.

``classify`` also has ``fit(config, run, resume=False)`` (what ``tinynet
train`` and ``tinynet resume`` run), ``build``, ``evaluate`` and ``report``.
"""
from tinynet.recipes.run import DataParallel, Local, Result, Run, strategy_for  # noqa: F401

RECIPES = ("classify", "char_lm", "forecast", "sentiment")
