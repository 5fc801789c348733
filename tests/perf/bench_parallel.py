"""Parallel runs, printed in one run: 1 worker against N on the same suite, what claiming a
cell costs, and what a checkpoint per epoch costs.

    python -m tests.perf.bench_parallel [--workers 2] [--devices cpu] [--per-class 150]

The suite has four cells (two tiny backbones × two strategies) on the synthetic phantoms.
``--devices all`` on a GPU machine compares one worker against one per GPU.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import torch
import yaml

from benchmark import tune
from benchmark.models import create_model, input_stats
from benchmark.suite import TrainConfig


def suite_file(folder: Path, *, per_class: int, epochs: int) -> Path:
    suite = {
        "name": "bench",
        "seed": 1,
        "datasets": {"p": {"layout": "synthetic",
                           "options": {"per_class": per_class, "size": 64, "difficulty": 0.3}}},
        "backbones": [{"name": "test_resnet", "pretrained": False},
                      {"name": "test_efficientnet", "pretrained": False}],
        "strategies": {"finetune": {}, "weighted": {"kind": "cost_sensitive"}},
        "train": {"epochs": epochs, "image_size": 64, "batch_size": 32, "early_stopping": None},
        "explain": None,
        "evaluate": {"bootstrap": 100, "latency": {"batch_sizes": [1], "iterations": 5}},
    }  # fmt: skip
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def wall(folder: Path, suite: Path, args: list[str]) -> float:
    """Seconds of one ``medbench run`` into fresh stores under ``folder``."""
    folder.mkdir()
    command = [sys.executable, "-m", "benchmark", "run", str(suite), *args,
               "--tracking-uri", f"sqlite:///{folder}/mlflow.db",
               "--storage", str(folder / "optuna.journal")]  # fmt: skip
    env = {**os.environ, "MEDBENCH_CACHE": str(folder.parent / "cache")}
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def claim_cost(folder: Path, cells: int = 200) -> float:
    """Milliseconds per cell to queue, claim (with the duplicate check) and release it."""
    storage = str(folder / "claims.journal")
    keys = [f"c{k}" for k in range(cells)]
    start = time.perf_counter()
    tune.post_cells(storage, "bench", cells=[(k, k) for k in keys])
    while (claim := tune.claim_cell(storage, "bench", keys=keys)) is not None:
        claim.note(run_id="r")
        claim.release("finished")
    return (time.perf_counter() - start) / cells * 1000


def checkpoint_cost(folder: Path, name: str, image_size: int) -> tuple[float, float, float]:
    """(seconds per checkpoint, its MB, seconds of one training step on 32 images) for
    ``name`` with Adam: what saving after every epoch adds."""
    from benchmark.data import Batches
    from benchmark.train import History, _save, create_optimizer

    model = create_model(name, num_classes=4)
    config = TrainConfig(epochs=1, batch_size=32, image_size=image_size)
    optimizer = create_optimizer(model.parameters(), config)
    mean, std = input_stats(model)
    images = torch.randint(0, 255, (32, 3, image_size, image_size), dtype=torch.uint8)
    batches = Batches(images, torch.zeros(32, dtype=torch.long), indices=range(32),
                      batch_size=32, mean=mean, std=std)  # fmt: skip
    x, y = next(iter(batches))
    start = time.perf_counter()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    step = time.perf_counter() - start
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    path = folder / f"{name}.pt"
    times = []
    for _ in range(3):
        start = time.perf_counter()
        _save(path, model, optimizer, None, None, batches, History(), state, 0.0, 0)
        times.append(time.perf_counter() - start)
    return min(times), path.stat().st_size / 2**20, step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--devices", default="cpu")
    parser.add_argument("--per-class", type=int, default=150)
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        suite = suite_file(folder, per_class=args.per_class, epochs=args.epochs)
        wall(folder / "warm", suite, ["--devices", "cpu", "--workers", "1"])  # fills the cache
        cores = os.cpu_count() or 1
        if args.devices == "cpu":
            per_worker = max(cores // args.workers, 1)
            one = wall(folder / "one", suite, ["--devices", "cpu"])
            one_alike = wall(folder / "one-alike", suite,
                             ["--devices", "cpu", "--threads", str(per_worker)])  # fmt: skip
            many_args = ["--devices", "cpu", "--workers", str(args.workers)]
            label = f"{args.workers} workers × {per_worker} thread(s)"
        else:
            one = one_alike = wall(folder / "one", suite, ["--devices", "cuda:0"])
            many_args, label = ["--devices", args.devices], f"--devices {args.devices}"
        many = wall(folder / "many", suite, many_args)
        print(f"4-cell suite, {args.epochs} epochs, {args.per_class * 4} images at 64 px, "
              f"on {args.devices} ({cores} cores):")  # fmt: skip
        print(f"  1 worker, all cores          {one:7.1f} s")
        if args.devices == "cpu":
            print(f"  1 worker × {per_worker} thread(s)         {one_alike:7.1f} s")
        print(f"  {label:28s} {many:7.1f} s   ×{one / many:.2f} against the first, "
              f"×{one_alike / many:.2f} against one worker alike")  # fmt: skip
        print(f"claiming a cell (queue, claim, duplicate check, release): "
              f"{claim_cost(folder):.1f} ms per cell")  # fmt: skip
        for name, size in (("test_resnet", 64), ("resnet50", 200)):
            seconds, megabytes, step = checkpoint_cost(folder, name, size)
            print(f"checkpoint per epoch, {name} + Adam: {megabytes:.0f} MB in {seconds:.3f} s "
                  f"(one training step of 32 images at {size} px here: {step:.3f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
