"""``--launcher ray``: one worker per GPU (or CPU slot) of a Ray cluster.

Ray only places the workers (``ray.init(address=...)``, from ``RAY_ADDRESS``; without it a
local Ray instance). Claims still go through the suite's board in the Optuna storage, so a
task that Ray retries after a node failure joins the run like any worker and can never run
a cell twice. Every node must reach both stores: a PostgreSQL storage and a tracking server
(or a shared file system), and have medbench installed (``pip install "medbench[ray]"``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from benchmark.errors import MedbenchError
from benchmark.runner._devices import Slot
from benchmark.runner._launch import Display, assignment, progress
from benchmark.runner._worker import Session

__all__ = ["run_on_ray"]


def _run_worker(handed: str, env: dict[str, str]) -> tuple[int, str]:
    """Inside a Ray task: the worker as a child process (stopped if the task is killed), on
    the GPU Ray gave the task, watching the task's process."""
    import subprocess

    import ray

    from benchmark.runner._entry import Assignment, worker_command

    gpus = ray.get_gpu_ids()
    mine = Assignment.model_validate_json(handed).model_copy(
        update={"device_name": f"cuda:{int(gpus[0])}" if gpus else "cpu",
                "launcher_pid": os.getpid()}
    )  # fmt: skip
    result = subprocess.run(worker_command(), input=mine.model_dump_json(),
                            env={**os.environ, **env}, capture_output=True, text=True)  # fmt: skip
    return result.returncode, result.stderr[-4000:]


def run_on_ray(
    session: Session, slots: Sequence[Slot], *, display: Display, poll_s: float
) -> list[str]:
    """Start one worker per slot as a Ray task (a GPU each, or a share of one with
    ``--workers-per-device``; ``--devices all`` means every GPU of the cluster), show their
    progress until all end; return their errors."""
    try:
        import ray
    except ImportError:
        raise MedbenchError(
            '--launcher ray needs Ray: pip install "medbench[ray]" (or use --launcher local).'
        ) from None
    ray.init(address=os.environ.get("RAY_ADDRESS") or None, ignore_reinit_error=True,
             log_to_driver=False)  # fmt: skip
    try:
        remote = ray.remote(max_retries=2)(_run_worker)
        tasks = []
        share = 1 / _per_device(slots)  # --workers-per-device: Ray's fractional GPUs
        for slot in _cluster_slots(ray, slots):
            gpu = slot.device.startswith("cuda")
            handed = assignment(session, slot).model_dump_json()
            options = {"num_gpus": share, "num_cpus": 1} if gpu else {"num_cpus": slot.threads}
            tasks.append(remote.options(**options).remote(handed, {"OMP_NUM_THREADS": "1"}))
        pending = list(tasks)
        while pending:
            _, pending = ray.wait(pending, num_returns=len(pending), timeout=poll_s)
            display.update(progress(session))
        results = ray.get(tasks)
    finally:
        ray.shutdown()
    return [f"ray task {k}: {tail.strip().splitlines()[-1] if tail.strip() else 'no output'}"
            for k, (code, tail) in enumerate(results) if code != 0]  # fmt: skip


def _per_device(slots: Sequence[Slot]) -> int:
    """Workers per GPU the slots were planned with (``--workers-per-device``)."""
    gpus = {s.device for s in slots if s.device.startswith("cuda")}
    return len(slots) // len(gpus) if gpus else 1


def _cluster_slots(ray, slots: Sequence[Slot]) -> list[Slot]:
    """GPU slots become ``--workers-per-device`` per GPU of the whole cluster (not of this
    machine)."""
    if not any(s.device.startswith("cuda") for s in slots):
        return list(slots)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    if gpus == 0:
        raise MedbenchError("--launcher ray --devices ...: the Ray cluster has no GPU.")
    count = gpus * _per_device(slots)
    return [Slot(f"w{k + 1}", "cuda:0", slots[0].threads) for k in range(count)]
