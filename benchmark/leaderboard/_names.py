"""The names of the tables and of the formats they render in: what the command line offers,
read without importing pandas (each table and format is built in ``_tables`` and
``_render``; a test keeps these in step)."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["FORMATS", "TABLE_NAMES", "TableFormat", "TableName"]

TableName = Literal[
    "summary",
    "classes",
    "labels",
    "cost",
    "latency",
    "compare",
    "explain",
    "trials",
    "efficiency",
    "ranks",
    "external",
    "robustness",
]
TableFormat = Literal["table", "markdown", "latex", "csv", "json", "html"]

TABLE_NAMES: tuple[str, ...] = get_args(TableName)
FORMATS: tuple[str, ...] = get_args(TableFormat)
