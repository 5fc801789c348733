"""The kNN probe's neighbour search against scikit-learn's, on the same embeddings.

    python -m tests.perf.bench_knn [--support 50000] [--queries 10000] [--dim 768] [--k 20]
                                   [--tree-queries 100] [--device cpu]

Embeddings are random but clustered as a backbone's are (200 clusters around random
centres, ten classes, Gaussian spread of about a third of the distance between centres);
the support set and the queries are drawn alike. medbench's ``knn`` head (centred by the
support mean, L2-normalised, cosine: UNI's protocol) finds each query's k nearest neighbours
with a batched top-k in torch; scikit-learn's ``KNeighborsClassifier`` is given the very
same normalised embeddings, by brute force (cosine, and Euclidean, which on unit vectors
orders neighbours alike) and by ball tree (Euclidean; it is slow in 768 dimensions, so it
answers the first ``--tree-queries`` queries and its time is scaled to all of them).

Printed: seconds for all queries, each method's time as a ratio to medbench's, and the
share of queries whose k neighbours are the same set as medbench's, with the largest
difference of their vote fractions.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.neighbors import KNeighborsClassifier

from benchmark.models import KnnHead


def embeddings(support: int, queries: int, *, dim: int, seed: int = 0):
    """Clustered random embeddings (support, its labels, queries), float32."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(200, dim, generator=g)
    spread = 0.33 * torch.cdist(centres[:20], centres[:20]).median() / dim**0.5

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        cluster = torch.randint(0, len(centres), (n,), generator=g)
        return centres[cluster] + spread * torch.randn(n, dim, generator=g), cluster % 10

    x, y = draw(support)
    q, _ = draw(queries)
    return x, y, q


def same_sets(a: np.ndarray, b: np.ndarray) -> float:
    """Share of rows whose index sets agree."""
    return float((np.sort(a, axis=1) == np.sort(b, axis=1)).all(axis=1).mean())


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--support", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--tree-queries", type=int, default=100)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    x, y, q = embeddings(args.support, args.queries, dim=args.dim)
    print(f"{args.support} × {args.dim} support, {args.queries} queries, k = {args.k}, "
          f"{torch.get_num_threads()} threads, {device}")  # fmt: skip

    head = KnnHead.fit(x.to(device), y.to(device), num_classes=10, k=args.k)
    qd = q.to(device)
    head.probabilities(qd[:256])  # warm-up (allocator, kernels)
    if device.type == "cuda":
        torch.cuda.synchronize(device)

    def run(fn):
        def call():
            out = fn(qd)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            return out

        return timed(call)

    (_, index), search_s = run(head.neighbours)
    probs, votes_s = run(head.probabilities)
    index, probs = index.cpu().numpy(), probs.cpu().numpy()
    print(f"medbench top-k: {search_s:.2f} s (neighbours), {votes_s:.2f} s with the votes")

    sx = head.support.cpu().numpy()
    sq = head.transform(qd).cpu().numpy()
    labels = y.numpy()
    rows = []
    for name, metric, algorithm, n in [
        ("sklearn brute cosine", "cosine", "brute", args.queries),
        ("sklearn brute euclidean", "euclidean", "brute", args.queries),
        ("sklearn ball tree", "euclidean", "ball_tree", min(args.tree_queries, args.queries)),
    ]:
        knn = KNeighborsClassifier(n_neighbors=args.k, metric=metric, algorithm=algorithm)
        _, fit_s = timed(lambda knn=knn: knn.fit(sx, labels))
        (_, their), seconds = timed(lambda knn=knn, n=n: knn.kneighbors(sq[:n]))
        their_probs = knn.predict_proba(sq[:n])
        scaled = seconds * args.queries / n
        rows.append((name, scaled, search_s))
        print(f"{name}: {scaled:.2f} s for all queries"
              + (f" (scaled from {n})" if n < args.queries else "")
              + f", fit {fit_s:.2f} s; {scaled / search_s:.1f}× medbench's time; "
              f"same neighbours for {same_sets(their, index[:n]):.4f} of queries, "
              f"vote fractions within {np.abs(their_probs - probs[:n]).max():.2g}")  # fmt: skip


if __name__ == "__main__":
    main()
