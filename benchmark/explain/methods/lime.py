"""``lime``: one interpretable model per image on its SLIC superpixels (captum's ``Lime``
with a ridge regression and the lime package's kernel); the gallery shows, as the LIME
paper does, the superpixels for the class alone and those for and against it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from benchmark.explain.methods._base import Attribution, Method, register_method
from benchmark.explain.methods._perturb import FILL, Fill

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

__all__ = ["LIME_KERNEL_WIDTH", "Lime", "LimeOptions"]

LIME_KERNEL_WIDTH = 0.25  # the lime package's image kernel, on the cosine distance


class LimeOptions(BaseModel):
    """``explain.lime``: captum's LIME on SLIC superpixels."""

    model_config = ConfigDict(extra="forbid")

    samples: int = Field(256, ge=8, description="perturbed copies per image (a forward pass each)")
    superpixels: int = Field(50, ge=2, description="SLIC superpixels per image (about)")
    positive_only: bool = Field(
        True, description="scored map: superpixels for the class; false: |weight|, against too"
    )
    top_features: int = Field(5, ge=1, description="superpixels shown in the gallery")
    baseline: Fill = Field("mean", description=FILL)


@dataclass(frozen=True)
class Lime(Method):
    headers: ClassVar[tuple[str, ...]] = ("", "for the class, alone", "for (green) / against (red)")

    def maps(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        *,
        targets: list[int],
        options: LimeOptions,
        layer: str | None,
        mean: tuple[float, ...] | None,
        std: tuple[float, ...] | None,
        batch_size: int,
        seed: int,
    ) -> Attribution:
        """The scored map is each superpixel's weight (``positive_only``: only those for
        the class, else their absolute value); ``seed`` draws the samples."""
        import numpy as np
        import torch
        from captum._utils.models.linear_model import SkLearnRidge
        from captum.attr import Lime as CaptumLime
        from captum.attr._core.lime import get_exp_kernel_similarity_function

        from benchmark.explain.methods._perturb import baseline, empty, pixels, probabilities, unit

        if (none := empty(inputs)) is not None:
            return none
        inputs = inputs.detach()
        lime = CaptumLime(
            probabilities(model),
            interpretable_model=SkLearnRidge(alpha=1.0),
            similarity_func=get_exp_kernel_similarity_function("cosine", LIME_KERNEL_WIDTH),
        )
        images = pixels(inputs, mean=mean, std=std)
        base = baseline(inputs, options.baseline, mean=mean, std=std)
        segments, weights, signed = [], [], []
        with torch.random.fork_rng(devices=[]):  # captum draws the samples on the CPU
            torch.random.default_generator.manual_seed(seed)  # CUDA's generators stay as they are
            for i, target in enumerate(targets):
                labels = _superpixels(images[i], options.superpixels)
                mask = torch.from_numpy(labels).to(inputs.device)[None, None]
                coefs = lime.attribute(
                    inputs[i : i + 1],
                    baselines=base[i : i + 1],
                    target=target,
                    feature_mask=mask,
                    n_samples=options.samples,
                    perturbations_per_eval=batch_size,
                    return_input_shape=False,
                )
                w = coefs.detach().float().cpu().numpy().reshape(-1)
                segments.append(labels)
                weights.append(w)
                signed.append(w[labels])
        values = np.stack(signed).astype(np.float32)
        shown = np.maximum(values, 0) if options.positive_only else np.abs(values)
        return Attribution(
            maps=unit(shown, 100.0), signed=values, segments=np.stack(segments), weights=weights
        )

    def panels(
        self, image: np.ndarray, found: Attribution, *, index: int, options: LimeOptions
    ) -> list[np.ndarray]:
        """The original, the top superpixels for the class alone, and those for and
        against it tinted (see :func:`benchmark.explain.lime_panels`)."""
        from benchmark.explain._gallery import lime_panels

        assert found.segments is not None and found.weights is not None  # set by maps
        return lime_panels(
            image, found.segments[index], weights=found.weights[index], top=options.top_features
        )


def _superpixels(image: np.ndarray, count: int) -> np.ndarray:
    """SLIC's superpixels, labelled 0..K-1; a grid of about ``count`` squares where SLIC
    finds a single one (a flat image, or pure noise)."""
    import numpy as np
    from skimage.segmentation import slic

    labels = slic(image, n_segments=count, start_label=0, channel_axis=-1)
    if labels.max() == 0:
        side = max(1, round(count**0.5))
        rows, cols = np.indices(labels.shape)
        labels = rows * side // labels.shape[0] * side + cols * side // labels.shape[1]
    return np.unique(labels, return_inverse=True)[1].reshape(labels.shape)


register_method(
    Lime(
        "lime",
        "perturbation",
        True,
        "superpixels hidden at random, a linear model fitted",
        options=LimeOptions,
        gradients=False,
    )
)
