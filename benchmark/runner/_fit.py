"""Build one cell's model, apply its strategy, train it (through the images, or on the
frozen backbone's cached features); what that cost."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmark.data import (
    Batches,
    BatchTransform,
    FeatureBatches,
    FeatureSet,
    ImageSet,
    create_augment,
)
from benchmark.models import FeatureHead, count_parameters, create_model, input_stats
from benchmark.runner._context import Context
from benchmark.runner._data import Dataset
from benchmark.runner._features import cell_features
from benchmark.strategies import create_strategy
from benchmark.suite import Cell
from benchmark.train import History, fit, predict_proba


@dataclass(frozen=True)
class Trained:
    model: torch.nn.Module
    history: History
    mean: tuple[float, ...]
    std: tuple[float, ...]
    head: dict | None = None  # the fitted head's config, where the strategy fitted it on features
    features: torch.Tensor | None = None  # every image's features, where it did (row i: image i)
    thresholds: dict[str, float] | None = None  # chosen on validation, where the task decides so
    # fitted on validation (evaluate.calibration): one, or one per label; None: not calibrated
    temperature: float | np.ndarray | None = None

    def proba(self, split: str, data: Dataset, images: ImageSet, *, context: Context,
              batch_size: int, indices: np.ndarray | None = None,
              augment: BatchTransform | None = None,
              own: bool = True) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Probabilities (the model's own, before any temperature) and labels of ``split``
        (``val``, ``test``; or of ``indices`` of ``images``): from the features where the
        head was fitted on them (what ``model(x)`` gives, without a pass through the frozen
        backbone), else through the model. With ``augment`` (a corruption) every batch is
        transformed on the device first, and with ``own=False`` (another dataset's images)
        the images always go through the model."""
        indices = data.indices(split) if indices is None else indices
        if self.features is not None and augment is None and own:
            rows = torch.as_tensor(indices)
            features = FeatureSet(self.features[rows], images.labels[rows].cpu())
            return predict_proba(
                FeatureHead(self.model, dropout=0.0),  # eval: dropout has no effect
                FeatureBatches(features, batch_size=batch_size, device=context.device),
                task=data.task,
            )
        batches = Batches(
            context.placement.images(images, context.device), images.labels,
            indices=torch.as_tensor(indices),
            batch_size=batch_size, mean=self.mean, std=self.std, device=context.device,
            augment=augment,
        )  # fmt: skip
        return predict_proba(self.model, batches, task=data.task)

    def calibrated(self, probs: np.ndarray, *, multilabel: bool) -> np.ndarray:
        """``probs`` with the fitted temperature applied (unchanged without one)."""
        if self.temperature is None:
            return probs
        from benchmark.evaluate import apply_temperature

        return apply_temperature(probs, self.temperature, multilabel=multilabel)


