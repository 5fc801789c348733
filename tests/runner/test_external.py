"""External validation's class mapping: trained classes onto another dataset's, summed (or
their maximum for labels), every class accounted for or one line naming those left over."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.errors import SuiteError
from benchmark.runner._external import _thresholds, class_map, mapped, mapped_labels
from benchmark.suite import ExternalConfig
from benchmark.tasks import create_task

BRAIN = ["glioma", "meningioma", "notumor", "pituitary"]
YES_NO = {"glioma": "yes", "meningioma": "yes", "pituitary": "yes", "notumor": "no"}


def test_tumour_classes_are_summed_into_yes():
    matrix = class_map(BRAIN, ["no", "yes"], ExternalConfig(classes=YES_NO), where="x")
    probs = np.array([[0.1, 0.2, 0.6, 0.1], [0.5, 0.3, 0.1, 0.1]])
    np.testing.assert_allclose(mapped(probs, matrix, multilabel=False), [[0.6, 0.4], [0.1, 0.9]])


def test_same_names_need_no_mapping_and_keep_the_external_order():
    matrix = class_map(BRAIN, BRAIN[::-1], ExternalConfig(), where="x")
    probs = np.array([[0.1, 0.2, 0.3, 0.4]])
    np.testing.assert_allclose(mapped(probs, matrix, multilabel=False), [[0.4, 0.3, 0.2, 0.1]])


def test_labels_mapped_together_take_their_maximum():
    matrix = class_map(["a", "b", "c"], ["ab", "c"], ExternalConfig(
        classes={"a": "ab", "b": "ab", "c": "c"}), where="x")  # fmt: skip
    probs = np.array([[0.2, 0.7, 0.1]])
    np.testing.assert_allclose(mapped(probs, matrix, multilabel=True), [[0.7, 0.1]])


@pytest.mark.parametrize(
    ("classes", "said"),
    [
        ({"glioma": "yes", "meningioma": "yes", "pituitary": "yes"}, "['notumor'] are mapped"),
        (YES_NO | {"astrocytoma": "yes"}, "['astrocytoma'] are not classes of the trained"),
        (YES_NO | {"notumor": "normal"}, "['normal'] are not classes of the external"),
        ({c: "yes" for c in BRAIN}, "external classes ['no'] receive no trained class"),
    ],
)
def test_classes_left_over_are_named_in_one_line(classes, said):
    with pytest.raises(SuiteError) as info:
        class_map(BRAIN, ["no", "yes"], ExternalConfig(classes=classes),
                  where="evaluate.external.yes_no.classes")  # fmt: skip
    message = str(info.value)
    assert message.startswith("evaluate.external.yes_no.classes: ") and said in message
    assert "\n" not in message


def test_different_names_without_a_mapping_say_how_to_map_them():
    with pytest.raises(SuiteError, match="map them with `classes:`"):
        class_map(BRAIN, ["no", "yes"], ExternalConfig(), where="x")


def test_external_thresholds_are_the_models_own_where_one_class_maps_alone():
    binary = create_task({"kind": "binary", "positive": "yes"})
    renamed = np.eye(2)  # normal -> no, cancer -> yes: the model's own threshold goes along
    assert _thresholds(binary, ["no", "yes"], {"cancer": 0.3}, renamed, ["normal", "cancer"]) == {
        "yes": 0.3
    }
    merged = np.array([[0, 1], [0, 1], [1, 0]], float)  # two classes into "yes": none chosen
    assert _thresholds(binary, ["no", "yes"], None, merged, ["a", "b", "c"]) == {"yes": 0.5}
    fixed = create_task({"kind": "binary", "positive": "yes", "threshold": 0.7})
    assert _thresholds(fixed, ["no", "yes"], None, merged, ["a", "b", "c"]) == {"yes": 0.7}
    labels = create_task("multilabel")
    both = np.array([[1, 0], [1, 0], [0, 1]], float)
    chosen = {"a": 0.2, "b": 0.4, "c": 0.6}
    assert _thresholds(labels, ["ab", "c"], chosen, both, ["a", "b", "c"]) == {"ab": 0.5, "c": 0.6}
    assert _thresholds(create_task("multiclass"), BRAIN, None, np.eye(4), BRAIN) is None


def test_trained_labels_map_as_their_probabilities():
    matrix = class_map(BRAIN, ["no", "yes"], ExternalConfig(classes=YES_NO), where="x")
    np.testing.assert_array_equal(mapped_labels(np.array([0, 2, 3]), matrix, multilabel=False),
                                  [1, 0, 1])  # fmt: skip
    nan = np.nan
    targets = np.array([[1, 0, 0], [nan, 0, 1], [nan, nan, 0]], np.float32)
    both = np.array([[1, 0], [1, 0], [0, 1]], float)
    np.testing.assert_array_equal(mapped_labels(targets, both, multilabel=True),
                                  [[1, 0], [0, 1], [nan, 0]])  # fmt: skip


def test_a_mapping_that_leaves_a_class_over_refuses_the_start(tmp_path, tiny_suite, tracking_uri):
    from benchmark.checks import load_checked_suite
    from benchmark.data import write_synthetic
    from benchmark.runner import run_suite
    from tests.conftest import write_suite

    write_synthetic(tmp_path / "yes_no", layout="brain-mri-yes-no", per_class=4, size=32)
    tiny_suite["datasets"]["yes_no"] = {
        "layout": "brain-mri-yes-no",
        "root": str(tmp_path / "yes_no"),
    }
    tiny_suite["evaluate"]["external"] = {
        "yes_no": {"classes": {"glioma": "yes", "meningioma": "yes", "pituitary": "yes"}}
    }
    suite = load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite))
    with pytest.raises(SuiteError) as info:
        run_suite(suite, tracking_uri=tracking_uri)
    message = str(info.value)
    assert (
        "evaluate.external.yes_no.classes: trained classes ['notumor'] are mapped to no" in message
    )
    assert "\n" not in message
    from mlflow import MlflowClient  # and nothing was run

    experiment = MlflowClient(tracking_uri).get_experiment_by_name("tiny")
    assert experiment is None or not MlflowClient(tracking_uri).search_runs(
        [experiment.experiment_id]
    )
