"""Promotion, start to end: each dataset's champion chosen, its weights verified and hashed,
its version registered with tags and its model card, the alias pointed at it."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.errors import MedbenchError
from benchmark.promote._card import model_card, model_name, version_tags
from benchmark.promote._choose import Choice, choose_champions
from benchmark.track import tag_column, weights_sha256

if TYPE_CHECKING:
    import pandas as pd

    from benchmark.track import Store


@dataclass(frozen=True)
class Promotion:
    """One dataset's outcome: its cells ranked (``choice``) and what became of the chosen
    one. ``model`` is the registered model it goes to (``None``: no cell could be chosen);
    ``version`` the version ``alias`` now points at (``None``: a dry run, or nothing chosen);
    ``created`` whether that version is new (else the run was registered there before)."""

    choice: Choice
    alias: str
    model: str | None = None
    version: str | None = None
    created: bool = False

    @property
    def run_id(self) -> str | None:
        """The chosen cell's run."""
        return None if self.choice.winner is None else str(self.choice.winner["run_id"])

    @property
    def cell(self) -> str | None:
        """The chosen cell's name."""
        return None if self.choice.winner is None else str(self.choice.winner[tag_column("cell")])


def promote(
    store: Store,
    *,
    suite: str,
    metric: str | None = None,
    alias: str = "champion",
    dataset: str | None = None,
    name: str | None = None,
    dry_run: bool = False,
) -> Iterator[Promotion]:
    """Register the best finished cell of each dataset of ``suite`` (by ``metric``, ``test/``
    assumed when it names no folder; default: each dataset's task's, see
    :func:`choose_champions`) as ``name`` (default ``{suite}-{dataset}``; one dataset
    only) and point ``alias`` at it; only ``dataset``'s with ``dataset``; nothing with
    ``dry_run``.

    Yields each dataset's :class:`Promotion` once it is done, so a caller shows each as it
    comes; the options are checked before anything is registered, and once every dataset
    has been handled, a promotion that registered nothing raises :class:`MedbenchError`.
    """
    metric = metric if metric is None or "/" in metric else f"test/{metric}"
    runs = store.cell_runs(suite, finished=False)
    choices = _selected(choose_champions(runs, metric=metric), runs, suite=suite, dataset=dataset)
    if name is not None and len(choices) > 1:
        raise MedbenchError(
            f"--name {name} names one model, but suite '{suite}' has "
            f"{len(choices)} datasets: add --dataset."
        )
    paired = {} if dry_run else store.suite_analysis(suite, "paired_tests.json")
    promoted = 0
    for choice in choices:
        if choice.winner is None:
            yield Promotion(choice, alias)
            continue
        target = name or model_name(suite, choice.dataset)
        if dry_run:
            yield Promotion(choice, alias, model=target)
            continue
        verdict = paired.get(choice.dataset, {}).get("cells", {})
        version, created = _register(
            store, choice.winner, metric=choice.metric, model=target, alias=alias,
            verdict=verdict.get(choice.winner[tag_column("cell")]),
        )  # fmt: skip
        promoted += 1
        yield Promotion(choice, alias, model=target, version=version, created=created)
    if not dry_run and promoted == 0:
        raise MedbenchError("nothing was promoted: no dataset has a finished cell.")


def _selected(
    choices: list[Choice], runs: pd.DataFrame, *, suite: str, dataset: str | None
) -> list[Choice]:
    """``dataset``'s choice only (all without it); a dataset the suite lacks is refused."""
    if dataset is None:
        return choices
    selected = [c for c in choices if c.dataset == dataset]
    if not selected:
        known = sorted(runs[tag_column("dataset")].dropna().unique())
        raise MedbenchError(f"--dataset {dataset}: suite '{suite}' has {known}.")
    return selected


def _register(
    store: Store,
    winner: pd.Series,
    *,
    metric: str,
    model: str,
    alias: str,
    verdict: dict[str, Any] | None,
) -> tuple[str, bool]:
    """Register ``winner``'s model, its weights verified against their records first (and
    hashed when its run recorded none); return ``(version, created)``."""
    run_id = str(winner["run_id"])
    with tempfile.TemporaryDirectory() as tmp:
        source = store.resolve_model(f"runs:/{run_id}/model", Path(tmp))  # verified
        sha = source.sha256 or weights_sha256(source.folder)  # a run logged before hashes
    tags = version_tags(winner, metric=metric, weights_sha256=sha)
    card = model_card(winner, metric=metric, verdict=verdict,
                      splits=store.dataset_profiles(run_id))  # fmt: skip
    return store.register_model(run_id=run_id, name=model, alias=alias, tags=tags,
                                description=card)  # fmt: skip