def fit_cell(
    cell: Cell,
    data: Dataset,
    *,
    images: ImageSet,
    context: Context,
    seed: int,
    on_epoch,
    refit_epochs: int | None = None,
    checkpoint: Path | None = None,
    train_indices: np.ndarray | None = None,
) -> Trained:
    """Build the cell's model, apply its strategy and train it; validation only from val.

    With ``refit_epochs`` the model trains on train+val for that many epochs, without
    validation (the tuned epoch count replaces early stopping). With ``checkpoint`` the
    training continues from the last epoch saved there (see :func:`benchmark.train.fit`).
    ``train_indices`` (an episode's draw of the train split) replace the train split.
    A strategy that needs only the frozen backbone's features (``uses_features``) fits its
    head on them: every image is embedded once per cell (and cached across cells and runs).
    """
    strategy = create_strategy(cell.strategy_kind, cell.strategy_config.options)
    torch.manual_seed(seed)
    model = create_model(
        cell.backbone.name,
        num_classes=len(images.classes),
        dropout=cell.train.dropout,
        pretrained=cell.backbone.pretrained and strategy.pretrained,
        weights=cell.backbone.weights if strategy.pretrained else None,
        head=cell.head.model_dump(),
        image_size=cell.image_size,
        kwargs=cell.backbone.kwargs,
        normalize=cell.backbone.normalize.model_dump() if cell.backbone.normalize else None,
    )
    mean, std = input_stats(model)
    if train_indices is not None:  # an episode's draw (a refit on train+val is refused then)
        train_idx = train_indices
    else:
        train_idx = data.indices("train", "val") if refit_epochs else data.indices("train")
    config = cell.train
    if refit_epochs:
        config = config.model_copy(update={"epochs": refit_epochs, "early_stopping": None})
    if strategy.uses_features(cell.train):
        features = cell_features(
            cell, model, images=images, data=data, mean=mean, std=std, context=context,
            pretrained=cell.backbone.pretrained and strategy.pretrained,
        )  # fmt: skip
        labels = images.labels.cpu()

        def split(indices) -> FeatureSet:
            rows = torch.as_tensor(indices)
            return FeatureSet(features[rows], labels[rows])

        head, history = strategy.fit_features(
            model, split(train_idx), None if refit_epochs else split(data.indices("val")),
            config=config, classes=images.classes, device=context.device, seed=seed,
            task=data.task, head=cell.head.model_dump(), on_epoch=on_epoch,
            on_batch=context.reporter.batch_done, checkpoint=checkpoint,
        )  # fmt: skip
        return Trained(model, history, mean, std, head=head, features=features)
    augment = create_augment(**cell.train.augment.model_dump()) if cell.train.augment else None

    pixels = context.placement.images(images, context.device)

    def batches(indices, **kwargs) -> Batches:
        return Batches(
            pixels, images.labels, indices=indices, mean=mean, std=std,
            device=context.device, **kwargs,
        )  # fmt: skip

    train = batches(
        train_idx, batch_size=cell.train.batch_size, shuffle=True, augment=augment, seed=seed
    )
    val = (
        None if refit_epochs else batches(data.indices("val"), batch_size=cell.evaluate.batch_size)
    )
    resuming = checkpoint is not None and checkpoint.is_file()
    stage = None
    if not resuming:  # a checkpoint holds the weights of the strategy's first stage
        example = next(iter(batches(train_idx[:2], batch_size=2)))[0]
        stage = strategy.pretrain(model, example)
    if stage is not None:
        epochs = stage.epochs or cell.train.epochs
        context.reporter.phase(f"{strategy.name} stage 1", epochs)
        fit(
            stage.net,
            batches(
                train_idx,
                batch_size=cell.train.batch_size,
                shuffle=True,
                augment=augment,
                views=stage.views if augment is not None else 1,
                seed=seed,
            ),
            None,
            config=cell.train.model_copy(update={"epochs": epochs, "early_stopping": None}),
            criterion=stage.loss,
            on_batch=context.reporter.batch_done,
        )
        context.reporter.phase(f"{strategy.name} stage 2", config.epochs)
    strategy.prepare(model)
    criterion = strategy.criterion(
        task=data.task, labels=images.labels[train_idx], classes=images.classes
    )
    history = fit(
        model,
        train,
        val,
        config=config,
        criterion=criterion,
        on_epoch=on_epoch,
        on_batch=context.reporter.batch_done,
        checkpoint=checkpoint,
        task=data.task,
    )
    return Trained(model, history, mean, std)


def split_ids(images: ImageSet, data: Dataset, *, split: str) -> list[str]:
    return [images.ids[i] for i in data.indices(split)]


def training_cost(trained: Trained, fit_seconds: float) -> dict[str, float]:
    counts, history = count_parameters(trained.model), trained.history
    return {
        **{f"params/{k}": v for k, v in counts.as_dict().items()},
        "time/train_s": fit_seconds,
        "time/epoch_s": float(np.mean([row["time/epoch_s"] for row in history.epochs])),
        "time/train_img_per_s": history.images_per_second,
        "time/warmup_s": history.warmup_seconds,
        "time/checkpoint_s": history.checkpoint_seconds,
        "train/best_epoch": history.best_epoch,
        "train/epochs_run": len(history.epochs),
        "train/epochs_restored": history.restored_epochs,
    }
