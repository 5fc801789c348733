"""Model-agnostic explanations through captum (the only importer of captum and of
scikit-image's segmentation): LIME on SLIC superpixels, occlusion by a sliding patch,
integrated gradients from a baseline image.

Each explains the target class's *probability* (as the LIME paper and package do), works
on any backbone (CNNs and ViTs alike: only forward passes, and input gradients for
integrated gradients), and runs batched on the model's device. Hidden regions and the
baseline image are one of: ``mean`` (the dataset's mean colour: zeros after
normalisation), ``black``, or ``blur`` (a Gaussian blur with σ = 1/16 of the side).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from captum._utils.models.linear_model import SkLearnRidge
from captum.attr import IntegratedGradients, Lime, Occlusion
from captum.attr._core.lime import get_exp_kernel_similarity_function
from skimage.segmentation import slic
from torch import nn

from benchmark.suite import ExplainConfig

__all__ = ["Attribution", "perturbation_maps"]

LIME_KERNEL_WIDTH = 0.25  # the lime package's image kernel, on the cosine distance
IG_PERCENTILE = 99.0  # integrated gradients' maps are scaled to this percentile, then clipped


@dataclass
class Attribution:
    """Maps of a batch: ``maps`` (N × H × W in [0, 1]) are what is scored and overlaid;
    perturbation methods add ``signed`` (N × H × W, per pixel, with their sign); LIME adds
    its ``segments`` (N × H × W superpixel labels) and ``weights`` (per image, one per
    superpixel)."""

    maps: np.ndarray
    signed: np.ndarray | None = None
    segments: np.ndarray | None = None
    weights: list[np.ndarray] | None = None


def perturbation_maps(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: list[int],
    *,
    method: str,
    settings: ExplainConfig,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    batch_size: int = 32,
    seed: int = 0,
) -> Attribution:
    """``method`` (lime, occlusion or integrated_gradients) on normalised ``inputs`` (on the
    model's device); ``settings`` is an ``ExplainConfig`` (its ``lime``, ``occlusion`` and
    ``integrated_gradients``); ``mean``/``std`` undo the normalisation (``None``: the inputs
    are pixel values in [0, 1])."""
    model.eval()
    inputs = inputs.detach()
    if len(inputs) == 0:
        empty = np.zeros((0, *inputs.shape[2:]), np.float32)
        return Attribution(maps=empty, signed=empty)

    def probabilities(x: torch.Tensor) -> torch.Tensor:
        return model(x).softmax(dim=1)

    if method == "lime":
        return _lime(probabilities, inputs, targets, settings.lime, mean, std, batch_size, seed)
    config = settings.occlusion if method == "occlusion" else settings.integrated_gradients
    signed = []
    for start in range(0, len(inputs), batch_size):
        x = inputs[start : start + batch_size]
        base = _baseline(x, config.baseline, mean, std)
        chunk_targets = targets[start : start + batch_size]
        if method == "occlusion":
            side = x.shape[-1]
            patch = max(1, round(config.patch * side))
            stride = max(1, round(config.stride * side))
            with torch.no_grad():
                att = Occlusion(probabilities).attribute(
                    x,
                    sliding_window_shapes=(x.shape[1], patch, patch),
                    strides=(x.shape[1], stride, stride),
                    baselines=base,
                    target=chunk_targets,
                    perturbations_per_eval=max(1, batch_size // len(x)),
                )
        elif method == "integrated_gradients":
            with torch.enable_grad():
                att = IntegratedGradients(probabilities).attribute(
                    x,
                    baselines=base,
                    target=chunk_targets,
                    n_steps=config.steps,
                    internal_batch_size=batch_size,
                )
        else:
            raise ValueError(f"'{method}' is not a perturbation method")
        signed.append(att.detach().float().mean(dim=1).cpu().numpy())
    values = np.concatenate(signed)
    percentile = IG_PERCENTILE if method == "integrated_gradients" else 100.0
    return Attribution(maps=_unit(np.maximum(values, 0), percentile), signed=values)


def _lime(probabilities, inputs, targets, config, mean, std, batch_size, seed) -> Attribution:
    """One interpretable model per image (captum's ``Lime`` with a ridge regression and the
    lime package's kernel) on its SLIC superpixels; the scored map is each superpixel's
    weight (``positive_only``: only those for the class, else their absolute value)."""
    lime = Lime(
        probabilities,
        interpretable_model=SkLearnRidge(alpha=1.0),
        similarity_func=get_exp_kernel_similarity_function("cosine", LIME_KERNEL_WIDTH),
    )
    pixels = _pixels(inputs, mean, std)
    base = _baseline(inputs, config.baseline, mean, std)
    segments, weights, signed = [], [], []
    with torch.random.fork_rng(devices=[]):  # captum draws the samples on the CPU
        torch.random.default_generator.manual_seed(seed)  # the CUDA generators stay as they are
        for i, target in enumerate(targets):
            labels = _superpixels(pixels[i], config.superpixels)
            mask = torch.from_numpy(labels).to(inputs.device)[None, None]
            coefs = lime.attribute(
                inputs[i : i + 1],
                baselines=base[i : i + 1],
                target=target,
                feature_mask=mask,
                n_samples=config.samples,
                perturbations_per_eval=batch_size,
                return_input_shape=False,
            )
            w = coefs.detach().float().cpu().numpy().reshape(-1)
            segments.append(labels)
            weights.append(w)
            signed.append(w[labels])
    values = np.stack(signed).astype(np.float32)
    shown = np.maximum(values, 0) if config.positive_only else np.abs(values)
    return Attribution(
        maps=_unit(shown, 100.0), signed=values, segments=np.stack(segments), weights=weights
    )


def _superpixels(image: np.ndarray, count: int) -> np.ndarray:
    """SLIC's superpixels, labelled 0..K-1; a grid of about ``count`` squares where SLIC
    finds a single one (a flat image, or pure noise)."""
    labels = slic(image, n_segments=count, start_label=0, channel_axis=-1)
    if labels.max() == 0:
        side = max(1, round(count**0.5))
        rows, cols = np.indices(labels.shape)
        labels = rows * side // labels.shape[0] * side + cols * side // labels.shape[1]
    return np.unique(labels, return_inverse=True)[1].reshape(labels.shape)


def _unit(maps: np.ndarray, percentile: float) -> np.ndarray:
    """Each map divided by its ``percentile`` (its maximum at 100), clipped to [0, 1]."""
    flat = maps.reshape(len(maps), -1)
    scale = np.percentile(flat, percentile, axis=1) if percentile < 100 else flat.max(axis=1)
    scale = np.where(scale > 0, scale, 1.0)[:, None, None]
    return np.clip(maps / scale, 0, 1).astype(np.float32)


def _pixels(inputs: torch.Tensor, mean, std) -> np.ndarray:
    """Normalised inputs → float N × H × W × C in [0, 1], for the segmentation."""
    x = inputs.float()
    if mean is not None:
        m = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
        s = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
        x = x * s + m
    return x.clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()


def _baseline(inputs: torch.Tensor, kind: str, mean, std) -> torch.Tensor:
    if kind == "mean":
        return torch.zeros_like(inputs)
    if kind == "black":
        if mean is None:
            return torch.zeros_like(inputs)
        m = torch.tensor(mean, device=inputs.device, dtype=inputs.dtype).view(1, -1, 1, 1)
        s = torch.tensor(std, device=inputs.device, dtype=inputs.dtype).view(1, -1, 1, 1)
        return (-m / s).expand_as(inputs).contiguous()
    if kind == "blur":
        sigma = max(1.0, inputs.shape[-1] / 16)
        images = inputs.float().permute(0, 2, 3, 1).cpu().numpy()
        blurred = np.stack([cv2.GaussianBlur(x, (0, 0), sigma) for x in images])
        if blurred.ndim == 3:  # cv2 drops a single channel
            blurred = blurred[..., None]
        return torch.from_numpy(blurred).permute(0, 3, 1, 2).to(inputs.device, inputs.dtype)
    raise ValueError(f"unknown baseline '{kind}': expected 'mean', 'black' or 'blur'")
