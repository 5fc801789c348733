"""The GPU path checked on a real GPU, one line per item, in one command (minutes):

    python -m tests.perf.gpu_check [--device cuda] [--quick]

1. no hidden sync: training and validation under ``torch.cuda.set_sync_debug_mode("warn")``;
   a line of code that synchronises once per batch fails (per epoch is the design);
2. latency on the last visible GPU, measured while another GPU is current, equals a bare
   loop timed there within 20 %;
3. GPU memory after five cells on two datasets is no higher than after the first;
4. ``memory/peak_mb`` is the training's own: the same with 2 GiB already allocated;
5. workers under an inherited ``CUDA_VISIBLE_DEVICES`` land on the masked GPUs;
6. a compiled training compiles nothing after its first epoch;
7. ``fit`` against a timm-style loop (resnet50, the device's mixed precision, channels-last);
8. the brain suite's six backbones: minutes for 25 epochs of 7023 images.

``--device cpu`` runs what a CPU can (2, 3, 6, 7, 8 at small sizes) to prove the script.
Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

from benchmark.data import Batches, place_images
from benchmark.devices import autocast, layout, prepare_for, resolve_device
from benchmark.evaluate import measure_latency, peak_memory_mb, reset_peak_memory
from benchmark.models import create_model
from benchmark.suite import TrainConfig
from benchmark.train import fit

Result = tuple[bool | None, str]  # passed (None: skipped), what was seen


def _batches(n: int, *, size: int, batch: int, device, shuffle: bool = False, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 4, (n,), generator=generator)
    model_stats = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    return Batches(place_images(images, device), labels, indices=range(n), batch_size=batch,
                   mean=model_stats[0], std=model_stats[1], device=device, shuffle=shuffle,
                   seed=seed)  # fmt: skip


def no_hidden_sync(device: torch.device, quick: bool) -> Result:
    """Lines of code that synchronise with the GPU, counted over a training of 3 epochs of
    8 steps with validation: none may do so once per step."""
    if device.type != "cuda":
        return None, "needs CUDA"
    epochs, steps, batch = 3, 8, 16
    model = create_model("resnet10t", num_classes=4)
    train = _batches(steps * batch, size=64, batch=batch, device=device, shuffle=True)
    val = _batches(3 * batch + 5, size=64, batch=batch, device=device, seed=1)
    config = TrainConfig(epochs=epochs, batch_size=batch, lr=1e-3, early_stopping=None)
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit(model, train, val, config=config)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    lines = Counter(
        f"{Path(w.filename).name}:{w.lineno}" for w in caught if "synchroniz" in str(w.message)
    )
    per_step = {line: n for line, n in lines.items() if n >= epochs * steps}
    seen = ", ".join(f"{line} ×{n}" for line, n in lines.most_common(6)) or "none"
    return not per_step, f"syncs by line over {epochs * steps} steps: {seen}"


def _bare_latency(model, x, device: torch.device, iterations: int) -> float:
    with torch.inference_mode(), torch.cuda.device(device), autocast(device):
        for _ in range(10):
            model(x)
        torch.cuda.synchronize(device)
        times = []
        for _ in range(iterations):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            model(x)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
    return float(np.mean(times))


def latency_on_the_right_gpu(device: torch.device, quick: bool) -> Result:
    """``measure_latency`` on the last GPU while GPU 0 is current, against a bare loop
    timed with events on the last GPU."""
    name, size = ("resnet50", 224) if device.type == "cuda" else ("test_resnet", 64)
    model = create_model(name, num_classes=4).eval()
    if device.type != "cuda":
        ours = measure_latency(model, image_size=size, device=device, batch_sizes=[1])
        return True, f"CPU: {ours['latency/b1_mean_ms']:.2f} ms (proves the script only)"
    last = torch.device("cuda", torch.cuda.device_count() - 1)
    torch.cuda.set_device(0)
    channels_last = prepare_for(model, last)
    x = layout(torch.randn(1, 3, size, size, device=last), channels_last)
    ours = measure_latency(model, image_size=size, device=last, batch_sizes=[1], iterations=100)
    bare = _bare_latency(model, x, last, iterations=100)
    mine = ours["latency/b1_mean_ms"]
    return abs(mine - bare) <= 0.2 * bare, f"{last}: medbench {mine:.3f} ms, bare {bare:.3f} ms"


def memory_after_five_cells(device: torch.device, quick: bool) -> Result:
    """Five cells of a suite on two datasets in one worker: what the GPU holds after each
    (on a CPU the process's resident memory, which proves the script only)."""
    import psutil

    from benchmark.runner import Reporter, run_suite
    from benchmark.suite import Suite

    held: list[float] = []

    class Memory(Reporter):
        def cell_done(self, outcome) -> None:
            if device.type != "cuda":
                held.append(psutil.Process().memory_info().rss / 2**20)
                return
            torch.cuda.synchronize(device)
            held.append(torch.cuda.memory_allocated(device) / 2**20)

    data = {"layout": "synthetic", "options": {"per_class": 60, "size": 96}}
    suite = Suite.model_validate({
        "name": "gpu-check-memory",
        "datasets": {"a": data, "b": {**data, "options": {**data["options"], "seed": 1}}},
        "backbones": [{"name": n, "pretrained": False}
                      for n in ("resnet10t", "test_resnet", "test_efficientnet")],
        "cells": ["a/*", "b/resnet10t/*", "b/test_resnet/*"],
        "train": {"epochs": 2, "batch_size": 32, "image_size": 96},
        "explain": None,
        "evaluate": {"bootstrap": 0, "latency": {"batch_sizes": [1], "iterations": 5}},
    })  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        outcomes = run_suite(suite, tracking_uri=f"sqlite:///{tmp}/mlflow.db",
                             storage=f"{tmp}/optuna.journal", device=str(device),
                             reporter=Memory())  # fmt: skip
    failed = [o.cell.name for o in outcomes if o.status != "finished"]
    if failed or len(held) != 5:
        return False, f"cells failed: {failed}"
    shown = ", ".join(f"{mb:.0f}" for mb in held)
    if device.type != "cuda":
        return True, f"CPU resident MiB after each cell: {shown} (proves the script only)"
    return held[-1] <= held[0] * 1.05 + 16, f"MiB allocated after each cell: {shown}"


def peak_is_the_trainings_own(device: torch.device, quick: bool) -> Result:
    """The same training measured with and without 2 GiB already allocated."""
    if device.type != "cuda":
        return None, "needs CUDA"
    peaks = []
    for ballast_gib in (0, 2):
        ballast = torch.empty(ballast_gib * 2**30, dtype=torch.uint8, device=device)
        torch.manual_seed(0)
        model = create_model("resnet10t", num_classes=4)
        train = _batches(128, size=64, batch=32, device=device, shuffle=True)
        since = reset_peak_memory(device)
        fit(model, train, None, config=TrainConfig(epochs=1, batch_size=32))
        peaks.append(peak_memory_mb(device, since=since))
        del ballast, model, train
        torch.cuda.empty_cache()
    same = abs(peaks[0] - peaks[1]) <= 0.05 * peaks[0] + 8
    return same, f"peak MiB without / with 2 GiB allocated: {peaks[0]:.0f} / {peaks[1]:.0f}"


_CHILD = "import torch; print(torch.cuda.get_device_properties(0).uuid)"


def workers_follow_the_mask(device: torch.device, quick: bool) -> Result:
    """A launcher under ``CUDA_VISIBLE_DEVICES`` (the visible GPUs in reverse, by UUID and by
    index) starts each worker on the physical GPU its logical index names."""
    if device.type != "cuda":
        return None, "needs CUDA"
    from benchmark.runner import plan_slots

    count = torch.cuda.device_count()
    uuids = [str(torch.cuda.get_device_properties(i).uuid) for i in range(count)]
    reverse = list(range(count))[::-1]
    seen = []
    for mask in (",".join(f"GPU-{uuids[i]}" for i in reverse), ",".join(map(str, reverse))):
        for slot in plan_slots("all", gpus=count):
            env = {**os.environ, "CUDA_VISIBLE_DEVICES": slot.visible(mask)}
            out = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True,
                                 text=True, timeout=120, check=True)  # fmt: skip
            expected = uuids[reverse[int(slot.device.removeprefix("cuda:"))]]
            seen.append(out.stdout.strip() == expected)
    return all(seen), f"{sum(seen)} of {len(seen)} workers on their masked GPU ({count} GPUs)"


