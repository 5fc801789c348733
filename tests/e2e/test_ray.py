"""``--launcher ray`` on a local Ray instance: Ray places the workers, the board still
decides who runs which cell, so nothing runs twice."""

from __future__ import annotations

import pytest

from tests.conftest import write_suite
from tests.e2e._procs import assert_exactly_once, finish, medbench, open_store, runs
from tests.e2e.test_parallel import TUNED

pytestmark = pytest.mark.slow


def test_ray_runs_one_worker_per_slot_and_each_cell_once(tmp_path, tiny_suite):
    pytest.importorskip("ray")
    suite = write_suite(tmp_path / "suite.yaml", {**tiny_suite, **TUNED, "tune": {"trials": 2}})
    tracking, storage = f"sqlite:///{tmp_path}/stores/mlflow.db", str(tmp_path / "stores" / "o")
    launcher = medbench(
        "run", str(suite), "--launcher", "ray", "--devices", "cpu", "--workers", "2",
        "--tracking-uri", tracking, "--storage", storage, cwd=tmp_path,
        env={"RAY_DISABLE_USAGE_STATS": "1", "RAY_ADDRESS": ""},
    )  # fmt: skip
    assert finish(launcher, timeout=400) == 0, launcher.stderr_text[-3000:]
    client = open_store(tracking)
    assert_exactly_once(client, "tiny", storage, cells=3, trials=2)
    workers = {r.data.tags["medbench.pid"] for r in runs(client, "tiny", "cell")}
    assert str(launcher.pid) not in workers  # the cells ran in Ray's workers
