"""MedMNIST's own evaluator as the referee: each cell's test scores (every seed's) written
as the result files the ``medmnist`` package's ``Evaluator.parse_and_evaluate`` reads,
named with the AUC and ACC that package computes."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from benchmark.data import medmnist
from benchmark.errors import DataError, MedbenchError
from benchmark.track import tag_column

if TYPE_CHECKING:
    from benchmark.track import Store

__all__ = ["Exported", "export_medmnist", "medmnist_file", "medmnist_run"]

_ID = re.compile(r"^test/(\d+)$")  # the medmnist layout's record ids: split/row in the npz
_PREDICTIONS = re.compile(r"^eval/(?:(seed|episode)_(\d+)/)?predictions\.csv$")


@dataclass
class Exported:
    """The files written, and the cells (or seeds) left out with the reason."""

    files: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def medmnist_run(text: str) -> str:
    """``text`` as the ``{run}`` of a MedMNIST result file: letters, digits and dashes
    (``parse_and_evaluate`` splits the name on ``_``, takes the run after the last ``@``
    and cuts it at the first ``.``)."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


def medmnist_file(predictions: pd.DataFrame, *, flag: str, size: int, run: str,
                  out: Path) -> Path:  # fmt: skip
    """Write one cell's (and seed's) test probabilities as MedMNIST's result file
    ``{flag}{size_flag}_test_[AUC]{auc:.3f}_[ACC]{acc:.3f}@{run}.csv`` under ``out``.

    ``predictions``: an ``eval/predictions.csv`` of a cell reading the ``medmnist`` layout
    (ids ``test/000123``: the row in the npz; ``true``: the class, or the ``|``-joined
    labels present; ``p_<name>``: the scores). The file has one line per test image in the
    official order: its index, then the scores in MedMNIST's label order (no header), as
    ``Evaluator.evaluate`` saves them; AUC and ACC are the package's ``getAUC`` and
    ``getACC`` (ACC at 0.5 for binary and multi-label tasks). An older file of the same
    ``run`` is replaced.
    """
    from medmnist.evaluator import getACC, getAUC  # loads torch: only when exporting

    entry, names = medmnist.info(flag), medmnist.labels(flag)
    if not re.fullmatch(r"[A-Za-z0-9-]+", run):
        raise MedbenchError(f"run name {run!r} must hold letters, digits and dashes only.")
    frame = predictions.assign(index=[_index(i) for i in predictions["id"]]).sort_values("index")
    expected = int(entry["n_samples"]["test"])
    missing = np.setdiff1d(np.arange(expected), frame["index"].to_numpy())
    if len(missing) or len(frame) != expected or frame["index"].duplicated().any():
        raise DataError(
            f"the test predictions hold {len(frame)} rows of {flag}'s {expected} test images "
            f"({len(missing)} missing, e.g. row {missing[0] if len(missing) else '-'}; "
            f"{int(frame['index'].duplicated().sum())} repeated): MedMNIST's evaluator needs "
            "every test image once (was the test split audited with `audit.on_leak: drop`?)."
        )
    columns = _columns(frame, names, flag)
    scores = frame[columns].to_numpy(float)
    multilabel = entry["task"].startswith("multi-label")
    truth = _truth(frame, names, columns, multilabel=multilabel)
    auc = getAUC(truth, scores, entry["task"])
    acc = getACC(truth, scores, entry["task"])
    prefix = f"{flag}{medmnist.size_flag(size)}_test_"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"{prefix}*@{run}.csv"):
        old.unlink()
    path = out / f"{prefix}[AUC]{auc:.3f}_[ACC]{acc:.3f}@{run}.csv"
    pd.DataFrame(scores).to_csv(path, header=False)
    return path


def _index(record: str) -> int:
    match = _ID.match(str(record))
    if match is None:
        raise DataError(
            f"test prediction id {record!r} is not a medmnist layout's (test/000123: the row "
            "in the npz's test arrays)."
        )
    return int(match.group(1))


def _columns(frame: pd.DataFrame, names: list[str], flag: str) -> list[str]:
    """The score columns in MedMNIST's label order: ``p_<label name>``, else ``p_<index>``."""
    for candidates in ([f"p_{n}" for n in names], [f"p_{i}" for i in range(len(names))]):
        if all(c in frame for c in candidates):
            return candidates
    found = [c.removeprefix("p_") for c in frame.columns if c.startswith("p_")]
    raise DataError(
        f"the test predictions score {found}, not {flag}'s labels {names} (nor 0–"
        f"{len(names) - 1}): were they made by the medmnist layout?"
    )


