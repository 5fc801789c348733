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


def test_ray_shares_each_gpu_between_workers_per_device():
    """``--workers-per-device 2`` on Ray: two workers per GPU of the cluster, half a GPU each."""
    from types import SimpleNamespace

    from benchmark.runner import plan_slots
    from benchmark.runner._ray import _cluster_slots, _per_device

    cluster = SimpleNamespace(cluster_resources=lambda: {"GPU": 3.0, "CPU": 48.0})
    slots = plan_slots("cuda:0", per_device=2, cores=8, gpus=1)
    assert _per_device(slots) == 2
    assert [s.name for s in _cluster_slots(cluster, slots)] == [f"w{k}" for k in range(1, 7)]
    assert _per_device(plan_slots("cpu", workers=3, cores=6)) == 1
