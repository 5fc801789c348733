"""A dataset padded with the mean colour (MedMNIST+'s padding): each cell pads with its own
backbone's normalisation mean (or the one its suite gives), and the saved model pads what
it serves the same way."""

from __future__ import annotations

import numpy as np

from benchmark import track
from benchmark.checks import load_checked_suite
from benchmark.models import backbone_stats
from benchmark.runner import run_suite
from benchmark.runner._data import cell_ops
from benchmark.serve import load_predictor
from benchmark.suite import expand_cells
from tests.conftest import assert_served_as_evaluated, write_suite

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]


def _padded(tmp_path, tiny_suite, **changes):
    tiny_suite["datasets"]["phantoms"]["options"]["size"] = 24
    tiny_suite["datasets"]["phantoms"]["preprocess"] = [{"pad": {"size": 32, "fill": "mean"}}]
    tiny_suite |= changes
    return load_checked_suite(write_suite(tmp_path / "padded.yaml", tiny_suite))


def test_each_cell_pads_with_its_backbones_mean(tmp_path, tiny_suite):
    backbones = [
        {"name": "test_resnet", "pretrained": False},
        {"name": "test_vit", "pretrained": False, "normalize": {"mean": CLIP_MEAN,
                                                                "std": [0.3, 0.3, 0.3]}},
    ]  # fmt: skip
    cells = expand_cells(_padded(tmp_path, tiny_suite, backbones=backbones))
    means = [dict(cell_ops(cell)[0][1])["mean"] for cell in cells]
    assert means == [backbone_stats("test_resnet")[0], tuple(CLIP_MEAN)]
    given = {"fill": "mean", "size": 32, "mean": [0.1, 0.2, 0.3]}
    tiny_suite["datasets"]["phantoms"]["preprocess"] = [{"pad": given}]
    tiny_suite["backbones"] = backbones[:1]
    [given] = expand_cells(load_checked_suite(write_suite(tmp_path / "given.yaml", tiny_suite)))
    assert cell_ops(given)[0][1]["mean"] == (0.1, 0.2, 0.3)


def test_the_saved_model_pads_what_it_serves_as_in_training(tmp_path, tiny_suite, tracking_uri):
    suite = _padded(tmp_path, tiny_suite, evaluate={"bootstrap": 0, "latency": None})
    [outcome] = run_suite(suite, tracking_uri=tracking_uri)
    assert outcome.status == "finished", outcome.error
    predictor, _ = load_predictor(f"runs:/{outcome.run_id}/model", tracking_uri=tracking_uri)
    served = predictor.prepare(np.zeros((24, 24), np.uint8))
    fill = [round(255 * m) for m in predictor.config["mean"]]
    assert served.shape == (3, 32, 32) and served[:, 0, 0].tolist() == fill
    logged = track.connect(tracking_uri).artifact_text(outcome.run_id, "eval/predictions.csv")
    assert_served_as_evaluated(predictor, logged, size=24)
