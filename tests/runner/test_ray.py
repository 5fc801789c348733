"""Ray's placement of workers, without a Ray instance: slots per device of the cluster."""

from __future__ import annotations


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
