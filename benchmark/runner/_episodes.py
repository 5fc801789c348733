"""Label efficiency: a cell of the ``train.shots`` or ``train.fraction`` axis runs
``train.episodes`` episodes where other cells run their seeds. Episode ``e`` (1, 2, …) trains
with seed ``seeds[0] + e - 1`` on that seed's stratified draw of the training split
(:func:`benchmark.data.draw_episode`; validation and test untouched) and is tested like a
seed; tuning trains on the first episode's draw. Across episodes: the mean under the plain
name, the standard deviation (``_std``), a t-interval of the mean
(``_episodes_low|high``) and each episode's values (``episode_<e>/``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.data import draw_episode
from benchmark.errors import DataError, MedbenchError
from benchmark.runner._data import Dataset
from benchmark.suite import Cell


@dataclass(frozen=True)
class Episode:
    """One final training of a cell: its seed, where its metrics go, its training images."""

    seed: int
    prefix: str  # of its per-epoch metrics: "" for the first, then "seed_<s>/" or "episode_<e>/"
    label: str  # what the display calls it
    train: np.ndarray | None = None  # positions of its training images (None: the train split)


def cell_episodes(cell: Cell, data: Dataset) -> list[Episode]:
    """The final trainings of ``cell``: one per seed, or its label-efficiency episodes."""
    if not cell.budget:
        return [
            Episode(seed, "" if k == 0 else f"seed_{seed}/", f"seed {seed}")
            for k, seed in enumerate(cell.seeds)
        ]
    count = cell.train.episodes
    episodes = []
    for e in range(1, count + 1):
        seed = episode_seed(cell, e)
        label = f"episode {e} of {count} ({cell.budget}, seed {seed})"
        prefix = "" if e == 1 else f"episode_{e}/"
        episodes.append(Episode(seed, prefix, label, episode_train(cell, data, episode=e)))
    return episodes


def episode_seed(cell: Cell, episode: int) -> int:
    return cell.seeds[0] + episode - 1


def episode_train(cell: Cell, data: Dataset, *, episode: int = 1) -> np.ndarray | None:
    """The positions of episode ``episode``'s training images (``None``: a cell without the
    axis trains on the whole train split)."""
    if not cell.budget:
        return None
    try:
        return draw_episode(
            data.indices("train"), data.source.records["label"].to_numpy(),
            classes=data.source.classes, seed=episode_seed(cell, episode),
            targets=data.source.targets,
            shots=cell.shots, fraction=cell.fraction,
        )  # fmt: skip
    except DataError as exc:
        raise DataError(f"cell {cell.name}: {exc}") from None


def check_cells(cells: Iterable[Cell], dataset: Callable[[str], Dataset]) -> None:
    """Every cell's label budget fits its dataset's training split (a class with fewer
    images than ``shots`` fails here, before any run is created), and its strategy can fit
    that many images (kNN's k below them) and its dataset's task (one class per image, or
    several; a task deciding at thresholds chosen on val needs val out of the final
    training)."""
    from benchmark.runner._external import check_external
    from benchmark.strategies import create_strategy, list_strategies

    for cell in cells:
        data = dataset(cell.dataset)
        strategy = create_strategy(cell.strategy_kind, cell.strategy_config.options)
        try:
            if data.task.multilabel and not strategy.multilabel:
                able = [s.name for s in list_strategies() if s.multilabel]
                raise MedbenchError(
                    f"the '{cell.strategy_kind}' strategy needs one class per image, but "
                    f"dataset '{cell.dataset}' is multi-label: leave the cell out (`cells:`) "
                    f"or use one of {able}."
                )
            if data.task.thresholded and cell.tune is not None and cell.tune.refit != "train":
                raise MedbenchError(
                    f"tune.refit: {cell.tune.refit} trains the final model on the val split, "
                    f"where a {data.task.name} task chooses its thresholds: they would be "
                    "chosen on training images. Use `tune.refit: train`."
                )
            if cell.evaluate.calibration and cell.tune is not None and cell.tune.refit != "train":
                raise MedbenchError(
                    f"tune.refit: {cell.tune.refit} trains the final model on the val split, "
                    "where evaluate.calibration fits its temperature: it would be fitted on "
                    "training images. Use `tune.refit: train`."
                )
            check_external(cell, dataset)
            train = episode_train(cell, data)
            size = len(train) if train is not None else len(data.indices("train"))
            strategy.check_train_size(size)
        except MedbenchError as exc:
            raise type(exc)(f"cell {cell.name}: {exc}") from None


def summarise_episodes(
    episodes: list[Episode], per_episode: list[dict[str, float]], *, level: float
) -> dict[str, float]:
    """Each metric's mean over the episodes under its plain name; for the test scores
    (``test/<score>``) their standard deviation (``_std``) and the ``level`` t-interval of
    their mean (``_episodes_low``, ``_episodes_high``); every test value of each episode
    under ``episode_<e>/``; how many episodes, and their training images (the first's).
    One episode: its metrics."""
    first = episodes[0].train
    counts = {"episodes": float(len(episodes))}
    if first is not None:
        counts["data/episode_images"] = float(len(first))
    if len(per_episode) == 1:
        return dict(per_episode[0]) | counts
    from scipy.stats import t

    table = pd.DataFrame(per_episode, index=range(1, len(per_episode) + 1))
    out = table.mean().to_dict()
    scores = [k for k in table if _is_score(k)]
    std = table[scores].std(ddof=1)
    half = t.ppf((1 + level) / 2, df=len(table) - 1) * std / math.sqrt(len(table))
    for key in scores:
        out |= {
            f"{key}_std": std[key],
            f"{key}_episodes_low": out[key] - half[key],
            f"{key}_episodes_high": out[key] + half[key],
        }
    for episode, row in table.iterrows():
        out |= {f"episode_{episode}/{k}": v for k, v in row.items()
                if k.startswith(("test/", "external/", "corrupt/"))}  # fmt: skip
    return out | counts


def _is_score(key: str) -> bool:
    """A test score of the whole split, or of an external dataset's (not a class's, not an
    interval's bound), or the balanced error under corruptions."""
    whole = (key.startswith("test/") and key.count("/") == 1) or (
        key.startswith("external/") and key.count("/") == 2
    )
    return (whole or key == "corrupt/balanced_error") and not key.endswith(("_low", "_high"))
