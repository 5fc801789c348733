"""The resampled AUROC and average precision (sorted once, weights per resample) equal
scikit-learn's on the very same resampled images."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from benchmark.evaluate._bootstrap import resample_chunks, resample_weights
from benchmark.evaluate._weighted import SortedScores


@pytest.mark.parametrize("ties", [False, True])
def test_resampled_auroc_and_ap_equal_scikit_learn(ties):
    rng = np.random.default_rng(int(ties))
    n = 150
    y = rng.random(n) < 0.2
    scores = rng.random(n)
    if ties:  # few distinct scores: ties within and across the classes
        scores = np.round(scores * 6) / 6
    idx = next(resample_chunks(n, 30, seed=4))
    assert idx.shape == (30, n)
    weights = resample_weights(idx, n)
    auroc, ap = SortedScores(y, scores, np.arange(n), n).auroc_ap(weights)
    for r, draw in enumerate(idx):
        assert auroc[r] == pytest.approx(skm.roc_auc_score(y[draw], scores[draw]), abs=1e-12)
        assert ap[r] == pytest.approx(skm.average_precision_score(y[draw], scores[draw]), abs=1e-12)


def test_entries_sharing_an_image_move_together():
    """Micro-averaging: several entries per image, all weighted by the image's draws."""
    rng = np.random.default_rng(7)
    n, labels = 60, 3
    targets = (rng.random((n, labels)) < 0.3).astype(float)
    targets[rng.random((n, labels)) < 0.2] = np.nan
    probs = rng.random((n, labels))
    seen = ~np.isnan(targets)
    rows = np.broadcast_to(np.arange(n)[:, None], (n, labels))[seen]
    micro = SortedScores(targets[seen] == 1, probs[seen], rows, n)
    idx = np.random.default_rng(1).integers(0, n, size=(10, n))
    auroc = micro.auroc(resample_weights(idx, n))
    for r, draw in enumerate(idx):
        t, p = targets[draw], probs[draw]
        expected = skm.roc_auc_score(t[~np.isnan(t)] == 1, p[~np.isnan(t)])
        assert auroc[r] == pytest.approx(expected, abs=1e-12)


def test_a_resample_with_one_class_is_undefined():
    y = np.array([True, False, False, False])
    weights = resample_weights(np.array([[1, 2, 3, 1], [0, 1, 2, 3]]), 4)
    auroc, ap = SortedScores(y, np.array([0.9, 0.1, 0.2, 0.3]), np.arange(4), 4).auroc_ap(weights)
    assert np.isnan(auroc[0]) and np.isnan(ap[0])
    assert auroc[1] == 1.0 and ap[1] == 1.0


def test_chunks_hold_every_resample_once():
    chunks = list(resample_chunks(50_000, 100, seed=0, width=14))
    assert len(chunks) > 1 and sum(len(c) for c in chunks) == 100
    assert all(c.shape[1] == 50_000 for c in chunks)
