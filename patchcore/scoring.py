"""Score: patch features -> patch scores, the cosine distance of each patch to its nearest memory-bank
vector, and a frame's image score (the highest patch score, or the mean of the top_k highest).

A frame's image score needs the exact scores of only the few patches that can be among the highest. A
patch's distance to the nearest vector of part of the bank is never below its distance to the nearest of the
whole bank, so it bounds the patch's score from above; the bank's rows are in greedy-coreset order, so its
first quarter and first half are coresets themselves and their bounds are close. The patches with the highest
bounds by the first quarter are searched against the whole bank; the score they set prunes every patch whose
bound is not above it, by the quarter and then by the half; the patches left are searched against the whole
bank. The image score is the same as from every patch, for a fraction of the search where the frame and
the bank are large (a tiled frame; figures: README "Performance"); there every patch's exact score is
searched only when a heatmap or regions need them.
"""

from __future__ import annotations

import time
from functools import cached_property

import numpy as np

from patchcore.bank import MemoryBank
from patchcore.errors import InvalidInput, ProductUnusable
from patchcore.knn import NearestNeighbours
from patchcore.model import ModelInfo

FIRST_EXACT_BLOCK = 64  # patches searched against the whole bank at a time at first; then twice as many
# Patch-bank pairs of a frame from which its image score comes from the bounded search: below, the bounds'
# extra searches cost about what they save (a 640x480 frame against 628 vectors: 0.5M), above, they save
# a quarter to three quarters of the search (README "Performance").
BOUNDED_FROM_PAIRS = 2_000_000


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
        self.view = bank.view(model.input_size)
        self._neighbours = NearestNeighbours(bank.vectors)

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

    @cached_property
    def _quarter(self) -> NearestNeighbours:
        """The bank's first quarter, built when a frame's bounds are first needed (a product whose frames
        never need them keeps no copy)."""
        return NearestNeighbours(self.bank.vectors[: max(1, len(self.bank.vectors) // 4)])

    @cached_property
    def _half(self) -> NearestNeighbours:
        return NearestNeighbours(self.bank.vectors[: max(1, len(self.bank.vectors) // 2)])

    def bounds_pay(self, features: np.ndarray) -> bool:
        """Whether the image score of features [T, h*w, D] is searched by its bounds (BOUNDED_FROM_PAIRS)."""
        return features.shape[0] * features.shape[1] * len(self.bank.vectors) >= BOUNDED_FROM_PAIRS

    def highest_patch_scores(self, features: np.ndarray, count: int) -> np.ndarray:
        """features: [T, h*w, D] float32 -> the `count` highest of their patch scores, exact, highest first
        (fewer when there are fewer patches). Searches the whole bank only for the patches whose bounds say
        they could be among them (module docstring)."""
        self._check_shape(features)
        patches = features.reshape(-1, self.model.dim)
        count = min(count, len(patches))
        bounds = self._quarter.distances(patches)
        first = np.argsort(-bounds, kind="stable")[: max(FIRST_EXACT_BLOCK, count)]
        found = self._neighbours.distances(patches[first])  # the most promising patches set the bar
        left = np.delete(np.arange(len(patches)), first)
        left = left[bounds[left] > _lowest_of_top(found, count)]
        if not len(left):
            return _highest(found, count)
        bounds = self._half.distances(patches[left])
        order = np.argsort(-bounds, kind="stable")
        left, bounds = left[order], bounds[order]
        searched, block = 0, FIRST_EXACT_BLOCK
        while searched < len(left) and bounds[searched] > _lowest_of_top(found, count):
            rows = left[searched : searched + block]
            found = np.concatenate([found, self._neighbours.distances(patches[rows])])
            searched, block = searched + len(rows), block * 2
        return _highest(found, count)

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
        if self._grids is None and not self._scorer.bounds_pay(self._features):
            self.grids()
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


def _highest(scores: np.ndarray, count: int) -> np.ndarray:
    return -np.sort(-scores)[:count]


def _lowest_of_top(scores: np.ndarray, count: int) -> float:
    """The count-th highest of scores: a patch must score above it to be among the count highest."""
    return float(np.partition(scores, len(scores) - count)[len(scores) - count])


def image_score(patch_scores: np.ndarray, top_k: int) -> float:
    """patch_scores: any shape -> the max (top_k = 1, plain PatchCore) or the mean of the top_k highest."""
    flat = patch_scores.ravel()
    if top_k <= 1:
        return float(flat.max())
    top_k = min(top_k, flat.size)
    return float(np.partition(flat, flat.size - top_k)[-top_k:].mean())
