"""Greedy k-center coreset (PatchCore's memory-bank subsampling), cost and memory bounded for big teaches.

Picks `count` rows of the feature matrix so that every row is close to a picked one: start from a seeded
random row, then repeatedly pick the row farthest from everything picked so far. Distances for the selection
are measured after a random Gaussian projection to `projection_dim` dimensions (Johnson-Lindenstrauss: it
keeps distances roughly and makes each step cheaper), as in PatchCore. One matrix-vector product per step,
done by einsum rather than BLAS: a multi-threaded BLAS call per step costs more in thread wake-ups than the
product itself, badly so when other work shares the cores.

Each step is one pass over the rows searched, so a search costs rows x count steps. Two limits keep a teach
bounded however many images and tiles it has: the bank stops growing past BANK_IMAGE_LIMIT images' worth of
patches (bank_size), and one search runs over at most CHUNK_ROWS rows (greedy_coreset searches more chunk by
chunk). Cost: at most about (2 CHUNK_ROWS + 2 count) x count steps; working memory: CHUNK_ROWS x
(projection_dim + 2) float32.
"""

import math
from collections.abc import Callable

import numpy as np

from patchcore.progress import ProgressCounter

BANK_IMAGE_LIMIT = 16  # the bank keeps coreset_ratio x the patches of at most this many images
CHUNK_ROWS = 16_384  # rows one greedy search runs over; more are searched chunk by chunk
CHUNK_OVERSAMPLING = 2  # the chunks together keep this many times the final count for the last search
PROJECTION_DIM = 128
_PROJECTION_CHUNK = 16_384  # rows gathered and projected at a time
PROGRESS_PICKS = 64  # a search reports its progress every this many picks


def _projected(features: np.ndarray, rows: np.ndarray, projection_dim: int | None, seed: int) -> np.ndarray:
    """features[rows] after the random projection: [len(rows), min(projection_dim, D)] float32.

    Gathered and projected chunk by chunk, so no full-width copy of the rows is made (features may be
    float16 or float32). projection_dim None or >= D keeps the rows as they are.
    """
    dim = features.shape[1]
    matrix = None
    if projection_dim is not None and projection_dim < dim:
        gaussian = np.random.default_rng(seed).standard_normal((dim, projection_dim)).astype(np.float32)
        matrix = gaussian / np.float32(np.sqrt(projection_dim))
    points = np.empty((len(rows), dim if matrix is None else projection_dim), dtype=np.float32)
    for start in range(0, len(rows), _PROJECTION_CHUNK):
        chunk = features[rows[start : start + _PROJECTION_CHUNK]].astype(np.float32)
        points[start : start + len(chunk)] = chunk if matrix is None else chunk @ matrix
    return points


def _farthest_first(points: np.ndarray, count: int, seed: int, picks: ProgressCounter) -> np.ndarray:
    """Positions (in selection order) of `count` rows of points [N, d] picked by greedy k-center."""
    total = len(points)
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
        if step % PROGRESS_PICKS == 0 or step == count:
            picks.advance(step % PROGRESS_PICKS or PROGRESS_PICKS)
    return selected


def _greedy_over(
    features: np.ndarray,
    rows: np.ndarray,
    count: int,
    projection_dim: int | None,
    seed: int,
    picks: ProgressCounter,
) -> np.ndarray:
    """The rows (a subset of features' row indices) that a greedy search over them picks, count at most."""
    if count >= len(rows):
        picks.advance(count)
        return rows
    points = _projected(features, rows, projection_dim, seed)
    return rows[_farthest_first(points, count, seed, picks)]


def greedy_coreset(
    features: np.ndarray,
    count: int,
    projection_dim: int | None = PROJECTION_DIM,
    seed: int = 0,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Indices (int64, in selection order) of `count` rows of features [N, D] chosen by greedy k-center.

    Up to chunk_rows rows: one exact greedy search. Beyond: each run of chunk_rows consecutive rows keeps
    its share of CHUNK_OVERSAMPLING x count rows by its own greedy search, and a last greedy search picks
    `count` of those. Every row is then within (its chunk's radius + the last search's radius) of a picked
    one, and the farthest rows, which a greedy search picks first, are never dropped the way a random
    subsample drops them. Deterministic for a given seed. count >= N returns all rows.
    progress(done, total) is called as the searches pick rows.
    """
    if features.ndim != 2 or features.shape[0] == 0:
        raise ValueError(f"features must be a non-empty [N, D] matrix, got shape {features.shape}")
    if count < 1:
        raise ValueError(f"coreset size must be at least 1, got {count}")
    rows = np.arange(features.shape[0], dtype=np.int64)
    chunks = [] if len(rows) <= chunk_rows else np.array_split(rows, math.ceil(len(rows) / chunk_rows))
    share = math.ceil(CHUNK_OVERSAMPLING * count / max(len(chunks), 1))
    picks = ProgressCounter(share * len(chunks) + count, progress)
    if chunks:
        kept = [_greedy_over(features, chunk, share, projection_dim, seed, picks) for chunk in chunks]
        rows = np.sort(np.concatenate(kept))
    return _greedy_over(features, rows, count, projection_dim, seed, picks)


def coreset_size(rows: int, ratio: float) -> int:
    """How many of `rows` patches a coreset with this ratio keeps (at least one)."""
    return max(1, math.ceil(rows * ratio))


def bank_size(scored_rows: int, image_count: int, ratio: float) -> int:
    """Bank vectors for a teach of image_count images with scored_rows patches in their un-augmented views:
    coreset_ratio x those patches, counting at most BANK_IMAGE_LIMIT images' worth. Past that, more images
    widen the choice of patches (as augmented views do) but not the bank, so the selection and every
    inspection's search stay bounded."""
    counted = min(image_count, BANK_IMAGE_LIMIT)
    return coreset_size(scored_rows * counted // image_count, ratio)
