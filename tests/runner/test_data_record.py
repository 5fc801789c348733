"""What a cell run records about its data: the licence and commercial use as tags, and the
same facts (with the fetched tree's digest) in the logged dataset's source."""

from __future__ import annotations

import json

from benchmark.checks import load_checked_suite
from benchmark.data.fetch import PROVENANCE
from benchmark.runner._cell import data_record
from benchmark.suite._cells import expand_cells
from tests.conftest import write_suite


def _cell(tmp_path, tiny_suite, dataset: dict):
    tiny_suite["datasets"] = {"d": dataset}
    return expand_cells(load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite)))[0]


def test_a_synthetic_cell_records_its_licence_and_commercial_use(tmp_path, tiny_suite):
    source, tags = data_record(_cell(tmp_path, tiny_suite, tiny_suite["datasets"]["phantoms"]))
    assert tags == {"medbench.licence": "none (generated)", "medbench.commercial": "yes"}
    assert source["layout"] == "synthetic" and source["commercial"] == "yes"


def test_a_fetched_dataset_records_its_digest_and_licence(tmp_path, tiny_suite):
    root = tmp_path / "mias"
    root.mkdir()
    (root / PROVENANCE).write_text(json.dumps({"digest": "sha256:abc"}))
    cell = _cell(tmp_path, tiny_suite, {"layout": "mias", "root": str(root)})
    source, tags = data_record(cell)
    assert tags["medbench.commercial"] == "no" and "research use only" in tags["medbench.licence"]
    assert source["digest"] == "sha256:abc" and "Suckling" in source["citation"]
