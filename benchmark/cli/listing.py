"""``medbench list``: what the registries hold."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pydantic import BaseModel


class What(str, Enum):
    backbones = "backbones"
    strategies = "strategies"
    layouts = "layouts"
    preprocess = "preprocess"
    cams = "cams"
    metrics = "metrics"
    corruptions = "corruptions"


def list_(
    what: Annotated[What, typer.Argument(help="What to list.")],
    pattern: Annotated[
        str, typer.Option(help="Wildcard filter for backbones, e.g. 'resnet*'.")
    ] = "*",
) -> None:
    """List backbones (timm models), strategies, dataset layouts, preprocessing ops, CAMs
    (and the perturbation methods beside them), the metrics medbench records or the test-time
    corruptions."""
    from rich.table import Table

    from benchmark.console import console, print_table

    if what is What.backbones:
        from benchmark.models import list_backbones

        names = list_backbones(pattern)
        console.print(f"{len(names)} timm models matching '{pattern}':")
        console.print(", ".join(names), highlight=False)
        return
    table = Table(show_header=True)
    table.add_column("name")
    table.add_column("description")
    rows: Sequence[tuple[str, ...]]
    if what is What.strategies:
        from benchmark.strategies import list_strategies

        rows = [(s.name, s.description + _options(s.Options)) for s in list_strategies()]
    elif what is What.layouts:
        from benchmark.data import list_layouts
        from benchmark.data.layouts import LayoutOptions

        rows = [
            (layout.name, layout.description + _options(layout.options, skip=LayoutOptions))
            for layout in list_layouts()
        ]
    elif what is What.cams:
        from benchmark.explain import list_methods

        rows = [
            (m.name, f"{m.kind}{', slow' if m.slow else ''}: {m.about}." + _options(m.options))
            for m in list_methods()
        ]
    elif what is What.corruptions:
        from benchmark.data.corruptions import list_corruptions

        table.add_column("family")
        table.add_column("severities 1–5")
        rows = [
            (c.name, c.description, c.family, ", ".join(map(_setting, c.settings)))
            for c in list_corruptions()
        ]
    elif what is What.metrics:
        from benchmark.metrics import list_metrics

        table.add_column("unit")
        table.add_column("better")
        better = {True: "higher", False: "lower", None: ""}
        rows = [(m.key, m.title, m.unit, better[m.higher_is_better]) for m in list_metrics()]
    else:
        from benchmark.data.preprocess import describe_ops

        rows = describe_ops()
    for row in rows:
        table.add_row(*row)
    print_table(table)


def _options(model: type[BaseModel] | None, *, skip: type[BaseModel] | None = None) -> str:
    """`` Options: name=default, ...`` of a plugin's options model, less those of ``skip``
    (every layout also takes ``labels``, ``group`` and ``dicom``); empty without any."""
    if model is None:
        return ""
    options = []
    for name, field in model.model_fields.items():
        if skip is not None and name in skip.model_fields:
            continue
        default = field.get_default(call_default_factory=True)
        options.append(f"{name}={default!r}")
    return f" Options: {', '.join(options)}." if options else ""


def _setting(value: object) -> str:
    """A corruption's setting at one severity: ``0.04``, ``(4, 0.1)``."""
    if isinstance(value, tuple):
        return "(" + ", ".join(map(str, value)) + ")"
    return str(value)
