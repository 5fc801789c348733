"""Throughput ratios, printed in one run (not a test: absolute times are noisy, ratios hold).

    python -m tests.perf.bench_training [--images 1000] [--size 64] [--epochs 3]

1. medbench's training loop (uint8 batches normalised on the fly, per-epoch validation)
   against a bare PyTorch loop over a pre-normalised float tensor, same model and data;
2. the cost of per-image training augmentation;
3. threaded against single-threaded decoding of the same phantoms written as JPEG files.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from torch import nn

from benchmark.data import Batches, create_augment, create_source, load_images, write_synthetic
from benchmark.data.layouts import SyntheticOptions
from benchmark.models import create_model, input_stats
from benchmark.suite import TrainConfig
from benchmark.train import fit


def bare_loop(
    images: torch.Tensor, labels: torch.Tensor, *, backbone: str, epochs: int, batch: int
):
    torch.manual_seed(0)
    model = create_model(backbone, num_classes=4)
    mean, std = input_stats(model)
    x_all = images.float().expand(-1, 3, -1, -1)
    x_all = (x_all - torch.tensor(mean).view(1, 3, 1, 1) * 255) / (
        torch.tensor(std).view(1, 3, 1, 1) * 255
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(labels))
        for i in range(0, len(order), batch):
            idx = order[i : i + batch]
            loss = loss_fn(model(x_all[idx]), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return epochs * len(labels) / (time.perf_counter() - start)


def medbench_loop(images, labels, *, backbone: str, epochs: int, batch: int, augment=None):
    torch.manual_seed(0)
    model = create_model(backbone, num_classes=4)
    mean, std = input_stats(model)
    n = len(labels)
    train = Batches(
        images,
        labels,
        indices=range(n),
        batch_size=batch,
        mean=mean,
        std=std,
        shuffle=True,
        augment=augment,
    )
    val = Batches(images, labels, indices=range(n // 5), batch_size=128, mean=mean, std=std)
    start = time.perf_counter()
    history = fit(
        model, train, val, config=TrainConfig(epochs=epochs, lr=1e-3, early_stopping=None)
    )
    wall = time.perf_counter() - start
    return history.images_per_second, epochs * n / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--backbone", default="test_resnet")
    args = parser.parse_args()
    per_class = args.images // 4

    source = create_source(
        "synthetic", None, options=SyntheticOptions(per_class=per_class, size=args.size)
    )
    data = load_images(source, ops=[], size=args.size)
    with tempfile.TemporaryDirectory() as tmp:
        write_synthetic(Path(tmp) / "bt", per_class=per_class, size=256)
        files = create_source("brain-tumor-mri", Path(tmp) / "bt")
        decode = {}
        for workers in (1, None):
            start = time.perf_counter()
            load_images(files, ops=[], size=args.size, workers=workers)
            decode[workers] = len(files) / (time.perf_counter() - start)

    common = dict(backbone=args.backbone, epochs=args.epochs, batch=args.batch)
    bare = bare_loop(data.images, data.labels, **common)
    steps, wall = medbench_loop(data.images, data.labels, **common)
    augment = create_augment(rotate=10, shift=0.05, hflip=True)
    augmented, _ = medbench_loop(data.images, data.labels, augment=augment, **common)

    rows = [
        ("bare PyTorch loop", bare, ""),
        ("medbench fit, training steps", steps, f"ratio to bare {steps / bare:.2f}"),
        ("medbench fit, with validation", wall, f"ratio to bare {wall / bare:.2f}"),
        ("medbench fit + augmentation", augmented, f"ratio to no-aug {augmented / steps:.2f}"),
        ("decode 256 px JPEGs, 1 thread", decode[1], ""),
        ("decode, a thread per core", decode[None], f"ratio {decode[None] / decode[1]:.2f}"),
    ]
    print(
        f"{args.backbone}, {len(source)} images at {args.size} px, {args.epochs} epochs, "
        f"batch {args.batch}, {torch.get_num_threads()} threads"
    )
    for name, rate, note in rows:
        print(f"{name:<32}{rate:8.0f} img/s   {note}")


if __name__ == "__main__":
    main()
