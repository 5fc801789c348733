"""The only importer of MLflow: store location, run naming, logging and querying, models and
the registry.

Layout (a contract, see the architecture notes): one experiment per suite; one run per
cell named ``dataset/backbone/strategy`` with ``medbench.*`` tags; per-epoch metrics at
their step; ``test/*`` metrics and artifacts on the cell run; the cell's model as a pyfunc
model named ``model`` of that run.
"""

from __future__ import annotations

from benchmark.track._models import (
    SHA_TAG,
    ModelSource,
    champion_uri,
    log_model,
    logged_model_id,
    register_model,
    resolve_model,
    verify_weights,
    weights_sha256,
)
from benchmark.track._runs import (
    EXPERIMENT_KIND,
    TAG,
    TRACKING_HELP,
    RunLog,
    adopt_trial_runs,
    connect,
    dataset_profiles,
    ensure_experiment,
    fail_runs,
    find_finished_cell,
    find_summary_run,
    flatten,
    list_suites,
    load_cell_runs,
    load_suite_analysis,
    load_text,
    log_datasets,
    log_report,
    mark_dead_runs_failed,
    metric_column,
    resolve_tracking_uri,
    runs_url,
    start_run,
    start_summary_run,
    tag_column,
)

__all__ = [
    "EXPERIMENT_KIND",
    "SHA_TAG",
    "TAG",
    "TRACKING_HELP",
    "ModelSource",
    "RunLog",
    "adopt_trial_runs",
    "champion_uri",
    "connect",
    "dataset_profiles",
    "ensure_experiment",
    "fail_runs",
    "find_finished_cell",
    "find_summary_run",
    "flatten",
    "list_suites",
    "load_cell_runs",
    "load_suite_analysis",
    "load_text",
    "log_datasets",
    "log_model",
    "log_report",
    "logged_model_id",
    "mark_dead_runs_failed",
    "metric_column",
    "register_model",
    "resolve_model",
    "resolve_tracking_uri",
    "runs_url",
    "start_run",
    "start_summary_run",
    "tag_column",
    "verify_weights",
    "weights_sha256",
]
