"""Device slots: one worker per GPU (each seeing only its own), CPU workers sharing cores."""

from __future__ import annotations

import pytest

from benchmark.errors import MedbenchError
from benchmark.runner import plan_slots


@pytest.fixture(autouse=True)
def _no_inherited_mask(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def _slots(devices, **kwargs):
    return [(s.name, s.device, s.visible(), s.local_device, s.threads)
            for s in plan_slots(devices, **kwargs)]  # fmt: skip


@pytest.mark.parametrize(
    ("mask", "expected"),
    [
        ("4,5", ["4", "5"]),
        (" 4 , 5 ,6", ["4", "5"]),
        ("GPU-8d5c5e1a-aaaa-bbbb-cccc-000000000001,GPU-8d5c5e1a-aaaa-bbbb-cccc-000000000002",
         ["GPU-8d5c5e1a-aaaa-bbbb-cccc-000000000001", "GPU-8d5c5e1a-aaaa-bbbb-cccc-000000000002"]),
        ("MIG-1f2e3d4c-0000-1111-2222-333333333333,7",
         ["MIG-1f2e3d4c-0000-1111-2222-333333333333", "7"]),
    ],
)  # fmt: skip
def test_workers_land_on_the_gpus_of_the_launchers_own_mask(monkeypatch, mask, expected):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", mask)
    slots = plan_slots("cuda:0,cuda:1", cores=4, gpus=2)
    assert [s.visible() for s in slots] == expected
    assert [s.local_device for s in slots] == ["cuda:0", "cuda:0"]


def test_a_gpu_beyond_the_launchers_mask_is_refused_in_one_line():
    slot = plan_slots("cuda:1", cores=4, gpus=2)[0]
    with pytest.raises(MedbenchError, match=r"GPU 1 is not among the 1 .*'3,-1,2'"):
        slot.visible("3,-1,2")  # CUDA stops reading a mask at its first negative entry


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
