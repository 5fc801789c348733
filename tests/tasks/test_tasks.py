"""The contract of every registered task type (a new one is tested by being registered):
its loss trains, its probabilities are probabilities, its thresholds come from validation,
its metrics are catalogued, its settings survive a suite and a saved model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.checks import NAMES
from benchmark.errors import DataError, SuiteError
from benchmark.metrics import get_metric
from benchmark.serve import ServedTask
from benchmark.suite import DatasetConfig
from benchmark.tasks import Task, create_task, list_tasks

TASKS = [cls.name for cls in list_tasks()]
N = 120


def _example(name: str) -> tuple[Task, list[str], torch.Tensor, torch.Tensor]:
    """The task with example settings, its classes, labels that the logits predict well."""
    generator = torch.Generator().manual_seed(0)
    cls = next(c for c in list_tasks() if c.name == name)
    required = [k for k, f in cls.Options.model_fields.items() if f.is_required()]
    classes = ["negative", "positive"] if "positive" in required else ["a", "b", "c"]
    options = {"positive": "positive"} if "positive" in required else {}
    assert set(required) <= set(options), f"give {name}'s required settings an example"
    task = create_task({"kind": name, **options})
    classes = task.classes(classes, where="datasets.x.task")
    if task.multilabel:
        labels = (torch.rand(N, len(classes), generator=generator) < 0.4).float()
        labels[torch.rand(N, len(classes), generator=generator) < 0.1] = float("nan")
        logits = 3 * (labels.nan_to_num(0.5) - 0.5) + torch.randn(labels.shape, generator=generator)
    else:
        labels = torch.arange(N) % len(classes)
        logits = 3 * torch.nn.functional.one_hot(labels).float()
        logits += torch.randn(logits.shape, generator=generator)
    return task, classes, labels, logits


@pytest.mark.parametrize("name", TASKS)
def test_every_task_trains_and_scores_as_its_contract_says(name):
    task, classes, labels, logits = _example(name)
    # the loss: a finite scalar whose gradient moves the logits towards the labels
    head = torch.nn.Linear(logits.shape[1], logits.shape[1])
    torch.nn.init.eye_(head.weight)
    torch.nn.init.zeros_(head.bias)
    loss_fn = task.loss()
    optimizer = torch.optim.SGD(head.parameters(), lr=0.1)
    before = loss_fn(head(logits), labels).item()
    for _ in range(20):
        optimizer.zero_grad()
        loss = loss_fn(head(logits), labels)
        loss.backward()
        optimizer.step()
    assert np.isfinite(before) and loss.item() < before
    assert torch.isfinite(task.loss_sum(logits, labels)) and task.loss_sum(logits, labels) >= 0
    weighted = task.loss(task.balanced_weights(labels, classes))
    assert torch.isfinite(weighted(logits, labels))
    # probabilities: in [0, 1]; one class an image: they sum to 1
    probs = task.probabilities(logits)
    assert probs.shape == logits.shape and bool(((probs >= 0) & (probs <= 1)).all())
    if not task.multilabel:
        torch.testing.assert_close(probs.sum(dim=1), torch.ones(N))
    y, p = labels.numpy(), probs.numpy()
    # validation scores, and thresholds chosen on them where the task decides at one
    scores = task.val_scores(y, p)
    assert {"accuracy", "f1_weighted", "auroc_macro"} <= set(scores)
    assert scores["auroc_macro"] > 0.8
    thresholds = task.thresholds(y, p, classes)
    if task.thresholded:
        expected = classes if task.multilabel else classes[1:]
        assert set(thresholds) == set(expected)
        assert all(0.0 <= t <= 1.0 for t in thresholds.values())
    else:
        assert thresholds is None
    # every metric of a split is in the catalogue; intervals bracket their estimate
    ids = [f"image_{i}" for i in range(N)]
    result = task.evaluate(y, p, classes=classes, ids=ids, thresholds=thresholds)
    for key in result.metrics:
        get_metric(key)
    assert {"test/accuracy", "test/auroc_macro"} <= set(result.metrics)
    assert list(result.predictions["id"]) == ids
    intervals = task.intervals(y, p, classes=classes, thresholds=thresholds, resamples=50,
                               seed=0, level=0.9)  # fmt: skip
    assert intervals and all(key.endswith(("_ci_low", "_ci_high")) for key in intervals)
    for key in (k for k in intervals if k.endswith("_ci_low")):
        get_metric(key)
        assert intervals[key] <= intervals[key.replace("_low", "_high")]


@pytest.mark.parametrize("name", TASKS)
def test_every_tasks_settings_survive_a_suite_and_a_saved_model(name):
    task, classes, _, logits = _example(name)
    config = DatasetConfig.model_validate(
        {"layout": "synthetic", "task": task.config()}, context={"names": NAMES}
    )
    again = create_task(config.task.model_dump())
    assert again.config() == task.config() and type(again) is type(task)
    served = ServedTask.from_config({"classes": classes, "task": task.config()})
    torch.testing.assert_close(served.probabilities(logits), task.probabilities(logits))
    assert served.multilabel == task.multilabel


@pytest.mark.parametrize("name", TASKS)
def test_the_schemas_default_objective_is_the_tasks(name):
    """The suite's schema (which imports no plugin) and the task agree on what tuning and
    early stopping follow."""
    task, *_ = _example(name)
    assert DatasetConfig(layout="synthetic", task=task.config()).task.monitor == task.objective


def test_the_default_task_is_multiclass_and_leaves_the_config_hash_alone():
    config = DatasetConfig(layout="synthetic")
    assert config.task.kind == "multiclass" and "task" not in config.model_dump()
    assert "task" in DatasetConfig(layout="synthetic", task="binary").model_dump()


def test_a_binary_task_puts_its_positive_class_last_and_refuses_what_is_not_binary():
    task = create_task({"kind": "binary", "positive": "cancer"})
    assert task.classes(["cancer", "normal"], where="w") == ["normal", "cancer"]
    with pytest.raises(DataError, match=r"w\.positive: 'cancer' is not a class"):
        task.classes(["benign", "normal"], where="w")
    with pytest.raises(DataError, match="needs two classes, but the dataset has 3"):
        task.classes(["benign", "cancer", "normal"], where="w")


def test_an_ordinal_task_orders_grades_by_value_or_as_told():
    assert create_task("ordinal").classes(["10", "2", "1"], where="w") == ["1", "2", "10"]
    told = create_task({"kind": "ordinal", "order": ["low", "mid", "high"]})
    assert told.classes(["high", "low", "mid"], where="w") == ["low", "mid", "high"]
    with pytest.raises(DataError, match=r"w\.order: .*\['top'\] are not classes.*\['mid'\] are"):
        create_task({"kind": "ordinal", "order": ["low", "top", "high"]}).classes(
            ["high", "low", "mid"], where="w"
        )


def test_a_missing_label_teaches_nothing():
    task = create_task("multilabel")
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.3]], requires_grad=True)
    labels = torch.tensor([[1.0, float("nan")], [0.0, 1.0]])
    task.loss()(logits, labels).backward()
    assert logits.grad[0, 1] == 0 and logits.grad[0, 0] != 0
    known = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert task.loss_sum(logits, labels) != task.loss_sum(logits, known)


def test_a_fixed_threshold_decides_as_medmnist_does():
    """``threshold: 0.5`` is no rule chosen on validation: every label decides at 0.5, so the
    accuracy is the one MedMNIST's evaluator computes."""
    task = create_task({"kind": "multilabel", "threshold": 0.5})
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], float)
    p = np.array([[0.9, 0.1], [0.4, 0.6], [0.45, 0.7], [0.2, 0.55]])
    assert task.thresholds(y, p, ["a", "b"]) == {"a": 0.5, "b": 0.5}
    assert create_task({"kind": "binary", "positive": "b", "threshold": 0.5}).options.rule == (
        "fixed",
        0.5,
    )
    for bad in (1.5, 0, True):
        with pytest.raises(SuiteError, match="fixed threshold"):
            create_task({"kind": "binary", "positive": "b", "threshold": bad})
