"""The default threshold, from good images only (no defect image is ever needed or accepted).

Held-out scores: each teach image is scored (its un-augmented views, every tile) against the final memory
bank with the vectors that image contributed taken out, so no patch is matched to itself and the score is a
fair sample of what a new good part scores. Each vector taken out is replaced by its substitute: of the
other images' patches it was the nearest bank vector of, the one nearest to it, the patch a coreset built
without the image would most likely have kept there (without substitutes, the holes raise the scores). This
stands in for a true leave-one-out (one coreset per left-out image, a cost that grew with the square of the
image count) at the cost of two searches of the teach patches against the bank; the benchmarks compare the
two (README, "Accuracy").

Rule: threshold = threshold_scale * max(held-out scores), with threshold_scale defaulting to
patchcore.bank.DEFAULT_THRESHOLD_SCALE. The max errs towards fewer false alarms; the scale above 1 covers
good parts in the field varying more than the teach images show. An operator trades false alarms for misses
with the product's threshold (UpdateProduct) or threshold_scale at teach time.
"""

from collections.abc import Callable

import numpy as np

from patchcore.knn import NearestNeighbours
from patchcore.verdict import image_score

QUERY_CHUNK = 65_536  # rows searched at a time (bounds the float32 copy of the queries)


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


def _substitutes(
    owners: np.ndarray, rows: np.ndarray, cells: np.ndarray, distances: np.ndarray, bank_owners: np.ndarray
) -> np.ndarray:
    """[M] for each bank vector, the row nearest to it among the rows whose nearest bank vector it is and
    that another image owns (-1 where there is none). rows: [Q] row indices; cells, distances: [Q] their
    nearest bank vector and the distance to it."""
    foreign = np.flatnonzero(owners[rows] != bank_owners[cells])
    by_cell_nearest_first = foreign[np.lexsort((distances[foreign], cells[foreign]))]
    kept_cells, first = np.unique(cells[by_cell_nearest_first], return_index=True)
    substitutes = np.full(len(bank_owners), -1, dtype=np.int64)
    substitutes[kept_cells] = rows[by_cell_nearest_first[first]]
    return substitutes


def threshold_scores(
    patches: np.ndarray,
    owners: np.ndarray,
    scored: np.ndarray,
    bank_indices: np.ndarray,
    top_k: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[float]:
    """Image score of each teach image against the bank without the vectors it contributed, each of them
    replaced by its substitute (see the module docstring).

    patches: [N, D] unit vectors (float32 or float16), owners: [N] int (teach image 0..n-1 of each patch),
    scored: [N] bool (the patches an image is scored by: its un-augmented views), bank_indices: [M] rows of
    patches that form the bank. Returns n scores, image order. progress(done, total) after each image.
    """
    image_count = int(owners.max()) + 1
    if image_count < 2:
        raise ValueError("held-out scores need at least 2 images")
    rows_by_image = _rows_by_image(owners, scored, image_count)
    rows = np.concatenate(rows_by_image)
    bank_owners = owners[bank_indices]
    distances, cells = _nearest_in_bank(patches, rows, bank_indices)
    substitutes = _substitutes(owners, rows, cells, distances, bank_owners)
    offsets = np.cumsum([len(image_rows) for image_rows in rows_by_image])[:-1]
    scores = []
    for image, (image_rows, image_distances, image_cells) in enumerate(
        zip(rows_by_image, np.split(distances, offsets), np.split(cells, offsets), strict=True)
    ):
        own = bank_owners == image
        replacements = substitutes[own & (substitutes >= 0)]
        # rows whose nearest bank vector is another image's keep it, unless a substitute is nearer;
        # the others are searched again against the bank without the image's vectors
        lost = own[image_cells]
        held_out = image_distances.copy()
        if len(replacements) and not lost.all():
            nearer = _distances(patches, replacements, image_rows[~lost])
            held_out[~lost] = np.minimum(held_out[~lost], nearer)
        if lost.any():
            bank = np.concatenate([bank_indices[~own], replacements])
            held_out[lost] = _distances(patches, bank, image_rows[lost])
        scores.append(image_score(held_out, top_k))
        if progress is not None:
            progress(len(scores), image_count)
    return scores


def _nearest_in_bank(
    patches: np.ndarray, rows: np.ndarray, bank_indices: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each of rows: the distance to its nearest bank vector and that vector's position in the bank,
    searched QUERY_CHUNK rows at a time."""
    bank = NearestNeighbours(patches[bank_indices].astype(np.float32))
    nearest = [
        bank.nearest(patches[rows[start : start + QUERY_CHUNK]].astype(np.float32))
        for start in range(0, len(rows), QUERY_CHUNK)
    ]
    distances, cells = (np.concatenate(parts) for parts in zip(*nearest, strict=True))
    return distances, cells


def _distances(patches: np.ndarray, bank_rows: np.ndarray, query_rows: np.ndarray) -> np.ndarray:
    """Distance of each of query_rows to its nearest among bank_rows (both rows of patches)."""
    bank = NearestNeighbours(patches[bank_rows].astype(np.float32))
    return bank.distances(patches[query_rows].astype(np.float32))
