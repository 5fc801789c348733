"""``--export medmnist``: each cell's and seed's test scores as the result files MedMNIST's
own ``Evaluator`` reads, re-scored by that package to the numbers in their names, its AUC
equal to ours."""

from __future__ import annotations

import copy
import io
import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from typer.testing import CliRunner

from benchmark import track
from benchmark.cli import app
from benchmark.data import medmnist
from benchmark.errors import DataError
from benchmark.evaluate import evaluate, evaluate_binary, evaluate_multilabel, evaluate_ordinal
from benchmark.leaderboard import export_medmnist, medmnist_file
from benchmark.leaderboard._export import medmnist_run

NAME = re.compile(r"^(\w+?)(_\d+)?_test_\[AUC\]([\d.]+)_\[ACC\]([\d.]+)@([A-Za-z0-9-]+)\.csv$")


@pytest.fixture(autouse=True)
def own_info(monkeypatch):
    """A copy of INFO whose split sizes :func:`fake_npz` sets to its fakes'."""
    table = copy.deepcopy(medmnist._table())
    monkeypatch.setattr(medmnist, "_table", lambda: table)


def fake_npz(root: Path, flag: str, size: int, n: int, seed: int = 0) -> np.ndarray:
    """A MedMNIST-like ``{flag}{size_flag}.npz``: ``n`` images per split of ``size`` px
    (noise, with ``INFO``'s channels) and labels of the real shapes, every class (or label
    value) present in each split; returns the test labels (the same in every split)."""
    rng = np.random.default_rng(seed)
    medmnist.info(flag)["n_samples"] = dict.fromkeys(("train", "val", "test"), n)
    channels = medmnist.info(flag)["n_channels"]
    shape = (n, size, size) + ((3,) if channels == 3 else ())
    k = len(medmnist.labels(flag))
    if medmnist.task_kind(flag) == "multilabel":
        labels = rng.integers(0, 2, (n, k))
        labels[:2] = [[0] * k, [1] * k]  # every label with both values
    else:
        labels = np.arange(n)[:, None] % k  # every class present
        rng.shuffle(labels)
    arrays = {
        f"{s}_images": rng.integers(0, 256, shape, np.uint8) for s in ("train", "val", "test")
    }
    arrays |= {f"{s}_labels": labels.astype(np.uint8) for s in ("train", "val", "test")}
    root.mkdir(parents=True, exist_ok=True)
    np.savez(root / medmnist.file_name(flag, size), **arrays)
    return labels


def scored(flag: str, labels: np.ndarray, seed: int = 0) -> tuple[pd.DataFrame, float]:
    """Our evaluation of random scores of the npz's test images (ids ``test/000123``, rows
    shuffled), as a run logs ``eval/predictions.csv`` and read back; and our AUROC."""
    rng = np.random.default_rng(seed)
    names, kind = medmnist.labels(flag), medmnist.task_kind(flag)
    n = len(labels)
    order = rng.permutation(n)  # the order a run lists them in is not the official one
    ids = [f"test/{i:06d}" for i in order]
    if kind == "multilabel":
        probs = rng.random((n, len(names))).astype(np.float32)
        result = evaluate_multilabel(labels[order].astype(float), probs, labels=names, ids=ids,
                                     thresholds=[0.3] * len(names))  # fmt: skip
    else:
        y = labels[order, 0]
        probs = rng.dirichlet(np.ones(len(names)), n).astype(np.float32)
        common = dict(classes=names, ids=ids)
        if kind == "binary":
            result = evaluate_binary(y, probs, threshold=0.3, **common)  # not MedMNIST's 0.5
        elif kind == "ordinal":
            result = evaluate_ordinal(y, probs, **common)
        else:
            result = evaluate(y, probs, **common)
    text = result.predictions.to_csv(index=False)
    table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    for column in [c for c in table if c.startswith("p_")]:
        table[column] = table[column].astype(float)
    return table, result.metrics["test/auroc_macro"]


