"""``medbench weights``: a suite's pretrained weights in the caches timm reads (the Hugging
Face cache, torch's hub cache), fetched where there is internet for runs where there is not."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from benchmark.cli._common import Set
from benchmark.cli._common import SuiteFile as Suite
from benchmark.console import console, print_table

if TYPE_CHECKING:
    from pathlib import Path

    from benchmark.models import Weights

app = typer.Typer(
    help="Pretrained weights of a suite's backbones: list what is cached, fetch the rest.",
    no_args_is_help=True,
)

_KIND = {
    "hub": "Hugging Face Hub",
    "url": "URL (torch hub cache)",
    "folder": "folder",
    "file": "file",
    "none": "none",
}


@app.command("list")
def list_(suite: Suite, set_: Set = None) -> None:
    """Each backbone of SUITE: where its weights come from, whether they are on this
    machine, their size and where they lie."""
    from benchmark.models import locate_weights

    found = [locate_weights(n, pretrained=p, weights=w) for n, p, w in _needs(suite, set_)]
    out = Table("backbone", "source", "from", "state", "size", "where")
    for w in found:
        if w.kind == "none":
            state = "[dim]pretrained: false[/]"
        else:
            state = "[green]cached[/]" if w.present else "[red]missing[/]"
        size = f"{w.size / 2**20:,.1f} MiB" if w.paths and w.kind != "none" else ""
        where = str(w.paths[-1]) if w.paths else ", ".join(w.missing)
        out.add_row(escape(w.backbone), _KIND[w.kind], escape(w.source), state, size, escape(where))
    print_table(out)
    missing = [w.backbone for w in found if not w.present]
    if missing:
        console.print(f"{len(missing)} missing: medbench weights fetch {suite}")


@app.command()
def fetch(suite: Suite, set_: Set = None) -> None:
    """Download every backbone's weights of SUITE into the caches timm reads, so that
    `HF_HUB_OFFLINE=1 medbench run SUITE` needs no internet (copy the caches, or share
    HF_HOME and TORCH_HOME, where the run goes)."""
    from benchmark.errors import MedbenchError
    from benchmark.models import fetch_weights

    failed: list[str] = []
    for name, pretrained, weights in _needs(suite, set_):
        try:
            w = fetch_weights(name, pretrained=pretrained, weights=weights)
        except MedbenchError as exc:
            failed.append(str(exc))
            continue
        _report(w)
    if failed:
        count = f"{len(failed)} backbone{'s' if len(failed) > 1 else ''}"
        raise MedbenchError("\n".join([f"{count} not fetched:", *(f"  {f}" for f in failed)]))


def _report(w: Weights) -> None:
    if w.kind == "none":
        console.print(f"{escape(w.backbone)}: pretrained: false, nothing to fetch")
        return
    where = w.paths[-1] if w.paths else w.source
    console.print(f"{escape(w.backbone)}: {w.size / 2**20:,.1f} MiB at {escape(str(where))}")


def _needs(suite: Path, overrides: list[str] | None) -> list[tuple[str, bool, Path | None]]:
    from benchmark.checks import load_checked_suite
    from benchmark.runner._preflight import weight_needs
    from benchmark.suite import expand_cells

    return weight_needs(expand_cells(load_checked_suite(suite, overrides=overrides or [])))
