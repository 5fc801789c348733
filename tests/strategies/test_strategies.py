"""The contracts every registered strategy passes (training through images, or a head fitted
on frozen features: each strategy is covered by the one, or both, it offers), and each
strategy's own promise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import BaseModel
from torch import nn

from benchmark.data import Batches, FeatureSet
from benchmark.errors import SuiteError
from benchmark.models import (
    classifier_modules,
    count_parameters,
    create_model,
    features,
    head_parameter_names,
    input_stats,
    load_model,
    save_model,
)
from benchmark.strategies import (
    FreezeAllButLast,
    FreezeStages,
    backbone_layers,
    class_weights,
    create_strategy,
    freeze_backbone,
    get_strategy,
    list_strategies,
    supcon_loss,
)
from benchmark.suite import AugmentConfig, TrainConfig
from benchmark.tasks import create_task
from benchmark.train import fit

CLASSES = ["a", "b", "c", "d"]
STRATEGIES = [s.name for s in list_strategies()]
BACKBONES = ["test_resnet", "test_efficientnet"]
TRAIN = TrainConfig(epochs=1, lr=0.05, optimizer="sgd", image_size=32, early_stopping=None)
AUGMENTED = TRAIN.model_copy(update={"augment": AugmentConfig(hflip=True)})
# Through images: every strategy that does not fit on features even with augmentation on.
IMAGE_STRATEGIES = [n for n in STRATEGIES if not create_strategy(n).uses_features(AUGMENTED)]
# On frozen features: every strategy that does without augmentation (linear_probe: both).
FEATURE_STRATEGIES = [n for n in STRATEGIES if create_strategy(n).uses_features(TRAIN)]
CPU = torch.device("cpu")


def _batches(model, n: int = 16, views: int = 1) -> Batches:
    torch.manual_seed(0)
    images = torch.randint(0, 255, (n, 3, 32, 32), dtype=torch.uint8)
    labels = torch.arange(n) % 4
    mean, std = input_stats(model)
    return Batches(images, labels, indices=range(n), batch_size=8, mean=mean, std=std, views=views)


def _half_frozen(name: str):
    """Strategy ``name`` with half its backbone frozen where it has a ``freeze`` setting."""
    options = {"freeze": 0.5} if "freeze" in get_strategy(name).Options.model_fields else {}
    return create_strategy(name, options)


def _trains_exactly_its_trainable_parameters(net: nn.Module, train) -> None:
    """``train()`` (one epoch of ``train.fit``) changes every parameter of ``net`` that
    requires grad, and no other."""
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    history = train()
    assert len(history.epochs) == 1 and np.isfinite(history.epochs[0]["train/loss"])
    changed = {n for n, p in net.named_parameters() if not torch.equal(before[n], p.detach())}
    assert trainable and changed == trainable


def test_every_strategy_is_covered_by_a_contract():
    assert set(IMAGE_STRATEGIES) | set(FEATURE_STRATEGIES) == set(STRATEGIES)
    assert {"knn", "logistic", "prototype", "linear_probe"} <= set(FEATURE_STRATEGIES)
    assert "linear_probe" in IMAGE_STRATEGIES  # with augmentation it trains through images


@pytest.mark.parametrize("name", IMAGE_STRATEGIES)
@pytest.mark.parametrize("backbone", BACKBONES)
def test_every_strategy_trains_one_epoch_and_respects_what_it_freezes(name, backbone):
    """Through the one training loop, as the runner runs it: the strategy's first stage
    (if it has one), then the classifier with the strategy's loss; what is frozen stays as
    it was, everything trainable moves, and the head is always trained."""
    strategy = _half_frozen(name)
    assert isinstance(strategy.options, get_strategy(name).Options)
    torch.manual_seed(0)
    model = create_model(backbone, num_classes=4, pretrained=False, image_size=32)
    stage = strategy.pretrain(model, next(iter(_batches(model)))[0][:2])
    if stage is not None:
        _trains_exactly_its_trainable_parameters(
            stage.net,
            lambda: fit(stage.net, _batches(model, views=stage.views), None, config=TRAIN,
                        criterion=stage.loss),
        )  # fmt: skip
    strategy.prepare(model)
    assert all(p.requires_grad for p in model.get_classifier().parameters())
    criterion = strategy.criterion(
        task=create_task(), labels=torch.arange(16) % len(CLASSES), classes=CLASSES
    )
    _trains_exactly_its_trainable_parameters(
        model, lambda: fit(model, _batches(model), None, config=TRAIN, criterion=criterion)
    )


@pytest.mark.parametrize("name", STRATEGIES)
def test_every_strategy_describes_itself_and_its_options(name):
    strategy = get_strategy(name)
    assert strategy.name == name and strategy.description
    assert issubclass(strategy.Options, BaseModel)
    assert strategy.Options.model_config.get("extra") == "forbid"
    assert all(field.description for field in strategy.Options.model_fields.values())
    with pytest.raises(SuiteError, match=f"'{name}' strategy: no_such_setting"):
        create_strategy(name, {"no_such_setting": 1})


@pytest.mark.parametrize("name", IMAGE_STRATEGIES)
@pytest.mark.parametrize("backbone", BACKBONES)
def test_what_each_strategy_freezes(name, backbone):
    strategy = _half_frozen(name)
    model = create_model(backbone, num_classes=4)
    stage = strategy.pretrain(model, next(iter(_batches(model)))[0])
    if stage is not None:  # the classifier waits: stage 1 trains the encoder only
        encoder = {n: p.detach().clone() for n, p in model.named_parameters()}
        fit(stage.net, _batches(model, views=stage.views), None, config=TRAIN, criterion=stage.loss)
        changed = {n for n, p in model.named_parameters() if not torch.equal(p, encoder[n])}
        head = {n for n, _ in model.get_classifier().named_parameters()}
        assert changed and not changed & {f"{model.default_cfg['classifier']}.{n}" for n in head}
    strategy.prepare(model)
    counts = count_parameters(model)
    if name in ("linear_probe", "supcon"):
        assert counts.trainable == counts.head
    elif name in ("finetune", "partial", "cost_sensitive"):
        assert counts.head < counts.trainable < counts.total
        assert not next(model.parameters()).requires_grad  # the leading layers are frozen
    else:
        assert counts.trainable == counts.total


def test_supcon_freezes_the_leading_layers_in_its_first_stage_as_configured():
    model = create_model("test_resnet", num_classes=4)
    first = next(n for n, _ in backbone_layers(model))
    example = next(iter(_batches(model)))[0]
    create_strategy("supcon").pretrain(model, example)
    assert dict(model.named_modules())[first].weight.requires_grad  # by default: all of it
    create_strategy("supcon", {"freeze": {"stages": 2}}).pretrain(model, example)
    assert not dict(model.named_modules())[first].weight.requires_grad


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
    create_strategy("partial", {"freeze": {"trainable_last": 10}, "bn_trainable": True}).prepare(
        model
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
    labels = torch.tensor([0] * 10 + [1] * 30 + [2] * 60)
    auto = create_task().balanced_weights(labels, ["a", "b", "c"])
    assert auto.mean().item() == pytest.approx(1.0)
    assert auto[0] / auto[2] == pytest.approx(6.0)
    given = class_weights({"b": 3.0}, classes=["a", "b", "c"])
    assert given.tolist() == [1.0, 3.0, 1.0]
    with pytest.raises(Exception, match="does not have"):
        class_weights({"z": 2.0}, classes=["a", "b"])


def test_cost_sensitive_weights_each_labels_positives_in_a_multilabel_task():
    """Multi-label: each label's positives weighted by its negatives over its positives
    (missing labels counted as neither), and a missing label adds nothing to the loss."""
    nan = float("nan")
    labels = torch.tensor([[1.0, 0.0], [0.0, nan], [0.0, 1.0], [0.0, 1.0], [0.0, 0.0]])
    task = create_task("multilabel")
    criterion = create_strategy("cost_sensitive").criterion(
        task=task, labels=labels, classes=["a", "b"]
    )
    assert criterion.pos_weight.tolist() == [4.0, 1.0]  # a: 1 of 5; b: 2 of 4 observed
    logits = torch.zeros(5, 2)
    changed = labels.clone()
    changed[1, 1] = 1.0  # the missing entry filled in changes the loss; NaN leaves it out
    assert criterion(logits, labels).item() != pytest.approx(criterion(logits, changed).item())
    assert torch.isfinite(criterion(logits, labels))


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
    assert supcon_loss(z, y, temperature=t).item() == pytest.approx(
        (total / anchors).item(), rel=1e-5
    )


def test_supcon_loss_is_float32_under_autocast_and_zero_without_pairs():
    """bfloat16 would round ``z @ z.T`` (4.96875 against 4.96537 at τ = 0.07)."""
    torch.manual_seed(1)
    z, y = torch.randn(16, 32, requires_grad=True), torch.arange(16) % 4
    exact = supcon_loss(z, y, temperature=0.07)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = supcon_loss(z, y, temperature=0.07)
    assert mixed.dtype == torch.float32 and mixed.item() == pytest.approx(exact.item(), rel=1e-6)
    alone = supcon_loss(z[:4], torch.arange(4), temperature=0.07)  # no two images share a class
    assert alone.item() == 0.0
    alone.backward()  # still part of the graph
    assert z.grad is not None and not z.grad.any()


def _features_of(model, n: int = 24, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images as the runner feeds them to a frozen backbone, and their pooled
    features (the model in eval mode)."""
    batches = _batches(model, n)
    torch.manual_seed(seed)
    x = torch.cat([x for x, _ in batches])
    with torch.no_grad():
        return x, features(model.eval(), x)