def no_recompile_after_the_first_epoch(device: torch.device, quick: bool) -> Result:
    """Graphs compiled by epoch, with a partial last training and validation batch."""
    from torch._dynamo.utils import counters

    model = create_model("resnet10t", num_classes=4)
    train = _batches(100, size=64, batch=32, device=device, shuffle=True)
    val = _batches(45, size=64, batch=32, device=device, seed=1)
    graphs: list[int] = []

    def on_epoch(epoch: int, row: dict[str, float]) -> None:
        graphs.append(counters["stats"]["unique_graphs"])

    config = TrainConfig(epochs=3, batch_size=32, compile=True, early_stopping=None)
    try:
        fit(model, train, val, config=config, on_epoch=on_epoch)
    except Exception as exc:  # no compiler here: say so, do not fail the GPU path
        return None, f"torch.compile unavailable ({type(exc).__name__})"
    return graphs[1:] == graphs[:1] * (len(graphs) - 1), f"dynamo counters by epoch: {graphs}"


def fit_against_a_bare_loop(device: torch.device, quick: bool) -> Result:
    from tests.perf.bench_speed import medbench_fit, reference_loop

    name, batch, size = ("resnet50", 64, 224) if device.type == "cuda" else ("test_resnet", 32, 64)
    steps = 30 if device.type == "cuda" else 5
    ref = max(reference_loop(name, device=device, batch=batch, size=size, steps=steps)
              for _ in range(3))  # fmt: skip
    ours = max(medbench_fit(name, device=device, batch=batch, size=size, steps=steps)
               for _ in range(3))  # fmt: skip
    return (
        ours >= 0.85 * ref,
        f"{name}: fit {ours:.0f} img/s, loop {ref:.0f} img/s (×{ours / ref:.2f})",
    )


