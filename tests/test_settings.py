"""Settings: every variable declared once, checked when a command starts, refused in one line;
``medbench config`` says where each value came from; folders checked before work."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.settings import Settings, cache_home, describe_settings, settings, variable
from tests.conftest import ROOT

runner = CliRunner()
QUICKSTART = str(ROOT / "suites" / "quickstart.yaml")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("MEDBENCH_MAX_PIXELS", "abc", "a whole number of pixels"),
        ("MEDBENCH_HEARTBEAT_S", "-1", "a whole number of seconds, 1 or more"),
        ("MEDBENCH_DATA_ON_DEVICE", "xyz", "auto, off or a number of GiB"),
        ("MEDBENCH_SYSTEM_METRICS", "0", "more than 0"),
        ("MEDBENCH_SYSTEM_METRICS", "false", "or off"),
        ("MEDBENCH_CACHE", "none", "or off"),
        ("MEDBENCH_CHECKPOINTS", "0", "or off"),
    ],
)
def test_a_bad_value_is_refused_in_one_line_naming_its_variable(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["suite", "validate", QUICKSTART])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {name}={value!r}: expected")
    assert expected in lines[0] and "Traceback" not in result.output


def test_every_bad_value_is_named_at_once(monkeypatch):
    monkeypatch.setenv("MEDBENCH_MAX_PIXELS", "abc")
    monkeypatch.setenv("MEDBENCH_HEARTBEAT_S", "0")
    result = runner.invoke(app, ["list", "strategies"])
    assert result.exit_code == 1
    assert "MEDBENCH_MAX_PIXELS='abc'" in result.output
    assert "MEDBENCH_HEARTBEAT_S='0'" in result.output


def test_off_is_one_word_in_any_case_and_an_empty_variable_is_unset(monkeypatch):
    monkeypatch.setenv("MEDBENCH_CACHE", "OFF")
    monkeypatch.setenv("MEDBENCH_SYSTEM_METRICS", "Off")
    monkeypatch.setenv("MEDBENCH_STORAGE", "")
    current = settings()
    assert current.cache == "off" and current.system_metrics == "off"
    assert current.storage is None and cache_home() is None


def test_settings_are_read_again_when_a_variable_changes(monkeypatch):
    monkeypatch.setenv("MEDBENCH_HEARTBEAT_S", "7")
    assert settings().heartbeat_s == 7
    monkeypatch.setenv("MEDBENCH_HEARTBEAT_S", "9")
    assert settings().heartbeat_s == 9


def test_config_says_where_each_value_came_from(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDBENCH_HEARTBEAT_S", "12")
    monkeypatch.delenv("MEDBENCH_STORAGE", raising=False)
    journal = str(tmp_path / "studies.journal")
    result = runner.invoke(app, ["config", "--storage", journal, "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {row["variable"]: row for row in json.loads(result.output)}
    assert set(rows) == {variable(name) for name in Settings.model_fields}
    assert rows["MEDBENCH_HEARTBEAT_S"] | {"meaning": ""} == {
        "variable": "MEDBENCH_HEARTBEAT_S", "value": "12", "source": "environment", "meaning": ""
    }  # fmt: skip
    assert (rows["MEDBENCH_STORAGE"]["value"], rows["MEDBENCH_STORAGE"]["source"]) == (
        journal,
        "flag",
    )
    assert rows["MEDBENCH_MAX_PIXELS"]["source"] == "default"
    assert rows["MLFLOW_TRACKING_URI"]["value"].endswith("mlruns/mlflow.db")  # derived default


def test_config_never_shows_the_apps_token(monkeypatch):
    monkeypatch.setenv("MEDBENCH_APP_TOKEN", "tk-secret-value")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 0 and "tk-secret-value" not in result.output
    token = next(row for row in describe_settings() if row["variable"] == "MEDBENCH_APP_TOKEN")
    assert token["value"] == "(set)" and token["source"] == "environment"


def test_the_readme_lists_every_variable_with_its_meaning():
    """The README's table of variables is the declaration, word for word."""
    text = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| `([A-Z_]+)` \| (.+?) \|$", text, flags=re.MULTILINE))
    declared = {variable(name): field.description for name, field in Settings.model_fields.items()}
    assert rows == declared


def test_an_unwritable_cache_is_skipped_with_one_warning(monkeypatch, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("MEDBENCH_CACHE", str(blocker / "cache"))
    assert cache_home() is None
    assert cache_home() is None
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "MEDBENCH_CACHE" in err and "without a cache" in err


def test_an_unwritable_output_folder_is_refused_before_any_work(tmp_path, tracking_uri):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = runner.invoke(
        app, ["report", "--output", str(blocker / "report"), "--tracking-uri", tracking_uri]
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: the report folder (--output)")
    assert len(result.output.strip().splitlines()) == 1


def test_an_unwritable_checkpoint_folder_fails_the_run_before_any_run_is_created(
    monkeypatch, tmp_path, tiny_suite_file, tracking_uri
):
    from benchmark import track

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("MEDBENCH_CHECKPOINTS", str(blocker / "checkpoints"))
    storage = str(tmp_path / "optuna.journal")
    result = runner.invoke(
        app,
        ["run", str(tiny_suite_file), "--tracking-uri", tracking_uri, "--storage", storage],
    )
    assert result.exit_code == 1
    assert "MEDBENCH_CHECKPOINTS" in result.output and "checkpoints" in result.output
    assert "Traceback" not in result.output
    assert track.connect(tracking_uri).experiment_id("tiny") is None


def test_checking_a_folder_leaves_nothing_behind_when_asked(tmp_path):
    from benchmark.settings import writable_folder

    target = tmp_path / "a" / "b" / "c"
    assert writable_folder(target, what="the output", keep=False) == target
    assert list(tmp_path.iterdir()) == []
    writable_folder(target, what="the output")
    assert target.is_dir()


def test_a_file_in_the_way_of_a_folder_is_named_without_creating_anything(tmp_path):
    from benchmark.errors import MedbenchError
    from benchmark.settings import writable_folder

    (tmp_path / "mlruns").write_text("not a folder")
    with pytest.raises(MedbenchError, match=r"the output .*mlruns/a cannot be written \(Not a"):
        writable_folder(tmp_path / "mlruns" / "a", what="the output", keep=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlruns"]


def test_commands_checking_and_creating_one_folder_at_once_never_fail_each_other(tmp_path):
    """Two runs started together check the same folders while one of them creates them: a
    check creates nothing, so it cannot remove a folder from under the other."""
    from concurrent.futures import ThreadPoolExecutor

    from benchmark.settings import writable_folder

    def check(i: int) -> None:
        folder = tmp_path / f"try{i // 4}" / "mlruns"
        writable_folder(folder, what="the store", keep=i % 4 == 3)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(check, range(2000)))
    assert all((tmp_path / f"try{i}" / "mlruns").is_dir() for i in range(500))
