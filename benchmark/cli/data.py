"""``medbench data``: look at a dataset before training on it."""

from __future__ import annotations

import json
import typing
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchmark.console import console, print_table

if TYPE_CHECKING:
    from benchmark.data import AuditReport
    from benchmark.embeddings import StoredKey

app = typer.Typer(help="Dataset utilities: inspect, audit, synth.", no_args_is_help=True)


class Format(str, Enum):
    table = "table"
    json = "json"


class FileFormat(str, Enum):
    png = "png"
    dcm = "dcm"


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(help="Folder to create.")],
    layout: Annotated[str, typer.Option(help="On-disk layout to mimic.")] = "brain-tumor-mri",
    per_class: Annotated[int, typer.Option(min=1, help="Images per class.")] = 20,
    size: Annotated[int, typer.Option(min=16, help="Image size in pixels.")] = 128,
    seed: Annotated[int, typer.Option(help="Phantom stream.")] = 0,
    difficulty: Annotated[float, typer.Option(min=0.0, max=1.0, help="0 easy … 1 hard.")] = 0.5,
    format: Annotated[
        FileFormat | None,
        typer.Option(help="File format for imagefolder and csv: png (default) or dcm (DICOM)."),
    ] = None,
) -> None:
    """Write synthetic phantoms as a small fake tree in a real dataset's layout."""
    from benchmark.console import progress_bar
    from benchmark.data import write_synthetic
    from benchmark.settings import writable_folder

    writable_folder(out, what="the output folder", keep=False)
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
    console.print(
        f"Wrote {out} in the {layout} layout; `medbench data inspect` finds the images "
        "counted above (with the layout's default options)."
    )


class CachePart(str, Enum):
    images = "images"
    embeddings = "embeddings"


@app.command()
def cache(
    clear: Annotated[
        bool,
        typer.Option("--clear", help="Delete what is cached (everything, unless --only)."),
    ] = False,
    only: Annotated[
        CachePart | None,
        typer.Option(help="Show and clear only the decoded images and facts, or the embeddings."),
    ] = None,
) -> None:
    """Where the cache lies and how big it is (MEDBENCH_CACHE): the decoded images, and the
    embeddings per backbone."""
    import shutil

    from benchmark.data import ImageCache
    from benchmark.embeddings import EmbeddingStore
    from benchmark.settings import cache_home

    home = cache_home()
    if home is None:
        console.print("No cache: MEDBENCH_CACHE is off, or its folder cannot be written.")
        return
    images = ImageCache(home) if only is not CachePart.embeddings else None
    embeddings = EmbeddingStore(home / "embeddings") if only is not CachePart.images else None
    if images is not None:
        files, size = images.usage()
        console.print(f"{home}: {files} files, {size / 2**20:.1f} MiB of decoded images and facts.")
    if embeddings is not None:
        render_embeddings(embeddings.usage(), console=console)
    if not clear:
        return
    if only is None:
        shutil.rmtree(home, ignore_errors=True)  # timm's names too: everything cached
        console.print(f"Cleared {home}.")
    elif images is not None:
        images.clear()
        console.print(f"Cleared the decoded images and facts in {home}.")
    elif embeddings is not None:
        embeddings.clear()
        console.print(f"Cleared the embeddings in {embeddings.root}.")


def render_embeddings(keys: list[StoredKey], *, console: Console = console) -> None:
    """``medbench data cache``: embeddings per backbone (images summed over its keys)."""
    total = sum(k.bytes for k in keys)
    console.print(f"Embeddings: {len(keys)} key(s), {total / 2**20:.1f} MiB.")
    if not keys:
        return
    per: dict[str, list[StoredKey]] = {}
    for k in keys:
        per.setdefault(str(k.about.get("backbone", "(unknown)")), []).append(k)
    out = Table("backbone", "keys", "images", "MiB", title="embeddings", title_justify="left")
    for backbone, group in sorted(per.items()):
        size = sum(k.bytes for k in group) / 2**20
        out.add_row(escape(backbone), str(len(group)), str(sum(k.images for k in group)),
                    f"{size:.1f}")  # fmt: skip
    print_table(out)