def brain_estimate(device: torch.device, quick: bool) -> Result:
    from tests.perf.bench_speed import BRAIN, medbench_fit

    gpu = device.type == "cuda"
    batch, count = (32, 256 if quick else 1024) if gpu else (4, 8)
    minutes, lines = 0.0, []
    for name, size in BRAIN if gpu else BRAIN[:1]:
        rate = medbench_fit(name, device=device, batch=batch, size=size if gpu else 64,
                            steps=max(count // batch, 1))  # fmt: skip
        minutes += 25 * 7023 / rate / 60
        lines.append(f"{name} {rate:.0f} img/s")
    return True, f"{minutes:.0f} min for 25 epochs of 7023 images ({'; '.join(lines)})"


CHECKS: list[tuple[str, Callable[[torch.device, bool], Result]]] = [
    ("no hidden sync in training and validation", no_hidden_sync),
    ("latency timed on the model's own GPU", latency_on_the_right_gpu),
    ("GPU memory flat over five cells, two datasets", memory_after_five_cells),
    ("peak memory is the training's own", peak_is_the_trainings_own),
    ("workers under an inherited mask", workers_follow_the_mask),
    ("no recompile after the first epoch", no_recompile_after_the_first_epoch),
    ("fit against a timm-style loop", fit_against_a_bare_loop),
    ("brain six-model estimate", brain_estimate),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="smaller brain estimate")
    parser.add_argument("--only", nargs="*", help="run the checks whose name has these words")
    args = parser.parse_args()
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {name} ({torch.cuda.device_count()} visible); torch {torch.__version__}")
    failed = 0
    for title, check in CHECKS:
        if args.only and not any(word in title for word in args.only):
            continue
        start = time.perf_counter()
        try:
            passed, seen = check(device, args.quick)
        except Exception as exc:
            passed, seen = False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        mark = {True: "PASS", False: "FAIL", None: "SKIP"}[passed]
        failed += passed is False
        print(f"{mark} {title}: {seen} [{time.perf_counter() - start:.0f} s]", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
