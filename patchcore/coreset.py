"""Greedy k-center coreset (PatchCore's memory-bank subsampling).

Picks `count` rows of the feature matrix so that every row is close to a picked one: start from a seeded
random row, then repeatedly pick the row farthest from everything picked so far. Distances for the selection
are measured after a random Gaussian projection to `projection_dim` dimensions (Johnson-Lindenstrauss: it
keeps distances roughly and makes each step cheaper), as in PatchCore. One matrix-vector product per step,
done by einsum rather than BLAS: a multi-threaded BLAS call per step costs more in thread wake-ups than the
product itself, badly so when other work shares the cores.
"""

import math

import numpy as np


def random_projection(features: np.ndarray, projection_dim: int | None, seed: int) -> np.ndarray:
    """features: [N, D] -> [N, min(projection_dim, D)] float32 (unchanged if projection_dim is None/>= D)."""
    features = np.asarray(features, dtype=np.float32)
    if projection_dim is None or projection_dim >= features.shape[1]:
        return features
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((features.shape[1], projection_dim)).astype(np.float32)
    return features @ (matrix / np.float32(np.sqrt(projection_dim)))


def greedy_coreset(
    features: np.ndarray, count: int, projection_dim: int | None = 128, seed: int = 0
) -> np.ndarray:
    """Indices (int64, in selection order) of `count` rows of features [N, D] chosen by greedy k-center.

    Deterministic for a given seed. count >= N returns all rows.
    """
    if features.ndim != 2 or features.shape[0] == 0:
        raise ValueError(f"features must be a non-empty [N, D] matrix, got shape {features.shape}")
    if count < 1:
        raise ValueError(f"coreset size must be at least 1, got {count}")
    total = features.shape[0]
    if count >= total:
        return np.arange(total, dtype=np.int64)
    points = random_projection(features, projection_dim, seed)
    squared_norms = np.einsum("nd,nd->n", points, points)
    selected = np.empty(count, dtype=np.int64)
    selected[0] = np.random.default_rng(seed).integers(total)
    min_distances = np.full(total, np.inf, dtype=np.float32)
    distances = np.empty(total, dtype=np.float32)
    for step in range(1, count + 1):
        newest = selected[step - 1]
        # squared Euclidean distance of every row to the newest center: |p|^2 - 2 p.c + |c|^2
        np.einsum("nd,d->n", points, points[newest], out=distances)
        distances *= -2.0
        distances += squared_norms
        distances += squared_norms[newest]
        np.minimum(min_distances, distances, out=min_distances)
        if step < count:
            selected[step] = np.argmax(min_distances)
    return selected


def coreset_size(rows: int, ratio: float) -> int:
    """How many of `rows` patches a coreset with this ratio keeps (at least one)."""
    return max(1, math.ceil(rows * ratio))
