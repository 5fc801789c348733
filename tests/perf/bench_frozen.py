"""A tuned ``linear_probe`` cell on cached embeddings against the same cell through the frozen
backbone every epoch, printed in one run; then the cached cell again (``--no-resume``), which
embeds nothing.

    python -m tests.perf.bench_frozen [--trials 20] [--epochs 10] [--per-class 500] [--size 112]

Both cells tune the same space with the same seed on the same 4 × ``per-class`` phantoms
(60 / 20 / 20 split); the through-the-backbone cell is ``linear_probe: {features: false}``.
Each starts with an empty embedding cache, so the cached cell's time includes embedding.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import yaml
from mlflow import MlflowClient

from benchmark.checks import load_checked_suite
from benchmark.runner import run_suite


def run_cell(folder: Path, *, features: bool, args, resume: bool = True) -> dict[str, float]:
    suite = {
        "name": "bench",
        "seed": 3,
        "datasets": {
            "p": {
                "layout": "synthetic",
                "options": {"per_class": args.per_class, "size": args.size, "difficulty": 0.4},
                "split": {"val_fraction": 0.25, "test_fraction": 0.2, "stratify": True},
            }
        },
        "backbones": [{"name": args.backbone, "pretrained": False}],
        "strategies": {"linear_probe": {"features": features}},
        "train": {
            "epochs": args.epochs,
            "image_size": args.size,
            "batch_size": 64,
            "optimizer": "adamw",
            "early_stopping": None,
        },
        "tune": {"trials": args.trials, "space": {"lr": {"low": 1e-4, "high": 3e-2, "log": True}}},
        "evaluate": {"bootstrap": 0, "latency": None},
    }
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    uri = f"sqlite:///{folder}/mlflow.db"
    start = time.perf_counter()
    [outcome] = run_suite(
        load_checked_suite(path), tracking_uri=uri, storage=f"sqlite:///{folder}/optuna.db",
        resume=resume,
    )  # fmt: skip
    wall = time.perf_counter() - start
    assert outcome.status == "finished", outcome.error
    metrics = MlflowClient(uri).get_run(outcome.run_id).data.metrics
    return {"wall": wall, **metrics}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--per-class", type=int, default=500)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--backbone", default="resnet10t")
    args = parser.parse_args()
    results = {}
    for features in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["MEDBENCH_CACHE"] = str(Path(tmp) / "cache")
            results[features] = run_cell(Path(tmp), features=features, args=args)
            if features:  # the same cell again: every image is read from the cache
                results["again"] = run_cell(Path(tmp), features=True, args=args, resume=False)
    cached, backbone, again = results[True], results[False], results["again"]
    print(
        f"{args.trials} trials × {args.epochs} epochs, {args.backbone}, "
        f"{4 * args.per_class} images at {args.size} px"
    )
    for name, row in (("cached embeddings", cached), ("through the backbone", backbone),
                      ("cached, run again", again)):  # fmt: skip
        embed = (
            f"embed/computed {row['embed/computed']:.0f}, reused {row['embed/reused']:.0f}, "
            f"time/embed_s {row['time/embed_s']:.1f}"
            if "embed/computed" in row
            else "no embeddings"
        )
        print(f"  {name:22s} {row['wall']:8.1f} s  test accuracy {row['test/accuracy']:.4f}  "
              f"best val {row['tune/best_value']:.4f}  {embed}")  # fmt: skip
    print(
        f"  speed-up {backbone['wall'] / cached['wall']:.1f}× (first run), "
        f"{backbone['wall'] / again['wall']:.1f}× (cache warm); test accuracy difference "
        f"{abs(cached['test/accuracy'] - backbone['test/accuracy']):.4f}"
    )


if __name__ == "__main__":
    main()
