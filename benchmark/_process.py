"""Who owns a run or trial: this process's stamp, and whether a stamped owner died."""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["owner_is_dead", "set_worker", "stamp"]

_WORKER: dict[str, str] = {}


def set_worker(**facts: str | None) -> None:
    """Facts about this worker (``worker``, ``device``) added to every stamp from now on."""
    _WORKER.update({k: str(v) for k, v in facts.items() if v is not None})


def stamp() -> dict[str, str]:
    """``{"host": ..., "pid": ...}`` of this process (and its worker facts), to record on what
    it starts."""
    return {"host": socket.gethostname(), "pid": str(os.getpid()), **_WORKER}


def owner_is_dead(host: object, pid: object) -> bool:
    """True when the stamped process ran on this host and no longer exists."""
    digits = str(pid or "")
    if host != socket.gethostname() or not digits.isdigit() or int(digits) == 0:
        return False
    try:
        os.kill(int(digits), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(int(digits))


def _is_zombie(pid: int) -> bool:
    """A process that ended but was not yet reaped by its parent (Linux; False elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]
