"""Score: patch features -> patch scores, the cosine distance of each patch to its nearest memory-bank
vector, and a frame's image score (the highest patch score, or the mean of the top_k highest over the
frame's locations: where tiles overlap, the patches of two tiles that see the same part of the frame count
once, with the higher of their scores; FramePlan.patch_locations).

A frame's image score needs the exact scores of only the few patches that can be among the highest. A patch's
distance to the nearest vector of part of the bank is never below its distance to the nearest of the whole
bank, so it bounds the patch's score from above; the bank's rows are in greedy-coreset order, so its first
rows are coresets themselves and their bounds are close. The bounds come from the bank's first half, its first
quarter and smaller parts each a quarter of the last, down to BOUND_FROM_VECTORS vectors: every patch is
searched against the smallest, the patches with the highest bounds against the whole bank, and the score they
set prunes every patch whose bound is not above it, prefix by prefix, smallest first; the patches left are
searched against the whole bank. The image score is the same as from every patch (to float32 rounding: BLAS
may round a distance apart in the last bits in batches of other sizes), for a fraction of the search where the
frame and the bank are large (a tiled frame; figures: README "Performance"); there every patch's exact score
is searched only when a heatmap is asked for. An anomalous frame's regions need the exact scores only where
the heatmap can rise above the threshold: the bounds (each patch's from the smallest part of the bank that
puts it under the threshold) leave the heatmap under it elsewhere (Scorer.region_scores).

A product with a fine bank (patchcore/fine.py): a patch's score is the higher of its own and its cells'
(scaled); the frame's highest cell is found by the same bounds (the fine bank is in coreset order too), and
every cell is searched when the grids are.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cached_property

import numpy as np

from patchcore.bank import MemoryBank
from patchcore.errors import InvalidInput, ProductUnusable
from patchcore.fine import onto_patch_grid, under_patches
from patchcore.knn import NearestNeighbours
from patchcore.model import ModelInfo

FIRST_EXACT_BLOCK = 64  # patches searched against the whole bank at a time at first; then twice as many
BOUND_FROM_VECTORS = 128  # the smallest prefix of the bank that bounds the patches' scores
# Patch-bank pairs of a frame (patches x bank vectors; a whole 640x480 frame against 628 vectors: 0.5M) from
# which its image score comes from the bounded search: below, the bounds' extra searches cost about what they
# save (the figures: README "Performance").
BOUNDED_FROM_PAIRS = 2_000_000


class BoundedSearch:
    """One bank (vectors [M, D] float32 unit vectors in greedy-coreset order): every query's exact distance
    (whole), and the highest distances of many queries by their bounds (module docstring)."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors
        self.whole = NearestNeighbours(vectors)

    @cached_property
    def _prefixes(self) -> list[NearestNeighbours]:
        """The bank's first half, quarter, sixteenth, ... down to BOUND_FROM_VECTORS vectors (at least the
        half and the quarter), smallest first; built when bounds are first needed (a product whose frames
        never need them keeps no copy)."""
        sizes = [max(1, len(self.vectors) // 4), max(1, len(self.vectors) // 2)]
        while sizes[0] // 4 >= BOUND_FROM_VECTORS:
            sizes.insert(0, sizes[0] // 4)
        return [NearestNeighbours(self.vectors[:size]) for size in sizes]

    def highest(self, queries: np.ndarray, count: int, where: np.ndarray | None = None) -> np.ndarray:
        """queries: [N, D] -> the `count` highest of their distances, exact, highest first (fewer when there
        are fewer). where: [N] int, the location of each query, so that each location counts once, with its
        highest distance; None: every query a location of its own. Searches the whole bank only for the
        queries whose bounds say they could be among them: a query whose bound is not above the count-th
        highest location's distance can neither join the highest nor raise one of them."""
        count = min(count, len(queries) if where is None else len(np.unique(where)))
        smallest, *larger = self._prefixes
        bounds = smallest.distances(queries)
        first = np.argsort(-bounds, kind="stable")[: max(FIRST_EXACT_BLOCK, count)]
        found = _Found(where)
        found.add(first, self.whole.distances(queries[first]))  # the most promising set the bar
        left = np.delete(np.arange(len(queries)), first)
        bounds = bounds[left]
        for prefix in larger:
            left = left[bounds > found.lowest_of_top(count)]
            if not len(left):
                return found.highest(count)
            bounds = prefix.distances(queries[left])
        order = np.argsort(-bounds, kind="stable")
        left, bounds = left[order], bounds[order]
        searched, block = 0, FIRST_EXACT_BLOCK
        while searched < len(left) and bounds[searched] > found.lowest_of_top(count):
            rows = left[searched : searched + block]
            found.add(rows, self.whole.distances(queries[rows]))
            searched, block = searched + len(rows), block * 2
        return found.highest(count)

    def below(self, queries: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
        """queries: [N, D] -> ([N] float32 values, [N] bool exact): each query's distance from the smallest
        part of the bank that puts it under level, an upper bound of it; the exact distance (from the whole
        bank) of those that no part puts under it. Once a part leaves more than half the queries it was
        searched for above level (a frame far from the bank, or a threshold under its good surface's scores),
        the rest are searched against the whole bank at once: larger parts would cost more than they save."""
        values = np.empty(len(queries), np.float32)
        left = np.arange(len(queries))
        for prefix in self._prefixes:
            values[left] = prefix.distances(queries[left])
            searched, left = len(left), left[values[left] >= level]
            if 2 * len(left) > searched:
                break
        values[left] = self.whole.distances(queries[left])
        exact = np.zeros(len(queries), bool)
        exact[left] = True
        return values, exact


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
        if bank.fine is not None and (
            model.fine_grid is None or bank.fine.vectors.shape[1] != model.fine_dim
        ):
            raise ProductUnusable(
                f"product {bank.product_id!r} has a fine bank of {bank.fine.vectors.shape[1]}-dim cells, "
                f"the model gives {model.fine_dim or 'none'}"
            )
        self.bank = bank
        self.model = model
        self.view = bank.view(model.input_size)
        self._patches = BoundedSearch(bank.vectors)
        self._fine = None if bank.fine is None else BoundedSearch(bank.fine.vectors)

    @property
    def wants_fine_cells(self) -> bool:
        """Whether frame_scores needs the model's fine cells beside the features (a product with a fine
        bank)."""
        return self._fine is not None

    def frame_scores(self, features: np.ndarray, fine_cells: np.ndarray | None = None) -> PatchScores:
        """features: [T, h*w, D] float32 of one frame's T model inputs (and their fine cells [T, cells,
        fine_dim] where wants_fine_cells) -> its PatchScores (nothing searched yet)."""
        self._check_shape(features)
        if self.wants_fine_cells and (
            fine_cells is None
            or fine_cells.shape != (len(features), self.model.fine_cell_count, self.model.fine_dim)
        ):
            raise InvalidInput(
                f"product {self.bank.product_id!r} needs the model's fine cells with its features, got "
                f"{None if fine_cells is None else fine_cells.shape}"
            )
        return PatchScores(features, self, fine_cells=fine_cells if self.wants_fine_cells else None)

    def fine_scores(self, fine_cells: np.ndarray) -> np.ndarray:
        """fine_cells: [T, cells, fine_dim] -> [T, h, w] float32: the highest scaled cell score under each
        patch."""
        distances = self._fine.whole.distances(fine_cells.reshape(-1, self.model.fine_dim))
        cell_scores = distances.reshape(len(fine_cells), *self.model.fine_grid) * np.float32(
            self.bank.fine.scale
        )
        return onto_patch_grid(cell_scores, self.model.grid)

    def highest_fine_score(self, fine_cells: np.ndarray) -> float:
        """fine_cells: [T, cells, fine_dim] -> the highest scaled cell score, by the bounded search."""
        highest = self._fine.highest(fine_cells.reshape(-1, self.model.fine_dim), 1)
        return float(highest[0]) * self.bank.fine.scale

    def patch_scores(self, features: np.ndarray) -> np.ndarray:
        """features: [B, h*w, D] float32 -> [B, h, w] float32 patch scores (one search for the batch)."""
        self._check_shape(features)
        distances = self._patches.whole.distances(features.reshape(-1, self.model.dim))
        return distances.reshape(features.shape[0], *self.model.grid)

    def region_scores(
        self,
        features: np.ndarray,
        fine_cells: np.ndarray | None,
        level: float,
        needed: Callable[[np.ndarray], np.ndarray],
    ) -> np.ndarray:
        """features [T, h*w, D] (and fine_cells as in frame_scores) -> [T, h, w] float32: the exact score of
        every patch needed(marked) says (marked: [T, h, w] bool, the patches whose bound is at or above
        level; needed must hold each of them), elsewhere an upper bound under level."""
        grid = self.model.grid
        queries = features.reshape(-1, self.model.dim)
        values, exact = self._patches.below(queries, level)
        values, exact = values.reshape(len(features), *grid), exact.reshape(len(features), *grid)
        bounds = values
        if fine_cells is not None:
            cells = fine_cells.reshape(-1, self.model.fine_dim)
            scale = np.float32(self.bank.fine.scale)
            cell_values, cell_exact = self._fine.below(cells, level / scale)
            cell_values = cell_values.reshape(len(fine_cells), *self.model.fine_grid) * scale
            cell_exact = cell_exact.reshape(cell_values.shape)
            bounds = np.maximum(values, onto_patch_grid(cell_values, grid))
        wanted = needed(bounds >= level)
        missing = wanted & ~exact
        if missing.any():
            values[missing] = self._patches.whole.distances(queries[missing.ravel()])
        if fine_cells is None:
            return values
        missing_cells = under_patches(wanted, self.model.fine_grid) & ~cell_exact
        if missing_cells.any():
            cell_values[missing_cells] = self._fine.whole.distances(cells[missing_cells.ravel()]) * scale
        return np.maximum(values, onto_patch_grid(cell_values, grid))

    def bounds_pay(self, features: np.ndarray) -> bool:
        """Whether the image score of features [T, h*w, D] is searched by its bounds (BOUNDED_FROM_PAIRS)."""
        return features.shape[0] * features.shape[1] * len(self.bank.vectors) >= BOUNDED_FROM_PAIRS

    def highest_patch_scores(
        self, features: np.ndarray, count: int, locations: np.ndarray | None = None
    ) -> np.ndarray:
        """features: [T, h*w, D] float32 -> the `count` highest of their patch scores, exact, highest first
        (fewer when there are fewer). locations: [T, h, w] int, where each patch lies on the frame
        (FramePlan.patch_locations), so that each location counts once, with its highest score; None: every
        patch a location of its own. Searches the whole bank only for the patches whose bounds say they
        could be among them (BoundedSearch.highest)."""
        self._check_shape(features)
        where = None if locations is None else locations.ravel()
        return self._patches.highest(features.reshape(-1, self.model.dim), count, where)

    def _check_shape(self, features: np.ndarray) -> None:
        grid_h, grid_w = self.model.grid
        if features.ndim != 3 or features.shape[1:] != (grid_h * grid_w, self.model.dim):
            raise InvalidInput(
                f"features must be [B, {grid_h * grid_w}, {self.model.dim}], got shape {features.shape}"
            )


class PatchScores:
    """One frame's patch scores, searched as far as they are asked for: the image score from the patches
    that can be the highest, the grids (every patch) when a heatmap needs them, and for regions the patches
    near those that can score above the threshold. The image score and the grids are searched once and
    kept; search_seconds adds up the time every search took."""

    def __init__(
        self,
        features: np.ndarray | None,
        scorer: Scorer | None,
        grids: np.ndarray | None = None,
        fine_cells: np.ndarray | None = None,
    ):
        self._features = features
        self._scorer = scorer
        self._grids = grids
        self._fine_cells = fine_cells
        self._fine_grids: np.ndarray | None = None
        self._top: tuple[int, float] | None = None  # (top_k, image score)
        self.search_seconds = 0.0

    @classmethod
    def known(cls, grids: np.ndarray) -> PatchScores:
        """Scores already searched: grids [T, h, w] float32."""
        return cls(None, None, grids)

    @property
    def grid(self) -> tuple[int, int]:
        """(h, w): the patch grid of each model input."""
        return tuple(self._grids.shape[1:]) if self._grids is not None else self._scorer.model.grid

    def image_score(self, top_k: int, locations: np.ndarray | None = None) -> float:
        """The highest patch score (top_k = 1, plain PatchCore) or the mean of the top_k highest, each
        location counted once (locations: the frame's, the same at every call; see image_score)."""
        fine_top_k = self._fine_cells is not None and top_k > 1  # the top k of the combined grids
        if self._grids is None and (fine_top_k or not self._scorer.bounds_pay(self._features)):
            self.grids()
        if self._grids is not None:
            return image_score(self._grids, top_k, locations)
        if self._top is None or self._top[0] != top_k:
            started = time.perf_counter()
            highest = self._scorer.highest_patch_scores(self._features, max(top_k, 1), locations)
            self.search_seconds += time.perf_counter() - started
            score = float(highest.mean())
            if self._fine_cells is not None:  # top_k 1 here: the highest of both
                score = max(score, self._highest_fine_score())
            self._top = (top_k, score)
        return self._top[1]

    def grids(self) -> np.ndarray:
        """[T, h, w] float32: every patch's score."""
        if self._grids is None:
            started = time.perf_counter()
            grids = self._scorer.patch_scores(self._features)
            self.search_seconds += time.perf_counter() - started
            if self._fine_cells is not None:
                grids = np.maximum(grids, self._fine_on_patch_grid())
            self._grids = grids
        return self._grids

    def region_grids(self, level: float, needed: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """[T, h, w] float32 for the areas of the heatmap above level: the exact score of every patch needed
        says, elsewhere an upper bound under level (Scorer.region_scores); every patch's score when they are
        searched already or the bounds do not pay."""
        if self._grids is not None or not self._scorer.bounds_pay(self._features):
            return self.grids()
        started = time.perf_counter()
        grids = self._scorer.region_scores(self._features, self._fine_cells, level, needed)
        self.search_seconds += time.perf_counter() - started
        return grids

    def _highest_fine_score(self) -> float:
        """The frame's highest scaled cell score: from the fine grids when they are searched already, else by
        the bounded search."""
        if self._fine_grids is not None:
            return float(self._fine_grids.max())
        started = time.perf_counter()
        highest = self._scorer.highest_fine_score(self._fine_cells)
        self.search_seconds += time.perf_counter() - started
        return highest

    def _fine_on_patch_grid(self) -> np.ndarray:
        """[T, h, w]: the fine cells' scores on the patch grid, searched once."""
        if self._fine_grids is None:
            started = time.perf_counter()
            self._fine_grids = self._scorer.fine_scores(self._fine_cells)
            self.search_seconds += time.perf_counter() - started
        return self._fine_grids


class _Found:
    """The exact scores the bounded search has found so far, of patches at `locations` ([P] int, None: each
    patch a location of its own)."""

    def __init__(self, locations: np.ndarray | None) -> None:
        self._locations = locations
        self._rows: list[np.ndarray] = []
        self._scores: list[np.ndarray] = []

    def add(self, rows: np.ndarray, scores: np.ndarray) -> None:
        self._rows.append(rows)
        self._scores.append(scores)

    def by_location(self) -> np.ndarray:
        """The highest score found at each location searched, in no order."""
        scores = np.concatenate(self._scores)
        if self._locations is None:
            return scores
        return highest_per_location(scores, self._locations[np.concatenate(self._rows)])

    def highest(self, count: int) -> np.ndarray:
        return -np.sort(-self.by_location())[:count]

    def lowest_of_top(self, count: int) -> float:
        """The count-th highest location score: a patch must score above it to change the count highest
        (-inf while fewer locations are found)."""
        scores = self.by_location()
        if len(scores) < count:
            return -np.inf
        return float(np.partition(scores, len(scores) - count)[len(scores) - count])


def highest_per_location(scores: np.ndarray, locations: np.ndarray) -> np.ndarray:
    """scores, locations: [P] -> the highest score at each location there is, in location order."""
    order = np.argsort(-scores, kind="stable")
    _, first = np.unique(locations[order], return_index=True)
    return scores[order[first]]


def image_score(patch_scores: np.ndarray, top_k: int, locations: np.ndarray | None = None) -> float:
    """patch_scores: any shape -> the max (top_k = 1, plain PatchCore) or the mean of the top_k highest.
    locations: patch_scores' shape, int, where on the frame each patch lies (FramePlan.patch_locations):
    patches at one location (overlapping tiles) count once, with the highest of their scores; None: every
    patch a location of its own."""
    flat = patch_scores.ravel()
    if top_k <= 1:
        return float(flat.max())
    if locations is not None:
        flat = highest_per_location(flat, locations.ravel())
    top_k = min(top_k, flat.size)
    return float(np.partition(flat, flat.size - top_k)[-top_k:].mean())
