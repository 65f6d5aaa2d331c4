"""The fine channel of a tiled product whose tiles the model sees at its own size or shrunk: every cell of the
model's stride-4 map searched, unaveraged, against a bank of the teach tiles' cells.

Why: a patch vector averages the stride-4 map over 3x3 cells and then 2x2 onto the stride-8 grid, so a dot
that lights one or two cells is diluted many times over before the search. Where a 512-pixel tile is shrunk
to a 224 model, a defect 2-5 frame pixels across covers about one cell, and the patch search misses it.

A cell's score is its cosine distance to the nearest fine-bank vector times the bank's scale, which puts it
on the patch scores' scale: scale = the highest held-out patch score of the teach frames / their highest
held-out cell score (each frame's cells against the fine bank without the vectors it gave: fine_teach.py). A
patch's score is then the higher of its own and the highest of the cells it covers (onto_patch_grid), so the
threshold, the image score, the heatmap and the regions need nothing else.

Taught only for tiles the model sees at its own size or shrunk (FINE_FROM_SHRINK): a tile enlarged on the way
to the model already shows a few frame pixels as several cells of a patch, and there the fine cells add a
structured part's sharp edges, not its defects (README "Accuracy", the fine channel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from patchcore.geometry import FramePlan
from patchcore.model import ModelInfo

FINE_CORESET_RATIO = 0.01  # the fine bank keeps this share of the teach cells (counting at most 16 images)
FINE_FROM_SHRINK = 1.0  # tile side / model input size from which a product has a fine bank


@dataclass(frozen=True)
class FineBank:
    """vectors: [M, fine_dim] float32 unit vectors (a coreset of the teach cells); scale: what a cell's
    distance is multiplied by to be on the patch scores' scale."""

    vectors: np.ndarray
    scale: float


def wants_fine_bank(model: ModelInfo, plan: FramePlan) -> bool:
    """Whether a product whose frames become model inputs as plan says gets a fine bank on this model."""
    if model.fine_grid is None or not plan.tiled:
        return False
    tile = plan.tiles[0]
    return min(tile.width, tile.height) >= FINE_FROM_SHRINK * model.input_size


def onto_patch_grid(cell_scores: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """cell_scores: [T, fh, fw] -> [T, h, w] (grid = (h, w), fh and fw whole multiples of them): the highest
    cell score under each patch."""
    tiles, fine_h, fine_w = cell_scores.shape
    height, width = grid
    blocks = cell_scores.reshape(tiles, height, fine_h // height, width, fine_w // width)
    return blocks.max(axis=(2, 4))


def under_patches(patches: np.ndarray, fine_grid: tuple[int, int]) -> np.ndarray:
    """patches: [T, h, w] -> [T, fh, fw] (fine_grid = (fh, fw)): each cell takes the value of the patch it
    lies under (the cells onto_patch_grid takes the highest of)."""
    _, height, width = patches.shape
    fine_h, fine_w = fine_grid
    return np.repeat(np.repeat(patches, fine_h // height, axis=1), fine_w // width, axis=2)
