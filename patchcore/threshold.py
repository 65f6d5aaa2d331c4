"""The default threshold, from good images only (no defect image is ever needed or accepted).

Held-out scores: each teach image is scored (its un-augmented views, every tile) against the final memory
bank without the vectors that image contributed, so no patch is matched to itself and the score is a fair
sample of what a new good part scores. This stands in for a true leave-one-out (one coreset per left-out
image, whose cost grew with the square of the image count) and sets the same thresholds on the benchmarks
(README, "Accuracy").

Rule: threshold = threshold_scale * max(held-out scores), with threshold_scale defaulting to
patchcore.bank.DEFAULT_THRESHOLD_SCALE. The max errs towards fewer false alarms; the scale above 1 covers
good parts in the field varying more than the teach images show. An operator trades false alarms for misses
with the product's threshold (UpdateProduct) or threshold_scale at teach time.
"""

from collections.abc import Callable

import numpy as np

from patchcore.knn import NearestNeighbours
from patchcore.scoring import image_score


def threshold_from_scores(scores: list[float], threshold_scale: float) -> float:
    """The default threshold for these held-out scores of good images."""
    return float(threshold_scale * max(scores))


def _rows_by_image(owners: np.ndarray, scored: np.ndarray, image_count: int) -> list[np.ndarray]:
    """For each image 0..image_count-1, the indices of its scored rows (ValueError if an image has none)."""
    rows = np.flatnonzero(scored)
    rows = rows[np.argsort(owners[rows], kind="stable")]
    counts = np.bincount(owners[rows], minlength=image_count)
    if counts.min() == 0:
        raise ValueError(f"teach image {int(np.argmin(counts))} has no scored patches")
    return np.split(rows, np.cumsum(counts)[:-1])


def threshold_scores(
    patches: np.ndarray,
    owners: np.ndarray,
    scored: np.ndarray,
    bank_indices: np.ndarray,
    top_k: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[float]:
    """Image score of each teach image against the bank without the vectors it contributed.

    patches: [N, D] unit vectors (float32 or float16), owners: [N] int (teach image 0..n-1 of each patch),
    scored: [N] bool (the patches an image is scored by: its un-augmented views), bank_indices: [M] rows of
    patches that form the bank. Returns n scores, image order. An image that contributed every bank vector
    (only possible with a tiny bank) is scored against all the other images' patches instead.
    progress(done, total) is called after each image.
    """
    image_count = int(owners.max()) + 1
    if image_count < 2:
        raise ValueError("held-out scores need at least 2 images")
    bank_owners = owners[bank_indices]
    scores = []
    for image, rows in enumerate(_rows_by_image(owners, scored, image_count)):
        others = bank_indices[bank_owners != image]
        if len(others) == 0:
            others = np.flatnonzero(owners != image)
        neighbours = NearestNeighbours(patches[others].astype(np.float32))
        scores.append(image_score(neighbours.distances(patches[rows].astype(np.float32)), top_k))
        if progress is not None:
            progress(len(scores), image_count)
    return scores
