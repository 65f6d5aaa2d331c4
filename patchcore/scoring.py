"""Score: patch features -> patch scores, the cosine distance of each patch to its nearest memory-bank
vector, and a frame's image score (the highest patch score, or the mean of the top_k highest).

A frame's image score needs the exact scores of only the few patches that can be among the highest. A
patch's distance to the nearest of the bank's first half is never below its distance to the nearest of the
whole bank, so it bounds the patch's score from above; the bank's rows are in greedy-coreset order, so that
half is itself a coreset and its bound is close. Patches are searched against the whole bank in the order of
their bounds, until no patch left can be among the top_k: the same image score, at about half the search of a
good frame (figures: README "Performance"). Every patch's exact score is searched only when a heatmap or
regions need them.
"""

from __future__ import annotations

import time

import numpy as np

from patchcore.bank import MemoryBank
from patchcore.errors import InvalidInput, ProductUnusable
from patchcore.knn import NearestNeighbours
from patchcore.model import ModelInfo

FIRST_EXACT_BLOCK = 64  # patches searched against the whole bank at first; each further block doubles


class Scorer:
    """Scores frames of one product with one model (ProductUnusable if the bank is for another model)."""

    def __init__(self, bank: MemoryBank, model: ModelInfo) -> None:
        if bank.model_fingerprint != model.fingerprint:
            raise ProductUnusable(
                f"product {bank.product_id!r} was taught with another model (fingerprint "
                f"{bank.model_fingerprint[:12]}); the loaded model {model.backbone} has "
                f"{model.fingerprint[:12]}. Teach the product again with this model."
            )
        if bank.vectors.ndim != 2 or bank.vectors.shape[1] != model.dim:
            raise ProductUnusable(
                f"product {bank.product_id!r} has {bank.vectors.shape[-1]}-dim vectors, "
                f"the model gives {model.dim}"
            )
        self.bank = bank
        self.model = model
        self.view = bank.teach_options.view(model.input_size)
        self._neighbours = NearestNeighbours(bank.vectors)
        self._bound = NearestNeighbours(bank.vectors[: max(1, len(bank.vectors) // 2)])

    def frame_scores(self, features: np.ndarray) -> PatchScores:
        """features: [T, h*w, D] float32 of one frame's T model inputs -> its PatchScores (nothing searched
        yet)."""
        self._check_shape(features)
        return PatchScores(features, self)

    def patch_scores(self, features: np.ndarray) -> np.ndarray:
        """features: [B, h*w, D] float32 -> [B, h, w] float32 patch scores (one search for the batch)."""
        self._check_shape(features)
        distances = self._neighbours.distances(features.reshape(-1, self.model.dim))
        return distances.reshape(features.shape[0], *self.model.grid)

    def highest_patch_scores(self, features: np.ndarray, count: int) -> np.ndarray:
        """features: [T, h*w, D] float32 -> the `count` highest of their patch scores, exact, highest first
        (fewer when there are fewer patches). Searches the whole bank only for the patches whose bound says
        they could be among them (module docstring)."""
        self._check_shape(features)
        patches = features.reshape(-1, self.model.dim)
        count = min(count, len(patches))
        bounds = self._bound.distances(patches)
        order = np.argsort(-bounds, kind="stable")
        found = np.empty(0, dtype=np.float32)
        searched, block = 0, FIRST_EXACT_BLOCK
        while True:
            rows = order[searched : searched + block]
            found = np.concatenate([found, self._neighbours.distances(patches[rows])])
            searched += len(rows)
            top = -np.sort(-found)[:count]
            if searched == len(patches) or (len(top) == count and bounds[order[searched]] <= top[-1]):
                return top
            block *= 2

    def _check_shape(self, features: np.ndarray) -> None:
        grid_h, grid_w = self.model.grid
        if features.ndim != 3 or features.shape[1:] != (grid_h * grid_w, self.model.dim):
            raise InvalidInput(
                f"features must be [B, {grid_h * grid_w}, {self.model.dim}], got shape {features.shape}"
            )


class PatchScores:
    """One frame's patch scores, searched as far as they are asked for: the image score from the patches
    that can be the highest, the grids (every patch) when a heatmap or regions need them. Either is
    searched once and kept; search_seconds adds up the time both took."""

    def __init__(self, features: np.ndarray | None, scorer: Scorer | None, grids: np.ndarray | None = None):
        self._features = features
        self._scorer = scorer
        self._grids = grids
        self._top: tuple[int, float] | None = None  # (top_k, image score)
        self.search_seconds = 0.0

    @classmethod
    def known(cls, grids: np.ndarray) -> PatchScores:
        """Scores already searched: grids [T, h, w] float32."""
        return cls(None, None, grids)

    def image_score(self, top_k: int) -> float:
        """The highest patch score (top_k = 1, plain PatchCore) or the mean of the top_k highest."""
        if self._grids is not None:
            return image_score(self._grids, top_k)
        if self._top is None or self._top[0] != top_k:
            started = time.perf_counter()
            highest = self._scorer.highest_patch_scores(self._features, max(top_k, 1))
            self.search_seconds += time.perf_counter() - started
            self._top = (top_k, float(highest.mean()))
        return self._top[1]

    def grids(self) -> np.ndarray:
        """[T, h, w] float32: every patch's score."""
        if self._grids is None:
            started = time.perf_counter()
            self._grids = self._scorer.patch_scores(self._features)
            self.search_seconds += time.perf_counter() - started
        return self._grids


def image_score(patch_scores: np.ndarray, top_k: int) -> float:
    """patch_scores: any shape -> the max (top_k = 1, plain PatchCore) or the mean of the top_k highest."""
    flat = patch_scores.ravel()
    if top_k <= 1:
        return float(flat.max())
    top_k = min(top_k, flat.size)
    return float(np.partition(flat, flat.size - top_k)[-top_k:].mean())
