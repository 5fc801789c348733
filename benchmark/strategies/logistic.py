"""``logistic``: scikit-learn's logistic regression on frozen features, the protocol of UNI
and Patho-Bench (L-BFGS, ``C`` = D·K/100 by default)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat

from benchmark.strategies._base import register_strategy
from benchmark.strategies._features import HeadFit, require_every_class

if TYPE_CHECKING:
    import torch

    from benchmark.data import FeatureSet
    from benchmark.models import ProbeHead

__all__ = ["Logistic", "LogisticOptions", "adaptive_c"]


class LogisticOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    C: Literal["adaptive"] | PositiveFloat = Field(
        "adaptive",
        description="inverse regularisation strength: 'adaptive' is D·K/100 (D the feature "
        "width, K the classes), as UNI's and Patho-Bench's linear probes set it; or a number, "
        "which Optuna can tune (tune.space: {C: {low: 1.0e-3, high: 100, log: true}})",
    )
    normalize: Literal["standard", "l2", "none"] = Field(
        "standard",
        description="standard: each feature to zero mean and unit variance (over the training "
        "split); l2: each row to unit length; none: raw features (as UNI)",
    )
    max_iter: int = Field(1000, ge=1, description="L-BFGS iterations at most")


def adaptive_c(features: int, classes: int) -> float:
    """The cost of UNI's and Patho-Bench's logistic-regression probes, ``D · K / 100`` with D
    the feature width and K the number of classes: mahmoodlab/UNI,
    ``uni/downstream/eval_patch_features/linear_probe.py`` (``train_linear_probe``: ``cost =
    (train_feats.shape[1] * NUM_C) / 100``, K the classes of the training labels), and
    mahmoodlab/Patho-Bench, ``patho_bench/experiments/LinearProbeExperiment.py`` (``C =
    (embedding_dim * self.num_classes / 100) if self.cost == 'adaptive'``, K the task's
    classes). Both pass it to scikit-learn's ``LogisticRegression(C=...)``; here every
    class has training images, so the two Ks agree."""
    return features * classes / 100


@register_strategy("logistic")
class Logistic(HeadFit):
    """Logistic regression (scikit-learn, L-BFGS) on standardised or L2-normalised features."""

    Options = LogisticOptions
    options: LogisticOptions

    def fit_head(self, train: FeatureSet, *, classes: Sequence[str], device: torch.device,
                 seed: int) -> ProbeHead:  # fmt: skip
        import numpy as np
        import torch
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler, normalize

        from benchmark.console import warning
        from benchmark.models import LogisticHead

        require_every_class(train.labels, classes, strategy=self.name)
        o = self.options
        x = train.features.detach().cpu().double().numpy()
        y = train.labels.cpu().numpy()
        head = LogisticHead(x.shape[1], len(classes), normalize=o.normalize)
        if o.normalize == "standard":
            scaler = StandardScaler().fit(x)
            x = scaler.transform(x)
            head.centre.copy_(torch.from_numpy(scaler.mean_))
            head.scale.copy_(torch.from_numpy(scaler.scale_))
        elif o.normalize == "l2":
            x = normalize(x)
        c = adaptive_c(x.shape[1], len(classes)) if o.C == "adaptive" else float(o.C)
        model = LogisticRegression(C=c, max_iter=o.max_iter, random_state=seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(x, y)
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            warning(f"logistic: L-BFGS did not converge in {o.max_iter} iterations (C = {c:g}); "
                    "raise `max_iter:` or lower C.")  # fmt: skip
        weight, bias = model.coef_, model.intercept_
        if len(classes) == 2:  # one row, the second class's: softmax([0, s]) = [1 - σ(s), σ(s)]
            weight = np.concatenate([np.zeros_like(weight), weight])
            bias = np.concatenate([np.zeros_like(bias), bias])
        with torch.no_grad():
            head.weight.copy_(torch.from_numpy(weight))
            head.bias.copy_(torch.from_numpy(bias))
        return head.to(device)
