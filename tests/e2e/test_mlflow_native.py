"""MLflow and Optuna as their users know them, through their own servers: a suite's
experiment opens on the runs table, each cell lists its data as datasets and records system
metrics, and Optuna Dashboard reads the studies with their cells and runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from benchmark import track
from tests._server import free_port, wait_for
from tests.conftest import ROOT, write_suite

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def _get(url: str, **query) -> dict:
    full = f"{url}?{urllib.parse.urlencode(query)}" if query else url
    with urllib.request.urlopen(full, timeout=30) as response:
        return json.load(response)


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def served_suite(tmp_path_factory):
    """A tiny tuned suite of two cells run against a real ``mlflow server`` (SQLite behind
    it), with system metrics every 0.2 s; yields the server's URL, the storage and the
    experiment id."""
    folder = tmp_path_factory.mktemp("served")
    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    log = (folder / "server.log").open("w")  # a pipe nobody reads would block the server
    server = subprocess.Popen(
        [str(mlflow), "server", "--backend-store-uri", f"sqlite:///{folder}/mlflow.db",
         "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        env={**os.environ, "PATH": f"{mlflow.parent}{os.pathsep}{os.environ.get('PATH', '')}"},
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/health", server, timeout=180, log=folder / "server.log")
        from tests.conftest import TINY_SUITE

        suite = write_suite(folder / "suite.yaml", {
            **TINY_SUITE,
            "backbones": [{"name": "test_resnet", "pretrained": False},
                          {"name": "test_efficientnet", "pretrained": False}],
            "train": {**TINY_SUITE["train"], "epochs": 3},
            "tune": {"trials": 2, "pruner": {"kind": "none"}},
        })  # fmt: skip
        storage = folder / "optuna.journal"
        inherited = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        run = subprocess.run(
            [sys.executable, "-m", "benchmark", "run", str(suite), "--system-metrics", "0.2",
             "--tracking-uri", url, "--storage", str(storage)],
            cwd=folder, env=inherited, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-3000:]
        experiment = _get(f"{url}/api/2.0/mlflow/experiments/get-by-name", experiment_name="tiny")
        yield url, storage, experiment["experiment"]
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _cell_runs(url: str, experiment_id: str) -> list[dict]:
    found = _post(f"{url}/api/2.0/mlflow/runs/search", {
        "experiment_ids": [experiment_id], "filter": "tags.`medbench.kind` = 'cell'"})  # fmt: skip
    return found["runs"]


def test_the_suite_is_a_training_experiment_whose_cells_list_their_data(served_suite):
    url, _, experiment = served_suite
    tags = {t["key"]: t["value"] for t in experiment.get("tags", [])}
    assert tags[track.EXPERIMENT_KIND[0]] == "custom_model_development"

    runs = _cell_runs(url, experiment["experiment_id"])
    assert len(runs) == 2
    digests = []
    for run in runs:
        metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        inputs = run["inputs"]["dataset_inputs"]
        by_context = {
            next(t["value"] for t in i["tags"] if t["key"] == "mlflow.data.context"): i["dataset"]
            for i in inputs
        }
        assert sorted(by_context) == ["test", "train", "validation"]
        for context, split in (("train", "train"), ("validation", "val"), ("test", "test")):
            dataset = by_context[context]
            profile = json.loads(dataset["profile"])
            assert dataset["name"] == "phantoms"
            assert profile["num_rows"] == metrics[f"data/{split}_images"]
            assert sum(profile["classes"].values()) == profile["num_rows"]
            assert json.loads(dataset["source"])["layout"] == "synthetic"
        digests.append({c: d["digest"] for c, d in by_context.items()})
        assert len(set(digests[-1].values())) == 3  # each split its own digest
    assert digests[0] == digests[1]  # both cells saw the same split

    for run in runs:  # MLflow's system metrics, sampled while the cell ran
        history = _get(f"{url}/api/2.0/mlflow/metrics/get-history",
                       run_id=run["info"]["run_id"],
                       metric_key="system/cpu_utilization_percentage")["metrics"]  # fmt: skip
        assert len(history) >= 2
        assert all(0 <= m["value"] <= 100 * os.cpu_count() for m in history)


def test_optuna_dashboard_reads_the_studies_with_their_cells(served_suite):
    url, storage, experiment = served_suite
    port = free_port()
    log_path = storage.parent / "dashboard.log"
    with log_path.open("w") as log:
        dashboard = subprocess.Popen(
            [str(Path(sys.executable).with_name("optuna-dashboard")), str(storage),
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for(f"http://127.0.0.1:{port}/api/studies", dashboard, timeout=60, log=log_path)
            studies = _get(f"http://127.0.0.1:{port}/api/studies")["study_summaries"]
        finally:
            dashboard.terminate()
            dashboard.wait(timeout=30)
    attrs = {s["study_name"]: {a["key"]: a["value"] for a in s["user_attrs"]} for s in studies}
    assert attrs["tiny.cells"]["suite"] == "tiny"
    runs = {r["info"]["run_id"]: r for r in _cell_runs(url, experiment["experiment_id"])}
    cells = {name: a for name, a in attrs.items() if name != "tiny.cells"}
    assert len(cells) == 2
    for name, study in cells.items():
        run = runs[study["mlflow_run_id"]]  # the cell's MLflow run
        tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
        assert study["cell"] == tags["medbench.cell"] and study["suite"] == "tiny", name
        assert study["backbone"] == tags["medbench.backbone"]


@pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="no headless browser here (apt install chromium chromium-driver)",
)
def test_the_mlflow_ui_shows_the_suite_on_its_runs_table_with_datasets(served_suite):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.support.ui import WebDriverWait

    url, _, experiment = served_suite
    names = [r["info"]["run_name"] for r in _cell_runs(url, experiment["experiment_id"])]
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--window-size=1400,900"):  # fmt: skip
        options.add_argument(flag)
    browser = webdriver.Chrome(options=options, service=webdriver.ChromeService(DRIVER))
    try:
        browser.get(track.runs_url(url, experiment["experiment_id"]))  # what `medbench ui` prints
        WebDriverWait(browser, 120).until(
            lambda b: all(n in b.find_element("tag name", "body").text for n in names)
        )
        text = browser.find_element("tag name", "body").text
        assert "Run Name" in text and "Dataset" in text  # the runs table, with its datasets
        assert "phantoms (" in text  # a cell's dataset and digest in the Dataset column
        assert "traces" not in browser.current_url.lower()  # not the GenAI view
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "mlflow-runs.png"))
    finally:
        browser.quit()
