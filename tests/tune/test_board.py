"""The suite's board: cells claimed atomically through Optuna's storage, never twice."""

from __future__ import annotations

import multiprocessing
import socket

import pytest

from benchmark import tune

KEYS = [f"cell{k:02d}" for k in range(24)]


def _worker(storage: str, seed: int, holding) -> None:
    """Post every cell (as a launcher that starts at the same moment would), then claim and
    run cells until none is left; a cell already finished is skipped (as the runner does on
    finding its FINISHED run in MLflow). Each worker holds its first claim until every
    worker holds one (``holding``, a barrier), so the claims overlap whatever the scheduler
    does."""
    import random

    random.seed(seed)
    tune.post_cells(storage, "race", cells=[(k, k) for k in KEYS])
    order = KEYS[:]
    random.shuffle(order)
    first = True
    while (claim := tune.claim_cell(storage, "race", keys=order)) is not None:
        if first:
            holding.wait(timeout=120)
            first = False
        finished = {
            e.key
            for e in tune.board_entries(storage, "race")
            if e.attrs.get("outcome") == "finished"
        }
        if claim.entry.key in finished:
            claim.release("skipped")
            continue
        claim.note(ran_by=seed)
        claim.release("finished", run_id=f"run-{claim.entry.key}")


def test_workers_racing_on_one_board_run_each_cell_exactly_once(tmp_path):
    storage = str(tmp_path / "optuna.journal")
    context = multiprocessing.get_context("spawn")
    holding = context.Barrier(4)
    workers = [context.Process(target=_worker, args=(storage, k, holding)) for k in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=240)
        assert worker.exitcode == 0
    entries = tune.board_entries(storage, "race")
    ran = [e for e in entries if e.attrs.get("outcome") == "finished"]
    assert sorted(e.key for e in ran) == KEYS  # every cell once, none twice
    assert all(e.state in ("COMPLETE", "FAIL") for e in entries)  # no claim left behind
    duplicates = [e for e in entries if e.duplicate]
    assert all(e.state == "FAIL" and "ran_by" not in e.attrs for e in duplicates)
    # Four claims held at once were four different cells: every worker ran one at least.
    assert {e.attrs["ran_by"] for e in ran} == {0, 1, 2, 3}


def test_posting_is_idempotent_and_claims_follow_the_workers_order(tmp_path):
    storage = str(tmp_path / "b.journal")
    assert tune.post_cells(storage, "s", cells=[("a", "A"), ("b", "B")]) == 2
    assert tune.post_cells(storage, "s", cells=[("a", "A"), ("b", "B"), ("c", "C")]) == 1
    first = tune.claim_cell(storage, "s", keys=["c", "b", "a"])
    assert first.entry.key == "c" and first.held()
    assert tune.claim_cell(storage, "s", keys=["c"]) is None  # taken
    first.release("failed", error="boom")
    assert tune.post_cells(storage, "s", cells=[("c", "C")]) == 1  # a failed cell is queued again
    assert tune.post_cells(storage, "s", cells=[("a", "A")], resume=False) == 0  # still queued


def test_a_claim_whose_worker_died_is_failed_and_queued_again(tmp_path):
    storage = str(tmp_path / "d.journal")
    tune.post_cells(storage, "s", cells=[("a", "A")])
    claim = tune.claim_cell(storage, "s", keys=["a"])
    claim.note(pid="999999999", host=socket.gethostname(), run_id="r1")  # as if it died
    dead = tune.reap_cells(storage, "s")
    assert [(d.key, d.attrs["run_id"]) for d in dead] == [("a", "r1")]
    assert not claim.held()
    retry = tune.claim_cell(storage, "s", keys=["a"])
    assert retry is not None and retry.entry.attrs["retry_of"] == claim.entry.number
    assert tune.reap_cells(storage, "s") == []  # alive: left alone


@pytest.mark.parametrize("url", ["optuna.journal", "sqlite:///optuna.db"])
def test_storages_resolve_and_open_once(tmp_path, monkeypatch, url):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MEDBENCH_STORAGE", raising=False)
    assert tune.resolve_storage() == str(tmp_path / "mlruns" / "optuna.journal")
    monkeypatch.setenv("MEDBENCH_STORAGE", url)
    assert tune.resolve_storage() == url
    assert tune.open_storage(url) is tune.open_storage(url)
    assert tune.check_storage(url) == url


def test_unreachable_or_unwritable_storages_fail_within_seconds(tmp_path):
    import time

    from benchmark.errors import MedbenchError

    start = time.monotonic()
    with pytest.raises(
        MedbenchError, match=r"cannot reach the Optuna storage .*127\.0\.0\.1:9.*--storage"
    ):
        tune.check_storage("postgresql://u:secret@127.0.0.1:9/medbench")
    assert time.monotonic() - start < 10
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "optuna.journal").mkdir()  # a folder where the file should be
    with pytest.raises(MedbenchError, match="cannot write the Optuna journal"):
        tune.check_storage(str(tmp_path / "ro" / "optuna.journal"))
