"""Probe heads: classifiers fitted on a frozen backbone's pooled features, put where the timm
model's classifier is, so ``model(x)`` gives their logits and everything downstream (class
probabilities, latency, saving, serving) works as for any model.

A head takes the pooled pre-logits features (N × D, see :func:`benchmark.models.features`)
and returns logits whose softmax is its class probabilities; it computes in float32 whatever
autocast is on (a neighbour search in bfloat16 would change the neighbours). Its
:meth:`ProbeHead.config` is a plain dict that ``create_model(head=...)`` understands:
:func:`create_head` builds an empty head of the right shapes from it, and ``load_model``
fills it from ``model.safetensors`` (the support set, prototypes or weights are buffers and
parameters: no pickle).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import MedbenchError, ModelError

__all__ = [
    "PROBE_HEADS",
    "FeatureHead",
    "KnnHead",
    "LogisticHead",
    "ProbeHead",
    "PrototypeHead",
    "create_head",
    "install_head",
    "nearest_neighbours",
]

PROBE_HEADS = ("knn", "logistic", "prototype")
LOG_FLOOR = 1e-7  # kNN: a class without votes gets log(LOG_FLOOR), not -inf
_CHUNK_BYTES = 2**26  # kNN: similarities of one chunk of queries against the support set


class ProbeHead(nn.Module):
    """Features (N × D, or N × D × 1 × 1) → logits (N × K), in float32."""

    kind: ClassVar[str]
    gradients: ClassVar[bool] = True  # False: its scores carry no gradient to the image

    def __init__(self, features: int, num_classes: int) -> None:
        super().__init__()
        self.features, self.num_classes = features, num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return self.logits(x.flatten(1).float())

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """What ``create_model(head=...)`` needs to rebuild this head empty."""
        return {"kind": self.kind, "features": self.features}


def _centred(x: torch.Tensor, centre: torch.Tensor | None, normalize: bool) -> torch.Tensor:
    if centre is not None:
        x = x - centre
    return F.normalize(x, dim=1) if normalize else x


class LogisticHead(ProbeHead):
    """A linear map of standardised (``(x − centre) / scale``), L2-normalised or raw
    features: logistic regression's decision function, so softmax gives its probabilities
    (a binary model's one coefficient row is the second class's logit, the first's is 0)."""

    kind = "logistic"
    centre: torch.Tensor
    scale: torch.Tensor

    def __init__(
        self, features: int, num_classes: int, *, normalize: Literal["standard", "l2", "none"]
    ) -> None:
        super().__init__(features, num_classes)
        self.normalize = normalize
        self.register_buffer("centre", torch.zeros(features))
        self.register_buffer("scale", torch.ones(features))
        self.weight = nn.Parameter(torch.zeros(num_classes, features))
        self.bias = nn.Parameter(torch.zeros(num_classes))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.centre) / self.scale
        if self.normalize == "l2":
            z = F.normalize(z, dim=1)
        return F.linear(z, self.weight, self.bias)

    def config(self) -> dict[str, Any]:
        return super().config() | {"normalize": self.normalize}