@app.command()
def inspect(
    path: Annotated[Path, typer.Argument(help="The unpacked dataset folder.")],
    layout: Annotated[str, typer.Option(help="Layout (`medbench list layouts`).")] = "imagefolder",
    format: Annotated[Format, typer.Option(help="table, or json (a stable shape).")] = Format.table,
) -> None:
    """Count images per split and class (multi-label: per label present), with their sizes
    and modes; list unreadable files. With `--layout medmnist`: every MedMNIST file under
    the folder, its flag, size, task and counts (read from its labels: no image decoded)."""
    from benchmark.console import progress_bar
    from benchmark.data import create_source, default_cache, scan

    if layout == "medmnist":
        _inspect_medmnist(path, format)
        return
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
    readable = records["error"].isna().to_numpy()
    ok = records[readable]
    splits = _nested_counts(ok, ["split", "label"])
    if source.targets is not None:  # multi-label: per label, the images where it is present
        import pandas as pd

        splits = source.subset(readable).counts()
        ok = pd.concat(
            [ok[source.targets[readable, j] == 1.0].assign(label=c)
             for j, c in enumerate(source.classes)]
        )  # fmt: skip
    result = {
        "layout": layout,
        "root": str(path),
        "images": int(readable.sum()),
        "splits": splits,
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


def _inspect_medmnist(path: Path, format: Format) -> None:
    from benchmark.data.layouts.medmnist import inventory
    from benchmark.errors import DataError

    if not path.is_dir():
        raise DataError(f"{path} is not a folder; give the folder holding the MedMNIST files.")
    files = inventory(path)
    if format is Format.json:
        typer.echo(json.dumps({"layout": "medmnist", "root": str(path), "files": files},
                              indent=2))  # fmt: skip
        return
    if not files:
        console.print(f"No MedMNIST file under {escape(str(path))} (expected e.g. pathmnist.npz, "
                      "pathmnist_224.npz): `medbench data fetch medmnist FLAG`.")  # fmt: skip
        return
    out = Table("file", "flag", "size", "task", "split", "images", "per class (label)",
                title=f"{path} (medmnist)", title_justify="left")  # fmt: skip
    for f in files:
        if f["problem"]:
            out.add_row(escape(f["file"]), f["flag"], str(f["size"]), f["task"], "", "",
                        f"[red]{escape(f['problem'])}[/]")  # fmt: skip
        for split, per in f["splits"].items():
            shown = ", ".join(f"{escape(k)} {v}" for k, v in per.items())
            out.add_row(escape(f["file"]), f["flag"], str(f["size"]), f["task"], split,
                        str(f["images"][split]), shown)  # fmt: skip
    print_table(out)


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
    suite_or_path: Annotated[Path, typer.Argument(help="A suite file, or a dataset folder.")],
    layout: Annotated[str, typer.Option(help="Layout of a dataset folder.")] = "imagefolder",
    format: Annotated[Format, typer.Option(help="table, or json.")] = Format.table,
    seed: Annotated[
        int, typer.Option(help="Split seed for a dataset folder (a suite has its own).")
    ] = 42,
) -> None:
    """Find exact and near duplicates, groups across splits and test leaks, as `run` does."""
    from benchmark.checks import load_checked_suite
    from benchmark.console import progress_bar
    from benchmark.data import default_cache, index_dataset
    from benchmark.suite._schema import AuditConfig, DatasetConfig

    if suite_or_path.suffix in (".yaml", ".yml"):
        suite = load_checked_suite(suite_or_path)
        datasets, seed, policy = suite.datasets, suite.seed, suite.audit
    else:
        datasets = {suite_or_path.name: DatasetConfig(layout=layout, root=suite_or_path)}
        policy = AuditConfig()
    found_task = suite_or_path.suffix not in (".yaml", ".yml")  # a folder: no task written
    reports = {}
    listing = AuditConfig(on_leak="warn", near_distance=policy.near_distance)
    for name, cfg in datasets.items():  # leaks are listed below, not acted on or warned of
        with progress_bar(f"checking {name}") as update:
            indexed = index_dataset(
                name, cfg, seed=seed, policy=listing, cache=default_cache(), progress=update,
                task_from_source=found_task,
            )  # fmt: skip
        reports[name] = indexed.report
    if format is Format.json:
        typer.echo(json.dumps({k: r.to_dict() for k, r in reports.items()}, indent=2))
    else:
        for name, report in reports.items():
            render_audit(name, report, policy=policy.on_leak, console=console)


def render_inspection(result: dict[str, typing.Any], *, console: Console = console) -> None:
    """``medbench data inspect``: counts, sizes and modes per split and class."""
    out = Table(title=f"{result['root']} ({result['layout']})", title_justify="left")
    for name in ("split", "class", "images", "sizes (most common)", "modes"):
        out.add_column(name, justify="right" if name == "images" else "left")
    for split, classes in result["splits"].items():
        for label, count in classes.items():
            sizes = result["sizes"].get(split, {}).get(label, {})
            common = sorted(sizes.items(), key=lambda kv: -kv[1])
            text = ", ".join(f"{s} ×{n}" for s, n in common[:3])
            if len(common) > 3:
                text += f", … ({len(common)} sizes)"
            found = result["modes"].get(split, {}).get(label, {})
            modes = ", ".join(f"{m} ×{n}" for m, n in found.items())
            out.add_row(split, label, str(count), text, modes)
    print_table(out)
    for bad in result["bad_files"]:
        console.print(f"[red]unreadable:[/] {escape(bad['path'])}: {escape(bad['reason'])}")
    for note in result["notes"]:
        console.print(f"[dim]note:[/] {escape(note)}")
    console.print(
        f"{result['images']} readable images, {len(result['bad_files'])} unreadable file(s)."
    )


