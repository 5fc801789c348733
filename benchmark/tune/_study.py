"""One resumable study per cell: its search space, pruning, and trials shared by workers.

The worker that owns a cell runs :func:`run_study`: it keeps exactly ``trials`` trials
queued or done (WAITING trials in Optuna's storage), runs them one by one, and waits for
the ones other workers took, until ``trials`` have finished (complete or pruned). Idle
workers call :func:`help_study` to take one queued trial of a study that is running. A
queued trial is claimed atomically by one process, so none is run twice and a study never
overshoots its count. Sampling happens when a trial starts (TPE with ``constant_liar``, so
trials that run at the same time explore different settings), seeded by the suite's seed
and the trial's number: the same trial gets the same proposal whichever worker runs it.

A trial whose owner died is failed and queued again with the same settings (a retry,
which continues from the trial's last checkpoint); a trial that raised is failed and
replaced by a fresh one, up to a limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from benchmark.errors import MedbenchError
from benchmark.suite import ParamSpec, PrunerConfig
from benchmark.tune._storage import (
    claim_waiting,
    fail_dead_trials,
    heartbeat,
    open_storage,
    resolve_storage,
)

__all__ = [
    "Pruned",
    "StudyResult",
    "StudySpec",
    "TrialContext",
    "TrialEntry",
    "help_study",
    "run_study",
    "study_trials",
]

optuna.logging.set_verbosity(optuna.logging.WARNING)

_DONE = (TrialState.COMPLETE, TrialState.PRUNED)
_LIVE = (TrialState.WAITING, TrialState.RUNNING)
POLL_S = 1.0


class Pruned(Exception):
    """The pruner stopped this trial (raised from :meth:`TrialContext.report`)."""


@dataclass
class TrialContext:
    """What an objective gets: the trial's number, its sampled settings, a report hook, and
    ``key``, the same for a trial and its retries (where its checkpoint lives)."""

    number: int
    params: dict[str, Any]
    key: str
    _trial: optuna.Trial

    def note(self, **facts: Any) -> None:
        """Record facts on the trial (its MLflow run id) for other workers."""
        for key, value in facts.items():
            self._trial.set_user_attr(key, value)

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
    resumed: int  # trials finished before this call and kept


Objective = Callable[[TrialContext], tuple[float, int]]  # → (best value, its epoch)
DeadTrials = Callable[[list[dict[str, Any]]], None]  # the user attributes of each dead trial


@dataclass(frozen=True)
class StudySpec:
    """Everything that defines a cell's study, the same in every worker."""

    name: str
    storage: str | None
    space: Mapping[str, ParamSpec]
    maximize: bool
    seed: int
    pruner: PrunerConfig
    epochs: int
    attrs: Mapping[str, str] = field(default_factory=dict)  # readable facts (Optuna Dashboard)


def run_study(
    spec: StudySpec,
    *,
    trials: int,
    objective: Objective,
    on_dead: DeadTrials | None = None,
    still_owner: Callable[[], bool] | None = None,
) -> StudyResult:
    """Run (and wait for) trials until ``trials`` have finished, resuming ``spec.name``."""
    storage = open_storage(spec.storage)
    try:
        optuna.create_study(
            study_name=spec.name,
            storage=storage,
            direction="maximize" if spec.maximize else "minimize",
            load_if_exists=True,
        )
    except Exception as exc:
        url = resolve_storage(spec.storage)
        raise MedbenchError(f"cannot open the Optuna storage {url}: {exc}") from exc
    study = _study(spec)
    for key, value in spec.attrs.items():
        if study.user_attrs.get(key) != value:
            study.set_user_attr(key, value)
    started = time.time()
    resumed = None
    while True:
        died = fail_dead_trials(study)
        if died and on_dead is not None:
            on_dead([dict(t.user_attrs) for t in died])
        every = study.get_trials(deepcopy=False)
        done = sum(t.state in _DONE for t in every)
        if resumed is None:
            resumed = done
        if done >= trials:
            break
        _check_failures(spec.name, every, since=started, trials=trials)
        missing = trials - done - sum(t.state in _LIVE for t in every)
        if missing > 0:
            _queue(study, every, missing)
        if still_owner is not None and not still_owner():
            raise MedbenchError(f"study {spec.name}: this worker lost its claim on the cell.")
        if not _run_one(study, spec, objective):
            time.sleep(POLL_S)  # the remaining trials run in other workers
    return _summarise(study, maximize=spec.maximize, resumed=resumed or 0)


