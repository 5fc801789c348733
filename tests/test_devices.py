"""The device a process computes on: made current, its precision, and the lock that keeps
latency from being timed while another worker trains on the same GPU. CUDA is faked at its
boundary (these run on a CPU); ``python -m tests.perf.gpu_check`` checks the real thing."""

from __future__ import annotations

import threading

import pytest
import torch

from benchmark import devices
from benchmark.errors import MedbenchError

GPU = torch.device("cuda", 3)


def test_a_worker_makes_its_gpu_current_and_a_cpu_worker_touches_no_cuda(monkeypatch):
    made_current = []
    monkeypatch.setattr(torch.cuda, "set_device", made_current.append)
    devices.use_device(torch.device("cpu"))
    devices.use_device(GPU)
    assert made_current == [GPU]


def test_cuda_asked_for_where_there_is_none_is_refused_in_one_line():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(MedbenchError, match="'cuda:1' was asked for, but CUDA is not available"):
        devices.resolve_device("cuda:1")
    assert devices.resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize(
    ("native_bf16", "dtype", "scaled"),
    [(True, torch.bfloat16, False), (False, torch.float16, True)],
)
def test_a_gpu_without_native_bf16_trains_in_fp16_with_a_scaler(
    monkeypatch, native_bf16, dtype, scaled
):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation: native_bf16)
    assert devices.autocast_dtype(GPU) is dtype
    assert (devices.grad_scaler(GPU) is not None) is scaled
    assert devices.autocast_dtype(torch.device("cpu")) is None
    assert devices.grad_scaler(torch.device("cpu")) is None


def test_timing_waits_for_the_trainings_on_its_gpu_and_they_wait_for_it(monkeypatch, tmp_path):
    monkeypatch.setattr(devices, "gpu_identity", lambda device: "GPU-same-physical-one")
    other = torch.device("cuda", 0)  # another worker's name for the same GPU
    timed = threading.Event()

    def time_latency() -> None:
        with devices.device_lock(other, exclusive=True, folder=tmp_path):
            timed.set()

    with devices.device_lock(GPU, folder=tmp_path), devices.device_lock(GPU, folder=tmp_path):
        timer = threading.Thread(target=time_latency)
        timer.start()
        assert not timed.wait(0.5)  # two trainings hold the GPU: no timing meanwhile
    assert timed.wait(30)  # both epochs ended: timed
    timer.join()
    with devices.device_lock(GPU, exclusive=True, folder=tmp_path):
        pass  # nothing left behind
    assert [p.name for p in tmp_path.iterdir()] == [
        p.name for p in tmp_path.glob("medbench-gpu-*.lock")
    ]


def test_a_cpu_needs_no_lock(tmp_path):
    with devices.device_lock(torch.device("cpu"), exclusive=True, folder=tmp_path):
        assert list(tmp_path.iterdir()) == []
