"""The per-label table of multi-label cells: a column per label's test AUROC, then the
means, and nothing of the single-label cells beside them."""

from __future__ import annotations

from mlflow import MlflowClient

from benchmark import track
from benchmark.leaderboard import build_table, format_table

LABELS = ["Atelectasis", "Effusion", "Hernia"]


def _cell(client: MlflowClient, experiment: str, cell: str, tags: dict, metrics: dict) -> None:
    dataset, backbone, strategy = cell.split("/")
    run = client.create_run(experiment, run_name=cell, tags={
        "medbench.suite": "chest", "medbench.cell": cell, "medbench.dataset": dataset,
        "medbench.backbone": backbone, "medbench.strategy": strategy, "medbench.kind": "cell",
        "medbench.config_hash": cell, **tags,
    })  # fmt: skip
    for key, value in metrics.items():
        client.log_metric(run.info.run_id, key, value)
    client.set_terminated(run.info.run_id)


def test_a_column_per_label_then_the_means_and_the_labels_left_out(tracking_uri):
    client = MlflowClient(tracking_uri)
    experiment = client.create_experiment("chest")
    per_label = {"Atelectasis": 0.81, "Effusion": 0.86}  # Hernia: no positive in test
    _cell(client, experiment, "nih/densenet121/finetune",
          {"medbench.task": "multilabel", "medbench.classes": ",".join(LABELS)},
          {**{f"test/{k}/auroc": v for k, v in per_label.items()},
           **{f"test/{k}/average_precision": 0.5 for k in per_label},
           "test/auroc_macro": 0.835, "test/auroc_micro": 0.84, "test/labels_left_out": 1,
           "test/accuracy": 0.9})  # fmt: skip
    _cell(client, experiment, "mri/resnet50/finetune", {"medbench.task": "multiclass"},
          {"test/accuracy": 0.95, "test/glioma/f1": 0.9})  # fmt: skip
    board = build_table("labels", track.connect(tracking_uri).cell_runs("chest"))
    assert list(board.frame.columns) == [
        "dataset", "backbone", "strategy", "Atelectasis", "Effusion", "macro", "micro",
        "left_out",
    ]  # fmt: skip
    (row,) = board.frame.to_dict("records")
    assert row["dataset"] == "nih" and row["Atelectasis"] == 0.81 and row["left_out"] == 1
    assert "| nih " in format_table(board, "markdown")
