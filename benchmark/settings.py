"""Every setting medbench reads from the environment, declared once: its variable, type,
default and meaning (``medbench config`` prints them, the README lists them).

Commands check them all when they start (:func:`check_settings`): a bad value is refused in
one line naming the variable and what it expects, before any work. ``off`` is the one
spelling that turns a setting off. A command's flag (``--tracking-uri``, ``--storage``,
``--system-metrics``) overrides its variable for that process (:func:`set_flags`).
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from benchmark.errors import MedbenchError

__all__ = [
    "OFF",
    "Settings",
    "cache_home",
    "check_settings",
    "checkpoint_root",
    "describe_settings",
    "set_flags",
    "settings",
    "storage_url",
    "tracking_uri",
    "variable",
    "writable_folder",
]

OFF = "off"
Off = Literal["off"]
PREFIX = "MEDBENCH_"
TRACKING_VARIABLE = "MLFLOW_TRACKING_URI"  # MLflow's own variable, honoured as MLflow does

Seconds = Annotated[float, Field(gt=0)]
_NOT_OFF = ("0", "false", "no", "none", "disable", "disabled")


class Settings(BaseSettings):
    """medbench's settings; each field is read from ``MEDBENCH_<NAME>`` (``tracking_uri``
    from ``MLFLOW_TRACKING_URI``). ``None`` means "derived from where the command runs"."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        case_sensitive=False,
        env_ignore_empty=True,  # VAR= is unset, as a shell user means it
        extra="ignore",
        validate_default=True,
    )

    data: Path = Field(
        Path("data"),
        description="where suites' ${MEDBENCH_DATA:-data} roots point (the seed suites' "
        "datasets lie in <data>/<layout>); a relative path is relative to the suite file",
    )
    cache: Path | Off = Field(
        Path("~/.cache/medbench"),
        description="cache of decoded images, image facts, frozen backbones' embeddings and "
        "timm's model names; off: none (an unwritable folder is skipped with a warning)",
    )
    checkpoints: Path | Off | None = Field(
        None,
        description="where trainings save their state every epoch; off: none (default: "
        "checkpoints/ beside a SQLite store, else mlruns/checkpoints); workers on several "
        "machines that continue each other's trainings need a shared folder",
    )
    checkpoint_every_s: Annotated[float, Field(ge=0)] = Field(
        300.0,
        description="seconds between checkpoints of a training: every epoch when epochs "
        "are slower, once per this many seconds when they are faster; 0: every epoch",
    )
    storage: str | None = Field(
        None,
        description="Optuna storage: a journal file or a URL such as postgresql+psycopg://... "
        "(default: mlruns/optuna.journal in the working folder; --storage overrides it)",
    )
    tracking_uri: str | None = Field(
        None,
        validation_alias=TRACKING_VARIABLE,
        description="MLflow tracking URI (default: sqlite:///mlruns/mlflow.db in the working "
        "folder; --tracking-uri overrides it)",
    )
    heartbeat_s: int = Field(
        30,
        ge=1,
        description="seconds between heartbeats of trials in a PostgreSQL storage; a trial "
        "is failed and queued again after three missed beats",
    )
    system_metrics: Seconds | Off = Field(
        10.0,
        description="seconds between samples of CPU, memory and GPU use in every cell and "
        "trial run; off: none (--system-metrics overrides it)",
    )
    data_on_device: Annotated[float, Field(ge=0)] | Literal["auto", "off"] = Field(
        "auto",
        description="GiB of a GPU a cell's images may take, or auto (a quarter of its free "
        "memory); off: batches come from pinned host memory",
    )
    max_pixels: int = Field(
        64_000_000,
        ge=1,
        description="the largest image decoded, in pixels (a decompression bomb is refused)",
    )
    medmnist_mirror: str | None = Field(
        None,
        description="a base URL serving MedMNIST's files by their names (pathmnist_64.npz); "
        "`medbench data fetch medmnist` downloads from it instead of Zenodo (same MD5s)",
    )
    app_token: SecretStr | None = Field(
        None,
        description="the secret every request to `medbench app` must carry (needed when it "
        "listens beyond this machine)",
    )

    @field_validator("cache", "checkpoints", "system_metrics", "data_on_device", mode="before")
    @classmethod
    def _one_off(cls, value: Any) -> Any:
        """``off`` in any case; the other spellings once accepted are refused, not taken for
        a folder named ``false``."""
        if isinstance(value, str):
            word = value.strip().lower()
            if word in ("off", "auto"):
                return word
            if word in _NOT_OFF:
                raise ValueError(f"'{value}' is not a setting's value; 'off' turns it off")
        return value

    @field_validator("medmnist_mirror")
    @classmethod
    def _a_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://", "file://")):
            raise ValueError("not a base URL")
        return value

    @field_validator("cache", "checkpoints", "data", mode="after")
    @classmethod
    def _expand_user(cls, value: Any) -> Any:
        return value.expanduser() if isinstance(value, Path) else value


# What each field expects, in the words a refusal uses.
_EXPECTED = {
    "data": "a folder",
    "cache": "a folder, or off (the one spelling)",
    "checkpoints": "a folder, or off (the one spelling)",
    "checkpoint_every_s": "seconds (0 or more)",
    "storage": "a journal file or a database URL",
    "tracking_uri": "an MLflow tracking URI",
    "heartbeat_s": "a whole number of seconds, 1 or more",
    "system_metrics": "seconds between samples (more than 0), or off (the one spelling)",
    "data_on_device": "auto, off or a number of GiB",
    "max_pixels": "a whole number of pixels, 1 or more",
    "medmnist_mirror": "a base URL (http://, https:// or file://)",
    "app_token": "a secret string",
}
_FLAGS: dict[str, Any] = {}


