"""Teaching a product's fine bank (patchcore/fine.py): a coreset of the teach frames' cells, and the scale
that puts a cell's distance on the patch scores' scale, from held-out scores as the threshold's are."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from patchcore.coreset import bank_size, greedy_coreset
from patchcore.fine import FINE_CORESET_RATIO, FineBank
from patchcore.threshold import threshold_scores


def teach_fine_bank(
    cells: np.ndarray,
    owners: np.ndarray,
    patch_held_out: list[float],
    seed: int,
    progress: Callable[[int, int], None] | None = None,
) -> FineBank:
    """The fine bank of the teach frames' cells [N, fine_dim] (float16 or float32 unit vectors; owners: [N]
    the teach frame of each) and the frames' held-out patch scores. progress(done, total) counts coreset
    picks (the held-out scores take a small part of the time the picks do)."""
    image_count = int(owners.max()) + 1
    count = bank_size(len(cells), image_count, FINE_CORESET_RATIO)
    indices = greedy_coreset(cells, count, seed=seed, progress=progress)
    held_out = max(threshold_scores(cells, owners, np.ones(len(cells), dtype=bool), indices, 1))
    vectors = cells[indices].astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return FineBank(vectors, max(patch_held_out) / held_out if held_out > 0 else 1.0)
