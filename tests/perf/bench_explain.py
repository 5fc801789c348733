"""Seconds per image of every explanation method at its default settings, in one run: on
tiny backbones at 64 px by default, on whatever device is there (``--device cuda``).

python -m tests.perf.bench_explain [--backbones resnet10t,test_resnet] [--size 64] [--images 8]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

from benchmark.data import normalize, render_phantom
from benchmark.explain import explain_maps, list_methods
from benchmark.models import create_model
from benchmark.suite import ExplainConfig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbones", default="resnet10t,test_resnet")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    phantoms = [render_phantom(i, seed=5, size=args.size).image for i in range(args.images)]
    images = torch.from_numpy(np.stack(phantoms))[:, None]
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    x = normalize(images, mean=mean, std=std, device=device)
    targets = [i % 4 for i in range(args.images)]
    settings = ExplainConfig()
    print(f"device {device}, {torch.get_num_threads()} threads, {args.images} images")
    print(f"{'backbone':<14}{'method':<22}{'kind':<21}{'s/image':>8}")
    for backbone in args.backbones.split(","):
        torch.manual_seed(0)
        model = create_model(backbone, num_classes=4, image_size=args.size).to(device).eval()
        explain_maps(model, x[:1], targets=targets[:1], method="gradcam")  # warm-up
        for method in list_methods():
            start = time.perf_counter()
            explain_maps(
                model, x, targets=targets, method=method.name, settings=settings, mean=mean, std=std
            )
            if device.type == "cuda":
                torch.cuda.synchronize()
            per_image = (time.perf_counter() - start) / args.images
            kind = method.kind + (" (slow)" if method.slow else "")
            print(f"{backbone:<14}{method.name:<22}{kind:<21}{per_image:>8.3f}", flush=True)


if __name__ == "__main__":
    main()
