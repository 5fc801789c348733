"""The contract every strategy passes, and each strategy's own promise."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmark.data import Batches
from benchmark.models import count_parameters, create_model, input_stats
from benchmark.strategies import (
    backbone_layers,
    class_weights,
    freeze_backbone,
    get_strategy,
    list_strategies,
    supcon_loss,
)
from benchmark.suite import FreezeAllButLast, FreezeStages, StrategyConfig, TrainConfig
from benchmark.train import fit

CLASSES = ["a", "b", "c", "d"]


def _batches(model, n: int = 16, views: int = 1) -> Batches:
    torch.manual_seed(0)
    images = torch.randint(0, 255, (n, 3, 32, 32), dtype=torch.uint8)
    labels = torch.arange(n) % 4
    mean, std = input_stats(model)
    return Batches(images, labels, indices=range(n), batch_size=8, mean=mean, std=std, views=views)


@pytest.mark.parametrize("name", [s.name for s in list_strategies()])
@pytest.mark.parametrize("backbone", ["test_resnet", "test_efficientnet"])
def test_strategy_contract(name, backbone):
    strategy = get_strategy(name)
    config = StrategyConfig(freeze=0.5)
    model = create_model(backbone, num_classes=4)
    train = TrainConfig(epochs=1, lr=0.05, optimizer="sgd")
    if strategy.pretrain is not None:  # run as the runner runs it: by the one training loop
        stage = strategy.pretrain(model, config, next(iter(_batches(model)))[0])
        encoder = {n: p.detach().clone() for n, p in model.named_parameters()}
        history = fit(stage.net, _batches(model, views=stage.views), None, config=train,
                      criterion=stage.loss)  # fmt: skip
        assert len(history.epochs) == 1 and history.epochs[0]["train/loss"] > 0
        changed = {n for n, p in model.named_parameters() if not torch.equal(p, encoder[n])}
        head = {n for n, _ in model.get_classifier().named_parameters()}
        assert changed and not changed & {f"{model.default_cfg['classifier']}.{n}" for n in head}
    strategy.prepare(model, config)

    counts = count_parameters(model)
    head = {id(p) for p in model.get_classifier().parameters()}
    assert all(p.requires_grad for p in model.parameters() if id(p) in head)
    if name in ("linear_probe", "supcon"):
        assert counts.trainable == counts.head
    elif name in ("finetune", "partial", "cost_sensitive"):
        assert counts.head < counts.trainable < counts.total
        assert not next(model.parameters()).requires_grad  # the leading layers are frozen
    else:
        assert counts.trainable == counts.total

    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    x, y = next(iter(_batches(model)))
    model.train()
    logits = model(x)
    assert logits.shape == (8, 4)
    loss = strategy.criterion(config, counts=[4, 4, 4, 4], classes=CLASSES)(logits, y)
    loss.backward()
    optimizer.step()
    for n, p in model.named_parameters():
        changed = not torch.equal(before[n], p.detach())
        if not p.requires_grad:
            assert not changed, f"{name}: frozen {n} changed"
    assert any(
        not torch.equal(before[n], p.detach())
        for n, p in model.named_parameters()
        if p.requires_grad
    )


def test_scratch_is_the_only_strategy_without_pretrained_weights():
    assert [s.name for s in list_strategies() if not s.pretrained] == ["scratch"]


def test_freeze_by_fraction_stages_and_last_layers():
    model = create_model("test_resnet", num_classes=4)
    layers = [name for name, _ in backbone_layers(model)]

    def frozen() -> list[str]:
        return [n for n, m in backbone_layers(model) if not next(m.parameters()).requires_grad]

    freeze_backbone(model, 0.5)
    assert frozen() == layers[: round(0.5 * len(layers))]
    freeze_backbone(model, FreezeAllButLast(trainable_last=3))
    assert frozen() == layers[:-3]
    freeze_backbone(model, FreezeStages(stages=2))  # stem and layer1
    assert frozen() and all(n.startswith(("conv1", "bn1", "layer1")) for n in frozen())
    assert any(n.startswith("layer1") for n in frozen())
    freeze_backbone(model, FreezeAllButLast(trainable_last=3), bn_trainable=True)
    assert all(not isinstance(dict(model.named_modules())[n], nn.BatchNorm2d) for n in frozen())
    with pytest.raises(Exception, match="has 5 stages"):
        freeze_backbone(model, FreezeStages(stages=9))


def test_breast_paper_resnet50_all_but_last_10_layers_with_batchnorm_trainable():
    model = create_model("resnet50", num_classes=2)
    get_strategy("partial").prepare(
        model,
        StrategyConfig(
            kind="partial", freeze=FreezeAllButLast(trainable_last=10), bn_trainable=True
        ),
    )
    layers = backbone_layers(model)
    trainable = [n for n, m in layers if next(m.parameters()).requires_grad]
    convs = [n for n in trainable if isinstance(dict(model.named_modules())[n], nn.Conv2d)]
    assert len([n for n, _ in layers[-10:]]) == 10
    assert set(n for n, _ in layers[-10:]) <= set(trainable)
    assert all(n in {name for name, _ in layers[-10:]} for n in convs)
    assert all(
        next(m.parameters()).requires_grad for _, m in layers if isinstance(m, nn.BatchNorm2d)
    )


def test_class_weights():
    auto = class_weights("auto", [10, 30, 60], ["a", "b", "c"])
    assert auto.mean().item() == pytest.approx(1.0)
    assert auto[0] / auto[2] == pytest.approx(6.0)
    given = class_weights({"b": 3.0}, [1, 1, 1], ["a", "b", "c"])
    assert given.tolist() == [1.0, 3.0, 1.0]
    with pytest.raises(Exception, match="does not have"):
        class_weights({"z": 2.0}, [1, 1], ["a", "b"])


def test_supcon_loss_matches_a_direct_computation():
    torch.manual_seed(0)
    z, y, t = torch.randn(6, 5), torch.tensor([0, 0, 1, 1, 1, 2]), 0.5
    zn = nn.functional.normalize(z, dim=1)
    total, anchors = 0.0, 0
    for i in range(6):
        others = [k for k in range(6) if k != i]
        denom = torch.logsumexp(torch.stack([zn[i] @ zn[k] / t for k in others]), 0)
        positives = [k for k in others if y[k] == y[i]]
        if positives:
            total += -sum((zn[i] @ zn[p] / t - denom) for p in positives) / len(positives)
            anchors += 1
    assert supcon_loss(z, y, t).item() == pytest.approx((total / anchors).item(), rel=1e-5)
