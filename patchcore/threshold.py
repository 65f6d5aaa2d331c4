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

from patchcore.errors import InvalidInput
from patchcore.knn import NearestNeighbours
from patchcore.progress import ProgressCounter
from patchcore.scoring import image_score

QUERY_CHUNK = 16_384  # rows searched at a time (bounds the float32 copy of the queries)
MAX_THRESHOLD = 2.0  # the cosine distance of opposite unit vectors: no score can be above it


def threshold_from_scores(scores: list[float], threshold_scale: float) -> float:
    """The default threshold for these held-out scores of good images. InvalidInput when it is above
    MAX_THRESHOLD: no frame could score above it, so the product would pass every defect."""
    threshold = float(threshold_scale * max(scores))
    if threshold > MAX_THRESHOLD:
        raise InvalidInput(
            f"threshold_scale {threshold_scale:g} x the highest held-out score of the good images "
            f"({max(scores):.4f}) gives a threshold of {threshold:.4g}, above {MAX_THRESHOLD:g}, the largest "
            "cosine distance: no frame could ever be anomalous; teach with a smaller threshold_scale"
        )
    return threshold


def _rows_by_image(owners: np.ndarray, scored: np.ndarray, image_count: int) -> list[np.ndarray]:
    """For each image 0..image_count-1, the indices of its scored rows (ValueError if an image has none)."""
    rows = np.flatnonzero(scored)
    rows = rows[np.argsort(owners[rows], kind="stable")]
    counts = np.bincount(owners[rows], minlength=image_count)
    if counts.min() == 0:
        raise ValueError(f"teach image {int(np.argmin(counts)) + 1} has no scored patches")
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
    locations: np.ndarray | None = None,
) -> list[float]:
    """Image score of each teach image against the bank without the vectors it contributed, each of them
    replaced by its substitute (see the module docstring).

    patches: [N, D] unit vectors (float32 or float16), owners: [N] int (teach image 0..n-1 of each patch),
    scored: [N] bool (the patches an image is scored by: its un-augmented views), bank_indices: [M] rows of
    patches that form the bank. locations: [P] int, where on its frame each of an image's scored patches lies
    (in row order; FramePlan.patch_locations), so an image's score counts each location once as an
    inspected frame's does; None: each patch a location of its own. Returns n scores, image order.
    progress(done, total) counts the scored patches through the two searches.
    """
    image_count = int(owners.max()) + 1
    if image_count < 2:
        raise ValueError("held-out scores need at least 2 images")
    rows_by_image = _rows_by_image(owners, scored, image_count)
    rows = np.concatenate(rows_by_image)
    bank_owners = owners[bank_indices]
    searched = ProgressCounter(2 * len(rows), progress)
    distances, cells = _nearest(patches, bank_indices, rows, searched)
    substitutes = _substitutes(owners, rows, cells, distances, bank_owners)
    held_out = _held_out_distances(patches, owners, rows_by_image, bank_indices, substitutes, searched)
    offsets = np.cumsum([len(image_rows) for image_rows in rows_by_image])[:-1]
    return [image_score(distances, top_k, locations) for distances in np.split(held_out, offsets)]


def _nearest(
    patches: np.ndarray, bank_rows: np.ndarray, query_rows: np.ndarray, searched: ProgressCounter
) -> tuple[np.ndarray, np.ndarray]:
    """For each of query_rows (rows of patches): the distance to the nearest of bank_rows and its position
    in bank_rows, searched QUERY_CHUNK queries at a time."""
    bank = NearestNeighbours(patches[bank_rows].astype(np.float32))
    distances, positions = [], []
    for start in range(0, len(query_rows), QUERY_CHUNK):
        found, neighbours = bank.search(
            patches[query_rows[start : start + QUERY_CHUNK]].astype(np.float32), 1
        )
        distances.append(found[:, 0])
        positions.append(neighbours[:, 0])
        searched.advance(len(found))
    return np.concatenate(distances), np.concatenate(positions)


def _held_out_distances(
    patches: np.ndarray,
    owners: np.ndarray,
    rows_by_image: list[np.ndarray],
    bank_indices: np.ndarray,
    substitutes: np.ndarray,
    searched: ProgressCounter,
) -> np.ndarray:
    """[Q] distance of each scored row (rows_by_image concatenated) to the nearest vector its image's
    held-out bank holds: the bank vectors of the other images and the substitutes of its image's own.

    One exact search per image against its own held-out bank: the bank's size in vectors, so the work is
    that of one search of every row against the bank (a shared deeper search of bank and substitutes
    together costs several times more in neighbour selection).
    """
    replaced = substitutes >= 0
    entries = np.concatenate([bank_indices, substitutes[replaced]])
    is_substitute = np.arange(len(entries)) >= len(bank_indices)
    # the image whose held-out bank an entry is special to: a bank vector is left out of its owner's, a
    # substitute is in the held-out bank of the image whose vector it replaces and in no other
    special_to = np.concatenate([owners[bank_indices], owners[bank_indices][replaced]])
    distances = []
    for image, image_rows in enumerate(rows_by_image):
        held_out = (special_to == image) == is_substitute
        distances.append(_nearest(patches, entries[held_out], image_rows, searched)[0])
    return np.concatenate(distances)