@pytest.mark.parametrize("name", FEATURE_STRATEGIES)
@pytest.mark.parametrize("backbone", BACKBONES)
def test_every_feature_strategy_fits_a_head_on_features_and_leaves_the_backbone(
    name, backbone, tmp_path
):
    """fit_features on a tiny model's features: the backbone's weights stay as they were
    (and frozen), the head is the model's classifier (``model(x)`` gives what it gives on the
    features), its probabilities sum to 1, the history has the validation scores, and its
    config rebuilds it through save/load with identical outputs."""
    torch.manual_seed(0)
    model = create_model(backbone, num_classes=4, pretrained=False, image_size=32)
    images, x = _features_of(model)
    labels = torch.arange(len(x)) % 4
    head_names = head_parameter_names(model)
    backbone_before = {k: v.clone() for k, v in model.state_dict().items()
                       if k.rpartition(".")[0] + ".weight" not in head_names
                       and k not in head_names}  # fmt: skip
    strategy = create_strategy(name, {"k": 3} if name == "knn" else {})
    epochs = []
    config = TRAIN.model_copy(update={"epochs": 2})
    head, history = strategy.fit_features(
        model, FeatureSet(x[:16], labels[:16]), FeatureSet(x[16:], labels[16:]),
        config=config, classes=CLASSES, device=CPU, seed=0, head={"kind": "linear"},
        on_epoch=lambda epoch, row: epochs.append(epoch),
    )  # fmt: skip
    assert history.epochs and epochs == list(range(1, len(history.epochs) + 1))
    scores = {"val/loss", "val/accuracy", "val/f1_weighted"}
    assert all(scores <= set(row) for row in history.epochs)
    assert history.best_score == max(row["val/f1_weighted"] for row in history.epochs)
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in backbone_before.items())
    assert not any(p.requires_grad for n, p in model.named_parameters() if n not in
                   head_parameter_names(model))  # fmt: skip
    model.eval()
    with torch.no_grad():
        logits = model(images)
        assert torch.allclose(logits, classifier_modules(model)[0](x), atol=1e-5)
    probs = logits.softmax(dim=1)
    assert probs.shape == (len(x), 4) and torch.allclose(probs.sum(dim=1), torch.ones(len(x)))
    save_model(model, tmp_path, config={"backbone": backbone, "num_classes": 4, "head": head,
                                        "image_size": 32})  # fmt: skip
    loaded, saved = load_model(tmp_path)
    assert saved["head"] == head
    with torch.no_grad():
        assert torch.equal(loaded(images), logits)


