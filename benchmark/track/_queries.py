"""Reading the store: a suite's cell runs as a table, finished cells by configuration, the
suites, the summary run's analyses, a run's metrics, histories, dataset profiles and
artifacts."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.errors import TrackingError
from benchmark.track._connection import StoreBase
from benchmark.track._keys import KIND_CELL, KIND_SUITE, TAG

if TYPE_CHECKING:
    import pandas as pd


class Queries(StoreBase):
    """The store's read side (see :class:`benchmark.track.Store`)."""

    def suites(self) -> list[str]:
        """Names of experiments holding medbench cell runs."""
        names = []
        for experiment in self._client.search_experiments():
            runs = self._client.search_runs(
                [experiment.experiment_id],
                filter_string=f"tags.`{TAG}kind` = '{KIND_CELL}'",
                max_results=1,
            )
            if runs:
                names.append(experiment.name)
        return names

    def cell_runs(self, suite: str, *, latest: bool = True, finished: bool = True) -> pd.DataFrame:
        """FINISHED cell runs of ``suite`` as a DataFrame (``run_id``, ``status``,
        ``metrics.*``, ``params.*``, ``tags.*``; see ``tag_column`` and ``metric_column``),
        newest first.

        With ``latest`` only the newest run of each cell is kept; ``finished=False`` keeps
        runs of every status (``status`` says which).
        """
        import mlflow

        experiment_id = self.experiment_id(suite)
        if experiment_id is None:
            known = self.suites()
            raise TrackingError(
                f"no MLflow experiment named '{suite}' in {self.tracking_uri}; "
                f"suites with results: {known or 'none yet (run `medbench run SUITE` first)'}."
            )
        mlflow.set_tracking_uri(self.tracking_uri)  # the fluent search reads the global store
        runs = mlflow.search_runs(
            experiment_ids=[experiment_id],
            filter_string=f"tags.`{TAG}kind` = '{KIND_CELL}'"
            + (" and attributes.status = 'FINISHED'" if finished else ""),
            order_by=["attributes.start_time DESC"],
            output_format="pandas",
        )
        if latest and not runs.empty:
            runs = runs.drop_duplicates(subset=[f"tags.{TAG}cell"], keep="first")
        return runs.reset_index(drop=True)

    def finished_cell(self, experiment_id: str, config_hash: str) -> str | None:
        """The id of a FINISHED cell run with this config hash, if there is one (resume)."""
        runs = self._client.search_runs(
            [experiment_id],
            filter_string=(
                f"tags.`{TAG}kind` = '{KIND_CELL}' and tags.`{TAG}config_hash` = '{config_hash}' "
                "and attributes.status = 'FINISHED'"
            ),
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

    def summary_run(self, suite: str) -> str | None:
        """The id of the suite's newest finished ``summary`` run, if it has one."""
        experiment_id = self.experiment_id(suite)
        if experiment_id is None:
            return None
        runs = self._client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{TAG}kind` = '{KIND_SUITE}' and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

    def suite_analysis(self, suite: str, name: str) -> dict[str, Any]:
        """``{dataset: json}`` of ``analysis/<dataset>/<name>`` on the suite's summary run."""
        run_id = self.summary_run(suite)
        if run_id is None:
            return {}
        out = {}
        for folder in self._client.list_artifacts(run_id, "analysis"):
            names = {a.path for a in self._client.list_artifacts(run_id, folder.path)}
            if f"{folder.path}/{name}" in names:
                text = self.artifact_text(run_id, f"{folder.path}/{name}")
                out[folder.path.split("/", 1)[1]] = json.loads(text)
        return out

    def run_metrics(self, run_id: str) -> dict[str, float]:
        """The latest value of every metric of a run."""
        return dict(self._client.get_run(run_id).data.metrics)

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        """Every ``(step, value)`` a run logged for ``key``, in the order logged."""
        return [(m.step, m.value) for m in self._client.get_metric_history(run_id, key)]

    def dataset_profiles(self, run_id: str) -> dict[str, dict]:
        """Per context (train, validation, test), the profile of the dataset input a cell run
        logged (``num_rows``, ``classes``); empty for runs logged before datasets were."""
        profiles = {}
        for entry in self._client.get_run(run_id).inputs.dataset_inputs or []:
            context = next((t.value for t in entry.tags if t.key == "mlflow.data.context"), None)
            with contextlib.suppress(TypeError, ValueError):
                if context:
                    profiles[context] = json.loads(entry.dataset.profile or "{}")
        return profiles

    def artifact_files(self, run_id: str, folder: str) -> list[str]:
        """The paths of the files a run logged under ``folder``, its subfolders' included,
        sorted."""
        found = []
        for item in self._client.list_artifacts(run_id, folder):
            if item.is_dir:
                found += self.artifact_files(run_id, item.path)
            else:
                found.append(item.path)
        return sorted(found)

    def artifact_text(self, run_id: str, path: str) -> str:
        """An artifact's text (``eval/predictions.csv`` of a cell run, say)."""
        import mlflow

        return mlflow.artifacts.load_text(
            f"{self._client.get_run(run_id).info.artifact_uri}/{path}"
        )

    def download_artifact(self, run_id: str, path: str, *, folder: Path) -> Path:
        """A copy of a run's artifact ``path`` under ``folder``."""
        return Path(self._client.download_artifacts(run_id, path, str(folder)))
