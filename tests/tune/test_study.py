"""Tuning on its own: search space, seeded sampling, pruning, resuming a study."""

from __future__ import annotations

from benchmark import tune
from benchmark.suite import ParamSpec, PrunerConfig

SPACE = {
    "lr": ParamSpec(low=1e-4, high=1e-1, log=True),
    "batch_size": ParamSpec(choices=[8, 16]),
    "epochs": ParamSpec(low=2, high=5),
}


def _spec(storage, *, pruner="none", name="s") -> tune.StudySpec:
    return tune.StudySpec(
        name=name,
        storage=storage,
        space=SPACE,
        maximize=True,
        seed=3,
        pruner=PrunerConfig(kind=pruner, startup_trials=1, warmup_epochs=0),
        epochs=5,
    )


def _study(storage, objective, *, trials=5, pruner="none", name="s"):
    return tune.run_study(
        _spec(storage, pruner=pruner, name=name), trials=trials, objective=objective
    )


def test_space_types_and_seeded_sampling(tmp_path):
    seen = []

    def objective(trial):
        seen.append(trial.params)
        return -abs(trial.params["lr"] - 0.01), 1

    result = _study(f"sqlite:///{tmp_path}/a.db", objective)
    assert result.complete == 5 and result.pruned == result.failed == result.resumed == 0
    assert all(isinstance(p["epochs"], int) and 2 <= p["epochs"] <= 5 for p in seen)
    assert all(p["batch_size"] in (8, 16) and 1e-4 <= p["lr"] <= 1e-1 for p in seen)
    again = []
    _study(f"sqlite:///{tmp_path}/b.db", lambda t: (again.append(t.params) or 0.0, 1))
    assert again == seen  # same seed, same samples
    assert result.best_params == max(seen, key=lambda p: -abs(p["lr"] - 0.01))


def test_pruning_stops_poor_trials(tmp_path):
    def objective(trial):
        quality = trial.number % 2  # every other trial is poor
        for epoch in range(1, 6):
            trial.report(epoch, quality * epoch)
        return float(quality * 5), 5

    result = _study(f"sqlite:///{tmp_path}/p.db", objective, trials=6, pruner="median")
    assert result.pruned >= 2 and result.complete + result.pruned == 6
    assert result.best_value == 5.0


def test_resume_keeps_finished_trials_and_fails_dead_ones(tmp_path):
    import optuna

    storage = f"sqlite:///{tmp_path}/r.db"
    calls = []
    _study(storage, lambda t: (calls.append(t.number) or 1.0, 1), trials=2)
    study = optuna.load_study(study_name="s", storage=storage)
    dead = study.ask()  # a trial left RUNNING by a process that died
    dead.set_user_attr("pid", "999999999")
    import socket

    dead.set_user_attr("host", socket.gethostname())
    result = _study(storage, lambda t: (calls.append(t.number) or 1.0, 1), trials=4)
    assert result.resumed == 2 and result.complete == 4 and result.failed == 1
    assert calls == [0, 1, 3, 4]  # nothing finished is redone
    states = [t.state.name for t in optuna.load_study(study_name="s", storage=storage).trials]
    assert states == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]


def test_a_failing_trial_is_recorded_and_tuning_goes_on(tmp_path):
    def objective(trial):
        if trial.number == 0:
            raise RuntimeError("nan loss")
        return 1.0, 1

    result = _study(f"sqlite:///{tmp_path}/f.db", objective, trials=2)
    assert result.failed == 1 and result.complete == 2
