"""Temperature scaling (Guo et al., 2017) on probabilities: one temperature T fitted by
minimising the negative log-likelihood on validation (one per label for multi-label), the
probabilities it gives, their calibration scores and a before/after reliability diagram.

The runner keeps probabilities, not logits, so logits are recovered from them: ``log p`` for
a softmax task (multiclass, binary, ordinal), ``logit p`` per label for multi-label. A
probability of exactly 0 (or 1 for a sigmoid) has no finite logit: it is read as half the
smallest positive probability (or distance to 1) among those given. A network's float32
probabilities thus come back as they were (a 0 is an underflow below 1e-38, a sigmoid's 1
a logit above about 17), and a kNN's vote fraction of 0 of k neighbours reads as 1/(2k),
which a temperature above 1 still softens.

Dividing those logits by T keeps every argmax, a binary task's ranking and each label's: the
confidence changes (T > 1 softens an over-confident model, T < 1 sharpens), and so may a
one-against-the-rest AUROC over several classes, each class's probability being re-weighed
against the others'."""

from __future__ import annotations

import numpy as np
from scipy import optimize, special

from benchmark.errors import MedbenchError
from benchmark.evaluate._metrics import expected_calibration_error
from benchmark.evaluate._multilabel import label_ece

__all__ = ["apply_temperature", "calibration_scores", "fit_temperature", "reliability_figure"]

NLL_FLOOR = 1e-15  # the probability a log-loss is clipped to, as in test/log_loss
BOUNDS = (0.05, 20.0)  # the temperatures searched
BINS = 15  # of the reliability diagram, as of the ECE


def fit_temperature(
    labels: np.ndarray, probs: np.ndarray, *, multilabel: bool
) -> float | np.ndarray:
    """The temperature in [0.05, 20] that minimises the NLL of ``probs`` on ``labels``.

    Softmax tasks: ``labels`` are N class indices, ``probs`` N × K; one float. Multi-label:
    ``labels`` N × L (1, 0 or NaN for a missing target), ``probs`` N × L sigmoids; one
    temperature per label, fitted on its observed entries (1 for a label with none).
    """
    labels, probs = _checked(labels, probs, multilabel=multilabel)
    if multilabel:
        z = _logits(probs, multilabel=True)
        temperatures = np.ones(probs.shape[1])
        for k in range(probs.shape[1]):
            seen = ~np.isnan(labels[:, k])
            if seen.any():
                y, zk = labels[seen, k], z[seen, k]
                temperatures[k] = _minimise(lambda t, y=y, zk=zk: _bce(y, zk / t))
        return temperatures
    if not len(labels):
        return 1.0
    z = _logits(probs, multilabel=False)
    rows = np.arange(len(labels))
    return _minimise(lambda t: -special.log_softmax(z / t, axis=1)[rows, labels].mean())


def apply_temperature(
    probs: np.ndarray, temperature: float | np.ndarray, *, multilabel: bool
) -> np.ndarray:
    """``probs`` with their logits divided by ``temperature`` (multi-label: a scalar or one
    per label); a temperature of 1 returns them unchanged."""
    probs = np.asarray(probs)
    t = np.asarray(temperature, float)
    if np.any(~np.isfinite(t) | (t <= 0)):
        raise MedbenchError(f"a temperature must be a positive number, but got {temperature}")
    if np.all(t == 1.0):
        return probs.copy()
    dtype = probs.dtype if np.issubdtype(probs.dtype, np.floating) else np.float64
    z = _logits(np.asarray(probs, float), multilabel=multilabel) / t
    scaled = special.expit(z) if multilabel else special.softmax(z, axis=1)
    return scaled.astype(dtype)


def calibration_scores(labels: np.ndarray, probs: np.ndarray, *, multilabel: bool) -> dict:
    """``ece``, ``brier`` and ``nll`` of ``probs`` (NaN each when nothing is observed).

    Softmax tasks: the ECE of the top class (as ``test/ece``), the Brier score summed over
    the classes and averaged over the images, the mean −log p of the true class.
    Multi-label: the mean of the labels' ECEs (those with both a positive and a negative
    observed, as ``test/ece``; else every observed one), the squared error and binary
    cross-entropy averaged over the observed entries.
    """
    labels, probs = _checked(labels, probs, multilabel=multilabel)
    nan = {"ece": float("nan"), "brier": float("nan"), "nll": float("nan")}
    if multilabel:
        seen = ~np.isnan(labels)
        if not seen.any():
            return nan
        observed = [k for k in range(labels.shape[1]) if seen[:, k].any()]
        scored = [k for k in observed if 0 < np.nansum(labels[:, k]) < seen[:, k].sum()]
        eces = [label_ece(labels[seen[:, k], k], probs[seen[:, k], k]) for k in scored or observed]
        y, p = labels[seen], probs[seen]
        return {
            "ece": float(np.mean(eces)),
            "brier": float(np.mean((p - y) ** 2)),
            "nll": _bce(y, special.logit(np.clip(p, NLL_FLOOR, 1.0 - NLL_FLOOR))),
        }
    if not len(labels):
        return nan
    onehot = np.eye(probs.shape[1])[labels]
    truth = probs[np.arange(len(labels)), labels]
    return {
        "ece": expected_calibration_error(labels, probs, bins=BINS),
        "brier": float(np.mean(((probs - onehot) ** 2).sum(axis=1))),
        "nll": float(-np.log(np.clip(truth, NLL_FLOOR, 1.0)).mean()),
    }


