"""docker/: no Docker engine runs here, so the files are checked statically: what they copy
exists, the image runs as a user, and every medbench and mlflow command and flag in them
is one the installed CLIs accept."""

from __future__ import annotations

import re

import pytest
import typer
import yaml

from tests.conftest import ROOT

DOCKER = ROOT / "docker"


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", (DOCKER / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return [tuple(line.split(None, 1)) for line in lines if not line.startswith("#")]


def test_the_image_is_cuda_installs_the_tested_versions_and_runs_as_a_user():
    steps = _instructions()
    assert steps[0][0] == "FROM" and "nvidia/cuda" in steps[0][1]
    for kind, args in steps:
        if kind == "COPY":
            *sources, _ = args.split()
            assert all((ROOT / s).exists() for s in sources), args
    run = " ".join(args for kind, args in steps if kind == "RUN")
    assert '".[postgres]" -c .ci/constraints.txt' in run
    users = [args for kind, args in steps if kind == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert ("ENTRYPOINT", '["medbench"]') in steps


def _parse(command, args: list[str], where: str) -> None:
    """Parse ``args`` as the CLI would (click, or Typer's own copy of it): unknown commands,
    flags and choices fail."""
    try:
        command.make_context(command.name or "medbench", list(args))
    except Exception as exc:
        if type(exc).__name__ != "Exit":
            pytest.fail(f"{where}: {' '.join(args)}: {type(exc).__name__}: {exc}")


def test_every_command_and_flag_in_the_compose_file_exists():
    from mlflow.cli import cli as mlflow_cli

    from benchmark.cli import app

    compose = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "mlflow", "worker"} <= set(services)
    medbench = typer.main.get_command(app)
    worker = services["worker"]["command"]
    assert worker[0] == "worker"
    _parse(medbench.commands["worker"], worker[1:], "worker")
    server = services["mlflow"]["command"]
    assert services["mlflow"]["entrypoint"] == ["mlflow"] and server[0] == "server"
    _parse(mlflow_cli.commands["server"], server[1:], "mlflow")
    assert server[server.index("--app-name") + 1] == "basic-auth"
    gpus = services["worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpus["driver"] == "nvidia" and "gpu" in gpus["capabilities"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DOCKER / source).exists(), (name, volume)
    assert set(compose["volumes"]) >= {"postgres", "mlflow"}
    ini = (DOCKER / "basic_auth.ini").read_text()
    assert "database_uri" in ini and "admin_username" in ini