def help_study(spec: StudySpec, *, objective: Objective, on_dead: DeadTrials | None = None) -> bool:
    """Run one queued trial of a study another worker owns; False when none is queued."""
    try:
        study = _study(spec)
    except KeyError:  # not created yet
        return False
    died = fail_dead_trials(study)
    if died and on_dead is not None:
        on_dead([dict(t.user_attrs) for t in died])
    return _run_one(study, spec, objective)


def _study(spec: StudySpec, number: int = 0) -> optuna.Study:
    """The study with a sampler seeded for trial ``number`` (the same in every process)."""
    return optuna.load_study(
        study_name=spec.name,
        storage=open_storage(spec.storage),
        sampler=optuna.samplers.TPESampler(seed=spec.seed * 100_003 + number, constant_liar=True),
        pruner=_create_pruner(spec.pruner, spec.epochs),
    )


def _queue(study: optuna.Study, every: list[FrozenTrial], count: int) -> None:
    """Queue ``count`` trials: first again the trials whose owner died (same settings; each
    retry continues from the checkpoint of the first attempt), then fresh ones (settings
    sampled when they start)."""
    for trial in every:
        if count == 0:
            return
        if trial.state != TrialState.FAIL or "error" in trial.user_attrs:
            continue
        root = trial.user_attrs.get("retry_of", trial.number)
        if not any(t.user_attrs.get("retry_of") == root and t.number > trial.number for t in every):
            study.enqueue_trial(trial.params, user_attrs={"retry_of": root})
            count -= 1
    for _ in range(count):
        study.enqueue_trial({})


def _run_one(study: optuna.Study, spec: StudySpec, objective: Objective) -> bool:
    storage = study._storage
    for waiting in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        if claim_waiting(storage, waiting):
            break
    else:
        return False
    trial = optuna.Trial(_study(spec, waiting.number), waiting._trial_id)
    root = waiting.user_attrs.get("retry_of", waiting.number)
    with heartbeat(storage, waiting._trial_id):
        try:
            context = TrialContext(
                waiting.number, _suggest(trial, spec.space), f"{spec.name}/trial-{root}", trial
            )
            value, best_epoch = objective(context)
        except Pruned:
            trial.study.tell(trial, state=TrialState.PRUNED)
            return True
        except (KeyboardInterrupt, SystemExit):
            trial.study.tell(trial, state=TrialState.FAIL)  # queued again (same settings)
            raise
        except BaseException as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:1000])
            trial.study.tell(trial, state=TrialState.FAIL)
            if isinstance(exc, MedbenchError | MemoryError):
                raise
            return True
        trial.set_user_attr("best_epoch", best_epoch)
        trial.study.tell(trial, value)
    return True


def _check_failures(name: str, every: list[FrozenTrial], *, since: float, trials: int) -> None:
    """Stop a study whose trials keep raising (not those whose owner died)."""
    errors = [
        t
        for t in every
        if t.state == TrialState.FAIL
        and "error" in t.user_attrs
        and t.datetime_complete is not None
        and t.datetime_complete.timestamp() >= since
    ]
    if len(errors) >= max(3, trials):
        raise MedbenchError(
            f"study {name}: {len(errors)} trials failed, the last with "
            f"{errors[-1].user_attrs['error']}."
        )


def _suggest(trial: optuna.Trial, space: Mapping[str, ParamSpec]) -> dict[str, Any]:
    params = {}
    for name, spec in space.items():
        if spec.choices is not None:
            params[name] = trial.suggest_categorical(name, spec.choices)
        elif spec.is_int:
            low, high = spec.bounds
            params[name] = trial.suggest_int(
                name, int(low), int(high), step=int(spec.step or 1), log=spec.log
            )
        else:
            low, high = spec.bounds
            params[name] = trial.suggest_float(
                name, float(low), float(high), step=spec.step, log=spec.log
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


@dataclass(frozen=True)
class TrialEntry:
    """One trial of a cell's study as plain data (for ``medbench status``)."""

    number: int
    state: str
    attrs: dict[str, Any]
    epoch: int | None  # the last epoch it reported
    value: float | None  # the objective at that epoch


def study_trials(storage: str | None, name: str) -> list[TrialEntry]:
    """Every trial of study ``name`` (none when it does not exist yet)."""
    try:
        study = optuna.load_study(study_name=name, storage=open_storage(storage))
    except KeyError:
        return []
    return [
        TrialEntry(
            t.number,
            t.state.name,
            dict(t.user_attrs),
            t.last_step,
            t.intermediate_values.get(t.last_step) if t.last_step is not None else None,
        )
        for t in study.get_trials(deepcopy=False)
    ]


def _last(trial: FrozenTrial) -> float:
    step = trial.last_step  # None when it reported nothing
    return trial.intermediate_values[step] if step is not None else float("nan")
