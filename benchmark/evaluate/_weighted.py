"""AUROC and average precision of many bootstrap resamples at once, without ranking any.

A resample is a weight per image (how often it was drawn). The scores are sorted once; each
resample's AUROC is then the weighted Mann–Whitney statistic: every positive's weight times
the negative weight scored below it (tied scores count half). Only the negative weight below
each positive's score is needed, so the negatives are summed per gap between consecutive
positive scores (one sparse product for all resamples) and accumulated over those gaps.
Average precision is the weighted step sum over the positives, from the same sums. Equal to
scikit-learn's values on the resampled (duplicated) images, ties included.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

__all__ = ["SortedScores"]


class SortedScores:
    """One binary problem's scores sorted once: ``y`` (bool, m entries), ``scores`` (m) and
    ``rows`` (m: the image each entry belongs to, its row of the weights, among ``images``).
    An image may own several entries (the flattened labels of micro-averaging)."""

    def __init__(self, y: np.ndarray, scores: np.ndarray, rows: np.ndarray, images: int):
        y, scores, rows = np.asarray(y, bool), np.asarray(scores, float), np.asarray(rows)
        neg = np.flatnonzero(~y)
        neg = neg[np.argsort(scores[neg], kind="stable")]
        pos = np.flatnonzero(y)
        pos = pos[np.argsort(-scores[pos], kind="stable")]  # descending: the precision steps
        negative, positive = scores[neg], scores[pos]
        self.pos_rows = rows[pos]
        below = np.searchsorted(negative, positive, "left")  # negatives scored lower
        at_or_below = np.searchsorted(negative, positive, "right")
        # the negatives cut at every positive's score: sums per gap, then a cumulative sum
        edges = np.unique(np.concatenate([[0], below, at_or_below]))
        gap = np.searchsorted(edges, np.arange(len(neg)), "right") - 1
        self.gaps = sparse.csr_matrix(
            (np.ones(len(neg)), (gap, rows[neg])), shape=(len(edges), images)
        )
        self.below = np.searchsorted(edges, below)  # index of the negative weight below
        tied = np.searchsorted(edges, at_or_below)
        self.tied = tied if (tied != self.below).any() else None
        # the last positive tied with each positive (descending order): its precision step
        end = np.searchsorted(-positive, -positive, "right") - 1
        self.block_end = end if (end != np.arange(len(end))).any() else None

    def auroc(self, weights: np.ndarray) -> np.ndarray:
        """AUROC per resample (``weights``: images × R counts, as
        :func:`~benchmark.evaluate._bootstrap.resample_weights` gives); NaN where a resample
        holds no positive or no negative."""
        return self._mann_whitney(weights)[0]

    def auroc_ap(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """AUROC and average precision per resample; NaN where undefined."""
        auroc, pos, n_pos, n_neg, below = self._mann_whitney(weights)
        precision = np.cumsum(pos, axis=0)  # positive weight scored at or above each positive
        if self.block_end is not None:
            precision = np.take(precision, self.block_end, axis=0)
        called = (n_neg - below) + precision  # all the weight scored at or above it
        np.maximum(called, 1, out=called)  # none called: no positive weight either, so 0 / 1
        precision /= called
        with np.errstate(divide="ignore", invalid="ignore"):
            ap = np.einsum("ij,ij->j", pos, precision) / n_pos
        ap[np.isnan(auroc)] = np.nan
        return auroc, ap

    def _mann_whitney(self, weights: np.ndarray) -> tuple[np.ndarray, ...]:
        per_gap = self.gaps @ weights
        cumulative = np.zeros((len(per_gap) + 1, weights.shape[1]), dtype=weights.dtype)
        np.cumsum(per_gap, axis=0, out=cumulative[1:])  # [t]: negative weight below edge t
        pos = np.take(weights, self.pos_rows, axis=0)
        n_pos, n_neg = pos.sum(axis=0), cumulative[-1]
        below = np.take(cumulative, self.below, axis=0)
        credit = 2 * below if self.tied is None else below + np.take(cumulative, self.tied, axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            auroc = np.einsum("ij,ij->j", pos, credit) / (2 * n_pos * n_neg)
        auroc[(n_pos == 0) | (n_neg == 0)] = np.nan
        return auroc, pos, n_pos, n_neg, below
