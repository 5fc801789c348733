"""Across datasets: each backbone × strategy's mean rank, wins and average scores over a
suite's datasets, beside the published averages, and how often it is significantly better
than each other one (the paired tests the suite's summary run logged per dataset)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from benchmark.leaderboard._columns import (
    BUDGET,
    Board,
    Column,
    reference_metric,
    run_task,
    run_value,
)
from benchmark.leaderboard._references import SIZE, reference_settings
from benchmark.track import metric_column, tag_column

if TYPE_CHECKING:
    from benchmark.suite._schema import ReferenceRow, References

__all__ = ["ranks_figure", "ranks_table"]

ACCURACY, AUROC = "test/accuracy", "test/auroc_macro"
_SIZE = f"params.{SIZE}"  # a MedMNIST cell's resolution (its layout's option)


def ranks_table(
    runs: pd.DataFrame,
    *,
    paired: dict[str, dict] | None = None,
    pvalues: dict[str, pd.DataFrame] | None = None,
    references: References | None = None,
    **_: Any,
) -> Board:
    """One row per backbone × strategy (× label budget): over the datasets it ran on, its
    mean rank (1 is best; ties share the mean of their ranks) by each dataset's task's
    ranking metric (``Task.ranking``), its wins (datasets where no row scores higher), its
    mean test accuracy and macro AUROC (a dash when a dataset lacks one), and columns
    ``#1``, ``#2``, …: on how many datasets it is significantly better than row 1, 2, …
    (the Holm-adjusted p-values ``pvalues`` — ``{dataset: cell × cell matrix}``, as
    ``analysis/<dataset>/*_holm_p.csv`` of the summary run — below the suite's ``alpha``
    and its score on the tested metric higher, both from ``paired``, the
    ``paired_tests.json`` of each dataset).

    ``references``: a row without ``dataset`` is a published average over the datasets; it
    sits beside the rows of its ``backbone`` and ``strategy`` (either may be left out to
    match all) as ``paper_accuracy`` and ``paper_auroc`` (its ``accuracy`` and ``auroc``,
    fractions), for example ``{backbone: vgg16, strategy: finetune, note: "average over
    12 datasets, 224 px", accuracy: 0.867, auroc: 0.953}``; with ``size: 224`` (or ``where:
    {data.options.size: 224}``) it matches only rows whose cells read MedMNIST at that size.
    Where several match, the one naming most of backbone, strategy and size wins, then the
    first.
    """
    sizes = pd.to_numeric(runs[_SIZE], errors="coerce") if _SIZE in runs else None
    several = sizes is not None and sizes.dropna().nunique() > 1
    if several:  # MedMNIST at several sizes: a row per size, ranked among its size's cells
        assert sizes is not None
        runs = runs.assign(**{tag_column("size"): sizes.map(lambda v: f"{v:g}" if v == v else "")})
    keys = ["backbone", "strategy", *(["size"] if several else []),
            *(c.name for c in BUDGET if c.source in runs)]  # fmt: skip
    sources = [tag_column(k) for k in keys]
    frame = runs.assign(**{k: runs[s].fillna("") for k, s in zip(keys, sources, strict=True)})
    frame["score"] = [_ranking_score(run) for _, run in runs.iterrows()]
    frame["dataset"] = runs[tag_column("dataset")]
    among = frame["dataset"] + ("@" + frame["size"] if several else "")
    frame["rank"] = frame.groupby(among)["score"].rank(ascending=False, method="average")
    best = frame.groupby(among)["score"].transform("max")
    frame["win"] = (frame["score"] == best) & frame["score"].notna()
    by_row = frame.groupby(keys, sort=False)
    table = pd.DataFrame(
        {
            "datasets": by_row["dataset"].nunique(),
            "mean_rank": by_row["rank"].mean(),
            "wins": by_row["win"].sum().astype(float),
            "accuracy": _mean(by_row, metric_column(ACCURACY)),
            "auroc": _mean(by_row, metric_column(AUROC)),
        }
    ).reset_index()
    meta: dict[str, Column] = {
        "#": Column("#", higher_is_better=None, label=True),
        **{k: Column(k, s, None) for k, s in zip(keys, sources, strict=True)},
        "datasets": Column("datasets", higher_is_better=None, digits=0),
        "mean_rank": Column("mean_rank", higher_is_better=False, digits=2),
        "wins": Column("wins", digits=0),
        "accuracy": Column("accuracy", metric_column(ACCURACY)),
        "auroc": Column("auroc", metric_column(AUROC)),
    }
    notes = [
        "mean_rank: over the datasets each row ran on (1 = best), ranked by each task's "
        "ranking metric (multi-class and ordinal: weighted F1; binary and multi-label: macro "
        "AUROC); wins: datasets where it scores best; accuracy, auroc: means over its datasets"
    ]
    if table["datasets"].nunique() > 1:
        notes.append("rows ran on different numbers of datasets: their mean ranks are not alike")
    table = table.sort_values(["mean_rank", "wins"], ascending=[True, False], kind="stable")
    table = table.reset_index(drop=True)
    table.insert(0, "#", [str(i + 1) for i in range(len(table))])
    if references is not None:
        table, found = _beside_references(table, runs, keys, references.rows)
        if found:
            meta |= {name: Column(name, higher_is_better=None) for name in found}
            if "paper_note" in table:
                meta["paper_note"] = Column("paper_note", higher_is_better=None, label=True)
            notes.append(f"paper_*: the published averages over the datasets ({references.source})")
    if tag_column("commercial") in runs:  # the mark of the fetch's licence records
        marked = runs[runs[tag_column("commercial")] == "no"]
        if not marked.empty:
            named = sorted(set(marked[tag_column("dataset")]))
            notes.append(f"† the means include datasets not for commercial use: {named}")
    matrix = _significant(frame, keys, table, paired or {}, pvalues or {})
    if matrix is None:
        notes.append("#k columns need the paired tests of a summary run (two cells per dataset)")
    else:
        for k, column in enumerate(matrix.columns, start=1):
            table[f"#{k}"] = matrix[column].to_numpy()
            meta[f"#{k}"] = Column(f"#{k}", higher_is_better=None, digits=0)
        notes.append(
            "#k: on how many datasets the row is significantly better than row k (the "
            "summary's paired tests, Holm-adjusted, below alpha, its score the higher)"
        )
    table = table[[c for c in meta if c in table]]
    return Board("ranks", table, {c: meta[c] for c in table.columns}, notes=notes)


def _ranking_score(run: pd.Series) -> float:
    return run_value(run, run_task(run).ranking)


def _mean(by_row, column: str) -> pd.Series:
    """The mean over a row's datasets; NaN when one of them lacks the value (a partial mean
    is not the average over the datasets)."""
    if column not in by_row.obj:
        return pd.Series(float("nan"), index=by_row.size().index)
    return by_row[column].apply(lambda s: s.mean() if s.notna().all() else float("nan"))


def _beside_references(
    table: pd.DataFrame, runs: pd.DataFrame, keys: list[str], rows: list[ReferenceRow]
) -> tuple[pd.DataFrame, list[str]]:
    """``paper_accuracy`` and ``paper_auroc`` (and ``paper_note``) from the reference rows
    without a dataset that match each row."""
    averages = [r for r in rows if r.dataset is None]
    sizes = _sizes(runs, keys)
    wanted = {"accuracy": ACCURACY, "auroc": AUROC}
    found: dict[str, list[float]] = {f"paper_{n}": [] for n in wanted}
    notes = []
    for _, row in table.iterrows():
        ref = _match(averages, row["backbone"], row["strategy"], sizes.get(tuple(row[keys])))
        values = {reference_metric(k)[0]: v for k, v in (ref.values if ref else {}).items()}
        for name, key in wanted.items():
            found[f"paper_{name}"].append(values.get(key, float("nan")))
        notes.append(ref.note if ref else "")
    shown = [n for n, v in found.items() if not pd.Series(v).isna().all()]
    table = table.assign(**{n: found[n] for n in shown})
    if shown and any(notes):
        table["paper_note"] = notes
    return table, shown


def _sizes(runs: pd.DataFrame, keys: list[str]) -> dict[tuple, float]:
    """The MedMNIST size each row's cells read, where they all read one."""
    if _SIZE not in runs:
        return {}
    frame = runs.assign(**{k: runs[tag_column(k)].fillna("") for k in keys})
    out = {}
    for key, group in frame.groupby(keys):
        sizes = set(pd.to_numeric(group[_SIZE], errors="coerce").dropna())
        if len(sizes) == 1:
            out[key if isinstance(key, tuple) else (key,)] = sizes.pop()
    return out


def _match(rows: list[ReferenceRow], backbone: str, strategy: str,
           size: float | None) -> ReferenceRow | None:  # fmt: skip
    """The most specific reference row matching, the first of equals (``None``: none)."""
    best, score = None, -1
    for ref in rows:
        ref_size = reference_settings(ref).get(SIZE)
        if ref.backbone not in (None, backbone) or ref.strategy not in (None, strategy):
            continue
        if ref_size is not None and ref_size != size:
            continue
        given = sum(x is not None for x in (ref.backbone, ref.strategy, ref_size))
        if given > score:
            best, score = ref, given
    return best


def _significant(frame: pd.DataFrame, keys: list[str], table: pd.DataFrame,
                 paired: dict[str, dict], pvalues: dict[str, pd.DataFrame]):  # fmt: skip
    """Rows × rows (in the table's order): datasets where the row's cell is significantly
    better than the column's; ``None`` when no dataset was tested."""
    order = [tuple(r) for r in table[keys].itertuples(index=False)]
    counts = pd.DataFrame(0.0, index=pd.MultiIndex.from_tuples(order), columns=range(len(order)))
    position = {key: k for k, key in enumerate(order)}
    row_of = {
        (run["dataset"], run[tag_column("cell")]): tuple(run[keys])
        for _, run in frame.iterrows()
        if tag_column("cell") in frame
    }
    tested = False
    for dataset, matrix in pvalues.items():
        verdicts = paired.get(dataset)
        if not verdicts:
            continue
        alpha, metric = verdicts.get("alpha", 0.05), str(verdicts.get("metric", ""))
        name = metric.removeprefix("test/")
        scores = {cell: v.get(name) for cell, v in verdicts.get("cells", {}).items()}
        for a in matrix.index:
            for b in matrix.columns:
                if a == b or (dataset, a) not in row_of or (dataset, b) not in row_of:
                    continue
                tested = True
                better = (scores.get(a) or 0) > (scores.get(b) or 0)
                if better and float(matrix.loc[a, b]) < alpha:
                    counts.iloc[position[row_of[dataset, a]], position[row_of[dataset, b]]] += 1
    if not tested:
        return None
    for k in range(len(order)):
        counts.iloc[k, k] = float("nan")
    return counts


def ranks_figure(board: Board):
    """Mean rank per row (bars, wins written beside) and the matrix of significant wins
    (a heatmap); ``None`` for fewer than two rows or datasets."""
    frame = board.frame
    datasets = int(frame["datasets"].max()) if len(frame) else 0
    if len(frame) < 2 or datasets < 2:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"#{n} {b}/{s}" for n, b, s in zip(frame["#"], frame["backbone"],
                                                  frame["strategy"], strict=True)]  # fmt: skip
    matrix = [c for c in frame.columns if c.startswith("#") and c != "#"]
    n = len(frame)
    fig, axes = plt.subplots(
        1, 2 if matrix else 1, figsize=(5 + (0.45 * n + 3 if matrix else 0), 1.2 + 0.4 * n),
        squeeze=False,
    )  # fmt: skip
    ax = axes[0, 0]
    y = range(n)
    ax.barh(y, frame["mean_rank"], color="tab:blue")
    for k, (rank, wins) in enumerate(zip(frame["mean_rank"], frame["wins"], strict=True)):
        ax.text(rank, k, f" {rank:.2f} ({wins:.0f} wins)", va="center", fontsize=7)
    ax.set_yticks(list(y), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("mean rank over datasets (1 = best)")
    ax.set_xlim(0, max(frame["mean_rank"].max() * 1.35, 1))
    if matrix:
        ax = axes[0, 1]
        values = frame[matrix].to_numpy(float)
        top = datasets
        ax.imshow(values, cmap="Greens", vmin=0, vmax=top)
        for (i, j), count in np.ndenumerate(values):
            if np.isnan(count):  # the diagonal
                continue
            colour = "white" if count > top / 2 else "black"
            ax.text(j, i, f"{count:.0f}", ha="center", va="center", fontsize=7, color=colour)
        ax.set_xticks(range(n), [f"#{k}" for k in range(1, n + 1)], fontsize=7)
        ax.set_yticks(range(n), [f"#{k}" for k in range(1, n + 1)], fontsize=7)
        ax.set_xlabel(f"significantly better than (datasets of {datasets})")
    fig.tight_layout()
    return fig
