"""The latency protocol against torch.utils.benchmark.Timer, and the cost of the bootstrap.

python -m tests.perf.bench_measurement
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from torch.utils import benchmark as torch_benchmark

from benchmark.evaluate import bootstrap_intervals, measure_latency
from benchmark.models import create_model


def latency_agreement(name: str, size: int) -> tuple[float, float, float]:
    torch.manual_seed(0)
    model = create_model(name, num_classes=4).eval()
    ours = measure_latency(model, image_size=size, device=torch.device("cpu"), batch_sizes=[1])
    x = torch.randn(1, 3, size, size)
    with torch.inference_mode():
        timer = torch_benchmark.Timer(
            stmt="model(x)",
            globals={"model": model, "x": x},
            num_threads=torch.get_num_threads(),  # the Timer's default is one thread
        )
        reference = timer.blocked_autorange(min_run_time=2.0).median * 1000
    return ours["latency/b1_p50_ms"], reference, ours["latency/b1_p50_ms"] / reference


def bootstrap_seconds(n: int, classes: int = 4, resamples: int = 1000) -> float:
    rng = np.random.default_rng(0)
    y = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes)) + 2 * np.eye(classes)[y]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    start = time.perf_counter()
    bootstrap_intervals(y, probs, resamples=resamples)
    return time.perf_counter() - start


def main() -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    for name, size in [("test_resnet", 80), ("resnet10t", 96), ("resnet50", 224)]:
        ours, reference, ratio = latency_agreement(name, size)
        print(
            f"latency {name:12s} {size:3d} px  medbench p50 {ours:7.2f} ms  "
            f"Timer median {reference:7.2f} ms  ratio {ratio:.3f}"
        )
    for n in (200, 1311, 5000):
        print(
            f"bootstrap 1000 resamples, {n:5d} test images, 4 classes: {bootstrap_seconds(n):.2f} s"
        )


if __name__ == "__main__":
    main()
