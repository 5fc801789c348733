"""The command line through typer's CliRunner: exit codes and what users read."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from benchmark.cli import app
from tests.conftest import write_suite

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_suite_validate_show_schema(tiny_suite_file):
    result = invoke("suite", "validate", str(tiny_suite_file))
    assert result.exit_code == 0 and "is valid" in result.output and "1 cell." in result.output
    result = invoke("suite", "show", str(tiny_suite_file), "--set", "train.epochs=4")
    assert result.exit_code == 0 and "epochs: 4" in result.output
    assert "phantoms/test_resnet/finetune" in result.output
    result = invoke("suite", "schema")
    assert json.loads(result.output)["title"] == "Suite"


def test_typo_exits_1_naming_the_field_and_runs_nothing(tmp_path, tiny_suite, tracking_uri):
    tiny_suite["train"]["epocs"] = 3
    path = write_suite(tmp_path / "bad.yaml", tiny_suite)
    for command in (["suite", "validate"], ["run", "--tracking-uri", tracking_uri]):
        result = invoke(*command, str(path))
        assert result.exit_code == 1
        assert "train.epocs" in result.output and "epochs" in result.output
        assert "Traceback" not in result.output
    from mlflow import MlflowClient

    assert MlflowClient(tracking_uri).get_experiment_by_name("tiny") is None


def test_debug_shows_the_traceback(tmp_path, tiny_suite):
    tiny_suite["train"]["epocs"] = 3
    path = write_suite(tmp_path / "bad.yaml", tiny_suite)
    result = runner.invoke(app, ["--debug", "suite", "validate", str(path)])
    assert result.exit_code == 1 and type(result.exception).__name__ == "SuiteError"


def test_dry_run_lists_cells(tiny_suite_file, tracking_uri):
    result = invoke(
        "run", str(tiny_suite_file), "--dry-run", "--set", "backbones=[test_resnet, test_vit]"
    )
    assert result.exit_code == 0
    assert (
        "phantoms/test_resnet/finetune" in result.output
        and "phantoms/test_vit/finetune" in result.output
    )


def test_run_then_leaderboard_in_every_format(tiny_suite_file, tracking_uri, tmp_path):
    result = invoke("run", str(tiny_suite_file), "--tracking-uri", tracking_uri, "--devices", "cpu")
    assert result.exit_code == 0, result.output
    assert "1 finished, 0 skipped, 0 failed" in result.output
    again = invoke("run", str(tiny_suite_file), "--tracking-uri", tracking_uri)
    assert "0 finished, 1 skipped" in again.output

    table = invoke("leaderboard", "--tracking-uri", tracking_uri)  # the only suite
    assert table.exit_code == 0 and "test_resnet" in table.output and "accuracy" in table.output
    markdown = invoke(
        "leaderboard", str(tiny_suite_file), "--format", "markdown", "--tracking-uri", tracking_uri
    )
    assert markdown.output.startswith("| dataset")
    csv = invoke("leaderboard", "tiny", "--format", "csv", "--tracking-uri", tracking_uri)
    assert csv.output.splitlines()[1].startswith("phantoms,test_resnet,finetune,")
    out = tmp_path / "board.json"
    result = invoke(
        "leaderboard",
        "tiny",
        "--format",
        "json",
        "--output",
        str(out),
        "--tracking-uri",
        tracking_uri,
    )
    assert result.exit_code == 0 and json.loads(out.read_text())[0]["backbone"] == "test_resnet"


def test_leaderboard_errors_are_clear(tracking_uri):
    result = invoke("leaderboard", "nope", "--tracking-uri", tracking_uri)
    assert result.exit_code == 1 and "no MLflow experiment named 'nope'" in result.output
    result = invoke("leaderboard", "--tracking-uri", tracking_uri)
    assert result.exit_code == 1 and "run `medbench run SUITE` first" in result.output
    # A choice the command line does not offer is a usage error (exit 2), named with the choices
    for option, value, offered in (("--format", "xml", "'table', 'markdown'"),
                                   ("--table", "sumary", "'summary', 'classes'")):  # fmt: skip
        result = invoke("leaderboard", "x", option, value, "--tracking-uri", tracking_uri)
        said = " ".join(result.output.replace("│", " ").split())  # the box's lines joined
        assert result.exit_code == 2 and f"'{value}' is not one of {offered}" in said


def test_devices_that_are_not_here_are_named_before_anything_runs(tiny_suite_file, tracking_uri):
    result = invoke(
        "run", str(tiny_suite_file), "--devices", "cuda:0,cuda:1", "--tracking-uri", tracking_uri
    )
    assert result.exit_code == 1 and "['cuda:0', 'cuda:1'] not found" in result.output
    result = invoke("run", str(tiny_suite_file), "--devices", "gpu", "--tracking-uri", tracking_uri)
    assert result.exit_code == 1 and "expected auto, all, cpu" in result.output


def test_data_synth_and_list(tmp_path):
    result = invoke("data", "synth", str(tmp_path / "fake"), "--per-class", "3", "--size", "32")
    assert result.exit_code == 0 and "glioma 2" in result.output  # 2 train + 1 test per class
    assert len(list((tmp_path / "fake").rglob("*.jpg"))) == 12
    for what, expected in [
        ("layouts", "brain-tumor-mri"),
        ("strategies", "linear_probe"),
        ("preprocess", "resize"),
        ("corruptions", "gaussian_noise"),
    ]:
        result = invoke("list", what)
        assert result.exit_code == 0 and expected in result.output
    result = invoke("list", "backbones", "--pattern", "test_res*")
    assert "test_resnet" in result.output
    listing = invoke("list", "strategies").output  # each plugin with its options
    assert "temperature=0.07" in listing and "class_weights='auto'" in listing
    assert "samples=256" in invoke("list", "cams").output


@pytest.mark.parametrize("args", [["run"], ["list", "colours"], ["nope"]])
def test_usage_errors_exit_2(args):
    assert runner.invoke(app, args).exit_code == 2


def test_trials_and_storage_options(tiny_suite_file, tracking_uri, tmp_path):
    storage = f"sqlite:///{tmp_path}/studies.db"
    result = invoke(
        "run", str(tiny_suite_file), "--trials", "2", "--storage", storage,
        "--tracking-uri", tracking_uri, "--set", "train.epochs=1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "studies.db").is_file()
    board = invoke("leaderboard", "tiny", "--format", "csv", "--tracking-uri", tracking_uri)
    header, row = board.output.splitlines()[:2]
    assert header.endswith(",trials,pruned") and row.endswith(",2.0,0.0")
    result = invoke("list", "strategies")
    for name in ("finetune", "partial", "linear_probe", "cost_sensitive", "supcon", "scratch"):
        assert name in result.output
    args = [str(tiny_suite_file), "--storage", storage, "--tracking-uri", tracking_uri]
    status = invoke("status", *args, "--set", "tune.trials=2", "--set", "train.epochs=1")
    assert status.exit_code == 0, status.output
    assert "tiny: 1 finished" in status.output and "2/2" in status.output
    other = invoke("status", *args)  # other settings: another cell, never queued
    assert other.exit_code == 0 and "1 not queued" in other.output


def test_explain_writes_overlays_for_a_tracked_model(tiny_suite_file, tracking_uri, tmp_path):
    from mlflow import MlflowClient

    assert invoke("run", str(tiny_suite_file), "--tracking-uri", tracking_uri).exit_code == 0
    experiment = MlflowClient(tracking_uri).get_experiment_by_name("tiny")
    cells = MlflowClient(tracking_uri).search_runs(
        [experiment.experiment_id], "tags.`medbench.kind` = 'cell'"
    )
    run_id = cells[0].info.run_id
    invoke("data", "synth", str(tmp_path / "imgs"), "--per-class", "2", "--size", "40")
    (tmp_path / "imgs" / "Testing" / "glioma" / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "cams"
    result = invoke(
        "explain", run_id, str(tmp_path / "imgs" / "Testing"), "--output", str(out),
        "--stages", "--method", "gradcam++", "--tracking-uri", tracking_uri,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "broken.jpg: not an image" in result.output and "4 overlays" in result.output
    assert len(list(out.glob("*_gradcam++.png"))) == 4 and len(list(out.glob("*_stages.png"))) == 4
    lime = invoke(
        "explain", run_id, str(tmp_path / "imgs" / "Testing" / "glioma"), "--output", str(out),
        "--method", "lime", "--tracking-uri", tracking_uri,
    )  # fmt: skip
    assert lime.exit_code == 0, lime.output
    assert len(list(out.glob("*_lime.png"))) == 1  # the one glioma of the test split
    missing = tmp_path / "never"
    bad = invoke(
        "explain", "no-such-run", str(tmp_path / "imgs"), "--output", str(missing),
        "--tracking-uri", tracking_uri,
    )  # fmt: skip
    assert bad.exit_code == 1 and "'no-such-run' is not a model" in bad.output
    assert not missing.exists()  # nothing written for a failed command
    listing = invoke("list", "cams").output
    assert listing.count("slow") == 4 and listing.count("perturbation") == 3


def test_error_messages_print_as_written_even_with_brackets(tmp_path):
    """A message is text, not rich markup: ``a[/b]`` would crash the handler, ``list[int]``
    would lose its ``[int]``."""
    from benchmark.cli import _Group
    from benchmark.errors import MedbenchError

    @app.command("explode", hidden=True)
    def explode() -> None:
        raise MedbenchError("a[/b] expected list[int], got [bold]x[/bold]")

    try:
        result = runner.invoke(app, ["explode"])
    finally:
        app.registered_commands.pop()
    assert isinstance(app.info.cls, type) and issubclass(app.info.cls, _Group)
    assert result.exit_code == 1, result.output
    assert "a[/b] expected list[int], got [bold]x[/bold]" in result.output


def test_bad_image_is_a_medbench_error():
    from benchmark.data import BadImage
    from benchmark.errors import DataError, MedbenchError

    assert issubclass(BadImage, DataError) and issubclass(BadImage, MedbenchError)
