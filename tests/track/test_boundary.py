"""MLflow stays behind ``track``: no module outside it imports mlflow (but MLflow's own model
class, ``serve/mlflow_model.py``), and none calls MLflow's client."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "benchmark"
MAY_IMPORT = {PACKAGE / "serve" / "mlflow_model.py"}
_IMPORT = re.compile(r"^\s*(import\s+mlflow\b|from\s+mlflow\b)", re.MULTILINE)
_CLIENT_CALL = re.compile(
    r"\.(search_runs|search_experiments|get_run|get_experiment|get_experiment_by_name"
    r"|create_experiment|create_run|set_terminated|delete_run|log_batch|log_inputs"
    r"|get_metric_history|list_artifacts|download_artifacts|log_artifacts?|set_experiment_tag"
    r"|search_model_versions|search_registered_models|get_registered_model"
    r"|create_registered_model|create_model_version|get_model_version\w*"
    r"|set_registered_model_alias|set_model_version_tag|create_logged_model)\("
)


def offences(path: Path, source: str) -> list[str]:
    """What ``source`` (the text of ``path``) does with MLflow that only ``track`` may."""
    if PACKAGE / "track" in path.parents:
        return []
    found = [f"{path.name}: calls .{m.group(1)}(" for m in _CLIENT_CALL.finditer(source)]
    if path not in MAY_IMPORT:
        found += [f"{path.name}: imports mlflow" for _ in _IMPORT.finditer(source)]
    return found


def test_only_track_imports_mlflow_or_calls_its_client():
    found = [
        line
        for path in sorted(PACKAGE.rglob("*.py"))
        for line in offences(path, path.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_the_check_catches_imports_and_client_calls():
    report = PACKAGE / "report.py"
    assert offences(report, "from mlflow import MlflowClient\n") == ["report.py: imports mlflow"]
    assert offences(report, "def f():\n    import mlflow.artifacts\n") != []
    assert offences(report, "runs = store._client.search_runs([id])") == [
        "report.py: calls .search_runs("
    ]
    assert offences(report, "x = client.get_metric_history(run, key)") != []
    assert offences(PACKAGE / "track" / "_queries.py", "import mlflow\nc.get_run(i)") == []
    assert offences(PACKAGE / "serve" / "mlflow_model.py", "import mlflow\n") == []
    assert offences(PACKAGE / "serve" / "mlflow_model.py", "client.get_run(i)") != []
    assert offences(report, "run.set_tags({})\nstore.run_metrics(run_id)\n") == []