def reliability_figure(
    labels: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    *,
    multilabel: bool,
    title: str = "",
):
    """Two reliability diagrams side by side, before and after temperature scaling: per
    equal-width bin of confidence (the top class's probability; multi-label: each observed
    label's probability), the accuracy (multi-label: the frequency of the label) against
    the diagonal of perfect calibration, with the gap shaded and the ECE in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 4), sharey=True)
    edges = np.linspace(0.0, 1.0, BINS + 1)
    centres, width = (edges[:-1] + edges[1:]) / 2, 1.0 / BINS
    for ax, name, probs in zip(axes, ("before", "after"), (before, after), strict=True):
        y, p = _checked(labels, probs, multilabel=multilabel)
        confidence, hit = _reliability_points(y, p, multilabel=multilabel)
        which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, BINS - 1)
        count = np.bincount(which, minlength=BINS)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.bincount(which, weights=hit, minlength=BINS) / count
            mean = np.bincount(which, weights=confidence, minlength=BINS) / count
        filled = count > 0
        ax.bar(centres[filled], rate[filled], width=width, color="tab:blue", edgecolor="white")
        gap = mean[filled] - rate[filled]
        ax.bar(centres[filled], gap, bottom=rate[filled], width=width, color="tab:red", alpha=0.3)
        ax.plot([0, 1], [0, 1], "k--", linewidth=1)
        ece = calibration_scores(y, p, multilabel=multilabel)["ece"]
        ax.set(xlim=(0, 1), ylim=(0, 1), title=f"{name}: ECE {ece:.3f}")
        ax.set_xlabel("probability" if multilabel else "confidence")
    axes[0].set_ylabel("observed frequency" if multilabel else "accuracy")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _reliability_points(y: np.ndarray, p: np.ndarray, *, multilabel: bool):
    """Each point's confidence and whether it came true."""
    if multilabel:
        seen = ~np.isnan(y)
        return p[seen], y[seen]
    return p.max(axis=1), (p.argmax(axis=1) == y).astype(float)


def _minimise(nll) -> float:
    """The temperature minimising ``nll(t)``, searched on log t within :data:`BOUNDS`."""
    low, high = np.log(BOUNDS)
    found = optimize.minimize_scalar(
        lambda s: nll(np.exp(s)), bounds=(low, high), method="bounded", options={"xatol": 1e-5}
    )
    return float(np.exp(found.x))


def _logits(probs: np.ndarray, *, multilabel: bool) -> np.ndarray:
    """Logits that give back ``probs``: logit p per label, or log p for a softmax; a 0 (and
    for a sigmoid a 1) is first moved to half the nearest positive distance seen."""
    if multilabel:
        return special.logit(np.clip(probs, _floor(probs), 1.0 - _floor(1.0 - probs)))
    return np.log(np.maximum(probs, _floor(probs)))


def _floor(values: np.ndarray) -> float:
    """Half the smallest positive value (0.5 when none is)."""
    positive = values[values > 0]
    return float(positive.min()) / 2 if positive.size else 0.5


def _bce(y: np.ndarray, z: np.ndarray) -> float:
    """Mean binary cross-entropy of targets ``y`` on logits ``z``: log(1 + e^z) − y z."""
    return float(np.mean(np.logaddexp(0.0, z) - y * z)) if len(y) else float("nan")


def _checked(labels: np.ndarray, probs: np.ndarray, *, multilabel: bool):
    """Labels and probabilities as arrays of the shapes the task needs."""
    probs = np.asarray(probs, float)
    labels = np.asarray(labels, float if multilabel else int)
    if probs.ndim == 1 and len(probs) == 0:
        probs = probs.reshape(0, 1)
    expected = probs.shape if multilabel else probs.shape[:1]
    if probs.ndim != 2 or labels.shape != expected:
        kind = "N × L targets" if multilabel else "N class indices"
        raise MedbenchError(
            f"calibration needs N × K probabilities and {kind}, but got probabilities "
            f"{probs.shape} and labels {labels.shape}."
        )
    return labels, probs
