"""Percentile bootstrap intervals of test metrics, vectorised over resamples."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
from scipy.stats import rankdata

__all__ = ["bootstrap_intervals", "intervals", "resample_chunks", "resample_weights", "resampled"]

_CHUNK = 12_000_000  # resampled entries held at once per thread (rows × images × width)
_ROWS = 128  # and at most this many resamples


def bootstrap_intervals(
    y_true: np.ndarray,
    probs: np.ndarray,
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    prefix: str = "test/",
) -> dict[str, float]:
    """``{prefix}{metric}_ci_low|high`` for accuracy, weighted/macro F1 and macro AUROC.

    Each resample draws the test images with replacement (seeded); resamples missing a
    class are left out of the AUROC interval, as AUROC is undefined there.
    """
    y_true = np.asarray(y_true)
    n, k = probs.shape
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    truth, pred = y_true[idx], probs.argmax(axis=1)[idx]
    flat = (np.arange(resamples)[:, None] * k * k + truth * k + pred).ravel()
    confusion = np.bincount(flat, minlength=resamples * k * k).reshape(resamples, k, k)
    hits = np.diagonal(confusion, axis1=1, axis2=2).astype(float)
    support, predicted = confusion.sum(axis=2), confusion.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(hits), where=total > 0)
    values = {
        "accuracy": hits.sum(axis=1) / n,
        "f1_weighted": (f1 * support).sum(axis=1) / n,
        "f1_macro": f1.mean(axis=1),
        "auroc_macro": _auroc_macro(truth, probs, idx),
    }
    return intervals(values, level=level, prefix=prefix)


def intervals(values: dict[str, np.ndarray], *, level: float, prefix: str) -> dict[str, float]:
    """Percentile interval of each metric's resampled values; NaN (undefined) resamples are
    left out, and a metric undefined in every resample gets no interval."""
    tail = (1 - level) / 2 * 100
    out: dict[str, float] = {}
    for name, samples in values.items():
        samples = np.asarray(samples, dtype=float)
        samples = samples[np.isfinite(samples)]
        if len(samples):
            low, high = np.percentile(samples, [tail, 100 - tail])
            out |= {f"{prefix}{name}_ci_low": float(low), f"{prefix}{name}_ci_high": float(high)}
    return out


def resample_chunks(n: int, resamples: int, seed: int, *, width: int = 1) -> Iterator[np.ndarray]:
    """The bootstrap's draws of ``n`` images with replacement, ``resamples`` rows in all, in
    chunks small enough to hold (``width``: entries per image each chunk expands to).

    When one chunk holds them all (up to 128 resamples of a small test set) the rows are exactly
    ``default_rng(seed).integers(0, n, size=(resamples, n))``, as in :func:`bootstrap_intervals`.
    """
    rng = np.random.default_rng(seed)
    rows = max(1, min(_ROWS, _CHUNK // max(1, n * width)))
    for start in range(0, resamples, rows):
        yield rng.integers(0, n, size=(min(rows, resamples - start), n))


def resampled(
    measure: Callable[[np.ndarray], dict[str, np.ndarray]],
    n: int,
    *,
    resamples: int,
    seed: int,
    width: int = 1,
    threads: int | None = None,
) -> dict[str, np.ndarray]:
    """``measure`` (a chunk of draws → each metric's value per resample) over all the
    resamples, concatenated. The draws are made in order here (so the seed fixes them);
    the chunks are measured on ``threads`` threads (numpy and scipy release the GIL)."""
    threads = threads or min(4, _cores())
    parts: list[dict[str, np.ndarray]] = []
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending: deque[Future[dict[str, np.ndarray]]] = deque()
        for idx in resample_chunks(n, resamples, seed, width=width):
            pending.append(pool.submit(measure, idx))
            if len(pending) > threads:  # hold a few chunks at a time
                parts.append(pending.popleft().result())
        parts.extend(future.result() for future in pending)
    if not parts:
        return {}
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def resample_weights(idx: np.ndarray, n: int) -> np.ndarray:
    """How often each image is drawn in each resample: ``idx`` (R × n draws) → n × R counts
    (float: they enter products with probabilities and each other)."""
    counts = np.empty((len(idx), n))
    for row, draws in zip(counts, idx, strict=True):
        row[:] = np.bincount(draws, minlength=n)
    return np.ascontiguousarray(counts.T)


def _auroc_macro(truth: np.ndarray, probs: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """One-vs-rest AUROC per class through the Mann-Whitney rank statistic, then the mean."""
    n = idx.shape[1]
    per_class = []
    for c in range(probs.shape[1]):
        ranks = rankdata(probs[idx, c], axis=1)  # ties get their average rank
        positive = truth == c
        n_pos = positive.sum(axis=1).astype(float)
        n_neg = n - n_pos
        u = (ranks * positive).sum(axis=1) - n_pos * (n_pos + 1) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            per_class.append(np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan))
    return np.mean(per_class, axis=0)
