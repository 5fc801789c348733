"""A small MLflow store with known results: three cells on two datasets, tuned, explained,
with per-class metrics, latency, curves, confusion matrices, a CAM image and a summary run."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from benchmark.suite._schema import References

SUITE = "golden"
MRI, LUNG = ("glioma", "notumor"), ("Benign", "Malignant")
CELLS = [
    # dataset, backbone, strategy, accuracy, params, train_s, latency mean/min/max, classes
    ("mri", "resnet50", "finetune", 0.925, 23.5e6, 600.0, (40.0, 35.0, 80.0), MRI),
    ("mri", "vgg19", "finetune", 0.95, 139.6e6, 1800.0, (90.0, 80.0, 150.0), MRI),
    ("lung", "vgg19", "cost_sensitive", 0.80, 139.6e6, 900.0, (88.0, 81.0, 120.0), LUNG),
]
REFERENCES = References.model_validate(
    {
        "source": "A paper, Table 7",
        "rows": [
            {"dataset": "mri", "backbone": "resnet50", "accuracy": 0.987, "params_m": 23.6,
             "latency_mean_ms": 90.1},
            {"dataset": "mri", "backbone": "vgg19", "accuracy": 0.9718, "train_min": 498},
            {"backbone": "mobilenetv2_100", "accuracy": 0.9515, "note": "not run here"},
        ],
    }
)  # fmt: skip


def build_store(uri: str) -> MlflowClient:
    client = MlflowClient(uri)
    experiment = client.create_experiment(SUITE)
    for k, (dataset, backbone, strategy, acc, params, train_s, lat, classes) in enumerate(CELLS):
        cell = f"{dataset}/{backbone}/{strategy}"
        tags = {"medbench.suite": SUITE, "medbench.cell": cell, "medbench.dataset": dataset,
                "medbench.backbone": backbone, "medbench.strategy": strategy,
                "medbench.kind": "cell", "medbench.config_hash": f"hash{k}"}  # fmt: skip
        run = client.create_run(
            experiment, tags=tags, run_name=cell, start_time=1_700_000_000_000 + k
        )
        metrics = {
            "test/accuracy": acc, "test/accuracy_ci_low": acc - 0.03,
            "test/accuracy_ci_high": acc + 0.02, "test/f1_weighted": acc - 0.01,
            "test/f1_macro": acc - 0.02, "test/auroc_macro": 0.99 - k / 100,
            "test/precision_weighted": acc + 0.005, "test/recall_weighted": acc,
            "params/total": params, "params/trainable": params / 2, "flops/gmacs": 4.1 + 15 * k,
            "time/train_s": train_s, "time/epoch_s": train_s / 25,
            "latency/b1_mean_ms": lat[0], "latency/b1_min_ms": lat[1], "latency/b1_max_ms": lat[2],
            "latency/b1_p50_ms": lat[0] - 1, "latency/b1_p95_ms": lat[2] - 5,
            "latency/b8_img_per_s": 1000 / lat[0] * 3, "latency/b32_img_per_s": 1000 / lat[0] * 4,
            "tune/trials": 8.0, "tune/trials_complete": 6.0 - k, "tune/trials_pruned": 2.0 + k,
            "tune/best_trial": 3.0, "tune/best_value": acc - 0.01,
            "cam/gradcam/pointing_game": 0.6 - k / 10, "cam/gradcam/iou": 0.2,
            "cam/random/pointing_game": 0.05, "cam/random/iou": 0.02,
            "data/test_leaks": 2.0 if dataset == "lung" else 0.0,
        }  # fmt: skip
        for c, label in enumerate(classes):
            per_class = {"precision": acc - c / 20, "recall": acc + c / 50, "f1": acc - c / 40,
                         "support": 50.0 + c}  # fmt: skip
            metrics |= {f"test/{label}/{k}": v for k, v in per_class.items()}
        curves = {"train/loss": 1.0, "val/loss": 1.2, "val/accuracy": acc / 3}
        history = [
            Metric(
                key,
                scale * step if key == "val/accuracy" else scale / step,
                1_700_000_000_000,
                step,
            )
            for step in range(1, 4)
            for key, scale in curves.items()
        ]
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(key, v, 1_700_000_000_000, 0) for key, v in metrics.items()] + history,
            params=[Param("best.lr", f"{0.001 * (k + 1):g}"), Param("best.dropout", "0.3")],
            tags=[RunTag("medbench.classes", ",".join(classes))],
        )
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "eval").mkdir()
            matrix = [[45, 5], [3, 47 - k]]
            (folder / "eval/confusion_matrix.json").write_text(
                json.dumps({"classes": list(classes), "matrix": matrix})
            )
            (folder / "cams/gradcam").mkdir(parents=True)
            _png(folder / "cams/gradcam/gallery.png", k)
            client.log_artifacts(run.info.run_id, str(folder))
        client.set_terminated(run.info.run_id, "FINISHED", end_time=1_700_000_100_000 + k)
    summary = client.create_run(
        experiment, tags={"medbench.kind": "suite", "medbench.suite": SUITE}, run_name="summary"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "analysis" / "mri"
        folder.mkdir(parents=True)
        _png(folder / "error_overlap.png", 9)
        verdicts = {"mri/vgg19/finetune": True, "mri/resnet50/finetune": False}
        (folder / "paired_tests.json").write_text(json.dumps({
            "best": "mri/vgg19/finetune",
            "cells": {c: {"not_worse_than_best": v} for c, v in verdicts.items()},
        }))  # fmt: skip
        client.log_artifacts(summary.info.run_id, str(Path(tmp)))
    client.set_terminated(summary.info.run_id, "FINISHED")
    return client


def _png(path: Path, seed: int) -> None:
    import cv2

    rng = np.random.default_rng(seed)
    cv2.imwrite(str(path), rng.integers(0, 255, (48, 96, 3), dtype=np.uint8))


EFFICIENCY_SUITE = "efficiency"
# backbone, strategy, {shots: (accuracies of the episodes)}; None: a cell without the axis
EFFICIENCY_CELLS = [
    ("vit", "knn", {1: (0.40, 0.50, 0.45), 5: (0.70, 0.74, 0.72), 25: (0.88, 0.90, 0.89)}),
    ("resnet", "knn", {1: (0.30, 0.36, 0.33), 5: (0.60, 0.62, 0.64), 25: (0.80, 0.84, 0.82)}),
    ("resnet", "finetune", {None: (0.93,)}),
]


def build_efficiency_store(uri: str) -> MlflowClient:
    """Cells of a ``train.shots`` axis as the runner records them (mean, std, interval and
    each episode's accuracy), and one cell trained on every training image."""
    client = MlflowClient(uri)
    experiment = client.create_experiment(EFFICIENCY_SUITE)
    for backbone, strategy, points in EFFICIENCY_CELLS:
        for shots, accuracies in points.items():
            cell = f"mri/{backbone}/{strategy}" + (f"/{shots}-shot" if shots else "")
            tags = {"medbench.suite": EFFICIENCY_SUITE, "medbench.cell": cell,
                    "medbench.dataset": "mri", "medbench.backbone": backbone,
                    "medbench.strategy": strategy, "medbench.kind": "cell",
                    "medbench.config_hash": cell}  # fmt: skip
            if shots:
                tags["medbench.shots"] = str(shots)
            run = client.create_run(experiment, tags=tags, run_name=cell)
            values = np.asarray(accuracies)
            metrics = {"test/accuracy": values.mean(), "params/total": 1e6}
            if len(values) > 1:
                std = values.std(ddof=1)
                metrics |= {"test/accuracy_std": std, "episodes": float(len(values)),
                            "test/accuracy_episodes_low": values.mean() - 2 * std,
                            "test/accuracy_episodes_high": values.mean() + 2 * std}  # fmt: skip
                metrics |= {f"episode_{e}/test/accuracy": v for e, v in enumerate(values, 1)}
            client.log_batch(run.info.run_id, metrics=[
                Metric(key, float(v), 1_700_000_000_000, 0) for key, v in metrics.items()
            ])  # fmt: skip
            client.set_terminated(run.info.run_id, "FINISHED")
    return client


EVALUATE_SUITE = "evaluated"
# dataset, task, backbone, strategy, test score (the task's ranking metric), external
# datasets {name: score there}, corruption error per severity step (None: not tested)
EVALUATED_CELLS = [
    ("brain", "multiclass", "resnet", "finetune", 0.90, {"yes_no": 0.80, "figshare": 0.70}, 0.05),
    ("brain", "multiclass", "vit", "probe", 0.85, {"yes_no": 0.82}, 0.02),
    ("brain", "multiclass", "mobilenet", "finetune", 0.88, {}, None),  # neither: no row
    ("chest", "binary", "resnet", "finetune", 0.95, {"chest_ext": 0.75}, 0.1),
]
KINDS, SEVERITIES = ("gaussian_noise", "contrast_down"), (1, 2, 3)


def build_evaluate_store(uri: str) -> MlflowClient:
    """Cells tested on external datasets and under corruptions, as the runner logs them:
    ``external/<dataset>/<metric>`` (intervals and the drop only on ``yes_no``; the binary
    cell's external evaluation gives ``auroc``, not ``auroc_macro``) and
    ``corrupt/<kind>/<severity>/<metric>`` with the means and BE/rBE of the summary step."""
    client = MlflowClient(uri)
    experiment = client.create_experiment(EVALUATE_SUITE)
    for dataset, task, backbone, strategy, score, external, step in EVALUATED_CELLS:
        cell = f"{dataset}/{backbone}/{strategy}"
        tags = {"medbench.suite": EVALUATE_SUITE, "medbench.cell": cell,
                "medbench.dataset": dataset, "medbench.backbone": backbone,
                "medbench.strategy": strategy, "medbench.task": task, "medbench.kind": "cell",
                "medbench.config_hash": cell}  # fmt: skip
        ranking = "auroc" if task == "binary" else "f1_weighted"
        metrics = {"test/accuracy": score - 0.02, "test/auroc_macro": score - 0.01,
                   f"test/{ranking}": score}  # fmt: skip
        if external:
            tags["medbench.external"] = ",".join(external)
        for name, value in external.items():
            metrics |= {f"external/{name}/{ranking}": value,
                        f"external/{name}/accuracy": value - 0.01}  # fmt: skip
            if name == "yes_no":
                metrics |= {f"external/{name}/{ranking}_ci_low": value - 0.04,
                            f"external/{name}/{ranking}_ci_high": value + 0.03,
                            f"external/{name}/{ranking}_drop": score - value}  # fmt: skip
        if step is not None:
            tags["medbench.corruptions"] = ",".join(KINDS)
            clean = 1 - score
            metrics["corrupt/clean_balanced_error"] = clean
            for k, kind in enumerate(KINDS):
                errors = [clean + step * s * (k + 1) for s in SEVERITIES]
                for s, error in zip(SEVERITIES, errors, strict=True):
                    metrics |= {f"corrupt/{kind}/{s}/balanced_error": error,
                                f"corrupt/{kind}/{s}/accuracy": 1 - error,
                                f"corrupt/{kind}/{s}/balanced_accuracy": 1 - error}  # fmt: skip
                    if task != "binary":
                        metrics[f"corrupt/{kind}/{s}/{ranking}"] = 1 - error
                metrics[f"corrupt/{kind}/balanced_error"] = float(np.mean(errors))
            metrics["corrupt/balanced_error"] = float(
                np.mean([metrics[f"corrupt/{kind}/balanced_error"] for kind in KINDS])
            )
            if dataset == "brain":  # the summary step: relative to brain/resnet/finetune
                metrics |= {"corrupt/be": 1.0 if backbone == "resnet" else 0.5,
                            "corrupt/rbe": 1.0 if backbone == "resnet" else 0.4}  # fmt: skip
        run = client.create_run(experiment, tags=tags, run_name=cell)
        client.log_batch(run.info.run_id, metrics=[
            Metric(key, float(v), 1_700_000_000_000, 0) for key, v in metrics.items()
        ])  # fmt: skip
        client.set_terminated(run.info.run_id, "FINISHED")
    return client