def test_linear_probe_on_features_trains_the_head_as_through_the_backbone():
    """Without augmentation and dropout, the same initial head trained on the features and
    trained through the frozen backbone (today's path) ends with the same weights, epoch by
    epoch the same scores, and the whole model predicts what the head predicts on features."""
    config = TrainConfig(epochs=3, batch_size=5, lr=0.05, optimizer="sgd", image_size=32,
                         early_stopping={"patience": 2})  # fmt: skip
    torch.manual_seed(0)
    through = create_model("test_resnet", num_classes=4, image_size=32)
    on_features = create_model("test_resnet", num_classes=4, image_size=32)
    on_features.load_state_dict(through.state_dict())
    mean, std = input_stats(through)
    torch.manual_seed(1)
    images = torch.randint(0, 255, (30, 3, 32, 32), dtype=torch.uint8)
    labels = torch.arange(30) % 4

    def batches(indices, **kwargs) -> Batches:
        return Batches(images, labels, indices=indices, mean=mean, std=std, **kwargs)

    strategy = create_strategy("linear_probe")
    strategy.prepare(through)
    history = fit(through, batches(range(20), batch_size=5, shuffle=True, seed=7),
                  batches(range(20, 30), batch_size=10), config=config)  # fmt: skip
    x = torch.cat([x for x, _ in batches(range(30), batch_size=30)])
    with torch.no_grad():
        f = features(on_features.eval(), x)
    head, ours = strategy.fit_features(
        on_features, FeatureSet(f[:20], labels[:20]), FeatureSet(f[20:], labels[20:]),
        config=config, classes=CLASSES, device=CPU, seed=7,
    )  # fmt: skip
    assert head == {"kind": "linear"}
    a, b = through.get_classifier(), on_features.get_classifier()
    assert torch.allclose(a.weight, b.weight, atol=1e-5)
    assert torch.allclose(a.bias, b.bias, atol=1e-5)
    assert len(ours.epochs) == len(history.epochs) and ours.best_epoch == history.best_epoch
    for row, expected in zip(ours.epochs, history.epochs, strict=True):
        for key in ("train/loss", "val/loss", "val/accuracy", "val/f1_weighted"):
            assert row[key] == pytest.approx(expected[key], abs=1e-5)
    on_features.eval()
    with torch.no_grad():
        assert torch.allclose(on_features(x), b(f), atol=1e-5)
        assert torch.allclose(on_features(x), through.eval()(x), atol=1e-4)


