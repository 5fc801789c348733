"""The only importer of Optuna: studies per cell, the work board of a suite, and storages.

- :mod:`._study`: one resumable study per cell; its trials are shared by the workers that
  are free (``run_study`` by the cell's owner, ``help_study`` by the others).
- :mod:`._board`: the suite's cells as the queued trials of one study, claimed atomically.
- :mod:`._storage`: which storage (a journal file by default, PostgreSQL across machines),
  opened safely by processes that start together; dead owners, heartbeats.
"""

from __future__ import annotations

from benchmark.tune._board import (
    CellClaim,
    CellEntry,
    board_entries,
    claim_cell,
    post_cells,
    reap_cells,
)
from benchmark.tune._storage import (
    STORAGE_HELP,
    check_storage,
    open_storage,
    resolve_storage,
)
from benchmark.tune._study import (
    Pruned,
    StudyResult,
    StudySpec,
    TrialContext,
    TrialEntry,
    help_study,
    run_study,
    study_trials,
)

__all__ = [
    "STORAGE_HELP",
    "CellClaim",
    "CellEntry",
    "Pruned",
    "StudyResult",
    "StudySpec",
    "TrialContext",
    "TrialEntry",
    "board_entries",
    "check_storage",
    "claim_cell",
    "help_study",
    "open_storage",
    "post_cells",
    "reap_cells",
    "resolve_storage",
    "run_study",
    "study_trials",
]
