"""Device slots: one worker per GPU (each seeing only its own), CPU workers sharing cores."""

from __future__ import annotations

import pytest

from benchmark.errors import MedbenchError
from benchmark.runner import plan_slots


def _slots(devices, **kwargs):
    return [(s.name, s.device, s.visible, s.local_device, s.threads)
            for s in plan_slots(devices, **kwargs)]  # fmt: skip


def test_cpu_workers_split_the_cores():
    assert _slots("cpu", workers=2, cores=2) == [
        ("w1", "cpu", "", "cpu", 1),
        ("w2", "cpu", "", "cpu", 1),
    ]
    assert _slots("cpu", cores=16) == [("w1", "cpu", "", "cpu", 16)]
    assert _slots("auto", cores=4, gpus=0) == [("w1", "cpu", "", "cpu", 4)]
    assert len(plan_slots("all", workers=3, cores=2, gpus=0)) == 3  # no GPU: CPU workers


def test_one_worker_per_gpu_each_seeing_only_its_own():
    assert _slots("all", cores=16, gpus=2) == [
        ("w1", "cuda:0", "0", "cuda:0", 8),
        ("w2", "cuda:1", "1", "cuda:0", 8),
    ]
    assert _slots("auto", cores=16, gpus=8) == [("w1", "cuda:0", "0", "cuda:0", 16)]
    shared = _slots("cuda:0,cuda:2", per_device=2, cores=16, gpus=4)
    assert [s[1] for s in shared] == ["cuda:0", "cuda:0", "cuda:2", "cuda:2"]
    assert [s[2] for s in shared] == ["0", "0", "2", "2"] and shared[0][4] == 4


@pytest.mark.parametrize(
    ("devices", "kwargs", "message"),
    [
        ("gpu", {}, "expected auto, all, cpu or a list"),
        ("cuda:0,cuda:3", {"gpus": 2}, r"\['cuda:3'\] not found; the GPUs here are \['cuda:0'"),
        ("cuda:0", {"gpus": 0}, "none \\(no CUDA here\\)"),
        ("cuda:0,cuda:0", {"gpus": 2}, "names a device twice"),
        ("cuda:0", {"gpus": 1, "workers": 2}, "use --workers-per-device"),
        ("cpu", {"per_device": 0}, "at least 1"),
    ],
)
def test_devices_that_cannot_be_used_say_why(devices, kwargs, message):
    with pytest.raises(MedbenchError, match=message):
        plan_slots(devices, **kwargs)