def _truth(frame: pd.DataFrame, names: list[str], columns: list[str], *,
           multilabel: bool) -> np.ndarray:  # fmt: skip
    """N × 1 class indices (N × L for a multi-label task), as the npz's ``test_labels``."""
    ours = [c.removeprefix("p_") for c in columns]
    if multilabel:
        if "missing" in frame and (frame["missing"].fillna("") != "").any():
            raise DataError("MedMNIST's evaluator has no missing labels, but these predictions do.")
        present = frame["true"].fillna("").map(lambda text: set(str(text).split("|")))
        return np.array([[name in labels for name in ours] for labels in present], dtype=int)
    index = {name: k for k, name in enumerate(ours)}
    unknown = sorted(set(frame["true"]) - set(index))
    if unknown:
        raise DataError(f"test labels {unknown} are not among the scored classes {ours}.")
    return frame["true"].map(index).to_numpy(int)[:, None]


def export_medmnist(store: Store, suite: str, out: Path, *, dataset: str | None = None,
                    latest: bool = True) -> Exported:  # fmt: skip
    """MedMNIST result files under ``out`` for every cell of ``suite`` reading the
    ``medmnist`` layout (``dataset``'s only, when given) and each of its seeds (or
    episodes): the first's scores are ``eval/predictions.csv``, the others'
    ``eval/seed_<s>/predictions.csv`` (``eval/episode_<e>/…``). The run in each name is
    the cell's name and the seed (``pathmnist-resnet18-finetune-seed9930641``)."""
    runs = store.cell_runs(suite, latest=latest)
    layout = runs.get("params.data.layout", pd.Series(dtype=str))
    cells = runs[layout == "medmnist"]
    if dataset is not None:
        cells = cells[cells[tag_column("dataset")] == dataset]
    if cells.empty:
        raise MedbenchError(
            f"suite '{suite}' has no finished cell reading the medmnist layout"
            + (f" for dataset '{dataset}'" if dataset else "")
            + ": only MedMNIST's files can be scored by its evaluator."
        )
    exported, taken = Exported(), set()
    for _, run in cells.iterrows():
        cell = run[tag_column("cell")]
        flag = run["params.data.options.flag"]
        raw_size = run.get("params.data.options.size")
        size = 28 if raw_size is None or pd.isna(raw_size) else int(float(raw_size))
        seeds = json.loads(run.get("params.seeds") or "[]") or [run.get("params.seed")]
        budget = any(isinstance(run.get(tag_column(k)), str) for k in ("shots", "fraction"))
        files = [p for p in store.artifact_files(run["run_id"], "eval") if _PREDICTIONS.match(p)]
        for path in sorted(files, key=_order):
            kind, number = _PREDICTIONS.match(path).groups()  # type: ignore[union-attr]
            which = f"{kind}{number}" if kind else ("episode1" if budget else f"seed{seeds[0]}")
            name = medmnist_run(f"{cell}-{which}")
            if name in taken:  # two cells alike once sanitised
                name = medmnist_run(f"{name}-{run[tag_column('config_hash')][:8]}")
            taken.add(name)
            try:
                predictions = _read(store.artifact_text(run["run_id"], path))
                exported.files.append(
                    medmnist_file(predictions, flag=flag, size=size, run=name, out=out)
                )
            except DataError as exc:
                exported.skipped.append(f"{cell} ({which}): {exc}")
        expected = 1 if budget else len(seeds)
        if not budget and len(files) < expected:
            exported.skipped.append(
                f"{cell}: {expected - len(files)} of its {expected} seeds' test scores were not "
                "kept (a run from before every seed's were); rerun it to export them"
            )
    return exported


def _order(path: str) -> tuple[int, int]:
    kind, number = _PREDICTIONS.match(path).groups()  # type: ignore[union-attr]
    return (0, 0) if kind is None else (1, int(number))


def _read(text: str) -> pd.DataFrame:
    return pd.read_csv(
        io.StringIO(text),
        dtype={"id": str, "true": str, "pred": str, "missing": str},
        keep_default_na=False,  # class names such as "0", "1" or "NA" stay text
    )
