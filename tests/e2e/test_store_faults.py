"""Ordinary mistakes that must not break a store: a read-only or unreachable store, and an
alias bomb for a suite. (Two runs at once: tests/e2e/test_parallel.py.)"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark.checks import load_checked_suite
from benchmark.errors import SuiteError

BOMB = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]"
            for p, n in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)


def _medbench(*args: str, cwd: Path, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "benchmark", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_an_alias_bomb_is_refused_at_once(tmp_path, tiny_suite):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB + "\n")
    assert len(bomb.read_bytes()) < 400
    start = time.monotonic()
    with pytest.raises(SuiteError, match=r"expands to [\d,]{11} values .* alias bomb"):
        load_checked_suite(bomb)
    assert time.monotonic() - start < 2
    result = _medbench("run", str(bomb), cwd=tmp_path)
    assert (
        result.returncode == 1
        and "alias bomb" in result.stderr
        and "Traceback" not in result.stderr
    )


def _read_only(folder: Path) -> tuple[str, ...]:
    """Make ``folder`` read-only; as root, also run without the capability to ignore that."""
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("root without setpriv (util-linux) cannot be kept from writing")
    return ("setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--")


def test_a_read_only_store_is_found_before_any_work_and_can_still_be_read(
    tmp_path, tiny_suite_file, tracking_uri
):
    from benchmark.runner import run_suite

    store = Path(tracking_uri.removeprefix("sqlite:///")).parent
    suite = load_checked_suite(tiny_suite_file, overrides=["train.epochs=1"])
    run_suite(suite, tracking_uri=tracking_uri, storage=str(store / "optuna.journal"))
    prefix = _read_only(store)
    try:
        writable = tmp_path / "elsewhere.journal"
        start = time.monotonic()
        result = _medbench("run", str(tiny_suite_file), "--tracking-uri", tracking_uri,
                           "--storage", str(writable), cwd=tmp_path, prefix=prefix)  # fmt: skip
        assert result.returncode == 1, result.stderr
        assert "cannot be written" in result.stderr and "--tracking-uri" in result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) <= 3
        assert time.monotonic() - start < 60
        journal = _medbench("run", str(tiny_suite_file), "--tracking-uri", tracking_uri,
                            "--storage", str(store / "optuna.journal"), cwd=tmp_path,
                            prefix=prefix)  # fmt: skip
        assert journal.returncode == 1 and "the Optuna journal" in journal.stderr
        board = _medbench("leaderboard", "tiny", "--tracking-uri", tracking_uri, cwd=tmp_path,
                          prefix=prefix)  # fmt: skip
        assert board.returncode == 0, board.stderr
        assert "test_resnet" in board.stdout
    finally:
        for path in [store, *store.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


@pytest.mark.parametrize("command", ["run", "leaderboard"])
def test_an_unreachable_tracking_server_fails_within_seconds(tmp_path, tiny_suite_file, command):
    args = [str(tiny_suite_file)] if command == "run" else ["tiny"]
    start = time.monotonic()
    result = _medbench(command, *args, "--tracking-uri", "http://127.0.0.1:9/", cwd=tmp_path)
    elapsed = time.monotonic() - start
    assert result.returncode == 1
    assert "cannot reach the MLflow tracking server at http://127.0.0.1:9/" in result.stderr
    assert "--tracking-uri or MLFLOW_TRACKING_URI" in result.stderr
    assert elapsed < 30  # the process itself (imports) and a 5 s timeout, not MLflow's retries
