"""The checks before a run starts: every dataset root holds images its layout reads, every
backbone's weights are on this machine or can be downloaded, every folder the run writes is
writable. All problems are reported at once, in one message that says how to fix each,
before any store is opened: a refused start leaves no run and no study behind.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from benchmark.errors import MedbenchError
from benchmark.settings import (
    checkpoint_root,
    settings,
    storage_url,
    tracking_uri,
    writable_folder,
)
from benchmark.suite import Cell, Suite, expand_cells
from benchmark.suite._schema import DatasetConfig

if TYPE_CHECKING:
    from benchmark.models import Weights

__all__ = [
    "Check",
    "PreflightError",
    "check_ready",
    "preflight",
    "weight_needs",
]


class PreflightError(MedbenchError):
    """A run refused before it started: every problem found, one per line."""


@dataclass(frozen=True)
class Check:
    """One thing a run needs: a dataset root, a backbone's weights, a folder it writes.
    ``problem`` is empty when it is fine; ``blocking=False`` only warns (a cache folder)."""

    kind: Literal["dataset", "backbone", "folder"]
    name: str
    detail: str
    problem: str = ""
    fix: str = ""
    blocking: bool = True

    @property
    def ok(self) -> bool:
        return not self.problem

    def line(self) -> str:
        return f"{self.kind} {self.name}: {self.problem}"


def preflight(
    suite: Suite,
    *,
    tracking: str | None = None,
    storage: str | None = None,
    suite_file: Path | None = None,
    cells: Sequence[Cell] | None = None,
) -> list[Check]:
    """Every check of a run of ``suite`` (of ``cells``, by default its grid); nothing is
    created. ``suite_file`` is named in the fixes, and its folder tells relative roots that
    exist from the working folder instead (the relative-path trap)."""
    cells = list(cells if cells is not None else expand_cells(suite))
    return [
        *_datasets(suite, cells, suite_file),
        *_backbones(cells, suite_file),
        *_folders(tracking, storage),
    ]


def check_ready(checks: Sequence[Check], *, suite: str) -> None:
    """Raise one :class:`PreflightError` naming every blocking problem of ``checks``, then
    each fix once (the weights of all backbones are fetched by one command)."""
    failed = [c for c in checks if not c.ok and c.blocking]
    if not failed:
        return
    count = f"{len(failed)} problem{'s' if len(failed) > 1 else ''}"
    fixes = list(dict.fromkeys(c.fix for c in failed if c.fix))
    lines = [f"suite '{suite}' cannot start ({count}); nothing was run:"]
    lines += [f"  {c.line()}" for c in failed]
    if len(fixes) == 1:
        lines.append(f"To fix {'them' if len(failed) > 1 else 'it'}: {fixes[0]}")
    elif fixes:
        lines += ["To fix them:", *(f"  {fix}" for fix in fixes)]
    raise PreflightError("\n".join(lines))


# datasets


def _datasets(suite: Suite, cells: Sequence[Cell], suite_file: Path | None) -> list[Check]:
    """One check per root (datasets reading the same folder alike are named together)."""
    groups: dict[tuple, list[str]] = {}
    names = [cell.dataset for cell in cells] + [n for cell in cells for n in cell.external]
    for name in dict.fromkeys(names):  # the cells' own datasets, then those they are tested on
        config = suite.datasets[name]
        key = (config.layout, config.root, repr(sorted(config.options.items())))
        groups.setdefault(key, []).append(name)
    checks = []
    for names in groups.values():
        config = suite.datasets[names[0]]
        label = ", ".join(f"'{n}'" for n in names)
        checks.append(_dataset(label, config, suite_file))
    return checks


def _dataset(label: str, config: DatasetConfig, suite_file: Path | None) -> Check:
    from benchmark.data.layouts import create_source, get_layout
    from benchmark.errors import DataError

    layout = get_layout(config.layout)
    name = f"{label} ({config.layout})"
    root = config.root
    if not layout.needs_root or root is None:
        return Check("dataset", name, "generated, no folder")
    if not root.is_dir():
        problem = f"folder {root} does not exist."
        trap = _relative_trap(root, suite_file)
        if trap is not None:
            return Check("dataset", name, str(root), f"{problem} {trap[0]}", fix=trap[1])
        return Check("dataset", name, str(root), problem, fix=_data_fix(config))
    try:
        options = layout.options.model_validate(config.options)
        source = create_source(config.layout, root, options=options)
    except DataError as exc:
        return Check("dataset", name, str(root), str(exc), fix=_data_fix(config))
    except OSError as exc:  # a folder that cannot be read, a file that vanished
        reason = f"{exc.strerror or exc}: {exc.filename or root}"
        fix = f"make {root} readable by this user, or point `root:` elsewhere."
        return Check("dataset", name, str(root), f"cannot be read ({reason})", fix=fix)
    return Check("dataset", name, f"{len(source):,} images in {root}")


def _data_fix(config: DatasetConfig) -> str:
    from benchmark.data.fetch import CATALOGUE, default_root

    if config.layout not in CATALOGUE:
        return (
            "download the dataset and point `root:` (or MEDBENCH_DATA) at the unpacked folder, "
            f"or write a small fake one with `medbench data synth OUT --layout {config.layout}`."
        )
    args = ""
    if config.layout == "medmnist":
        flag, size = config.options.get("flag"), config.options.get("size", 28)
        args = f" {flag}" + (f" --size {size}" if size not in (None, 28) else "")
    root = config.root
    default = default_root(config.layout).resolve()
    where = "" if root is None or root.resolve() == default else f" --root {root}"
    if CATALOGUE[config.layout].manual:  # the images are downloaded by hand first
        args += " --archive FILE"
    return f"medbench data fetch {config.layout}{args}{where}"


def _relative_trap(root: Path, suite_file: Path | None) -> tuple[str, str] | None:
    """Where a relative root, resolved against the suite file's folder, does not exist but
    does from the working folder: what happened, and how to point MEDBENCH_DATA at it."""
    if suite_file is None:
        return None
    base = suite_file.resolve().parent
    try:
        relative = root.relative_to(base)
    except ValueError:
        return None
    here = (Path.cwd() / relative).resolve()
    if base == Path.cwd().resolve() or not here.is_dir():
        return None
    data = settings().data
    if not data.is_absolute() and relative.parts[: len(data.parts)] == data.parts:
        fix = f"export MEDBENCH_DATA={(Path.cwd() / data).resolve()}  (an absolute path)"
    else:
        fix = f"give `root:` as the absolute path {here}"
    return (
        f"It exists relative to the working folder ({here}), but a relative root is relative "
        f"to the suite file's folder ({base}).",
        fix,
    )


# backbones


def _backbones(cells: Sequence[Cell], suite_file: Path | None) -> list[Check]:
    """One check per backbone and what it reads (a strategy from scratch reads no weights)."""
    from benchmark.errors import ModelError
    from benchmark.models import locate_weights

    found = []
    checks = []
    for name, pretrained, weights in weight_needs(cells):
        try:
            found.append(locate_weights(name, pretrained=pretrained, weights=weights))
        except ModelError as exc:
            checks.append(Check("backbone", f"'{name}'", "", str(exc)))
    suite_arg = str(suite_file) if suite_file is not None else "SUITE"
    fetch = (
        f"medbench weights fetch {suite_arg}  (where there is internet; then bring its "
        "HF_HOME and TORCH_HOME caches here)"
    )
    offline = _offline()
    missing = [w for w in found if not w.present and w.fetchable and not offline]
    with ThreadPoolExecutor(max_workers=8) as pool:  # each probe waits up to seconds
        unreachable = dict(zip(missing, pool.map(_probe, missing), strict=True))
    for w in found:
        name = f"'{w.backbone}'"
        if w.present:
            detail = "pretrained: false" if w.kind == "none" else _where(w)
            checks.append(Check("backbone", name, detail))
        elif not w.fetchable:
            problem = f"{' and '.join(w.missing)}: not found."
            fix = f"put the weights of {name} there, or train it from scratch (`pretrained: false`)"
            checks.append(Check("backbone", name, w.source, problem, fix=fix))
        elif offline:
            cache = "torch's hub cache" if w.kind == "url" else "the Hugging Face cache"
            problem = f"weights {w.source} are not in {cache}, and HF_HUB_OFFLINE is set."
            checks.append(Check("backbone", name, w.source, problem, fix=fetch))
        elif (reason := unreachable[w]) is not None:
            checks.append(Check("backbone", name, w.source, reason, fix=fetch))
        else:
            checks.append(Check("backbone", name, f"{w.source}: downloaded when first built"))
    return checks


def weight_needs(cells: Sequence[Cell]) -> list[tuple[str, bool, Path | None]]:
    """``(backbone, pretrained, weights file)`` as the cells build their models, once each
    (a strategy that trains from scratch reads no weights)."""
    from benchmark.strategies import get_strategy

    needs: dict[tuple[str, bool, Path | None], None] = {}
    for cell in cells:
        with_weights = get_strategy(cell.strategy_kind).pretrained
        b = cell.backbone
        needs[(b.name, b.pretrained and with_weights, b.weights if with_weights else None)] = None
    return list(needs)


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _probe(weights: Weights) -> str | None:
    """``None`` when the source of ``weights`` answers; else the one-line reason."""
    from benchmark.errors import ModelError
    from benchmark.models._hub import Unreachable, ensure_available

    try:
        ensure_available(weights.backbone, pretrained=weights.pretrained)
    except Unreachable as exc:
        return f"weights {weights.source} are not cached here, and {exc.reason}."
    except ModelError as exc:  # gated, no such repository: what the Hub answered
        return str(exc)
    return None


def _where(w: Weights) -> str:
    size = w.size
    where = w.paths[-1] if w.paths else w.source
    return f"{size / 2**20:,.1f} MiB at {where}"


# folders


def _folders(tracking: str | None, storage: str | None) -> list[Check]:
    """The folders a run writes: the MLflow store's, the Optuna journal's, the checkpoints';
    the cache's only warns (a run goes on without a cache). Nothing is left created. A
    folder that cannot be written is one problem, naming everything that lies in it."""
    uri = tracking_uri(tracking)
    # (what, how to move it, folder, the file in it the run writes, whether it refuses a run)
    folders: list[tuple[str, str, Path, Path | None, bool]] = []
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        folders.append(("the MLflow store", "--tracking-uri", db.parent, db, True))
    journal = storage_url(storage)
    if "://" not in journal:
        path = Path(journal)
        folders.append(("the Optuna journal", "--storage", path.parent, path, True))
    checkpoints = checkpoint_root(uri)
    if checkpoints is not None:
        folders.append(("the checkpoints", "MEDBENCH_CHECKPOINTS", checkpoints, None, True))
    cache = settings().cache
    if isinstance(cache, Path):
        folders.append(("the cache", "MEDBENCH_CACHE", cache, None, False))
    checks: list[Check] = []
    failed: dict[Path, tuple[str, list[tuple[str, str, bool]]]] = {}  # path: reason, users
    for what, option, folder, file, blocking in folders:
        inside = next((p for p in failed if folder == p or p in folder.parents), None)
        if inside is not None:  # in a folder that cannot be written already
            failed[inside][1].append((what, option, blocking))
            continue
        try:
            writable_folder(folder, what=what, keep=False)
        except MedbenchError as exc:
            reason = (
                str(exc)
                .removeprefix(f"{what} {folder} ")
                .removesuffix(" Choose a writable folder.")
            )
            failed[folder] = (reason, [(what, option, blocking)])
            continue
        if file is not None and file.exists() and not os.access(file, os.W_OK):
            failed[file] = ("cannot be written (read-only).", [(what, option, blocking)])
        else:
            checks.append(Check("folder", f"({what})", str(folder)))
    for path, (reason, users) in failed.items():
        whats = ", ".join(what for what, _, _ in users)
        options = ", ".join(option for _, option, _ in users)
        blocking = any(b for _, _, b in users)
        fix = f"make {path} writable, or point {options} at a writable place"
        fix += "." if blocking else " (meanwhile runs go on without it)."
        checks.append(Check("folder", f"{path} ({whats})", str(path), reason, fix, blocking))
    return checks
