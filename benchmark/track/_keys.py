"""The names of the MLflow layout (a contract): tag prefix, kinds of run, the columns of the
runs tables, the experiment's kind and the weights' record."""

from __future__ import annotations

TAG = "medbench."
KIND_CELL, KIND_TRIAL, KIND_SUITE = "cell", "trial", "suite"
PARENT = "mlflow.parentRunId"
# MLflow 3's kind of experiment: model training (runs), not GenAI (traces).
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
SHA_TAG = f"{TAG}weights_sha256"  # a run's and a registered version's record of its weights


def tag_column(name: str) -> str:
    """The column of tag ``medbench.<name>`` in the runs tables ``Store.cell_runs`` gives."""
    return f"tags.{TAG}{name}"


def metric_column(key: str) -> str:
    """The column of metric ``key`` (``test/accuracy``) in those tables."""
    return f"metrics.{key}"
