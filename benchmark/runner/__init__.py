"""Runs a suite: every cell tuned, trained, evaluated once on its test split, and tracked.

The only package that decides what is logged. Both stores are checked before anything else
(seconds, not minutes, when one is unreachable or read-only); datasets are indexed and split
before any training (bad data fails fast); images are decoded once per dataset and size and
shared by the cells that use them. Per cell: an Optuna study on train/val (each trial a
nested MLflow run), then the final training with the best settings (once per seed), then
the test split, touched once. A failing cell is recorded as FAILED and the others still
run; cells already FINISHED with the same config hash are skipped; an interrupted study or
training resumes. Analyses across cells go to the suite's summary run.

Cells are claimed through the suite's board in the Optuna storage, so any number of
workers (processes of one launcher, ``medbench run`` started twice, ``medbench worker`` on
other machines) share one suite and no cell is trained twice.

The package loads lazily (``__init__.pyi`` lists its names), so that the checks before a
run (:mod:`benchmark.runner._preflight`) refuse a start without importing MLflow or Optuna.
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach_stub(__name__, __file__)
