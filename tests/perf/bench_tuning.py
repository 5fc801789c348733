"""Tuning overhead per trial and what pruning saves, printed in one run.

    python -m tests.perf.bench_tuning [--trials 8] [--epochs 6]

Runs the same tiny tuned suite twice (no pruning, then median pruning) into temporary
stores. Overhead per trial is a trial run's wall time minus its epochs' training and
validation time (model creation, MLflow and Optuna bookkeeping).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import yaml
from mlflow import MlflowClient

from benchmark.checks import load_checked_suite
from benchmark.runner import run_suite


def measure(folder: Path, *, trials: int, epochs: int, pruner: str) -> dict[str, float]:
    suite = {
        "name": "bench",
        "datasets": {
            "p": {
                "layout": "synthetic",
                "options": {"per_class": 150, "size": 80, "difficulty": 0.4},
            }
        },
        "backbones": [{"name": "test_resnet", "pretrained": False}],
        "train": {"epochs": epochs, "image_size": 80, "optimizer": "adamw", "early_stopping": None},
        "tune": {
            "trials": trials,
            "pruner": {"kind": pruner, "startup_trials": 2, "warmup_epochs": 2},
            "space": {
                "lr": {"low": 1e-3, "high": 3e-2, "log": True},
                "dropout": {"low": 0.0, "high": 0.5},
            },
        },
    }
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    uri = f"sqlite:///{folder}/mlflow.db"
    run_suite(load_checked_suite(path), tracking_uri=uri, storage=f"sqlite:///{folder}/optuna.db")
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("bench")
    runs = client.search_runs([experiment.experiment_id], "tags.`medbench.kind` = 'trial'")
    walls, trained, epochs_run = [], [], 0
    for run in runs:
        history = client.get_metric_history(run.info.run_id, "time/epoch_s")
        walls.append((run.info.end_time - run.info.start_time) / 1000)
        trained.append(sum(m.value for m in history))
        epochs_run += len(history)
    span = (max(r.info.end_time for r in runs) - min(r.info.start_time for r in runs)) / 1000
    cell = client.search_runs([experiment.experiment_id], "tags.`medbench.kind` = 'cell'")[0]
    return {
        "wall": span,
        "overhead": sum(w - t for w, t in zip(walls, trained, strict=True)) / len(runs),
        "trial": sum(walls) / len(runs),
        "epochs": epochs_run,
        "pruned": cell.data.metrics["tune/trials_pruned"],
        "best": cell.data.metrics["tune/best_value"],
        "test": cell.data.metrics["test/accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    results = {}
    for pruner in ("none", "median"):
        with tempfile.TemporaryDirectory() as tmp:
            results[pruner] = measure(
                Path(tmp), trials=args.trials, epochs=args.epochs, pruner=pruner
            )
    none, median = results["none"], results["median"]
    print(f"test_resnet, 600 phantoms at 80 px, {args.trials} trials of up to {args.epochs} epochs")
    for name, r in results.items():
        print(
            f"pruner {name:<7} tuning {r['wall']:6.1f} s  trial {r['trial']:5.2f} s  "
            f"overhead/trial {r['overhead'] * 1000:5.0f} ms ({r['overhead'] / r['trial']:.0%})  "
            f"epochs {r['epochs']:3d}  pruned {r['pruned']:.0f}  best val F1 {r['best']:.3f}  "
            f"test acc {r['test']:.3f}"
        )
    print(
        f"median pruning: {median['epochs'] / none['epochs']:.2f} of the epochs, "
        f"{median['wall'] / none['wall']:.2f} of the tuning time"
    )


if __name__ == "__main__":
    main()