class KnnHead(ProbeHead):
    """k nearest neighbours among the support set (stored centred and normalised as the
    queries are, with its labels), by cosine or Euclidean distance; the class probabilities
    are the neighbours' vote fractions (each vote weighted by 1 / distance with
    ``weights: distance``, as scikit-learn's ``KNeighborsClassifier``), the logits their
    log, floored at ``log(LOG_FLOOR)`` so a class without votes is finite (softmax gives
    the fractions back, within ``K · LOG_FLOOR``). Neighbours are found in chunks of
    queries, so no query × support matrix larger than a few tens of MiB is ever made.

    Multi-label (``multilabel``, N × L float targets, NaN where missing): each label's
    probability is the fraction of the neighbours' votes for it among those that know it
    (MedMNIST+'s per-label vote, which decides at 0.5; 0.5 where none knows it), the logits
    their log-odds (floored as above), so a sigmoid per label gives the fractions back."""

    kind = "knn"
    gradients = False  # votes are counts
    centre: torch.Tensor
    support: torch.Tensor  # centred, normalised as the queries are
    labels: torch.Tensor  # int64 S, or float32 S × L targets of a multi-label task

    def __init__(
        self,
        features: int,
        num_classes: int,
        *,
        support: int,
        k: int,
        metric: Literal["cosine", "euclidean"],
        centre: bool,
        normalize: bool,
        weights: Literal["uniform", "distance"],
        multilabel: bool = False,
    ) -> None:
        super().__init__(features, num_classes)
        self.k, self.metric, self.weights = k, metric, weights
        self.centring, self.normalize, self.multilabel = centre, normalize, multilabel
        self.register_buffer("centre", torch.zeros(features))
        self.register_buffer("support", torch.zeros(support, features))
        labels = torch.zeros(support, num_classes) if multilabel else torch.zeros(support)
        self.register_buffer("labels", labels if multilabel else labels.long())

    @classmethod
    def fit(cls, features: torch.Tensor, labels: torch.Tensor, *, num_classes: int, k: int,
            metric: Literal["cosine", "euclidean"] = "cosine", centre: bool = True,
            normalize: bool = True,
            weights: Literal["uniform", "distance"] = "uniform") -> KnnHead:  # fmt: skip
        """The head whose support set is ``features`` (centred by their mean, normalised);
        ``labels`` are class indices (N), or a multi-label task's targets (N × L)."""
        n, d = features.shape
        if not 1 <= k < n:
            raise MedbenchError(
                f"knn: k = {k} must be below the training size {n} (and at least 1); "
                f"choose `k:` from 1 to {n - 1}."
            )
        head = cls(d, num_classes, support=n, k=k, metric=metric, centre=centre,
                   normalize=normalize, weights=weights,
                   multilabel=labels.ndim == 2).to(features.device)  # fmt: skip
        features = features.float()
        with torch.no_grad():
            if centre:
                head.centre.copy_(features.mean(dim=0))
            head.support.copy_(head.transform(features))
            head.labels.copy_(labels)
        return head

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """Queries as the support set is stored: centred, normalised (unit length for the
        cosine metric, which needs only their directions)."""
        x = _centred(x, self.centre if self.centring else None, self.normalize)
        return F.normalize(x, dim=1) if self.metric == "cosine" and not self.normalize else x

    def neighbours(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Distances (N × k, nearest first) and support indices of each feature row's k
        nearest neighbours."""
        return nearest_neighbours(self.transform(x.float()), self.support, k=self.k,
                                  metric=self.metric, prepared=True)  # fmt: skip

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """The vote fractions (N × K) of each row's k nearest neighbours; multi-label: per
        label (N × L), among the neighbours that know it."""
        distances, index = self.neighbours(x)
        if self.weights == "distance":  # scikit-learn's rule: exact matches alone decide
            exact = distances == 0
            votes = torch.where(exact.any(dim=1, keepdim=True), exact.float(), 1 / distances)
        else:
            votes = torch.ones_like(distances)
        if self.multilabel:
            targets = self.labels[index]  # N × k × L
            known = ~targets.isnan()
            weight = votes[..., None] * known
            positive = (weight * targets.nan_to_num()).sum(dim=1)
            total = weight.sum(dim=1)
            return torch.where(total > 0, positive / total.clamp_min(1e-30), 0.5)
        counts = torch.zeros(len(x), self.num_classes, device=x.device, dtype=votes.dtype)
        counts.scatter_add_(1, self.labels[index], votes)
        return counts / counts.sum(dim=1, keepdim=True)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        if self.multilabel:  # log-odds: a sigmoid gives the fractions back
            p = self.probabilities(x).clamp(LOG_FLOOR, 1 - LOG_FLOOR)
            return p.log() - (-p).log1p()
        return self.probabilities(x).clamp_min(LOG_FLOOR).log()

    def config(self) -> dict[str, Any]:
        extra = {"multilabel": True} if self.multilabel else {}  # older configs lack the key
        return super().config() | {
            "k": self.k, "metric": self.metric, "centre": self.centring,
            "normalize": self.normalize, "weights": self.weights, "support": len(self.support),
        } | extra  # fmt: skip


def nearest_neighbours(
    queries: torch.Tensor,
    support: torch.Tensor,
    *,
    k: int,
    metric: Literal["cosine", "euclidean"] = "euclidean",
    prepared: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances (Q × k, ascending) and indices into ``support`` of each query's k nearest
    rows, on the tensors' device: one matrix product per chunk of queries, then top-k.

    Cosine distance is 1 − cosine similarity; ``prepared`` says both sides are already unit
    length (the cosine metric then skips normalising them). Euclidean distances come from
    ‖q‖² − 2 q·s + ‖s‖², clamped at 0.
    """
    queries, support = queries.float(), support.float()
    if metric == "cosine" and not prepared:
        queries, support = F.normalize(queries, dim=1), F.normalize(support, dim=1)
    squared = (support * support).sum(dim=1) if metric == "euclidean" else None
    chunk = max(1, _CHUNK_BYTES // (4 * max(len(support), 1)))
    distances, indices = [], []
    for start in range(0, len(queries), chunk):
        q = queries[start : start + chunk]
        product = q @ support.T
        if squared is None:
            top, index = product.topk(k, dim=1)
            distances.append((1 - top).clamp_min(0))
        else:
            product.mul_(-2).add_(squared)  # ‖s‖² − 2 q·s: ‖q‖² orders nothing
            top, index = product.topk(k, dim=1, largest=False)
            distances.append((top + (q * q).sum(dim=1, keepdim=True)).clamp_min(0).sqrt())
        indices.append(index)
    if not distances:
        return queries.new_zeros(0, k), torch.zeros(0, k, dtype=torch.long, device=queries.device)
    return torch.cat(distances), torch.cat(indices)


class PrototypeHead(ProbeHead):
    """SimpleShot (Wang et al. 2019, as UNI's ``ProtoNet``): features centred by the training
    mean and L2-normalised, each class's prototype the mean of its normalised training
    features (not renormalised), the prediction the nearest prototype by Euclidean distance.
    The logits are the negative squared distances over ``temperature``, so argmax is the
    nearest prototype and the probabilities a softmax over distances (ProtoNets' form)."""

    kind = "prototype"
    centre: torch.Tensor
    prototypes: torch.Tensor

    def __init__(self, features: int, num_classes: int, *, centre: bool, normalize: bool,
                 temperature: float) -> None:  # fmt: skip
        super().__init__(features, num_classes)
        self.centring, self.normalize, self.temperature = centre, normalize, temperature
        self.register_buffer("centre", torch.zeros(features))
        self.register_buffer("prototypes", torch.zeros(num_classes, features))

    @classmethod
    def fit(cls, features: torch.Tensor, labels: torch.Tensor, *, num_classes: int,
            centre: bool = True, normalize: bool = True,
            temperature: float = 0.1) -> PrototypeHead:  # fmt: skip
        head = cls(features.shape[1], num_classes, centre=centre, normalize=normalize,
                   temperature=temperature).to(features.device)  # fmt: skip
        features = features.float()
        with torch.no_grad():
            if centre:
                head.centre.copy_(features.mean(dim=0))
            z = _centred(features, head.centre if centre else None, normalize)
            sums = torch.zeros_like(head.prototypes).index_add_(0, labels, z)
            counts = torch.bincount(labels, minlength=num_classes).clamp_min(1)
            head.prototypes.copy_(sums / counts[:, None].to(z.dtype))
        return head

    def distances(self, x: torch.Tensor) -> torch.Tensor:
        """Squared Euclidean distances (N × K) to the prototypes."""
        z = _centred(x, self.centre if self.centring else None, self.normalize)
        squared = (z * z).sum(1, keepdim=True) - 2 * z @ self.prototypes.T
        return (squared + (self.prototypes * self.prototypes).sum(1)).clamp_min(0)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return -self.distances(x) / self.temperature

    def config(self) -> dict[str, Any]:
        return super().config() | {
            "centre": self.centring, "normalize": self.normalize,
            "temperature": self.temperature,
        }  # fmt: skip


def create_head(config: dict[str, Any], *, num_classes: int) -> ProbeHead:
    """An empty probe head of the shapes ``config`` (a head's :meth:`~ProbeHead.config`)
    records, for ``load_model`` to fill."""
    kind, d = config.get("kind"), int(config["features"])
    if kind == "logistic":
        return LogisticHead(d, num_classes, normalize=config["normalize"])
    if kind == "knn":
        return KnnHead(
            d, num_classes, support=int(config["support"]), k=int(config["k"]),
            metric=config["metric"], centre=config["centre"], normalize=config["normalize"],
            weights=config["weights"], multilabel=bool(config.get("multilabel", False)),
        )  # fmt: skip
    if kind == "prototype":
        return PrototypeHead(d, num_classes, centre=config["centre"],
                             normalize=config["normalize"],
                             temperature=float(config["temperature"]))  # fmt: skip
    raise ModelError(f"unknown probe head kind {kind!r}; expected one of {list(PROBE_HEADS)}.")


def install_head(
    model: nn.Module, head: ProbeHead, *, built: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Put ``head`` where ``model``'s classifier is (on the model's device) and return the
    head's config as ``config.json`` records it: the probe's own settings, plus the
    ``pre_logits`` setting of ``built`` (the head config the model was created with), which
    decides the backbone's feature width."""
    from benchmark.models._build import _replace_classifier, classifier_modules

    if len(classifier_modules(model)) != 1:
        raise ModelError(
            f"a {head.kind} head replaces one classifier, but {type(model).__name__} has "
            f"{len(classifier_modules(model))} (a distilled model); choose another backbone."
        )
    device = next(model.parameters()).device
    _replace_classifier(model, head.to(device))
    return head.config() | {"pre_logits": bool((built or {}).get("pre_logits", True))}


class FeatureHead(nn.Module):
    """A model's own classifier applied to its pooled features, after the dropout the model
    applies before it (its ``drop_rate``): what the classifier computes inside ``model(x)``,
    so training this trains the model's classifier (its parameters are shared)."""

    def __init__(self, model: nn.Module, *, dropout: float) -> None:
        from benchmark.models._build import classifier_modules

        super().__init__()
        heads = classifier_modules(model)
        if len(heads) != 1:
            raise MedbenchError(
                f"{type(model).__name__} has {len(heads)} classifiers (a distilled model): "
                "each reads its own token, so it cannot be trained on pooled features; "
                "train it through the backbone (give `train.augment`)."
            )
        self.classifier, self.dropout = heads[0], nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout(x)
        if isinstance(self.classifier, nn.Conv2d):  # timm's 1×1 convolution classifiers
            return self.classifier(x[:, :, None, None]).flatten(1)
        return self.classifier(x)
