"""One error family for everything a user can get wrong.

Messages say what was wrong, where, what was expected and how to fix it; the CLI prints
them without a traceback and exits 1.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "BadImage",
    "DataError",
    "MedbenchError",
    "ModelError",
    "ModelIntegrityError",
    "SuiteError",
    "TrackingError",
    "suggest",
]


class MedbenchError(Exception):
    """Base class of every error caused by user input or the environment."""


class SuiteError(MedbenchError):
    """The suite file is malformed, or names something that does not exist."""


class DataError(MedbenchError):
    """A dataset cannot be read, or does not have the expected shape."""


class BadImage(DataError, ValueError):
    """A file that cannot be used as an image; the message says why."""


class ModelError(MedbenchError):
    """A backbone cannot be created, or its weights cannot be had."""


class ModelIntegrityError(ModelError):
    """A model's weights differ from the sha256 recorded when it was logged or promoted."""


class TrackingError(MedbenchError):
    """The MLflow store holds nothing for what was asked, or cannot be reached."""


def suggest(name: str, choices: Iterable[str], *, n: int = 3) -> str:
    """Return ``" Did you mean 'x'?"`` for close matches of ``name``, else ``""``."""
    matches = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.6)
    if not matches:
        return ""
    return " Did you mean " + " or ".join(f"'{m}'" for m in matches) + "?"
