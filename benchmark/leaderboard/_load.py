"""A suite's table straight from the store: which runs, which dataset, and what the tables
need beside the runs (the paired tests' verdicts, the published references)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from benchmark.errors import MedbenchError
from benchmark.leaderboard._columns import Board
from benchmark.leaderboard._tables import build_table
from benchmark.track import tag_column

if TYPE_CHECKING:
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
    table sets ``references`` (the suite's published results) beside them."""
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
    if table == "summary":
        options["paired"] = store.suite_analysis(suite, "paired_tests.json")
    if table == "compare":
        options["references"] = references
    return build_table(table, runs, **options)
