"""Probe heads: the kNN search against scikit-learn's, the logistic head against its
predict_proba, SimpleShot's nearest class mean, and every head saved, loaded and served."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler, normalize

from benchmark.data import FeatureSet
from benchmark.errors import MedbenchError
from benchmark.models import (
    PROBE_HEADS,
    KnnHead,
    PrototypeHead,
    _heads,
    create_model,
    features,
    input_stats,
    load_model,
    nearest_neighbours,
    save_model,
)
from benchmark.strategies import adaptive_c, create_strategy
from benchmark.suite import TrainConfig

CPU = torch.device("cpu")


def _clusters(n: int, *, classes: int = 4, dim: int = 16, seed: int = 0):
    """Features around one centre per class (not at the origin), and their labels."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=g) * 2 + 1
    labels = torch.arange(n) % classes
    return centres[labels] + torch.randn(n, dim, generator=g), labels


def _fit(name: str, x, y, classes: int, **options):
    """Strategy ``name`` fitted on ``(x, y)``: its head (a module on features)."""
    model = create_model("test_resnet", num_classes=classes)
    x = torch.cat([x, torch.zeros(len(x), model.num_features - x.shape[1])], dim=1)
    create_strategy(name, options).fit_features(
        model, FeatureSet(x, y), None, config=TrainConfig(),
        classes=[str(c) for c in range(classes)], device=CPU, seed=0,
    )  # fmt: skip
    return lambda q: model.get_classifier()(
        torch.cat([q, torch.zeros(len(q), model.num_features - q.shape[1])], dim=1)
    )


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("weights", ["uniform", "distance"])
@pytest.mark.parametrize("chunk_bytes", [2**26, 4096])  # one chunk of queries, or many
def test_knn_finds_scikit_learns_neighbours_and_votes(metric, weights, chunk_bytes, monkeypatch):
    """On the same (centred, normalised) embeddings: the same neighbours, the same distances
    and, through softmax of the logits, the same probabilities (vote fractions)."""
    monkeypatch.setattr(_heads, "_CHUNK_BYTES", chunk_bytes)
    x, y = _clusters(400)
    q, _ = _clusters(90, seed=1)
    head = KnnHead.fit(x, y, num_classes=4, k=20, metric=metric, weights=weights)
    sx, sq = head.transform(x).numpy(), head.transform(q).numpy()
    sk = KNeighborsClassifier(n_neighbors=20, metric=metric, weights=weights, algorithm="brute")
    sk.fit(sx, y.numpy())
    distances, index = sk.kneighbors(sq)
    ours, our_index = head.neighbours(q)
    assert (np.sort(our_index.numpy(), axis=1) == np.sort(index, axis=1)).all()
    assert np.allclose(ours.numpy(), distances, atol=1e-5)
    with torch.no_grad():
        probs = head(q).softmax(dim=1).numpy()
    assert np.allclose(head.probabilities(q).numpy(), sk.predict_proba(sq), atol=1e-6)
    assert np.allclose(probs, sk.predict_proba(sq), atol=1e-5)
    assert (probs.argmax(axis=1) == sk.predict(sq)).all()


def test_knn_of_raw_features_follows_scikit_learn_too():
    x, y = _clusters(200, dim=8)
    q, _ = _clusters(30, dim=8, seed=2)
    head = KnnHead.fit(x, y, num_classes=4, k=5, metric="euclidean", centre=False,
                       normalize=False)  # fmt: skip
    sk = KNeighborsClassifier(n_neighbors=5).fit(x.numpy(), y.numpy())
    assert np.allclose(head.probabilities(q).numpy(), sk.predict_proba(q.numpy()))
    _, index = nearest_neighbours(q, x, k=5)
    assert (np.sort(index.numpy(), 1) == np.sort(sk.kneighbors(q.numpy())[1], 1)).all()


def test_knn_distance_weighting_lets_an_exact_match_decide():
    x, y = _clusters(50)
    head = KnnHead.fit(x, y, num_classes=4, k=5, metric="euclidean", centre=False,
                       normalize=False, weights="distance")  # fmt: skip
    probs = head.probabilities(x[:8])
    assert torch.equal(probs.argmax(dim=1), y[:8]) and (probs.max(dim=1).values == 1).all()


