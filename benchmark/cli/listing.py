"""``medbench list``: what the registries hold."""

from __future__ import annotations

from enum import Enum

import typer


class What(str, Enum):
    backbones = "backbones"
    strategies = "strategies"
    layouts = "layouts"
    preprocess = "preprocess"
    cams = "cams"
    metrics = "metrics"


def list_(
    what: What = typer.Argument(..., help="What to list."),
    pattern: str = typer.Option("*", help="Wildcard filter for backbones, e.g. 'resnet*'."),
) -> None:
    """List backbones (timm models), strategies, dataset layouts, preprocessing ops, CAMs
    (and the perturbation methods beside them) or the metrics medbench records."""
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
    if what is What.strategies:
        from benchmark.strategies import list_strategies

        rows = [(s.name, s.description) for s in list_strategies()]
    elif what is What.layouts:
        from benchmark.data import list_layouts

        rows = [(layout.name, _with_options(layout)) for layout in list_layouts()]
    elif what is What.cams:
        from benchmark.explain import METHODS

        rows = [(n, f"{m.kind}{', slow' if m.slow else ''}: {m.about}") for n, m in METHODS.items()]
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


def _with_options(layout) -> str:
    """A layout's description and its own options (every layout also takes ``labels``,
    ``group`` and ``dicom``)."""
    from benchmark.data.layouts import LayoutOptions

    options = []
    for name, field in layout.options.model_fields.items():
        if name in LayoutOptions.model_fields:
            continue
        default = field.default if field.default_factory is None else field.default_factory()
        options.append(f"{name}={default!r}")
    return layout.description + (f" Options: {', '.join(options)}." if options else "")
