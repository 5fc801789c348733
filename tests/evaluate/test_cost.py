"""Cost measurements: parameter counts against the papers, FLOPs, the latency protocol."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils import benchmark as torch_benchmark

from benchmark.evaluate import (
    count_gmacs,
    environment,
    measure_latency,
    peak_memory_mb,
    reset_peak_memory,
)
from benchmark.models import count_parameters, create_model

# The brain paper's Table 5 (millions), models built as the paper's Keras models: the
# ImageNet backbone without its top, pooled, then a dense layer for the 4 classes.
PAPER = {
    "resnet50": 23.6,
    "inception_v3": 21.8,
    "legacy_xception": 20.8,
    "mobilenetv2_100": 2.2,
    "nasnetalarge": 84.9,
    "vgg19": 20.0,
}


@pytest.mark.parametrize("backbone", sorted(PAPER))
def test_parameter_counts_match_the_brain_paper_within_2_percent(backbone):
    model = create_model(backbone, num_classes=4, head={"kind": "linear", "pre_logits": False})
    total = count_parameters(model).total / 1e6
    assert total == pytest.approx(PAPER[backbone], rel=0.02)


def test_vgg_keeps_fc6_fc7_unless_asked():
    assert count_parameters(create_model("vgg19", num_classes=4)).total > 100e6


def test_gmacs_by_hand_and_for_resnet50():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Flatten(), nn.Linear(8 * 16 * 16, 4))
    expected = (3 * 8 * 9 * 16 * 16 + 8 * 16 * 16 * 4) / 1e9
    assert count_gmacs(model, image_size=16, device=torch.device("cpu")) == pytest.approx(expected)
    resnet = create_model("resnet50", num_classes=1000)
    assert count_gmacs(resnet, image_size=224, device=torch.device("cpu")) == pytest.approx(
        4.1, rel=0.03
    )


def test_latency_protocol_agrees_with_torch_benchmark_timer():
    torch.manual_seed(0)
    model = create_model("resnet10t", num_classes=4).eval()
    x = torch.randn(1, 3, 96, 96)
    timer = torch_benchmark.Timer(
        stmt="model(x)",
        globals={"model": model, "x": x},
        num_threads=torch.get_num_threads(),  # the Timer's default is one thread
    )
    ours, reference = [], []
    for _ in range(3):  # alternate the two, so both see the same machine
        measured = measure_latency(
            model,
            image_size=96,
            device=torch.device("cpu"),
            batch_sizes=[1, 8],
            warmup=5,
            iterations=30,
        )
        ours.append(measured)
        with torch.inference_mode():
            reference.append(min(timer.blocked_autorange(min_run_time=0.5).times) * 1000)
    # best cases: a busy machine only ever adds time, so minima agree when medians cannot
    ratio = min(m["latency/b1_min_ms"] for m in ours) / min(reference)
    assert 0.5 < ratio < 2.0, (ours, reference)
    m = ours[0]
    assert m["latency/b1_min_ms"] <= m["latency/b1_p50_ms"] <= m["latency/b1_p95_ms"]
    assert m["latency/b1_p95_ms"] <= m["latency/b1_p99_ms"] <= m["latency/b1_max_ms"]
    assert m["latency/b8_img_per_s"] > 0


def test_environment_and_memory_are_recorded():
    env = environment(torch.device("cpu"))
    assert env["torch"] == torch.__version__ and int(env["threads"]) >= 1 and env["device_name"]
    assert peak_memory_mb(torch.device("cpu")) > 50  # the process's high-water mark


def test_peak_gpu_memory_leaves_out_what_was_allocated_before(monkeypatch):
    """The images placed on the GPU and earlier models are not the training's peak."""
    gpu = torch.device("cuda", 0)
    allocated = {"now": 3 * 2**30, "peak": 3 * 2**30}
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats",
                        lambda device: allocated.update(peak=allocated["now"]))  # fmt: skip
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device: allocated["now"])
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device: allocated["peak"])
    since = reset_peak_memory(gpu)
    allocated["peak"] += 512 * 2**20  # what the training itself needed at most
    assert peak_memory_mb(gpu, since=since) == 512
