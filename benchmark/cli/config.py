"""``medbench config``: the effective settings and where each came from."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from benchmark.cli._common import STORAGE_HELP, TRACKING_HELP
from benchmark.console import console, print_table


class Format(str, Enum):
    table = "table"
    json = "json"


def config(
    tracking_uri: Annotated[str | None, typer.Option(help=TRACKING_HELP)] = None,
    storage: Annotated[str | None, typer.Option(help=STORAGE_HELP)] = None,
    format_: Annotated[Format, typer.Option("--format", help="table, or json.")] = Format.table,
) -> None:
    """Print every setting (its environment variable, effective value, and whether it came
    from a flag, the environment or the default)."""
    import json

    from benchmark.settings import describe_settings, set_flags

    set_flags(tracking_uri=tracking_uri, storage=storage)
    rows = describe_settings()
    if format_ is Format.json:
        console.out(json.dumps(rows, indent=2), highlight=False)
        return
    out = Table("variable", "value", "from", "meaning", title="settings", title_justify="left")
    for row in rows:
        source = row["source"]
        style = "" if source == "default" else "bold"
        out.add_row(
            row["variable"],
            f"[{style}]{escape(row['value'])}[/]" if style else escape(row["value"]),
            source,
            escape(row["meaning"]),
        )
    print_table(out)
