"""A cell's tuning: its study (the same in every worker that helps with it), the search
space its strategy has, and each trial, a nested MLflow run trained on train and scored on
val each epoch."""

from __future__ import annotations

from benchmark import track, tune
from benchmark.data import ImageSet
from benchmark.metrics import higher_is_better
from benchmark.runner._context import Context
from benchmark.runner._data import Dataset
from benchmark.runner._episodes import episode_train
from benchmark.runner._fit import fit_cell
from benchmark.strategies import get_strategy
from benchmark.suite import Cell, ParamSpec, TuneConfig, param_path

__all__ = [
    "cell_tags",
    "end_dead_runs",
    "study_name",
    "study_spec",
    "trial_objective",
    "tune_cell",
    "tuned_space",
]


def cell_tags(cell: Cell) -> dict[str, str]:
    """The tags of a cell's runs (its trials' too); a cell of the label-efficiency axis
    also has ``shots`` or ``fraction``."""
    tags = {
        track.TAG + "suite": cell.suite,
        track.TAG + "cell": cell.name,
        track.TAG + "dataset": cell.dataset,
        track.TAG + "backbone": cell.backbone.name,
        track.TAG + "strategy": cell.strategy,
        track.TAG + "task": cell.data.task.kind,
        track.TAG + "config_hash": cell.config_hash,
    }
    if cell.shots is not None:
        tags[track.TAG + "shots"] = str(cell.shots)
    if cell.fraction is not None:
        tags[track.TAG + "fraction"] = f"{cell.fraction:g}"
    return tags


def study_name(cell: Cell) -> str:
    return f"{cell.suite}.{cell.study_key}"


def study_spec(cell: Cell, context: Context, *, run_id: str | None = None) -> tune.StudySpec:
    """The cell's study, the same in every worker that runs its trials; its owner also
    records on it the cell and its MLflow run (``run_id``), for Optuna Dashboard."""
    tune_cfg = _tuning(cell)
    attrs = {}
    if run_id is not None:
        attrs = {k.removeprefix(track.TAG): v for k, v in cell_tags(cell).items()}
        attrs["mlflow_run_id"] = run_id
    return tune.StudySpec(
        name=study_name(cell),
        storage=context.storage,
        space=tuned_space(cell),
        maximize=bool(higher_is_better(cell.objective)),
        seed=cell.seed,
        pruner=tune_cfg.pruner,
        epochs=cell.train.epochs,
        attrs=attrs,
    )


def _tuning(cell: Cell) -> TuneConfig:
    """The settings of a tuned cell's study."""
    if cell.tune is None:
        raise ValueError(f"cell {cell.name} is not tuned")
    return cell.tune


def tuned_space(cell: Cell) -> dict[str, ParamSpec]:
    """The suite's search space for ``cell``: a strategy setting only where the cell's
    strategy has it (the default space's ``freeze`` is not tuned for a linear probe)."""
    options = get_strategy(cell.strategy_kind).Options.model_fields
    return {
        name: spec
        for name, spec in _tuning(cell).space.items()
        if (path := param_path(name))[0] != "strategy_config" or path[1] in options
    }


def tune_cell(
    cell: Cell,
    *,
    data: Dataset,
    images: ImageSet,
    run: track.RunLog,
    context: Context,
    claim: tune.CellClaim | None,
) -> tune.StudyResult:
    """Tune ``cell`` on train/val under its cell ``run`` (trials a worker left behind are
    adopted, an interrupted study resumes), while ``claim`` is still this worker's."""
    spec = study_spec(cell, context, run_id=run.run_id)
    context.store.adopt_trial_runs(context.experiment_id, study=spec.name, parent_run_id=run.run_id)
    if claim is not None:
        claim.note(study=spec.name)
    return tune.run_study(
        spec,
        trials=_tuning(cell).trials,
        objective=trial_objective(
            cell, data, images=images, context=context, parent_run_id=run.run_id
        ),
        on_dead=lambda dead: end_dead_runs(dead, context),
        still_owner=claim.held if claim is not None else None,
    )


def end_dead_runs(dead: list[dict], context: Context) -> None:
    """The MLflow runs of trials whose worker died end as FAILED (on any host)."""
    context.store.fail_runs([d["run_id"] for d in dead if "run_id" in d])


def trial_objective(
    cell: Cell, data: Dataset, *, images: ImageSet, context: Context, parent_run_id: str
):
    """One trial of ``cell``: a nested MLflow run under the cell's run, trained on train
    (a cell of the label-efficiency axis: its first episode's draw), scored on val each
    epoch (the pruner may stop it), checkpointed per epoch."""
    study, tuning = study_name(cell), _tuning(cell)
    train_indices = episode_train(cell, data)

    def objective(trial: tune.TrialContext) -> tuple[float, int]:
        trial_cell = cell.with_params(trial.params)
        context.reporter.phase(
            f"trial {trial.number + 1} of {tuning.trials}", trial_cell.train.epochs
        )
        tags = {
            **cell_tags(cell),
            track.TAG + "trial": str(trial.number),
            track.TAG + "study": study,
        }
        pruned = None
        with context.store.start_run(
            context.experiment_id,
            name=f"{cell.name}/trial-{trial.number}",
            kind="trial",
            tags=tags,
            parent_run_id=parent_run_id,
            system_metrics=True,
        ) as trial_run:
            trial.note(run_id=trial_run.run_id)
            trial_run.log_params(trial.params)

            def on_epoch(epoch: int, row: dict[str, float]) -> None:
                trial_run.log_metrics(row, step=epoch)
                context.reporter.epoch_done(epoch, row)
                trial.report(epoch, row[cell.objective])

            checkpoint = context.checkpoint(*trial.key.split("/"))
            try:
                history = fit_cell(
                    trial_cell,
                    data,
                    images=images,
                    context=context,
                    seed=cell.seed,
                    on_epoch=on_epoch,
                    checkpoint=checkpoint,
                    train_indices=train_indices,
                ).history
            except tune.Pruned as exc:
                pruned = exc
                trial_run.set_tags({track.TAG + "trial_state": "PRUNED"})
            except (KeyboardInterrupt, SystemExit):
                trial_run.set_tags({track.TAG + "trial_state": "FAIL"})
                raise  # the checkpoint stays: the trial is retried from it
            except BaseException:
                trial_run.set_tags({track.TAG + "trial_state": "FAIL"})
                context.remove_checkpoint(checkpoint)
                raise
            else:
                trial_run.set_tags({track.TAG + "trial_state": "COMPLETE"})
                trial_run.log_metrics(
                    {"trial/value": history.best_score, "trial/best_epoch": history.best_epoch}
                )
            context.remove_checkpoint(checkpoint)
        if pruned is not None:
            raise pruned
        return history.best_score, history.best_epoch

    return objective
