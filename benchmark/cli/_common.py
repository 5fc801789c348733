"""Argument helpers shared by commands."""

from __future__ import annotations

from pathlib import Path

from benchmark import track
from benchmark.errors import TrackingError

TRACKING_HELP = (
    "MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db)."
)


def resolve_suite_name(client, suite_or_experiment: str | None) -> str:
    """A suite file's name, an experiment name as given, or the only suite with results."""
    if suite_or_experiment is None:
        names = track.list_suites(client)
        if len(names) == 1:
            return names[0]
        if not names:
            raise TrackingError(
                f"no results in {client.tracking_uri} yet: run `medbench run SUITE` first."
            )
        raise TrackingError(f"several suites have results, name one of {names}.")
    path = Path(suite_or_experiment)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        from benchmark.suite import load_suite

        return load_suite(path).name
    return suite_or_experiment
