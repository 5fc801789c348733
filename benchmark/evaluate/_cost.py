"""What a model costs: FLOPs, peak memory, and model-only latency under a fixed protocol.

Latency protocol: the input is already on the device; ``warmup`` untimed calls, then
``iterations`` timed calls, each synchronised on CUDA (CUDA events) or timed with
``perf_counter`` on the CPU; inference mode, the same autocast as training. Batch 1 gives
the per-image distribution (min, max, mean, p50, p95, p99 in ms); larger batches give
images per second.
"""

from __future__ import annotations

import platform
import resource
import sys
import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from benchmark.devices import autocast

__all__ = ["count_gmacs", "environment", "measure_latency", "peak_memory_mb", "reset_peak_memory"]


def count_gmacs(model: nn.Module, *, image_size: int, device: torch.device) -> float:
    """Multiply-accumulates (10⁹) of one forward pass on one image of the cell's size."""
    x = torch.zeros(1, 3, image_size, image_size, device=device)
    was_training = model.training
    model.eval()
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops() / 2 / 1e9


def reset_peak_memory(device: torch.device) -> int:
    """Start measuring a peak; returns the bytes already allocated on a GPU (the images
    placed there, earlier models still held), which :func:`peak_memory_mb` leaves out."""
    if device.type != "cuda":
        return 0
    torch.cuda.reset_peak_memory_stats(device)
    return torch.cuda.memory_allocated(device)


def peak_memory_mb(device: torch.device, *, since: int = 0) -> float:
    """CUDA: the most allocated since the last reset beyond what was allocated then
    (``since``, its return): what the training itself needed. CPU: the process's peak
    resident memory (a high-water mark over the whole process, not only since the reset)."""
    if device.type == "cuda":
        return (torch.cuda.max_memory_allocated(device) - since) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def environment(device: torch.device) -> dict[str, str]:
    """What latency depends on: device, torch version, CPU threads."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    return {
        "device_name": name,
        "torch": torch.__version__,
        "threads": str(torch.get_num_threads()),
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@torch.inference_mode()
def measure_latency(
    model: nn.Module,
    *,
    image_size: int,
    device: torch.device,
    batch_sizes: Sequence[int] = (1, 32),
    warmup: int = 10,
    iterations: int = 50,
) -> dict[str, float]:
    """``latency/b1_*_ms`` and ``latency/b{N}_img_per_s`` under the protocol above (inputs
    in the layout of the model's weights: channels-last for a model trained so)."""
    model.eval().to(device)
    out: dict[str, float] = {}
    kernels = [p for p in model.parameters() if p.dim() == 4]
    layout = (
        torch.channels_last
        if kernels
        and kernels[0].is_contiguous(memory_format=torch.channels_last)
        and not kernels[0].is_contiguous()
        else torch.contiguous_format
    )
    for batch in batch_sizes:
        x = torch.randn(batch, 3, image_size, image_size, device=device)
        x = x.contiguous(memory_format=layout)
        times = _time_calls(model, x, device=device, warmup=warmup, iterations=iterations)
        if batch == 1:
            out |= {
                "latency/b1_mean_ms": float(times.mean()),
                "latency/b1_min_ms": float(times.min()),
                "latency/b1_max_ms": float(times.max()),
                **{f"latency/b1_p{q}_ms": float(np.percentile(times, q)) for q in (50, 95, 99)},
            }
        else:
            out[f"latency/b{batch}_img_per_s"] = float(batch / (times.mean() / 1000))
    return out


def _time_calls(model, x, *, device, warmup: int, iterations: int) -> np.ndarray:
    with autocast(device):
        for _ in range(warmup):
            model(x)
        if device.type == "cuda":
            return _cuda_times(model, x, device=device, iterations=iterations)
        times = []
        for _ in range(iterations):
            start = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - start) * 1000)
        return np.asarray(times)


def _cuda_times(model, x, *, device: torch.device, iterations: int) -> np.ndarray:
    """Each call between two events recorded on ``device``'s own stream (not the current
    device's: a worker whose current device is another GPU would time that one)."""
    stream = torch.cuda.current_stream(device)
    torch.cuda.synchronize(device)
    times = []
    with torch.cuda.device(device):
        for _ in range(iterations):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record(stream)
            model(x)
            end.record(stream)
            end.synchronize()
            times.append(start.elapsed_time(end))
    return np.asarray(times)
