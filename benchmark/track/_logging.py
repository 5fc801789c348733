"""Writing the store: runs that end FINISHED, FAILED or KILLED, their logging handle, the
suite's summary run (replaced), datasets as MLflow inputs, system metrics, and the runs left
behind by dead workers."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark._process import owner_is_dead, shielded, stamp
from benchmark.settings import settings
from benchmark.track._keys import KIND_SUITE, KIND_TRIAL, PARENT, TAG
from benchmark.track._models import log_model
from benchmark.track._queries import Queries

if TYPE_CHECKING:
    import pandas as pd


def system_metrics_interval() -> float | None:
    """Seconds between samples of the system metrics of cell and trial runs
    (``MEDBENCH_SYSTEM_METRICS``: 10 by default, ``off`` for none)."""
    setting = settings().system_metrics
    return None if isinstance(setting, str) else setting


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested settings → ``{"train.lr": "0.001", ...}`` (lists as JSON) for MLflow params."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out |= flatten(value, f"{name}.")
        else:
            out[name] = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return out


class RunLog:
    """Logging handle of one MLflow run (explicit run id, no global active run)."""

    def __init__(self, client: Any, run_id: str) -> None:
        self._client, self.run_id = client, run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for start in range(0, len(items), 100):
            self._client.log_batch(self.run_id, params=items[start : start + 100])

    def log_metrics(self, metrics: Mapping[str, float], *, step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
        for start in range(0, len(items), 1000):
            self._client.log_batch(self.run_id, metrics=items[start : start + 1000])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        for key, value in tags.items():
            self._client.set_tag(self.run_id, key, str(value))

    def log_dict(self, obj: Any, path: str) -> None:
        self._client.log_dict(self.run_id, obj, path)

    def log_text(self, text: str, path: str) -> None:
        self._client.log_text(self.run_id, text, path)

    def log_figure(self, figure: Any, path: str) -> None:
        import matplotlib.pyplot as plt

        self._client.log_figure(self.run_id, figure, path)
        plt.close(figure)

    def log_array(self, array: Any, path: str) -> None:
        """A numpy array as ``.npy`` (read back with ``numpy.load(allow_pickle=False)``)."""
        import tempfile

        import numpy as np

        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / Path(path).name
            np.save(local, array, allow_pickle=False)
            self._client.log_artifact(self.run_id, str(local), str(Path(path).parent))

    def log_datasets(self, *, name: str, source: Mapping[str, str], table: pd.DataFrame) -> None:
        """A cell's data as MLflow dataset inputs of the run, one per split (contexts train,
        validation, test), each with a digest over its images' content hashes and labels: two
        runs on the same split show the same digests."""
        from mlflow.entities import Dataset, DatasetInput, InputTag

        columns = [{"type": "string", "name": c} for c in ("id", "label", "group", "sha256")]
        inputs = []
        for split, context in (("train", "train"), ("val", "validation"), ("test", "test")):
            rows = table[table["split"] == split]
            if rows.empty:
                continue
            pairs = zip(rows["sha256"], rows["label"], strict=True)
            lines = sorted(f"{content} {label}" for content, label in pairs)
            digest = hashlib.sha256("\n".join([split, *lines]).encode()).hexdigest()[:16]
            counts = {str(k): int(v) for k, v in rows["label"].value_counts().sort_index().items()}
            dataset = Dataset(
                name=name,
                digest=digest,
                source_type="medbench",
                source=json.dumps(dict(source), sort_keys=True),
                schema=json.dumps({"mlflow_colspec": columns}),
                profile=json.dumps({"num_rows": len(rows), "classes": counts}),
            )
            inputs.append(DatasetInput(dataset, tags=[InputTag("mlflow.data.context", context)]))
        try:
            self._client.log_inputs(self.run_id, datasets=inputs)
        except Exception:  # another worker stored the same dataset at the same moment
            time.sleep(0.5)
            self._client.log_inputs(self.run_id, datasets=inputs)  # now it finds it

    def log_model(self, folder: Path) -> str:
        """Log ``folder`` (a saved medbench model) as the run's pyfunc model ``model``; return
        its model id (see ``benchmark.track._models.log_model``)."""
        return log_model(self._client, self.run_id, folder=folder)


@contextmanager
def _system_metrics(run_id: str, tracking_uri: str, enabled: bool) -> Iterator[None]:
    """MLflow's own monitor of CPU, memory, disk, network and (with nvidia-ml-py) GPU use,
    sampled into ``system/*`` metrics of the run while it runs."""
    interval = system_metrics_interval() if enabled else None
    if interval is None:
        yield
        return
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)
    monitor = SystemMetricsMonitor(run_id, sampling_interval=interval, tracking_uri=tracking_uri)
    monitor.start()
    try:
        yield
    finally:
        monitor.finish()


class Logging(Queries):
    """The store's write side (see :class:`benchmark.track.Store`)."""

    @contextmanager
    def start_run(
        self,
        experiment_id: str,
        *,
        name: str,
        kind: str,
        tags: Mapping[str, str],
        parent_run_id: str | None = None,
        system_metrics: bool = False,
    ) -> Iterator[RunLog]:
        """A run stamped with this process (``medbench.host``, ``medbench.pid``): FINISHED on
        success, KILLED on Ctrl-C, FAILED (with the error in ``medbench.error``) otherwise;
        with ``system_metrics``, MLflow's system metrics sampled while it runs."""
        client = self._client
        all_tags = {f"{TAG}kind": kind, **{f"{TAG}{k}": v for k, v in stamp().items()}, **tags}
        if parent_run_id is not None:
            all_tags[PARENT] = parent_run_id
        with shielded():  # a stop now would leave a run RUNNING that nothing ends
            run_id = client.create_run(experiment_id, run_name=name, tags=all_tags).info.run_id
        try:
            with _system_metrics(run_id, self.tracking_uri, system_metrics):
                yield RunLog(client, run_id)
        except KeyboardInterrupt:
            with shielded():
                client.set_terminated(run_id, status="KILLED")
            raise
        except BaseException as exc:
            with shielded():
                client.set_tag(run_id, f"{TAG}error", f"{type(exc).__name__}: {exc}"[:5000])
                client.set_terminated(run_id, status="FAILED")
            raise
        else:
            with shielded():
                client.set_terminated(run_id, status="FINISHED")

    def run_log(self, run_id: str) -> RunLog:
        """The logging handle of an existing run (an analysis across cells written onto each
        cell's run after it ended)."""
        return RunLog(self._client, run_id)

    @contextmanager
    def start_summary_run(self, experiment_id: str, *, suite: str) -> Iterator[RunLog]:
        """The suite's ``summary`` run (analyses across cells). Once it has finished, the older
        ones are deleted, but never one still being written (two runs of a suite that end
        together each write theirs; readers take the newest)."""
        client = self._client
        with self.start_run(
            experiment_id, name="summary", kind=KIND_SUITE, tags={f"{TAG}suite": suite}
        ) as run:
            yield run
        started = client.get_run(run.run_id).info.start_time
        for old in client.search_runs(
            [experiment_id], filter_string=f"tags.`{TAG}kind` = '{KIND_SUITE}'"
        ):
            info = old.info
            if (
                info.run_id != run.run_id
                and info.status != "RUNNING"
                and info.start_time <= started
            ):
                with contextlib.suppress(Exception):  # deleted by another process meanwhile
                    client.delete_run(info.run_id)

    def log_report(self, suite: str, folder: Path, *, artifact_path: str) -> str:
        """Log ``folder`` on the suite's summary run (created when the suite has none yet);
        return that run's id."""
        run_id = self.summary_run(suite)
        if run_id is None:
            experiment_id = self.ensure_experiment(suite)
            with self.start_summary_run(experiment_id, suite=suite) as run:
                run_id = run.run_id
        self._client.log_artifacts(run_id, str(folder), artifact_path)
        return run_id

    def mark_dead_runs_failed(self, experiment_id: str) -> list[str]:
        """Mark FAILED the runs left RUNNING by a process of this host that no longer exists;
        return their ids."""
        dead = []
        for run in self._client.search_runs(
            [experiment_id], filter_string="attributes.status = 'RUNNING'"
        ):
            tags = run.data.tags
            if owner_is_dead(tags.get(f"{TAG}host"), tags.get(f"{TAG}pid")):
                self._client.set_terminated(run.info.run_id, status="FAILED")
                dead.append(run.info.run_id)
        return dead

    def fail_runs(self, run_ids: list[str]) -> list[str]:
        """End as FAILED those of ``run_ids`` still RUNNING (their worker died, on any host);
        return their ids."""
        ended = []
        for run_id in run_ids:
            try:
                run = self._client.get_run(run_id)
            except Exception:  # deleted meanwhile
                continue
            if run.info.status == "RUNNING":
                self._client.set_terminated(run_id, status="FAILED")
                ended.append(run_id)
        return ended

    def adopt_trial_runs(self, experiment_id: str, *, study: str, parent_run_id: str) -> int:
        """Move the finished trial runs of ``study`` (kept by an interrupted cell run) under
        ``parent_run_id``, so the cell that finishes shows every trial of its study; return
        how many moved."""
        runs = self._client.search_runs(
            [experiment_id],
            filter_string=(
                f"tags.`{TAG}kind` = '{KIND_TRIAL}' and tags.`{TAG}study` = '{study}' "
                "and attributes.status = 'FINISHED'"
            ),
        )
        moved = 0
        for run in runs:
            if run.data.tags.get(PARENT) != parent_run_id:
                self._client.set_tag(run.info.run_id, PARENT, parent_run_id)
                moved += 1
        return moved