def test_knn_k_not_below_the_training_size_is_one_line():
    x, y = _clusters(12)
    with pytest.raises(MedbenchError, match="k = 12 must be below the training size 12") as info:
        KnnHead.fit(x, y, num_classes=4, k=12)
    assert "\n" not in str(info.value)
    with pytest.raises(MedbenchError, match=r"k = 30 .* training size 12"):
        _fit("knn", x, y, 4, k=30)


@pytest.mark.parametrize("classes", [2, 4])
@pytest.mark.parametrize("normalization", ["standard", "l2", "none"])
def test_logistic_head_gives_predict_proba(classes, normalization):
    """softmax(head(x)) is scikit-learn's predict_proba of the same pipeline (the binary
    case too, whose coefficients are one row), with C = D·K/100."""
    x, y = _clusters(120, classes=classes, dim=6)
    q, _ = _clusters(40, classes=classes, dim=6, seed=3)
    head = _fit("logistic", x, y, classes, normalize=normalization)
    width = create_model("test_resnet", num_classes=classes).num_features
    xs = torch.cat([x, torch.zeros(len(x), width - 6)], dim=1).double().numpy()
    qs = torch.cat([q, torch.zeros(len(q), width - 6)], dim=1).double().numpy()
    if normalization == "standard":
        scaler = StandardScaler().fit(xs)
        xs, qs = scaler.transform(xs), scaler.transform(qs)
    elif normalization == "l2":
        xs, qs = normalize(xs), normalize(qs)
    sk = LogisticRegression(C=width * classes / 100, max_iter=1000, random_state=0).fit(xs, y)
    with torch.no_grad():
        probs = head(q).softmax(dim=1).numpy()
    assert probs.shape == (40, classes)
    assert np.allclose(probs, sk.predict_proba(qs), atol=1e-5)


def test_adaptive_c_is_uni_and_patho_benchs_cost():
    assert adaptive_c(1024, 2) == pytest.approx(20.48)  # UNI (ViT-L): 1024 × 2 / 100
    assert adaptive_c(768, 9) == pytest.approx(69.12)


def test_logistic_and_prototype_need_every_class_in_training():
    x, y = _clusters(40, classes=3)
    for name in ("logistic", "prototype"):
        with pytest.raises(MedbenchError, match=r"no images of class\(es\) \['3'\]"):
            _fit(name, x, y, 4)


def test_prototype_is_simpleshots_nearest_class_mean():
    """As UNI's ProtoNet: centred by the training mean, L2-normalised, each prototype the
    mean of its class's normalised features, the prediction the nearest by Euclidean
    distance; the logits are −distance² / temperature."""
    x, y = _clusters(200, dim=12)
    q, _ = _clusters(60, dim=12, seed=4)
    head = PrototypeHead.fit(x, y, num_classes=4, temperature=0.5)
    mean = x.mean(dim=0, keepdim=True)
    zx = torch.nn.functional.normalize(x - mean, dim=1)
    zq = torch.nn.functional.normalize(q - mean, dim=1)
    prototypes = torch.stack([zx[y == c].mean(dim=0) for c in range(4)])
    assert torch.allclose(head.prototypes, prototypes, atol=1e-6)
    distances = (zq[:, None] - prototypes[None]).norm(dim=-1)
    with torch.no_grad():
        logits = head(q)
    assert torch.equal(logits.argmax(dim=1), distances.argmin(dim=1))
    assert torch.allclose(logits, -(distances**2) / 0.5, atol=1e-5)


