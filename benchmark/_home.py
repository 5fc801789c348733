"""Where medbench keeps files: its cache folder, and the stores a run writes by default."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_home", "store_location"]

_OFF = ("off", "0", "false", "none")


def cache_home() -> Path | None:
    """The folder named by ``MEDBENCH_CACHE`` (``off``: none), else ``~/.cache/medbench``."""
    setting = os.environ.get("MEDBENCH_CACHE", "")
    if setting.lower() in _OFF:
        return None
    return Path(setting).expanduser() if setting else Path.home() / ".cache" / "medbench"


def store_location(given: str | None, *, env: str, file: str, scheme: str = "") -> str:
    """Where a store is: ``given``, else the environment variable ``env``, else ``file``
    in ``<cwd>/mlruns/`` (written after ``scheme``, e.g. ``sqlite:///``)."""
    return given or os.environ.get(env) or f"{scheme}{Path.cwd() / 'mlruns' / file}"
