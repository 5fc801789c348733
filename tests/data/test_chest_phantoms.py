"""Multi-label chest phantoms and their in-memory layout: targets as configured (prevalence,
unknown entries, patients), images deterministic at their size, each finding in its own
region and learnable from the pixels, and the split keeping every finding's prevalence."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from benchmark.data import create_source, index_dataset
from benchmark.data.chest_phantoms import FINDINGS, PREVALENCE, render_chest
from benchmark.data.layouts.synthetic_chest import SyntheticMultilabelOptions
from benchmark.suite._schema import AuditConfig, DatasetConfig, SplitConfig


def _source(**options):
    return create_source(
        "synthetic-multilabel", None, options=SyntheticMultilabelOptions(**options)
    )


def test_targets_are_float32_columns_of_the_findings_at_their_prevalence():
    source = _source(images=4000)
    assert source.multilabel and source.classes == list(FINDINGS)
    assert source.targets.dtype == np.float32 and source.targets.shape == (4000, len(FINDINGS))
    assert not np.isnan(source.targets).any()
    expected = np.array([PREVALENCE[f] for f in FINDINGS])
    assert np.abs(source.targets.mean(axis=0) - expected).max() < 0.025
    first = source.targets[0]
    assert source.records["label"].iat[0] == "|".join(
        f for f, t in zip(FINDINGS, first, strict=True) if t == 1
    )
    chosen = _source(images=2000, findings=["mass", "nodule"], prevalence={"mass": 0.5})
    assert chosen.classes == ["mass", "nodule"]
    assert np.abs(chosen.targets.mean(axis=0) - [0.5, 0.3]).max() < 0.04


def test_unknown_entries_and_patients():
    source = _source(images=3000, missing=0.25, per_patient=3)
    unknown = np.isnan(source.targets)
    assert abs(unknown.mean() - 0.25) < 0.02
    assert "" in set(source.records["label"])  # an image without a known finding
    groups = source.records["group"]
    assert (groups.value_counts() == 3).all()
    known = _source(images=3000, per_patient=3)  # the same patients, nothing unknown
    assert np.array_equal(known.targets[~unknown], source.targets[~unknown])
    per_patient = known.targets.reshape(-1, 3, len(FINDINGS))
    assert (per_patient == per_patient[:, :1]).all()  # a patient's images share its findings


def test_rendered_at_its_size_the_same_again_and_differently_per_seed():
    source = _source(images=12, size=48, per_patient=2)
    image, mask = source.read(5)
    assert image.dtype == np.uint8 and image.shape == (48, 48)
    assert mask.dtype == bool and mask.shape == (48, 48)
    again = _source(images=30, size=48, per_patient=2)  # more images: the same first ones
    assert source.content(5) == again.content(5)
    assert np.array_equal(image, again.read(5)[0])
    other = _source(images=12, size=48, per_patient=2, seed=1)
    assert not np.array_equal(image, other.read(5)[0])
    subset = source.subset(np.arange(12) >= 6)
    assert np.array_equal(subset.targets, source.targets[6:])
    assert np.array_equal(subset.read(0)[0], source.read(6)[0])


@pytest.mark.parametrize("finding", FINDINGS)
def test_each_finding_changes_the_image_only_where_its_mask_lies(finding):
    for index in range(4):
        plain = render_chest(index, seed=3, size=64)
        shown = render_chest(index, findings=[finding], seed=3, size=64)
        assert not plain.mask.any() and shown.mask.sum() > 10
        changed = plain.image != shown.image
        near = cv2.dilate(shown.mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        assert not (changed & ~near).any()  # the pleural line lies on the air's edge
        assert changed[shown.mask].mean() > 0.3  # the normal heart lies within the enlarged one


def test_every_finding_is_learnable_from_the_pixels():
    prevalence = dict.fromkeys(FINDINGS, 0.3)
    source = _source(images=400, size=32, prevalence=prevalence)
    pixels = np.stack([source.read(i)[0].ravel() for i in range(400)]) / 255.0
    for j, finding in enumerate(source.classes):
        y = source.targets[:, j]
        model = LogisticRegression(C=0.1, max_iter=2000).fit(pixels[:300], y[:300])
        auroc = roc_auc_score(y[300:], model.predict_proba(pixels[300:])[:, 1])
        assert auroc > 0.85, finding


def test_bad_options_are_refused():
    with pytest.raises(ValidationError, match="unknown findings"):
        SyntheticMultilabelOptions(findings=["nodule", "fracture"])
    with pytest.raises(ValidationError, match="not among"):
        SyntheticMultilabelOptions(findings=["nodule"], prevalence={"mass": 0.1})
    with pytest.raises(ValidationError, match="within"):
        SyntheticMultilabelOptions(prevalence={"mass": 1.5})


def test_indexing_splits_patients_whole_with_every_findings_prevalence():
    options = {"images": 240, "size": 32, "per_patient": 2, "prevalence": {"mass": 0.1}}
    config = DatasetConfig(
        layout="synthetic-multilabel", options=options, task="multilabel",
        split=SplitConfig(ratios=(60, 20, 20)),
    )  # fmt: skip
    data = index_dataset("chest", config, seed=0, policy=AuditConfig())
    split, targets = data.split, data.source.targets
    table = data.source.records.assign(split=split)
    assert (table.groupby("group")["split"].nunique() == 1).all()
    for name, share in {"train": 0.6, "val": 0.2, "test": 0.2}.items():
        found = targets[(split == name).to_numpy()].sum(axis=0)
        assert np.abs(found - share * targets.sum(axis=0)).max() <= 2, name
