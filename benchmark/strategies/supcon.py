"""``supcon``: supervised contrastive training of the encoder (Khosla et al. 2020), then a
classifier on the frozen encoder."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from benchmark.strategies._base import Stage, Strategy, register_strategy
from benchmark.strategies._freeze import FreezeOptions, freeze_backbone

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["SupCon", "SupConOptions", "supcon_loss"]


class SupConOptions(FreezeOptions):
    """``freeze`` and ``bn_trainable`` apply to stage 1 (stage 2 freezes the whole encoder)."""

    temperature: float = Field(0.07, gt=0, description="temperature of the loss")
    projection_dim: int = Field(128, ge=2, description="size of the projection")
    encoder_epochs: int | None = Field(
        None, ge=1, description="stage-1 epochs (default: train.epochs)"
    )


@register_strategy("supcon")
class SupCon(Strategy):
    """Stage 1 supervised contrastive encoder training, stage 2 a classifier on it, frozen."""

    Options = SupConOptions
    options: SupConOptions
    multilabel = False  # images share a class or do not: one class per image

    def pretrain(self, model: nn.Module, example: torch.Tensor) -> Stage:
        """Stage 1: the encoder (less its leading ``freeze`` part) and a projection head
        trained on the supervised contrastive loss; the classifier waits for stage 2."""
        import torch
        from torch import nn

        from benchmark.models import features, head_parameter_names

        options = self.options
        with torch.no_grad():
            was_training = model.training
            width = features(model.to(example.device).eval(), example[:2]).shape[1]
            model.train(was_training)
        freeze_backbone(model, options.freeze, bn_trainable=options.bn_trainable)
        head = head_parameter_names(model)
        for name, p in model.named_parameters():
            if name in head:
                p.requires_grad_(False)

        class Projected(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.encoder = model
                self.projector = nn.Sequential(
                    nn.Linear(width, width), nn.ReLU(), nn.Linear(width, options.projection_dim)
                )

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.projector(features(self.encoder, x))

        class SupConLoss(nn.Module):
            def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
                return supcon_loss(z, labels, temperature=options.temperature)

        return Stage(Projected(), SupConLoss(), epochs=options.encoder_epochs, views=2)

    def prepare(self, model: nn.Module) -> None:
        freeze_backbone(model, 1.0, bn_trainable=False)


def supcon_loss(z: torch.Tensor, labels: torch.Tensor, *, temperature: float) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020, L_out) of embeddings ``z`` (N × D).

    Computed in float32 whatever autocast is on (in bfloat16, ``z @ z.T`` at τ = 0.07 is off
    in the third digit), and without reading the device (a batch without positive pairs
    gives 0, not a branch on the host)."""
    import torch
    import torch.nn.functional as F

    with torch.autocast(z.device.type, enabled=False):
        z = F.normalize(z.float(), dim=1)
        logits = z @ z.T / temperature
        self_mask = torch.eye(len(z), dtype=torch.bool, device=z.device)
        logits = logits.masked_fill(self_mask, float("-inf"))
        log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        positives = (labels[:, None] == labels[None, :]) & ~self_mask
        count = positives.sum(dim=1)
        anchors = (count > 0).float()
        summed = log_prob.masked_fill(~positives, 0.0).sum(dim=1)
        per_anchor = summed / count.clamp(min=1)
        return -(per_anchor * anchors).sum() / anchors.sum().clamp(min=1)
