"""Dependencies point one way: the suite's schema is a leaf, and the read-only commands import
neither torch nor optuna (each runs in a fresh interpreter, where nothing is loaded yet)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, SMALL

HEAVY = ("torch", "timm", "optuna", "pytorch_grad_cam", "sklearn", "mlflow.pytorch")

_PROBE = (
    f"HEAVY = {HEAVY!r}\n"
    + """
import json, sys
from benchmark.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({"code": code, "loaded": [m for m in HEAVY if m in sys.modules]}))
"""
)


def _probe(*args: str, env_cache: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "MEDBENCH_CACHE": env_cache, "HF_HUB_OFFLINE": "1",
             "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_suite_schema_imports_no_implementation():
    code = (
        "import sys, benchmark.suite\n"
        "print([m for m in sys.modules if m.startswith(('benchmark.data', 'benchmark.models', "
        "'benchmark.explain', 'benchmark.strategies', 'benchmark.train', 'torch', 'optuna'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.fixture(scope="module")
def names_cache(tmp_path_factory) -> str:
    """A cache folder that knows timm's names (listed once, by the first command that needs
    them), as a user's does after their first run."""
    folder = tmp_path_factory.mktemp("names-cache")
    from benchmark.models import _names

    (folder / f"timm-{_names.version('timm')}.txt").write_text("\n".join(_names._model_names()))
    return str(folder)


@pytest.mark.parametrize(
    "args",
    [
        ("suite", "validate", "suites/quickstart.yaml"),
        ("suite", "validate", "suites/cervical_sipakmed.yaml"),
        ("data", "fetch", "--list"),
        ("list", "strategies"),
        ("list", "layouts"),
        ("list", "preprocess"),
        ("list", "cams"),
        ("list", "metrics"),
        ("list", "corruptions"),
        ("list", "backbones", "--pattern", "resnet1*"),
        ("data", "cache"),
    ],
)
def test_read_only_commands_import_neither_torch_nor_optuna(args, names_cache):
    out = _probe(*args, env_cache=names_cache)
    assert out == {"code": 0, "loaded": []}


def test_leaderboard_and_promote_dry_run_stay_light(small_uri, small_suite_file, names_cache):
    for args in (
        ("leaderboard", SMALL, "--tracking-uri", small_uri),
        ("leaderboard", str(small_suite_file), "--table", "cost", "--tracking-uri", small_uri),
        ("promote", SMALL, "--dry-run", "--tracking-uri", small_uri),
    ):
        assert _probe(*args, env_cache=names_cache) == {"code": 0, "loaded": []}, args


def test_data_audit_imports_neither_torch_nor_optuna(tmp_path, names_cache):
    from benchmark.data import write_synthetic

    write_synthetic(tmp_path / "bt", per_class=8, size=32)
    out = _probe("data", "audit", str(tmp_path / "bt"), "--layout", "brain-tumor-mri",
                 env_cache=names_cache)  # fmt: skip
    assert out["code"] == 0 and not {"torch", "timm", "optuna"} & set(out["loaded"])


def test_hub_and_folder_backbones_validate_without_torch_or_the_network(
    tmp_path, tiny_suite, names_cache
):
    from tests.conftest import write_suite
    from tests.models._sources import write_timm_folder

    write_timm_folder(tmp_path / "vit", weights=False)
    tiny_suite["backbones"] = [
        {"name": "hf-hub:MahmoodLab/UNI", "kwargs": {"init_values": 1.0e-5}},
        "local-dir:vit",
    ]
    suite = write_suite(tmp_path / "hub.yaml", tiny_suite)
    assert _probe("suite", "validate", str(suite), env_cache=names_cache) == {
        "code": 0,
        "loaded": [],
    }
