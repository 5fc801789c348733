"""``medbench data``: look at a dataset before training on it."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer

app = typer.Typer(help="Dataset utilities: inspect, audit, synth.", no_args_is_help=True)


class Format(str, Enum):
    table = "table"
    json = "json"


class FileFormat(str, Enum):
    png = "png"
    dcm = "dcm"


@app.command()
def synth(
    out: Path = typer.Argument(..., help="Folder to create."),
    layout: str = typer.Option("brain-tumor-mri", help="On-disk layout to mimic."),
    per_class: int = typer.Option(20, min=1, help="Images per class."),
    size: int = typer.Option(128, min=16, help="Image size in pixels."),
    seed: int = typer.Option(0, help="Phantom stream."),
    difficulty: float = typer.Option(0.5, min=0.0, max=1.0, help="0 easy … 1 hard."),
    format: FileFormat | None = typer.Option(
        None, help="File format for imagefolder and csv: png (default) or dcm (DICOM)."
    ),
) -> None:
    """Write synthetic phantoms as a small fake tree in a real dataset's layout."""
    from benchmark.console import console, progress_bar
    from benchmark.data import write_synthetic

    with progress_bar("writing phantoms") as update:
        counts = write_synthetic(
            out,
            layout=layout,
            per_class=per_class,
            size=size,
            seed=seed,
            difficulty=difficulty,
            format=format.value if format is not None else None,
            progress=update,
        )
    for split, per in counts.items():
        console.print(f"{split}: " + ", ".join(f"{k} {v}" for k, v in per.items()))
    console.print(f"Wrote {out} in the {layout} layout.")


@app.command()
def cache(
    clear: bool = typer.Option(False, "--clear", help="Delete every cached image and fact."),
) -> None:
    """Where the decoded-image cache lies and how big it is (MEDBENCH_CACHE)."""
    from benchmark.console import console
    from benchmark.data import default_cache

    store = default_cache()
    if store is None:
        console.print("The cache is off (MEDBENCH_CACHE=off).")
        return
    files, size = store.usage()
    if clear:
        store.clear()
        console.print(f"Cleared {store.root}: {files} files, {size / 2**20:.1f} MiB.")
    else:
        console.print(f"{store.root}: {files} files, {size / 2**20:.1f} MiB.")


@app.command()
def inspect(
    path: Path = typer.Argument(..., help="The unpacked dataset folder."),
    layout: str = typer.Option("imagefolder", help="Layout (`medbench list layouts`)."),
    format: Format = typer.Option(Format.table, help="table, or json (a stable shape)."),
) -> None:
    """Count images per split and class, with their sizes and modes; list unreadable files."""
    from benchmark.console import console, progress_bar, render_inspection
    from benchmark.data import create_source, default_cache, scan

    source = create_source(layout, path)
    with progress_bar("reading images") as update:
        facts = scan(source, cache=default_cache(), progress=update)
    records = source.records.assign(
        split=source.records["split"].replace("", "all"),
        size=facts["width"].astype("Int64").astype(str)
        + "x"
        + facts["height"].astype("Int64").astype(str),
        mode=facts["mode"],
        error=facts["error"],
    )
    ok = records[records["error"].isna()]
    result = {
        "layout": layout,
        "root": str(path),
        "images": len(ok),
        "splits": _nested_counts(ok, ["split", "label"]),
        "sizes": _nested_counts(ok, ["split", "label", "size"]),
        "modes": _nested_counts(ok, ["split", "label", "mode"]),
        "bad_files": [
            {"path": row.path, "reason": row.error}
            for row in records[records["error"].notna()].itertuples()
        ],
        "notes": list(source.notes),
    }
    if format is Format.json:
        typer.echo(json.dumps(result, indent=2))
    else:
        render_inspection(result, console=console)


def _nested_counts(table, columns: list[str]) -> dict:
    out: dict = {}
    for keys, count in table.groupby(columns).size().items():
        node = out
        for key in keys[:-1]:
            node = node.setdefault(str(key), {})
        node[str(keys[-1])] = int(count)
    return out


@app.command()
def audit(
    suite_or_path: Path = typer.Argument(..., help="A suite file, or a dataset folder."),
    layout: str = typer.Option("imagefolder", help="Layout of a dataset folder."),
    format: Format = typer.Option(Format.table, help="table, or json."),
    seed: int = typer.Option(42, help="Split seed for a dataset folder (a suite has its own)."),
) -> None:
    """Find exact and near duplicates, groups across splits and test leaks, as `run` does."""
    from benchmark.console import RichReporter, console, render_audit
    from benchmark.data import default_cache
    from benchmark.runner import index_dataset
    from benchmark.suite import load_suite
    from benchmark.suite._schema import AuditConfig, DatasetConfig

    if suite_or_path.suffix in (".yaml", ".yml"):
        suite = load_suite(suite_or_path)
        datasets, seed, policy = suite.datasets, suite.seed, suite.audit
    else:
        datasets = {suite_or_path.name: DatasetConfig(layout=layout, root=suite_or_path)}
        policy = AuditConfig()
    reports = {}
    with RichReporter(quiet=True) as reporter:
        for name, cfg in datasets.items():
            warn = AuditConfig(on_leak="warn", near_distance=policy.near_distance)
            reports[name] = index_dataset(name, cfg, seed, warn, reporter, default_cache()).report
    if format is Format.json:
        typer.echo(json.dumps({k: r.to_dict() for k, r in reports.items()}, indent=2))
    else:
        for name, report in reports.items():
            render_audit(name, report, policy=policy.on_leak, console=console)
