"""Who owns a run or trial: this process's stamp, and whether a stamped owner died."""

from __future__ import annotations

import os
import socket

__all__ = ["owner_is_dead", "stamp"]


def stamp() -> dict[str, str]:
    """``{"host": ..., "pid": ...}`` of this process, to record on what it starts."""
    return {"host": socket.gethostname(), "pid": str(os.getpid())}


def owner_is_dead(host: object, pid: object) -> bool:
    """True when the stamped process ran on this host and no longer exists."""
    if host != socket.gethostname() or not str(pid or "").isdigit() or int(pid) == 0:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
