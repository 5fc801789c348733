"""The only importer of Optuna: one resumable study per cell, its search space and pruning.

The caller's objective trains on the training split and scores on the validation split;
it reports the validation objective every epoch through :meth:`TrialContext.report`, which
raises :class:`Pruned` when the pruner stops the trial. Trials left RUNNING by a process
that died are marked FAIL when the study is opened again; finished trials are kept.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from benchmark._process import owner_is_dead, stamp
from benchmark.errors import MedbenchError

if TYPE_CHECKING:
    from benchmark.suite import ParamSpec, PrunerConfig

__all__ = ["Pruned", "StudyResult", "TrialContext", "resolve_storage", "run_study"]

optuna.logging.set_verbosity(optuna.logging.WARNING)

_DONE = (TrialState.COMPLETE, TrialState.PRUNED)


class Pruned(Exception):
    """The pruner stopped this trial (raised from :meth:`TrialContext.report`)."""


@dataclass
class TrialContext:
    """What an objective gets: the trial's number, its sampled settings, a report hook."""

    number: int
    params: dict[str, Any]
    _trial: optuna.Trial

    def report(self, epoch: int, value: float) -> None:
        self._trial.report(value, epoch)
        if self._trial.should_prune():
            raise Pruned(f"trial {self.number} pruned at epoch {epoch}")


@dataclass(frozen=True)
class StudyResult:
    best_params: dict[str, Any]
    best_value: float
    best_trial: int
    best_epoch: int
    complete: int
    pruned: int
    failed: int
    resumed: int  # trials finished by earlier runs and kept


Objective = Callable[[TrialContext], tuple[float, int]]  # → (best value, its epoch)


def resolve_storage(url: str | None = None) -> str:
    """``url``, else ``MEDBENCH_STORAGE``, else ``sqlite:///<cwd>/mlruns/optuna.db``."""
    url = url or os.environ.get("MEDBENCH_STORAGE")
    if url:
        return url
    return f"sqlite:///{Path.cwd() / 'mlruns' / 'optuna.db'}"


def run_study(
    *,
    name: str,
    storage: str | None,
    space: Mapping[str, ParamSpec],
    trials: int,
    maximize: bool,
    seed: int,
    pruner: PrunerConfig,
    epochs: int,
    objective: Objective,
) -> StudyResult:
    """Run trials until ``trials`` have finished (complete or pruned), resuming ``name``."""
    url = resolve_storage(storage)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        study = optuna.create_study(
            study_name=name,
            storage=url,
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=_create_pruner(pruner, epochs),
            direction="maximize" if maximize else "minimize",
            load_if_exists=True,
        )
    except Exception as exc:
        raise MedbenchError(f"cannot open the Optuna storage {url}: {exc}") from exc
    _fail_dead_trials(study)
    resumed = len(study.get_trials(deepcopy=False, states=_DONE))
    failures = 0
    while len(study.get_trials(deepcopy=False, states=_DONE)) < trials:
        trial = study.ask()
        for key, value in stamp().items():
            trial.set_user_attr(key, value)
        context = TrialContext(trial.number, _suggest(trial, space), trial)
        try:
            value, best_epoch = objective(context)
        except Pruned:
            study.tell(trial, state=TrialState.PRUNED)
            continue
        except (KeyboardInterrupt, MedbenchError):
            study.tell(trial, state=TrialState.FAIL)
            raise
        except Exception as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:1000])
            study.tell(trial, state=TrialState.FAIL)
            failures += 1
            if failures >= max(3, trials):
                raise MedbenchError(
                    f"study {name}: {failures} trials failed, the last with {exc!r}."
                ) from exc
            continue
        trial.set_user_attr("best_epoch", best_epoch)
        study.tell(trial, value)
    return _summarise(study, maximize=maximize, resumed=resumed)


def _suggest(trial: optuna.Trial, space: Mapping[str, ParamSpec]) -> dict[str, Any]:
    params = {}
    for name, spec in space.items():
        if spec.choices is not None:
            params[name] = trial.suggest_categorical(name, spec.choices)
        elif spec.is_int:
            params[name] = trial.suggest_int(
                name, int(spec.low), int(spec.high), step=int(spec.step or 1), log=spec.log
            )
        else:
            params[name] = trial.suggest_float(
                name, float(spec.low), float(spec.high), step=spec.step, log=spec.log
            )
    return params


def _create_pruner(config: PrunerConfig, epochs: int) -> optuna.pruners.BasePruner:
    if config.kind == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=config.startup_trials, n_warmup_steps=config.warmup_epochs
        )
    if config.kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1))
    return optuna.pruners.NopPruner()


def _fail_dead_trials(study: optuna.Study) -> None:
    """Mark FAIL the trials left RUNNING by a process of this host that no longer exists."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if owner_is_dead(trial.user_attrs.get("host"), trial.user_attrs.get("pid")):
            study.tell(trial.number, state=TrialState.FAIL)


def _summarise(study: optuna.Study, *, maximize: bool, resumed: int) -> StudyResult:
    trials = study.get_trials(deepcopy=False)
    count = {state: sum(t.state == state for t in trials) for state in TrialState}
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    candidates = complete or [t for t in trials if t.state == TrialState.PRUNED]
    if not candidates:
        raise MedbenchError(f"study {study.study_name} has no finished trial.")
    values = [(t.value if t.value is not None else _last(t)) for t in candidates]
    pick = max if maximize else min
    best = candidates[values.index(pick(values))]
    return StudyResult(
        best_params=dict(best.params),
        best_value=float(pick(values)),
        best_trial=best.number,
        best_epoch=int(best.user_attrs.get("best_epoch", best.last_step or 1)),
        complete=count[TrialState.COMPLETE],
        pruned=count[TrialState.PRUNED],
        failed=count[TrialState.FAIL],
        resumed=resumed,
    )


def _last(trial: optuna.trial.FrozenTrial) -> float:
    return trial.intermediate_values[trial.last_step] if trial.intermediate_values else float("nan")
