"""What names a model without importing timm: timm's model names (read from the cache
folder where they were listed before) and the files of a model folder.

``medbench suite validate`` checks backbone names; importing timm (and torch) for that costs
seconds, so the names of the installed timm version are kept in the medbench cache folder
(``timm-<version>.txt``) the first time timm lists them, and read from there afterwards.
"""

from __future__ import annotations

import os
from fnmatch import fnmatchcase
from functools import cache
from importlib.metadata import version

from benchmark.errors import ModelError, suggest
from benchmark.settings import cache_home

__all__ = ["CONFIG_FILE", "WEIGHTS_FILE", "check_backbone", "list_backbones"]

WEIGHTS_FILE, CONFIG_FILE = "model.safetensors", "config.json"  # a model folder's two files


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


def check_backbone(name: str) -> None:
    """Fail with close matches when ``name`` is not a timm model."""
    base = name.split(".", 1)[0]  # allow timm's "name.pretrained_tag"
    if base not in _name_set():
        raise ModelError(
            f"unknown backbone '{name}': not a timm model (see `medbench list backbones`)."
            + suggest(base, _model_names())
        )