def test_linear_probe_on_features_continues_from_its_checkpoint(tmp_path):
    """An interrupted training on features continues after its last epoch and ends as an
    uninterrupted one (the dropout's generator included)."""
    torch.manual_seed(0)
    model = create_model("test_resnet", num_classes=4, image_size=32)
    _, x = _features_of(model, 20)
    train, labels = FeatureSet(x, torch.arange(20) % 4), CLASSES
    config = TrainConfig(epochs=4, batch_size=6, lr=0.05, dropout=0.3, image_size=32,
                         early_stopping=None)  # fmt: skip

    def trained(epochs: int, checkpoint=None):
        torch.manual_seed(3)
        fresh = create_model("test_resnet", num_classes=4, image_size=32, dropout=0.3)
        fresh.load_state_dict(model.state_dict())
        _, history = create_strategy("linear_probe").fit_features(
            fresh, train, None, config=config.model_copy(update={"epochs": epochs}),
            classes=labels, device=CPU, seed=0, checkpoint=checkpoint,
        )  # fmt: skip
        return fresh.get_classifier().weight.detach(), history

    straight, _ = trained(4)
    trained(2, tmp_path / "ckpt.pt")
    resumed, history = trained(4, tmp_path / "ckpt.pt")
    assert history.restored_epochs == 2 and len(history.epochs) == 4
    assert torch.allclose(straight, resumed)


def test_linear_probe_trains_through_the_backbone_with_augmentation_or_trainable_batchnorm():
    probe = create_strategy("linear_probe")
    assert probe.uses_features(TRAIN) and not probe.uses_features(AUGMENTED)
    assert not create_strategy("linear_probe", {"bn_trainable": True}).uses_features(TRAIN)


def test_logistic_c_is_adaptive_a_number_or_tuned_on_a_log_scale():
    from benchmark.checks import check_suite
    from benchmark.suite import Suite, expand_cells

    assert create_strategy("logistic").options.C == "adaptive"
    assert create_strategy("logistic", {"C": 2}).options.C == 2.0
    with pytest.raises(SuiteError, match="C"):
        create_strategy("logistic", {"C": -1.0})
    suite = check_suite(Suite.model_validate({
        "name": "probe", "datasets": {"p": {"layout": "synthetic"}}, "backbones": ["test_resnet"],
        "strategies": {"logistic": {}, "knn": {"k": 5}},
        "tune": {"space": {"C": {"low": 1e-3, "high": 1e2, "log": True}}},
    }))  # fmt: skip
    assert suite.strategies["logistic"].options == {"C": "adaptive", "normalize": "standard",
                                                    "max_iter": 1000}  # fmt: skip
    with pytest.raises(SuiteError, match="no strategy of this suite has a setting 'C'"):
        check_suite(suite.model_copy(update={"strategies": {"knn": suite.strategies["knn"]}}))
    cell = next(c for c in expand_cells(suite) if c.strategy_kind == "logistic")
    tuned = cell.with_params({"C": 0.0123})
    assert create_strategy("logistic", tuned.strategy_config.options).options.C == 0.0123


@pytest.mark.parametrize("name", ["knn", "linear_probe"])
def test_knn_and_linear_probe_fit_a_multilabel_task(name):
    """MedMNIST+'s frozen-feature schemes on ChestMNIST's kind of task: kNN votes per label,
    the linear probe trains with the task's loss (binary cross-entropy per label); both give
    one probability per label through the task's sigmoid."""
    task = create_task("multilabel")
    strategy = create_strategy(name, {"k": 3} if name == "knn" else {})
    assert strategy.multilabel
    torch.manual_seed(0)
    model = create_model("test_resnet", num_classes=3, pretrained=False, image_size=32)
    images, x = _features_of(model)
    targets = (torch.rand(len(x), 3) < 0.4).float()
    if name == "linear_probe":
        assert type(strategy.criterion(task=task, labels=targets, classes=["a", "b", "c"])) is (
            type(task.loss())
        )
    _, history = strategy.fit_features(
        model, FeatureSet(x[:16], targets[:16]), FeatureSet(x[16:], targets[16:]),
        config=TRAIN.model_copy(update={"epochs": 2}), classes=["a", "b", "c"], device=CPU,
        seed=0, task=task,
    )  # fmt: skip
    assert history.epochs and "val/loss" in history.epochs[-1]
    with torch.no_grad():
        probs = task.probabilities(model.eval()(images))
    assert probs.shape == (len(x), 3) and ((probs >= 0) & (probs <= 1)).all()
