"""What corruption robustness costs: the test split predicted under 5 corruptions × 5
severities, against one plain test prediction, on a tiny backbone at 64 and 224 px, in one
run; and the time the corruptions alone take (no model).

    python -m tests.perf.bench_corruptions [--images 1000] [--sizes 64,224] [--batch 128]
        [--kinds gaussian_noise,gaussian_blur,contrast_down,brightness_up,jpeg_compression]

Both passes are ``Batches`` + ``train.predict_proba``, the corrupted ones with
``augment=Corruption(kind, severity)``; the images are tinted phantoms (three channels, not
grey), on whatever device is there (``--device``).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

from benchmark.data import Batches, place_images, render_phantom
from benchmark.data.corruptions import SEVERITIES, Corruption
from benchmark.models import create_model
from benchmark.train import predict_proba

KINDS = "gaussian_noise,gaussian_blur,contrast_down,brightness_up,jpeg_compression"


def timed(work, device: torch.device) -> float:
    start = time.perf_counter()
    work()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--sizes", default="64,224")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--backbone", default="test_resnet")
    parser.add_argument("--kinds", default=KINDS)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device, kinds = torch.device(args.device), args.kinds.split(",")
    print(f"device {device}, {torch.get_num_threads()} threads, {args.images} test images, "
          f"{len(kinds)} kinds × {len(SEVERITIES)} severities, batches of "
          f"{args.batch}")  # fmt: skip
    for size in map(int, args.sizes.split(",")):
        bench_size(size, kinds, args, device)


def bench_size(size: int, kinds: list[str], args, device: torch.device) -> None:
    grey = np.stack([render_phantom(i, seed=3, size=size).image for i in range(args.images)])
    tint = np.array([1.0, 0.85, 0.7]).reshape(1, 3, 1, 1)
    images = place_images(torch.from_numpy((grey[:, None] * tint).round().astype(np.uint8)),
                          device)  # fmt: skip
    labels = torch.arange(args.images) % 4
    torch.manual_seed(0)
    model = create_model(args.backbone, num_classes=4, image_size=size).to(device).eval()

    def predicted(augment: Corruption | None = None) -> None:
        batches = Batches(images, labels, indices=range(args.images), batch_size=args.batch,
                          mean=(0.5,) * 3, std=(0.25,) * 3, device=device,
                          augment=augment)  # fmt: skip
        predict_proba(model, batches)

    def corrupted_only(corruption: Corruption) -> None:
        g = torch.Generator().manual_seed(0)
        for start in range(0, args.images, args.batch):
            corruption(images[start : start + args.batch].to(device).float(), g)

    predicted()  # warm-up
    plain = min(timed(predicted, device) for _ in range(3))
    print(f"\n{size} px: plain test prediction {plain:.2f} s "
          f"({args.images / plain:,.0f} img/s)")  # fmt: skip
    print(f"{'kind':<18}{'predicted (5 sev.)':>20}{'× plain':>9}{'corruption alone':>18}"
          f"{'share':>7}")  # fmt: skip
    total = alone_total = 0.0
    for kind in kinds:
        corruptions = [Corruption(kind, severity) for severity in SEVERITIES]
        passes = sum(timed(lambda c=c: predicted(c), device) for c in corruptions)
        alone = sum(timed(lambda c=c: corrupted_only(c), device) for c in corruptions)
        total, alone_total = total + passes, alone_total + alone
        print(f"{kind:<18}{passes:>18.2f} s{passes / plain:>9.1f}{alone:>16.2f} s"
              f"{alone / passes:>7.0%}", flush=True)  # fmt: skip
    print(f"{'all':<18}{total:>18.2f} s{total / plain:>9.1f}{alone_total:>16.2f} s"
          f"{alone_total / total:>7.0%}   (the model alone would be "
          f"{len(kinds) * len(SEVERITIES)} × plain)")  # fmt: skip


if __name__ == "__main__":
    main()
