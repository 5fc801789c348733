"""A suite's table straight from the store: which runs, which dataset, and what the tables
need beside the runs (the paired tests' verdicts, the published references)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from benchmark.errors import MedbenchError
from benchmark.leaderboard._columns import Board
from benchmark.leaderboard._tables import build_table
from benchmark.track import tag_column

if TYPE_CHECKING:
    import pandas as pd

    from benchmark.suite._schema import References
    from benchmark.track import Store


def load_board(
    store: Store,
    suite: str,
    *,
    table: str = "summary",
    dataset: str | None = None,
    latest: bool = True,
    sort: str | None = None,
    references: References | None = None,
) -> Board:
    """Table ``table`` of ``suite``'s finished cells: the newest run of each cell (``latest``)
    or every finished run, only ``dataset``'s cells when given, ranked by ``sort``; the
    summary marks the cells the paired tests found not worse than the best, the compare
    and ranks tables set ``references`` (the suite's published results) beside them, the
    ranks table counts the paired tests' significant differences."""
    runs = store.cell_runs(suite, latest=latest)
    if runs.empty:
        raise MedbenchError(f"suite '{suite}' has no finished cells yet.")
    if dataset is not None:
        known = sorted(runs[tag_column("dataset")].unique())
        runs = runs[runs[tag_column("dataset")] == dataset].reset_index(drop=True)
        if runs.empty:
            raise MedbenchError(f"suite '{suite}' has no cells of dataset '{dataset}': {known}.")
    options: dict[str, Any] = {"all_runs": not latest}
    if sort is not None:
        options["sort"] = sort
    if table in ("summary", "ranks"):
        options["paired"] = store.suite_analysis(suite, "paired_tests.json")
    if table == "ranks":
        options["pvalues"] = paired_pvalues(store, suite)
    if table in ("compare", "ranks"):
        options["references"] = references
    return build_table(table, runs, **options)


def paired_pvalues(store: Store, suite: str) -> dict[str, pd.DataFrame]:
    """``{dataset: cell × cell matrix}`` of the Holm-adjusted p-values the suite's summary
    run logged (``analysis/<dataset>/mcnemar_holm_p.csv`` or ``auroc_holm_p.csv``)."""
    import pandas as pd

    run_id = store.summary_run(suite)
    if run_id is None:
        return {}
    out = {}
    for path in store.artifact_files(run_id, "analysis"):
        parts = path.split("/")
        if len(parts) == 3 and parts[2] in ("mcnemar_holm_p.csv", "auroc_holm_p.csv"):
            text = store.artifact_text(run_id, path)
            out[parts[1]] = pd.read_csv(io.StringIO(text), index_col=0)
    return out
