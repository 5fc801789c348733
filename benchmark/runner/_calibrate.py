"""A cell's temperature scaling (``evaluate.calibration: temperature``): one temperature
(one per label for a multi-label task) fitted on the validation split, its test scores
before and after (``test/ece|brier|nll`` and the same with ``_uncalibrated``), the
reliability diagram, and the temperature as the saved model records it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from benchmark import track
from benchmark.tasks import Task

__all__ = ["calibrate", "calibration_metrics", "log_calibration", "temperature_config"]


def calibrate(labels: np.ndarray, probs: np.ndarray, *, task: Task,
              warn: Callable[[str], None]) -> float | np.ndarray:  # fmt: skip
    """The temperature that minimises the negative log-likelihood of the validation
    ``labels`` under ``probs``; one at a bound of the search is said through ``warn``."""
    from benchmark.evaluate import fit_temperature
    from benchmark.evaluate._calibration import BOUNDS

    temperature = fit_temperature(labels, probs, multilabel=task.multilabel)
    values = np.atleast_1d(np.asarray(temperature, float))
    if np.any(np.isclose(values, BOUNDS[0], rtol=1e-3) | np.isclose(values, BOUNDS[1], rtol=1e-3)):
        warn(
            f"calibration: a temperature reached its bound ({BOUNDS[0]} or {BOUNDS[1]}): the "
            "model's scores are not a network's probabilities (a kNN's vote shares, say), "
            "and one temperature does not calibrate them"
        )
    return temperature


def calibration_metrics(labels: np.ndarray, raw: np.ndarray, probs: np.ndarray,
                        temperature: float | np.ndarray | None, *, task: Task,
                        classes: Sequence[str]) -> dict[str, float]:  # fmt: skip
    """``test/ece``, ``test/brier`` and ``test/nll`` of the probabilities the model gives
    (``probs``: calibrated where it has a temperature); with one, the same of ``raw`` (the
    model before) with ``_uncalibrated`` appended, and the temperature."""
    from benchmark.evaluate import calibration_scores

    multilabel = task.multilabel
    out = {
        f"test/{k}": v for k, v in calibration_scores(labels, probs, multilabel=multilabel).items()
    }
    if temperature is None:
        return out
    before = calibration_scores(labels, raw, multilabel=multilabel)
    out |= {f"test/{k}_uncalibrated": v for k, v in before.items()}
    values = np.atleast_1d(np.asarray(temperature, float))
    out["calibration/temperature"] = float(np.exp(np.log(values).mean()))  # geometric mean
    if multilabel:
        out |= {
            f"calibration/{c}/temperature": float(t) for c, t in zip(classes, values, strict=True)
        }
    return out


def temperature_config(temperature: float | np.ndarray | None, classes: Sequence[str], *,
                       task: Task) -> float | dict[str, float] | None:  # fmt: skip
    """The temperature as a saved model's ``config.json`` holds it: a number, or one per
    label (multi-label); ``None`` without calibration."""
    if temperature is None:
        return None
    if task.multilabel:
        values = np.broadcast_to(np.asarray(temperature, float), (len(classes),))
        return {c: float(t) for c, t in zip(classes, values, strict=True)}
    return float(np.asarray(temperature, float).reshape(-1)[0])


def log_calibration(run: track.RunLog, labels: np.ndarray, raw: np.ndarray, probs: np.ndarray,
                    temperature: float | np.ndarray, *, scores: Mapping[str, float],
                    classes: Sequence[str], task: Task, title: str) -> None:  # fmt: skip
    """The reliability diagram before and after, and the fitted temperature with the test
    scores before and after (``scores``: :func:`calibration_metrics`'), as artifacts of the
    cell's run."""
    from benchmark.evaluate import reliability_figure

    figure = reliability_figure(labels, raw, probs, multilabel=task.multilabel, title=title)
    run.log_figure(figure, "eval/reliability.png")
    names = ("ece", "brier", "nll")
    run.log_dict(
        {
            "temperature": temperature_config(temperature, classes, task=task),
            "fitted_on": "val",
            "before": {k: scores[f"test/{k}_uncalibrated"] for k in names},
            "after": {k: scores[f"test/{k}"] for k in names},
        },
        "eval/calibration.json",
    )
