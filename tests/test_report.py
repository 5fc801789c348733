"""``medbench report``: a self-contained page with every table and the papers' figures,
rendered by headless Chromium without console errors."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from benchmark import track
from benchmark.report import write_report
from tests.store_fixture import (
    EFFICIENCY_SUITE,
    EVALUATE_SUITE,
    REFERENCES,
    SUITE,
    build_efficiency_store,
    build_evaluate_store,
    build_store,
)

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)


@pytest.fixture
def report(tracking_uri, tmp_path):
    build_store(tracking_uri)
    store = track.connect(tracking_uri)
    return write_report(
        store, SUITE, out=tmp_path / "report", references=REFERENCES, description="fixture suite"
    ), store


def test_report_holds_every_table_and_figure_and_logs_them(report):
    written, store = report
    page = written.page.read_text()
    for table in ("summary", "classes", "cost", "latency", "compare", "explain", "trials"):
        assert f'data-table="{table}"' in page
    assert "table efficiency: nothing recorded" in written.skipped  # no label-efficiency axis
    assert "table external: nothing recorded" in written.skipped  # no evaluate block
    assert "figure robustness_curves: not enough data" in written.skipped
    names = {p.stem for p in written.figures}
    assert names == {"confusion_matrices", "accuracy_vs_params", "accuracy_vs_latency",
                     "training_curves", "ablations"}  # fmt: skip
    assert page.count("data:image/png;base64,") == len(names) + 3 + 1  # + CAMs + overlap
    assert 'src="http' not in page and "<script" not in page  # opens without a server
    assert "<h2>accuracy vs params</h2>" in page  # each figure under its own title
    assert "<b>0.9500</b>" in page  # best accuracy of its dataset in bold
    summary = store.summary_run(SUITE)
    logged = set(store.artifact_files(summary, "report"))
    assert {f"report/{n}.png" for n in names} <= logged
    assert store.suite_analysis(SUITE, "paired_tests.json")  # analyses kept


def _render(page, out, size="1300,5000"):
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--enable-logging=stderr", "--v=0",
         f"--window-size={size}", f"--screenshot={out}", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    return result, console


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (apt install chromium)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    written, _ = report
    shot = tmp_path / "report.png"
    result, console = _render(written.page, shot)
    assert result.returncode == 0, result.stderr[-2000:]
    assert console == [], console
    image = np.asarray(Image.open(shot).convert("RGB"))
    ink = (image.min(axis=2) < 200).mean()  # share of pixels that are not near-white
    colours = len(np.unique(image.reshape(-1, 3)[::7], axis=0))
    assert ink > 0.05 and colours > 200, (ink, colours)  # tables' text and coloured figures
    top = image[:600]
    assert (top.min(axis=2) < 100).mean() > 0.01  # the title and the first tables are there

    # The console check can fail: a page that logs an error is caught.
    bad = tmp_path / "bad.html"
    bad.write_text("<p>x</p><script>console.error('broken figure')</script>")
    _, caught = _render(bad, tmp_path / "bad.png", size="400,300")
    assert any("broken figure" in line for line in caught)


def test_the_report_says_how_busy_each_cell_kept_the_machine(tracking_uri, tmp_path):
    from mlflow.entities import Metric

    client = build_store(tracking_uri)
    store = track.connect(tracking_uri)
    runs = store.cell_runs(SUITE)
    busy, idle = runs.iloc[0], runs.iloc[1]
    client.set_tag(busy["run_id"], "medbench.device", "cuda:0")  # CUDA's number, in its worker
    client.set_tag(busy["run_id"], "medbench.nvml", "1")  # NVML's, which the metrics carry
    samples = {"system/cpu_utilization_percentage": [50, 70, 90],
               "system/system_memory_usage_megabytes": [2048, 4096, 3072],
               "system/gpu_0_utilization_percentage": [5, 5, 5],
               "system/gpu_1_utilization_percentage": [90, 96, 99],
               "system/gpu_1_memory_usage_megabytes": [1024, 6144, 5120]}  # fmt: skip
    metrics = [Metric(key, value, 0, step) for key, values in samples.items()
               for step, value in enumerate(values)]  # fmt: skip
    client.log_batch(busy["run_id"], metrics=metrics)
    page = write_report(store, SUITE, out=tmp_path / "report").page.read_text()
    line = next(li for li in page.split("<li>") if li.startswith(busy["tags.medbench.cell"]))
    assert "CPU 70 % (mean), memory 4.1 GB (peak), GPU 1 95 % (mean), 6.1 GB (peak)" in line
    assert "GPU 0" not in line and "(3 samples)" in line  # only the GPU the cell trained on
    assert f"<li>{idle['tags.medbench.cell']}:" not in page  # nothing recorded, nothing said


def test_label_efficiency_is_drawn_as_curves_with_bands(tracking_uri, tmp_path):
    build_efficiency_store(tracking_uri)
    written = write_report(track.connect(tracking_uri), EFFICIENCY_SUITE, out=tmp_path / "r")
    page = written.page.read_text()
    assert "label_efficiency" in {p.stem for p in written.figures}
    assert "<h2>label efficiency</h2>" in page and 'data-table="efficiency"' in page
    image = np.asarray(Image.open(tmp_path / "r" / "figures" / "label_efficiency.png"))
    assert image.shape[1] > 400 and len(np.unique(image.reshape(-1, image.shape[2]), axis=0)) > 50


def test_external_validation_and_robustness_are_drawn_when_measured(tracking_uri, tmp_path):
    build_evaluate_store(tracking_uri)
    written = write_report(track.connect(tracking_uri), EVALUATE_SUITE, out=tmp_path / "r")
    page = written.page.read_text()
    assert {"external_validation", "robustness_curves"} <= {p.stem for p in written.figures}
    assert 'data-table="external"' in page and 'data-table="robustness"' in page
    for title in ("external validation", "robustness curves"):
        assert f'<h2>{title}</h2>\n<img alt="{title}" src="data:image/png;base64,' in page
    for name in ("external_validation", "robustness_curves"):
        image = np.asarray(Image.open(tmp_path / "r" / "figures" / f"{name}.png"))
        colours = len(np.unique(image.reshape(-1, image.shape[2]), axis=0))
        assert image.shape[1] > 400 and colours > 50
