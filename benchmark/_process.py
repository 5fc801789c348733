"""Who owns a run or trial: this process's stamp, whether a stamped owner died, and the
stretches that Ctrl-C or SIGTERM must not cut in two."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

__all__ = ["owner_is_dead", "set_worker", "shielded", "stamp"]

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


@contextmanager
def shielded() -> Iterator[None]:
    """Ctrl-C or SIGTERM arriving inside is held until the block ends, then delivered as it
    would have been: what the block does (creating a run, ending it) is never left half done
    by a stop. Only the main thread receives signals; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        held.append(signum)

    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, hold) for s in stops}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if held:
            signal.raise_signal(held[0])  # to the handler that was there before
