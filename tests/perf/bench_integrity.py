"""What checking a model's weights costs per load: sha256 of the weights file against the
time to build the model from it, for a resnet50-sized file (~100 MB) and the test models.

python -m tests.perf.bench_integrity
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmark import track
from benchmark.models import load_model
from tests.perf.bench_serving import _model


def seconds(call, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for backbone in ("resnet50", "resnet10t", "test_resnet", "test_efficientnet"):
            folder = _model(Path(tmp) / backbone, backbone, 64 if "test" in backbone else 224)
            mb = (folder / "model.safetensors").stat().st_size / 1e6
            track.weights_sha256(folder)  # in the page cache, as after a download
            hashing = seconds(lambda f=folder: track.weights_sha256(f))
            loading = seconds(lambda f=folder: load_model(f), repeat=3)
            print(
                f"{backbone:11s} {mb:7.1f} MB: sha256 {1000 * hashing:7.1f} ms "
                f"({mb / hashing:5.0f} MB/s), building the model {1000 * loading:7.1f} ms, "
                f"check adds {100 * hashing / loading:5.1f} %"
            )


if __name__ == "__main__":
    main()
