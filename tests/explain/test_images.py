"""A model's explanations of any images (what ``medbench explain`` writes): per image the
prediction and its overlay, the stages on request, and an unreadable file as its error."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from benchmark.explain import explain_images
from benchmark.models import create_model, input_stats
from benchmark.serve import Predictor


def test_each_image_gets_its_prediction_overlay_and_stages_or_its_error(tmp_path):
    import matplotlib.pyplot as plt

    torch.manual_seed(0)
    model = create_model("test_resnet", num_classes=2, image_size=32).eval()
    mean, std = input_stats(model)
    config = {"classes": ["a", "b"], "image_size": 32, "mean": list(mean), "std": list(std)}
    predictor = Predictor(model=model, config=config, device=torch.device("cpu"))
    rng = np.random.default_rng(0)
    paths = [tmp_path / "one.png", tmp_path / "broken.png", tmp_path / "two.png"]
    for path in (paths[0], paths[2]):
        Image.fromarray(rng.integers(0, 256, (40, 48), dtype=np.uint8)).save(path)
    paths[1].write_bytes(b"not an image")
    found = list(explain_images(predictor, paths, method="gradcam++", stages=True))
    assert [f.path for f in found] == paths
    assert found[1].error is not None and found[1].overlay is None
    for result in (found[0], found[2]):
        assert result.error is None and result.predicted in ("a", "b")
        probs = predictor.probabilities([predictor.prepare(result.path)])[0]
        assert result.confidence == float(probs.max())
        assert result.overlay.shape == (32, 32, 3) and result.overlay.dtype == np.uint8
        assert len(result.stages.axes) == 6  # the image, then five stages of test_resnet
        plt.close(result.stages)
    plain = next(explain_images(predictor, paths[:1]))
    assert plain.stages is None and plain.overlay is not None