def referee(root: Path, path: Path):
    """MedMNIST's ``Evaluator.parse_and_evaluate`` on ``path``, its npz read under ``root``
    (the package reads its default root otherwise)."""
    from medmnist.evaluator import Evaluator

    class Referee(Evaluator):
        def __init__(self, flag, split, size=None):
            super().__init__(flag, split, size=size, root=str(root))

    return Referee.parse_and_evaluate(str(path))


@pytest.mark.parametrize(
    ("flag", "size"),
    [("bloodmnist", 28), ("pneumoniamnist", 64), ("chestmnist", 28), ("retinamnist", 128)],
)
def test_the_file_rescored_by_medmnist_gives_the_numbers_in_its_name(tmp_path, flag, size):
    labels = fake_npz(tmp_path / "data", flag, size, n=60)
    table, ours = scored(flag, labels)
    run = medmnist_run("pathmnist/vit_base_patch16_224.dino/linear_probe-seed9930641")
    path = medmnist_file(table, flag=flag, size=size, run=run, out=tmp_path / "out")
    match = NAME.match(path.name)
    assert match, path.name
    assert match.group(1) == flag and (match.group(2) or "") == medmnist.size_flag(size)
    assert match.group(5) == run == "pathmnist-vit-base-patch16-224-dino-linear-probe-seed9930641"
    rows = pd.read_csv(path, header=None, index_col=0)
    assert list(rows.index) == list(range(len(labels)))  # the official order
    assert rows.shape[1] == len(medmnist.labels(flag))
    auc, acc = referee(tmp_path / "data", path)
    assert f"{auc:.3f}" == match.group(3) and f"{acc:.3f}" == match.group(4)
    assert auc == pytest.approx(ours, abs=1e-6)  # MedMNIST's AUC is ours
    assert [p.name for p in (tmp_path / "out").iterdir()] == [path.name]  # it wrote the same


def test_an_incomplete_or_foreign_test_split_is_refused(tmp_path):
    labels = fake_npz(tmp_path, "bloodmnist", 28, n=20)
    table, _ = scored("bloodmnist", labels)
    with pytest.raises(DataError, match="every test image"):
        medmnist_file(table.iloc[1:], flag="bloodmnist", size=28, run="r", out=tmp_path)
    last = table["id"] == table["id"].max()  # the split's end missing: no gap in what is left
    with pytest.raises(DataError, match="19 rows of bloodmnist's 20 test images"):
        medmnist_file(table[~last], flag="bloodmnist", size=28, run="r", out=tmp_path)
    with pytest.raises(DataError, match="not a medmnist layout's"):
        medmnist_file(table.assign(id="val/000001"), flag="bloodmnist", size=28, run="r",
                      out=tmp_path)  # fmt: skip
    medmnist.info("pathmnist")["n_samples"] = medmnist.info("bloodmnist")["n_samples"]
    with pytest.raises(DataError, match="not pathmnist's labels"):
        medmnist_file(table, flag="pathmnist", size=28, run="r", out=tmp_path)


def test_a_new_export_replaces_the_runs_old_file(tmp_path):
    labels = fake_npz(tmp_path, "bloodmnist", 28, n=20)
    first = medmnist_file(scored("bloodmnist", labels, seed=1)[0], flag="bloodmnist", size=28,
                          run="cell-seed1", out=tmp_path / "out")  # fmt: skip
    second = medmnist_file(scored("bloodmnist", labels, seed=2)[0], flag="bloodmnist", size=28,
                           run="cell-seed1", out=tmp_path / "out")  # fmt: skip
    assert first != second and sorted((tmp_path / "out").iterdir()) == [second]


SUITE = "medmnist-fake"
SEEDS = [11, 12]


