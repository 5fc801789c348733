"""The README's YAML examples are valid suite settings."""

from __future__ import annotations

import re

import yaml

from benchmark.checks import load_checked_suite
from benchmark.suite import expand_cells
from tests.conftest import ROOT, write_suite

README = ROOT / "README.md"


def test_readme_yaml_examples_validate(tmp_path, tiny_suite):
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2
    suite = dict(tiny_suite)
    for k, block in enumerate(blocks):
        settings = yaml.safe_load(block)
        alone = {
            **tiny_suite,
            **settings,
            "train": {**tiny_suite["train"], **settings.get("train", {})},
        }
        load_checked_suite(write_suite(tmp_path / f"block{k}.yaml", alone))  # each block on its own
        for key, value in settings.items():
            suite[key] = {**suite.get(key, {}), **value} if key == "train" else value
    cells = expand_cells(load_checked_suite(write_suite(tmp_path / "readme.yaml", suite)))
    assert {c.strategy for c in cells} >= {"finetune", "probe", "contrastive", "scratch"}
    assert cells[0].tune is not None and cells[0].seeds == [0, 1, 2]


def test_ci_runs_the_readme_test_command_with_versions_the_package_accepts():
    import tomllib
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    root = README.parent
    commands = re.findall(r"```bash\n(python3 -m venv .*?)\n```", README.read_text())
    main, tests = commands[:2]
    assert "medbench run suites/quickstart.yaml" in main and "pytest" in tests
    assert tests in (root / ".ci" / "run").read_text()  # CI runs exactly the README's command
    assert all("-c .ci/constraints.txt" in command for command in (main, tests))
    pins = {}
    for line in (root / ".ci" / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    for requirement in map(Requirement, wanted):
        if requirement.name == "medbench":
            continue
        version = pins.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is not in .ci/constraints.txt"
        assert requirement.specifier.contains(version), (str(requirement), version)
