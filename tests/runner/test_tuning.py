"""Tuning inside a suite run: nested trials, best settings, seeds, refit, a locked test split."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from benchmark import track
from benchmark.checks import load_checked_suite
from benchmark.data import write_synthetic
from benchmark.runner import run_suite

TUNE = "tune={trials: 3, pruner: {kind: median, startup_trials: 1, warmup_epochs: 0}}"


def _runs(client, kind: str) -> list:
    experiment = client.get_experiment_by_name("tiny")
    return client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`medbench.kind` = '{kind}'"
    )


def test_each_cell_nests_its_trials_and_records_the_best_settings(
    tiny_suite_file, tracking_uri, tmp_path
):
    suite = load_checked_suite(
        tiny_suite_file,
        overrides=[
            TUNE,
            "train.epochs=3",
            "strategies={finetune: {}, probe: {kind: linear_probe}}",
        ],
    )
    outcomes = run_suite(
        suite, tracking_uri=tracking_uri, storage=f"sqlite:///{tmp_path}/optuna.db"
    )
    assert [o.status for o in outcomes] == ["finished", "finished"]
    client = MlflowClient(tracking_uri)
    cells = {r.info.run_name: r for r in _runs(client, "cell")}
    trials = _runs(client, "trial")
    assert len(trials) == 6
    for name, cell in cells.items():
        mine = [t for t in trials if t.data.tags["mlflow.parentRunId"] == cell.info.run_id]
        assert len(mine) == 3
        assert {t.data.tags["medbench.trial_state"] for t in mine} <= {"COMPLETE", "PRUNED"}
        assert sorted(t.data.tags["medbench.trial"] for t in mine) == ["0", "1", "2"]
        m = cell.data.metrics
        assert m["tune/trials"] == m["tune/trials_complete"] + m["tune/trials_pruned"] == 3
        assert "test/accuracy" in m and "best.lr" in cell.data.params
        assert ("best.freeze" in cell.data.params) == name.endswith(
            "finetune"
        )  # probes do not freeze
        done = [t for t in mine if t.data.tags["medbench.trial_state"] == "COMPLETE"]
        top = max(t.data.metrics["trial/value"] for t in done)
        assert m["tune/best_value"] == pytest.approx(top)
        best = [t for t in done if t.data.metrics["trial/value"] == top]  # ties are possible
        assert cell.data.params["best.lr"] in {t.data.params["lr"] for t in best}
        history = client.get_metric_history(best[0].info.run_id, "val/f1_weighted")
        assert len(history) >= 1 and history[0].step == 1


def test_seeds_give_mean_and_standard_deviation(tiny_suite_file, tracking_uri):
    suite = load_checked_suite(tiny_suite_file, overrides=["seeds=[1, 2]", "train.epochs=1"])
    outcome = run_suite(suite, tracking_uri=tracking_uri)[0]
    metrics = outcome.metrics
    per_seed = [metrics["seed_1/test/accuracy"], metrics["seed_2/test/accuracy"]]
    assert metrics["test/accuracy"] == pytest.approx(np.mean(per_seed))
    assert metrics["test/accuracy_std"] == pytest.approx(np.std(per_seed, ddof=1))
    assert metrics["seeds"] == 2
    # every seed's test predictions are kept: the first's under the name they always had
    store = track.connect(tracking_uri)
    files = store.artifact_files(outcome.run_id, "eval")
    assert {"eval/predictions.csv", "eval/seed_2/predictions.csv"} <= set(files)
    for seed, path in ((1, "eval/predictions.csv"), (2, "eval/seed_2/predictions.csv")):
        table = pd.read_csv(io.StringIO(store.artifact_text(outcome.run_id, path)), dtype=str)
        correct = (table["true"] == table["pred"]).mean()
        assert correct == pytest.approx(metrics[f"seed_{seed}/test/accuracy"])


def test_refit_on_train_and_val_uses_the_tuned_epoch_count(tiny_suite_file, tracking_uri, tmp_path):
    suite = load_checked_suite(
        tiny_suite_file,
        overrides=["tune={trials: 2, refit: train+val, pruner: {kind: none}}", "train.epochs=3"],
    )
    outcome = run_suite(suite, tracking_uri=tracking_uri, storage=f"sqlite:///{tmp_path}/o.db")[0]
    client = MlflowClient(tracking_uri)
    trials = _runs(client, "trial")
    best = next(
        t
        for t in trials
        if t.data.tags["medbench.trial"] == str(int(outcome.metrics["tune/best_trial"]))
    )
    assert outcome.metrics["train/epochs_run"] == best.data.metrics["trial/best_epoch"]


def _poison_testing(root):
    """Testing images replaced by noise and moved to the wrong class folders."""
    rng = np.random.default_rng(0)
    import cv2

    classes = sorted(p.name for p in (root / "Testing").iterdir())
    originals = {label: sorted((root / "Testing" / label).glob("*")) for label in classes}
    for k, label in enumerate(classes):
        wrong = root / "Testing" / classes[(k + 1) % len(classes)]
        for path in originals[label]:
            if not path.stem.endswith("_mask"):
                noise = rng.integers(0, 255, (48, 48), dtype=np.uint8)
                cv2.imwrite(str(wrong / f"poison_{path.name}"), noise)
            path.unlink()


@pytest.mark.slow
def test_a_poisoned_test_split_changes_nothing_before_the_test(
    tiny_suite, tmp_path, _migrated_store
):
    clean = tmp_path / "clean"
    write_synthetic(clean, per_class=20, size=48, seed=3, difficulty=0.2)
    poisoned = tmp_path / "poisoned"
    shutil.copytree(clean, poisoned)
    _poison_testing(poisoned)
    results = {}
    for name, root in (("clean", clean), ("poisoned", poisoned)):
        db = tmp_path / f"store-{name}" / "mlflow.db"
        db.parent.mkdir()
        shutil.copy(_migrated_store, db)
        suite = load_checked_suite(
            _write(tmp_path / f"{name}.yaml", tiny_suite),
            overrides=[
                f"datasets={{mri: {{layout: brain-tumor-mri, root: {root}}}}}",
                "tune={trials: 2, pruner: {kind: none}}",
                "train.epochs=2",
            ],
        )
        outcome = run_suite(
            suite, tracking_uri=f"sqlite:///{db}", storage=f"sqlite:///{db.parent}/o.db"
        )[0]
        client = MlflowClient(f"sqlite:///{db}")
        trials = sorted(_runs(client, "trial"), key=lambda t: t.data.tags["medbench.trial"])
        curves = [
            [m.value for m in client.get_metric_history(t.info.run_id, "val/loss")] for t in trials
        ]
        results[name] = (outcome.metrics, curves, [t.data.params for t in trials])
    clean_m, clean_curves, clean_params = results["clean"]
    poison_m, poison_curves, poison_params = results["poisoned"]
    assert clean_params == poison_params  # the same trials were sampled
    assert clean_curves == poison_curves  # identical validation, epoch by epoch
    assert clean_m["tune/best_value"] == poison_m["tune/best_value"]
    assert clean_m["test/ece"] != poison_m["test/ece"]  # only the test scores moved


def _write(path, suite):
    from tests.conftest import write_suite

    return write_suite(path, suite)


def test_every_strategy_runs_end_to_end_as_the_papers_configure_them(tiny_suite_file, tracking_uri):
    strategies = (
        "strategies={finetune: {freeze: 0.5}, "
        "cost_sensitive: {class_weights: {glioma: 2.0}}, "
        "contrastive: {kind: supcon, temperature: 0.1, projection_dim: 16, encoder_epochs: 1}, "
        "partial: {freeze: {stages: 2}, bn_trainable: true}, "
        "lastlayers: {kind: partial, freeze: {trainable_last: 4}}, "
        "probe: {kind: linear_probe}, scratch: {}}"
    )
    suite = load_checked_suite(
        tiny_suite_file,
        overrides=[
            strategies,
            "train.epochs=1",
            "train.augment={hflip: true}",
            "head={kind: mlp, hidden: [16, 8]}",
        ],
    )
    outcomes = run_suite(suite, tracking_uri=tracking_uri)
    assert {o.cell.strategy: o.status for o in outcomes} == {
        name: "finished"
        for name in (
            "finetune",
            "cost_sensitive",
            "contrastive",
            "partial",
            "lastlayers",
            "probe",
            "scratch",
        )
    }, [o.error for o in outcomes if o.error]
    trainable = {o.cell.strategy: o.metrics["params/trainable"] for o in outcomes}
    total = outcomes[0].metrics["params/total"]
    assert trainable["probe"] == trainable["contrastive"] == outcomes[0].metrics["params/head"]
    assert trainable["scratch"] == trainable["cost_sensitive"] == total  # nothing frozen
    assert trainable["probe"] < trainable["lastlayers"] < trainable["finetune"] < total


def test_a_strategy_setting_is_tuned_only_where_the_strategy_has_it(tiny_suite_file):
    from benchmark.runner._study import tuned_space
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
