"""MLflow cell runs → the tables papers print, in the formats people paste them into.

Each table is a :class:`Board`: a DataFrame, what each column means (unit, digits, which
direction is better), the columns within whose groups a best value is marked, and notes.
``_columns`` says what columns are, ``_tables`` builds each table by name, ``_load`` builds
one for a suite in the store, ``_render`` turns one into text.
"""

from benchmark.leaderboard._columns import Board, Column
from benchmark.leaderboard._load import load_board
from benchmark.leaderboard._render import (
    FORMATS,
    best_mask,
    cell_texts,
    format_cell,
    format_table,
)
from benchmark.leaderboard._tables import (
    LEAKS_HELP,
    NOT_WORSE_HELP,
    TABLES,
    build_table,
    summary_table,
)

__all__ = [
    "FORMATS",
    "LEAKS_HELP",
    "NOT_WORSE_HELP",
    "TABLES",
    "Board",
    "Column",
    "best_mask",
    "build_table",
    "cell_texts",
    "format_cell",
    "format_table",
    "load_board",
    "summary_table",
]