def build_medmnist_store(uri: str, root: Path) -> dict[str, float]:
    """Two cells on a fake PneumoniaMNIST at 64 px as the runner logs them (the layout's
    params, every seed's predictions, the per-seed AUROC) and one of another layout;
    returns each seed's AUROC by run name."""
    client = MlflowClient(uri)
    experiment = client.create_experiment(SUITE)
    labels = fake_npz(root, "pneumoniamnist", 64, n=50)
    expected = {}
    for k, (dataset, layout) in enumerate((("pneu", "medmnist"), ("pneu", "medmnist"),
                                           ("other", "folders"))):  # fmt: skip
        backbone = ("resnet18", "vit_base_patch16_224.dino", "resnet18")[k]
        cell = f"{dataset}/{backbone}/finetune"
        tags = {"medbench.suite": SUITE, "medbench.cell": cell, "medbench.dataset": dataset,
                "medbench.backbone": backbone, "medbench.strategy": "finetune",
                "medbench.task": "binary", "medbench.kind": "cell",
                "medbench.config_hash": f"hash{k}"}  # fmt: skip
        run = client.create_run(experiment, tags=tags, run_name=cell)
        params = {"data.layout": layout, "seeds": json.dumps(SEEDS), "seed": "11"}
        if layout == "medmnist":
            params |= {"data.options.flag": "pneumoniamnist", "data.options.size": "64"}
        metrics = {}
        with tempfile.TemporaryDirectory() as tmp:
            for s, seed in enumerate(SEEDS):
                table, auroc = scored("pneumoniamnist", labels, seed=10 * k + s)
                folder = Path(tmp) / "eval" / ("" if s == 0 else f"seed_{seed}")
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "predictions.csv").write_text(table.to_csv(index=False))
                metrics[f"seed_{seed}/test/auroc_macro"] = auroc
                expected[medmnist_run(f"{cell}-seed{seed}")] = auroc
            client.log_artifacts(run.info.run_id, tmp)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(key, v, 1_700_000_000_000, 0) for key, v in metrics.items()],
            params=[Param(key, v) for key, v in params.items()],
        )
        client.set_terminated(run.info.run_id, "FINISHED")
    return {run: auroc for run, auroc in expected.items() if not run.startswith("other")}


def test_every_cell_and_seed_of_the_medmnist_layout_is_exported(tracking_uri, tmp_path):
    expected = build_medmnist_store(tracking_uri, tmp_path / "data")
    out = tmp_path / "export"
    result = CliRunner().invoke(
        app, ["leaderboard", SUITE, "--export", "medmnist", str(out),
              "--tracking-uri", tracking_uri],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "wrote 4 MedMNIST result files" in result.output
    files = sorted(out.iterdir())
    assert sorted(NAME.match(p.name).group(5) for p in files) == sorted(expected)  # type: ignore[union-attr]
    for path in files:
        auc, acc = referee(tmp_path / "data", path)
        run = NAME.match(path.name).group(5)  # type: ignore[union-attr]
        assert auc == pytest.approx(expected[run], abs=1e-6)
        assert f"[AUC]{auc:.3f}_[ACC]{acc:.3f}@" in path.name
    store = track.connect(tracking_uri)
    assert len(export_medmnist(store, SUITE, tmp_path / "again", dataset="pneu").files) == 4


def test_a_suite_without_medmnist_cells_says_so(tracking_uri, tmp_path):
    build_medmnist_store(tracking_uri, tmp_path / "data")
    result = CliRunner().invoke(
        app, ["leaderboard", SUITE, "--export", "medmnist", str(tmp_path / "x"),
              "--dataset", "other", "--tracking-uri", tracking_uri],
    )  # fmt: skip
    assert result.exit_code == 1 and "no finished cell reading the medmnist layout" in result.output
    result = CliRunner().invoke(
        app, ["leaderboard", SUITE, "--export", "kaggle", str(tmp_path / "x"),
              "--tracking-uri", tracking_uri],
    )  # fmt: skip
    assert result.exit_code == 1 and "unknown format" in result.output
