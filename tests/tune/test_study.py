"""Tuning on its own: search space, seeded sampling, pruning, resuming a study."""

from __future__ import annotations

import pytest

from benchmark import tune
from benchmark.checks import load_checked_suite
from benchmark.errors import SuiteError
from benchmark.suite import ParamSpec, PrunerConfig, param_path
from tests.conftest import write_suite

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


def test_param_paths_and_suite_validation(tmp_path, tiny_suite):
    assert param_path("lr") == ("train", "lr")
    assert param_path("freeze") == ("strategy_config", "freeze")
    assert param_path("temperature") == ("strategy_config", "temperature")
    assert param_path("train.augment.rotate") == ("train", "augment", "rotate")
    assert param_path("strategy.projection_dim") == ("strategy_config", "projection_dim")
    tiny_suite["tune"] = {"trials": 2, "space": {"lrr": {"low": 0.1, "high": 1}}}
    with pytest.raises(SuiteError, match=r"cannot tune 'lrr'.*Did you mean 'lr'"):
        load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite))
    tiny_suite["tune"]["space"] = {"lr": {"low": 1, "high": 0.1}}
    with pytest.raises(SuiteError, match="`low <= high` must hold"):
        load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite))
    tiny_suite["tune"]["space"] = {"train.augment.spin": {"choices": [1]}}
    with pytest.raises(SuiteError, match=r"train\.augment has no setting 'spin'"):
        load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite))


def test_strategy_settings_belong_to_their_strategy(tmp_path, tiny_suite):
    tiny_suite["strategies"] = {"finetune": {"temperature": 0.1}}
    with pytest.raises(SuiteError, match="temperature is a setting of the supcon strategy"):
        load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite))


def test_a_tuned_strategy_setting_is_one_a_strategy_of_the_suite_has(tmp_path, tiny_suite):
    assert param_path("temperature") == ("strategy_config", "temperature")  # no registry here
    with pytest.raises(ValueError, match="cannot tune 'kind'"):
        param_path("kind")
    tiny_suite["tune"] = {"trials": 2, "space": {"temperatur": {"low": 0.05, "high": 0.5}}}
    with pytest.raises(SuiteError) as info:
        load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite))
    assert "no strategy of this suite has a setting 'temperatur'" in str(info.value)
    assert "Did you mean 'temperature'?" not in str(info.value)  # finetune alone has none
    tiny_suite["strategies"] = {"finetune": {}, "supcon": {}}
    tiny_suite["tune"]["space"] = {"temperatur": {"low": 0.05, "high": 0.5}}
    with pytest.raises(SuiteError, match=r"Did you mean 'temperature'\?"):
        load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite))
    tiny_suite["tune"]["space"] = {"temperature": {"low": 0.05, "high": 0.5}, "freeze": {
        "choices": [0.0, 0.5]}, "strategy.projection_dim": {"choices": [16, 32]}}  # fmt: skip
    assert load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite)).tune is not None


def test_a_strategy_setting_is_tuned_only_where_the_strategy_has_it(tiny_suite_file):
    from benchmark.runner._cell import tuned_space
    from benchmark.suite import expand_cells

    kinds = ["finetune", "partial", "cost_sensitive", "linear_probe", "scratch", "supcon"]
    strategies = "strategies={" + ", ".join(f"{k}: {{}}" for k in kinds) + "}"
    space = "tune.space={lr: {low: 0.001, high: 0.1}, freeze: {choices: [0.0, 0.5]}, " \
        "temperature: {low: 0.05, high: 0.5}}"  # fmt: skip
    suite = load_checked_suite(tiny_suite_file, overrides=["tune.trials=2", strategies, space])
    tuned = {c.strategy: set(tuned_space(c)) for c in expand_cells(suite)}
    assert tuned == {
        "finetune": {"lr", "freeze"},
        "partial": {"lr", "freeze"},
        "cost_sensitive": {"lr", "freeze"},
        "linear_probe": {"lr"},
        "scratch": {"lr"},
        "supcon": {"lr", "freeze", "temperature"},  # its first stage freezes as configured
    }
    cell = next(c for c in expand_cells(suite) if c.strategy == "supcon")
    tried = cell.with_params({"freeze": 0.5, "temperature": 0.2})  # without the registries
    assert tried.strategy_config.options["temperature"] == 0.2
    assert tried.strategy_config.options["freeze"] == 0.5 and tried.config_hash != cell.config_hash


def test_trials_override_extends_the_same_study(tiny_suite_file):
    from benchmark.suite import expand_cells

    four = expand_cells(load_checked_suite(tiny_suite_file, overrides=["tune.trials=4"]))[0]
    eight = expand_cells(load_checked_suite(tiny_suite_file, overrides=["tune.trials=8"]))[0]
    assert four.config_hash != eight.config_hash and four.study_key == eight.study_key
    assert four.tune.space.keys() == {"lr", "dropout", "freeze"}  # defaults
