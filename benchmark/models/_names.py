"""What names a model without importing timm: timm's model names (read from the cache
folder where they were listed before), timm's ``hf-hub:`` and ``local-dir:`` names, and the
files of a model folder.

``medbench suite validate`` checks backbone names; importing timm (and torch) for that costs
seconds, so the names of the installed timm version are kept in the medbench cache folder
(``timm-<version>.txt``) the first time timm lists them, and read from there afterwards.
A ``hf-hub:ORG/NAME[@REVISION]`` name is checked for its form only (no network); a
``local-dir:PATH`` name for a folder holding timm's ``config.json`` whose ``architecture`` is
a timm model.
"""

from __future__ import annotations

import json
import os
import re
from fnmatch import fnmatchcase
from functools import cache
from importlib.metadata import version
from pathlib import Path

from benchmark.errors import ModelError, suggest
from benchmark.settings import cache_home

__all__ = [
    "CONFIG_FILE",
    "SOURCES",
    "WEIGHTS_FILE",
    "check_backbone",
    "list_backbones",
    "split_source",
]

WEIGHTS_FILE, CONFIG_FILE = "model.safetensors", "config.json"  # a model folder's two files

SOURCES = ("hf-hub", "local-dir")  # timm's prefixes: a Hugging Face Hub repository, a folder
# A source prefix as timm parses one (two characters at least, so "C:" stays a drive).
_PREFIX = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-_]+")
# A Hub repository id: ORG/NAME, each part letters, digits, "-", "_", "." (96 at most).
_HUB_PART = r"[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9])?"
_HUB_ID = re.compile(rf"{_HUB_PART}/{_HUB_PART}")


@cache
def _model_names() -> tuple[str, ...]:
    home = cache_home()
    path = home / f"timm-{version('timm')}.txt" if home is not None else None
    if path is not None and path.is_file():
        return tuple(path.read_text().split())
    import timm

    names = tuple(timm.list_models())
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.{os.getpid()}")
            partial.write_text("\n".join(names))
            os.replace(partial, path)
        except OSError:
            pass  # a read-only cache folder: the names are listed again next time
    return names


@cache
def _name_set() -> frozenset[str]:
    return frozenset(_model_names())


def list_backbones(pattern: str = "*") -> list[str]:
    """timm's model names matching a wildcard pattern, sorted as timm sorts them."""
    return [name for name in _model_names() if fnmatchcase(name, pattern)]


def split_source(name: str) -> tuple[str | None, str]:
    """``(source, rest)`` of a backbone name as timm reads it: ``("hf-hub", "ORG/NAME")``,
    ``("local-dir", "PATH")``, or ``(None, name)`` for a timm model name."""
    source, colon, rest = name.partition(":")
    if colon and _PREFIX.fullmatch(source):
        return source, rest
    return None, name


def check_backbone(name: str) -> None:
    """Fail with what was expected (and close matches) when ``name`` is not a timm model,
    a well-formed ``hf-hub:ORG/NAME[@REVISION]`` or a ``local-dir:`` folder of a timm model."""
    source, rest = split_source(name)
    if source == "hf-hub":
        _check_hub_id(name, rest)
    elif source == "local-dir":
        _check_folder(name, rest)
    elif source is not None:
        raise ModelError(
            f"backbone '{name}': unknown source '{source}:', expected one of "
            + ", ".join(f"'{s}:'" for s in SOURCES)
            + "."
            + suggest(source, SOURCES)
        )
    elif "/" in name or "\\" in name:
        raise ModelError(
            f"backbone '{name}' looks like a Hugging Face Hub repository or a folder: write "
            f"'hf-hub:{name}' for the Hub or 'local-dir:{name}' for a folder."
        )
    else:
        _check_timm_name(name, name)


def _check_timm_name(name: str, architecture: str) -> None:
    base = architecture.split(".", 1)[0]  # allow timm's "name.pretrained_tag"
    if base not in _name_set():
        raise ModelError(
            f"unknown backbone '{name}': "
            + (f"'{architecture}' is " if architecture != name else "")
            + "not a timm model (see `medbench list backbones`)."
            + suggest(base, _model_names())
        )


def _check_hub_id(name: str, rest: str) -> None:
    repo, at, revision = rest.partition("@")
    if not _HUB_ID.fullmatch(repo) or ".." in repo or "--" in repo or (at and not revision):
        raise ModelError(
            f"backbone '{name}': expected 'hf-hub:ORG/NAME' or 'hf-hub:ORG/NAME@REVISION' "
            "(a Hugging Face Hub repository, e.g. 'hf-hub:timm/resnet18.a1_in1k')."
        )


def _check_folder(name: str, rest: str) -> None:
    folder = Path(rest)
    config = folder / CONFIG_FILE
    if not rest or not folder.is_dir():
        raise ModelError(
            f"backbone '{name}': no folder '{rest}' (a local-dir: folder holds timm's "
            f"{CONFIG_FILE} and the weights; a relative path is relative to the suite file)."
        )
    try:
        architecture = json.loads(config.read_text()).get("architecture")
    except (OSError, ValueError, AttributeError):
        architecture = None
    if not isinstance(architecture, str):
        raise ModelError(
            f"backbone '{name}': {config} is missing or names no `architecture` "
            "(timm's config, as `timm.models.save_for_hf` or `push_to_hf_hub` write it)."
        )
    _check_timm_name(name, architecture)
