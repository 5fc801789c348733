"""The README's YAML examples are valid suite settings."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from benchmark.suite import expand_cells, load_suite
from tests.conftest import write_suite

README = Path(__file__).resolve().parents[1] / "README.md"


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
        load_suite(write_suite(tmp_path / f"block{k}.yaml", alone))  # each block on its own
        for key, value in settings.items():
            suite[key] = {**suite.get(key, {}), **value} if key == "train" else value
    cells = expand_cells(load_suite(write_suite(tmp_path / "readme.yaml", suite)))
    assert {c.strategy for c in cells} >= {"finetune", "probe", "contrastive", "scratch"}
    assert cells[0].tune is not None and cells[0].seeds == [0, 1, 2]