def variable(name: str) -> str:
    """The environment variable of setting ``name``."""
    return TRACKING_VARIABLE if name == "tracking_uri" else PREFIX + name.upper()


def set_flags(**values: Any) -> None:
    """Record a command's flags (``None``: not given); they override the environment for the
    rest of this process (and its children, which inherit the variable)."""
    for name, value in values.items():
        if name not in Settings.model_fields:
            raise ValueError(f"'{name}' is not a setting")
        if value is not None:
            _FLAGS[name] = value
            os.environ[variable(name)] = str(value)


def settings() -> Settings:
    """The current settings (flags, then environment, then defaults), checked; a bad value
    is a :class:`MedbenchError` naming its variable. Cheap: re-read only when a variable
    changes."""
    relevant = tuple(sorted((k.upper(), v) for k, v in os.environ.items() if _is_ours(k.upper())))
    return _read(relevant)


def _is_ours(key: str) -> bool:
    return key == TRACKING_VARIABLE or key.startswith(PREFIX)


@lru_cache(maxsize=8)
def _read(environ: tuple[tuple[str, str], ...]) -> Settings:
    """``Settings()`` for these variables (the cache key: the process's own variables)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise MedbenchError(_refusal(exc, dict(environ))) from None


def _refusal(exc: ValidationError, environ: Mapping[str, str]) -> str:
    """One sentence per bad variable: its value and what it expects."""
    aliases = {TRACKING_VARIABLE.lower(): "tracking_uri"}
    lines = []
    for loc in dict.fromkeys(str(err["loc"][0]).lower() for err in exc.errors()):
        name = aliases.get(loc, loc)
        key = variable(name)
        shown = "***" if name == "app_token" else environ.get(key, "")
        lines.append(f"{key}={shown!r}: expected {_EXPECTED[name]}.")
    return " ".join(lines)


def check_settings() -> Settings:
    """Every setting checked at once, as a command starts."""
    return settings()


def describe_settings() -> list[dict[str, str]]:
    """Per setting: its variable, effective value, where it came from (flag, environment or
    default) and its meaning; what ``medbench config`` prints. Secrets are not shown."""
    current = settings()
    rows = []
    for name, field in Settings.model_fields.items():
        key = variable(name)
        source = "flag" if name in _FLAGS else "environment" if key in _environ() else "default"
        value: Any = getattr(current, name)
        if name == "app_token":
            value = "(set)" if value is not None else None
        rows.append(
            {
                "variable": key,
                "value": _effective(name, value),
                "source": source,
                "meaning": field.description or "",
            }
        )
    return rows


def _environ() -> set[str]:
    return {k.upper() for k, v in os.environ.items() if v and _is_ours(k.upper())}


def _effective(name: str, value: Any) -> str:
    derived = {
        "tracking_uri": tracking_uri,
        "storage": storage_url,
        "checkpoints": lambda: checkpoint_root(tracking_uri()) or OFF,
    }
    if value is None and name in derived:
        return str(derived[name]())
    return "" if value is None else str(value)


# --- where things are -------------------------------------------------------------------


def tracking_uri(given: str | None = None) -> str:
    """``given``, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///<cwd>/mlruns/mlflow.db``."""
    return given or settings().tracking_uri or f"sqlite:///{Path.cwd() / 'mlruns' / 'mlflow.db'}"


def storage_url(given: str | None = None) -> str:
    """``given``, else ``MEDBENCH_STORAGE``, else the journal ``<cwd>/mlruns/optuna.journal``."""
    return given or settings().storage or str(Path.cwd() / "mlruns" / "optuna.journal")


def checkpoint_root(tracking: str) -> Path | None:
    """``MEDBENCH_CHECKPOINTS`` (``off``: none), else ``checkpoints/`` beside a SQLite store,
    else ``mlruns/checkpoints`` in the working folder."""
    setting = settings().checkpoints
    if setting == OFF:
        return None
    if isinstance(setting, Path):
        return setting
    if tracking.startswith("sqlite:///"):
        return Path(tracking.removeprefix("sqlite:///")).parent / "checkpoints"
    return Path.cwd() / "mlruns" / "checkpoints"


_WARNED: set[Path] = set()


def cache_home() -> Path | None:
    """The cache folder (``MEDBENCH_CACHE``; ``off``: none). A folder that cannot be
    written is not used: one warning, then no cache."""
    setting = settings().cache
    if isinstance(setting, str):  # off
        return None
    try:
        writable_folder(setting, what="the cache folder (MEDBENCH_CACHE)")
    except MedbenchError as exc:
        if setting not in _WARNED:
            _WARNED.add(setting)
            from benchmark.console import warning

            warning(f"{exc} Going on without a cache.")
        return None
    return setting


def writable_folder(path: Path, *, what: str, keep: bool = True) -> Path:
    """``path`` created if needed and checked writable, or a one-line :class:`MedbenchError`
    naming ``what`` it is for. ``keep=False`` only checks and creates nothing: the nearest
    folder that exists must take a file (and be a folder). Nothing is created and removed
    again, so two commands checking and creating the same folder at once cannot pull it
    from under each other."""
    try:
        if keep:
            path.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=path).close()
        else:
            existing = next(p for p in (path, *path.parents) if p.exists())
            if not existing.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
            tempfile.TemporaryFile(dir=existing).close()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise MedbenchError(
            f"{what} {path} cannot be written ({reason}). Choose a writable folder."
        ) from None
    return path