def _saved(folder: Path, name: str, options: dict) -> tuple[torch.nn.Module, torch.Tensor]:
    """A test_resnet with strategy ``name``'s head fitted on its features of random images,
    saved into ``folder`` as the runner saves a model; returns it and test images (uint8)."""
    torch.manual_seed(0)
    model = create_model("test_resnet", num_classes=3, image_size=32).eval()
    mean, std = input_stats(model)
    images = torch.randint(0, 255, (36, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        x = features(model, (images.float() / 255 - torch.tensor(mean)[:, None, None])
                     / torch.tensor(std)[:, None, None])  # fmt: skip
    head, _ = create_strategy(name, options).fit_features(
        model, FeatureSet(x[:30], torch.arange(30) % 3), None, config=TrainConfig(epochs=2),
        classes=["a", "b", "c"], device=CPU, seed=0, head={"kind": "linear"},
    )  # fmt: skip
    config = {
        "backbone": "test_resnet", "num_classes": 3, "classes": ["a", "b", "c"], "head": head,
        "image_size": 32, "in_chans": 3, "mean": list(mean), "std": list(std),
        "preprocess": [], "dropout": 0.0,
    }  # fmt: skip
    save_model(model, folder, config=config)
    return model.eval(), images[30:]


@pytest.mark.parametrize(
    ("name", "options"),
    [("knn", {"k": 5, "weights": "distance"}), ("logistic", {}), ("prototype", {}),
     ("linear_probe", {})],
)  # fmt: skip
def test_a_fitted_head_is_saved_loaded_and_served(name, options, tmp_path):
    """config.json's head rebuilds the head (a kNN model carries its support set) with the
    same predictions, and a Predictor serves the saved folder."""
    from benchmark.serve.predictor import Predictor

    folder = tmp_path / name
    trained, images = _saved(folder, name, options)
    loaded, config = load_model(folder)
    assert config["head"]["kind"] == (name if name in PROBE_HEADS else "linear")
    predictor = Predictor.load(folder, device="cpu")
    arrays = [image.permute(1, 2, 0).numpy() for image in images]
    table = predictor.predict(arrays)
    x = predictor.normalized(images)
    with torch.no_grad():
        expected = loaded(x).softmax(dim=1).numpy()
        assert torch.equal(loaded(x), trained(x))
    assert np.allclose(table[["a", "b", "c"]].to_numpy(), expected, atol=1e-6)
    assert np.allclose(expected.sum(axis=1), 1, atol=1e-5)
    if name == "knn":
        assert loaded.get_classifier().support.shape == (30, loaded.num_features)


def _medmnist_plus_knn(x, targets, q, k: int = 11) -> np.ndarray:
    """MedMNIST+'s multi-label kNN (``utils.knn_majority_vote``): scikit-learn's
    ``NearestNeighbors(n_neighbors=11)`` on the raw features, each label present where more
    than half of the neighbours have it."""
    from sklearn.neighbors import NearestNeighbors

    _, index = NearestNeighbors(n_neighbors=k, algorithm="ball_tree").fit(x).kneighbors(q)
    return targets[index].mean(axis=1) > 0.5


def test_multilabel_knn_votes_per_label_as_medmnist_plus():
    """Per label, the neighbours' fraction: MedMNIST+'s decisions at 0.5, the fractions a
    sigmoid of the logits gives back; saved and rebuilt from its config."""
    g = torch.Generator().manual_seed(0)
    x, y = _clusters(300, classes=5, dim=8)
    targets = (torch.rand(300, 6, generator=g) < 0.2).float()
    targets[:, 0] = (y == 1).float()  # two labels that follow the clusters
    targets[:, 1] = (y >= 3).float()
    q, _ = _clusters(80, classes=5, dim=8, seed=3)
    head = KnnHead.fit(x, targets, num_classes=6, k=11, metric="euclidean", centre=False,
                       normalize=False)  # fmt: skip
    probs = head.probabilities(q)
    assert probs.shape == (80, 6)
    expected = _medmnist_plus_knn(x.numpy(), targets.numpy(), q.numpy())
    assert ((probs > 0.5).numpy() == expected).all()
    assert np.allclose((probs * 11).numpy(), (probs * 11).round().numpy(), atol=1e-5)
    with torch.no_grad():
        assert torch.allclose(head(q).sigmoid(), probs, atol=1e-6)
    assert head.config()["multilabel"] is True
    rebuilt = _heads.create_head(head.config(), num_classes=6)
    rebuilt.load_state_dict(head.state_dict())
    assert torch.equal(rebuilt(q), head(q))
    assert "multilabel" not in KnnHead.fit(x, y, num_classes=5, k=3).config()  # as before


def test_multilabel_knn_leaves_out_the_neighbours_missing_a_label():
    x = torch.tensor([[0.0], [1.0], [2.0], [10.0]])
    targets = torch.tensor([[1.0, float("nan")], [0.0, float("nan")], [1.0, float("nan")],
                            [0.0, 1.0]])  # fmt: skip
    head = KnnHead.fit(x, targets, num_classes=2, k=3, metric="euclidean", centre=False,
                       normalize=False)  # fmt: skip
    probs = head.probabilities(torch.tensor([[1.0]]))
    assert torch.allclose(probs, torch.tensor([[2 / 3, 0.5]]))  # nobody near knows label 2