_ALARMS = {
    "bad_files",
    "test_leaks",
    "label_conflicts",
    "duplicate_sets_across_splits",
    "groups_across_splits",
}


def render_audit(
    name: str, report: AuditReport, *, policy: str, console: Console = console
) -> None:
    """``medbench data audit``: the headline numbers, then what leaks and what repeats."""
    counts = report.counts()
    out = Table(title=f"audit of {name}", title_justify="left", show_header=False)
    out.add_column("check")
    out.add_column("result", justify="right")
    for key, value in counts.items():
        flagged = value and key in _ALARMS
        out.add_row(key.replace("_", " "), f"[bold red]{value}[/]" if flagged else str(value))
    print_table(out)
    classes = sorted({label for per in report.splits.values() for label in per})
    balance = Table("split", *classes, title="images per split and class", title_justify="left")
    for split, per in report.splits.items():
        balance.add_row(split, *(str(per.get(label, 0)) for label in classes))
    print_table(balance)
    if report.test_leaks:
        shown = ", ".join(report.test_leaks[:5]) + (" …" if len(report.test_leaks) > 5 else "")
        console.print(
            f"[bold red]{len(report.test_leaks)} test image(s) leak[/] (a copy or the same group "
            f"in train/val): {escape(shown)}. Policy on_leak: {policy}."
        )
    for dup in [d for d in report.duplicates if len(d["splits"]) > 1][:5]:
        ids = ", ".join(f"{i['id']} ({i['split']})" for i in dup["images"][:4])
        console.print(f"[yellow]{dup['kind']} duplicates across splits:[/] {escape(ids)}")
    for group in report.group_overlap[:5]:
        console.print(
            f"[yellow]group {escape(str(group['group']))}[/] spans {', '.join(group['splits'])}"
        )
    for conflict in report.label_conflicts[:5]:
        console.print(f"[red]same image, different labels:[/] {escape(', '.join(conflict[:4]))}")
    for bad in report.bad_files[:10]:
        console.print(f"[red]unreadable:[/] {escape(bad['path'])}: {escape(bad['reason'])}")
    for odd in report.odd_images[:5]:
        console.print(f"[dim]odd:[/] {escape(odd['id'])}: {escape(odd['why'])}")


@app.command()
def fetch(
    name: Annotated[
        str | None, typer.Argument(help="Dataset (a layout name; `--list` shows them).")
    ] = None,
    flag: Annotated[
        str | None, typer.Argument(help="medmnist only: the dataset (pathmnist, ...).")
    ] = None,
    size: Annotated[int, typer.Option(help="medmnist only: 28, 64, 128 or 224 px.")] = 28,
    root: Annotated[
        Path | None, typer.Option(help="Where it lands (default: $MEDBENCH_DATA/<name>).")
    ] = None,
    archive: Annotated[
        Path | None,
        typer.Option(help="Unpack this local copy instead of downloading (cdd-cesm: the images)."),
    ] = None,
    list_: Annotated[
        bool, typer.Option("--list", help="Every dataset: source, size and licence.")
    ] = False,
) -> None:
    """Download a seed dataset and unpack it where its layout expects it; its checksums are
    checked, its content digest, licence and citation printed and recorded in
    ROOT/.medbench-source.json."""
    from benchmark.data.fetch import CATALOGUE, default_root
    from benchmark.data.fetch import fetch as fetch_dataset
    from benchmark.errors import MedbenchError

    if list_:
        out = Table("name", "source", "size", "licence", "commercial",
                    title="fetchable datasets", title_justify="left")  # fmt: skip
        for item in CATALOGUE.values():
            commercial = "yes" if item.commercial else "no"
            if item.name == "medmnist":
                commercial = "yes (DermaMNIST: no)"
            out.add_row(item.name, escape(item.host), item.size, escape(item.licence), commercial)
        print_table(out)
        return
    if name is None:
        raise MedbenchError("name a dataset to fetch (`medbench data fetch --list` shows them).")
    target = root if root is not None else default_root(name)
    provenance = fetch_dataset(
        name, flag=flag, size=size, root=target, archive=archive, progress=console.is_terminal,
        say=lambda text: console.print(escape(text)),
    )  # fmt: skip
    console.print(f"Fetched {escape(name)}{' ' + escape(flag) if flag else ''} into {target}.")
    console.print(f"licence: {escape(str(provenance['licence']))} ({provenance['licence_url']})"
                  + ("" if provenance["commercial"] else " — not for commercial use"))  # fmt: skip
    console.print(f"cite: {escape(str(provenance['citation']))}")
    if provenance.get("digest"):
        console.print(f"content digest: {provenance['digest']} (compare it with another lab's)")
    elif provenance.get("file"):
        console.print(f"MD5 checked: {provenance['files'][provenance['file']]['md5']}")
