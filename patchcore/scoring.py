"""From patch features to a verdict: patch scores, image score, heatmap and defect regions.

Patch score = cosine distance of the patch to its nearest memory-bank vector. Image score = the highest patch
score (top_k = 1, plain PatchCore) or the mean of the top_k highest. The heatmap is the patch grid upsampled
bilinearly to the model's input size, Gaussian-smoothed with sigma 4 there (as PatchCore does), then resized
to the frame's original size. Defect regions are the connected components of heatmap > threshold.
"""

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from patchcore.bank import MemoryBank
from patchcore.errors import InvalidInput, ProductUnusable
from patchcore.knn import NearestNeighbours
from patchcore.model import ModelInfo

HEATMAP_SIGMA = 4.0  # pixels at model input scale


@dataclass
class Region:
    x: int
    y: int
    width: int
    height: int
    area: int  # pixels above the threshold in the component (frame pixels)
    peak_score: float


@dataclass
class FrameResult:
    score: float
    anomalous: bool
    threshold: float
    heatmap: np.ndarray | None  # [H, W] float32 at the frame's original size, in patch-score units
    regions: list[Region]


def image_score(patch_scores: np.ndarray, top_k: int) -> float:
    """patch_scores: any shape -> the max (top_k = 1) or the mean of the top_k highest values."""
    flat = patch_scores.ravel()
    if top_k <= 1:
        return float(flat.max())
    top_k = min(top_k, flat.size)
    return float(np.partition(flat, flat.size - top_k)[-top_k:].mean())


def upsample_heatmap(patch_grid: np.ndarray, model_size: int, frame_size: tuple[int, int]) -> np.ndarray:
    """patch_grid: [h, w] -> [H, W] float32 smoothed heatmap for a frame of frame_size (H, W)."""
    model_scale = cv2.resize(
        patch_grid.astype(np.float32), (model_size, model_size), interpolation=cv2.INTER_LINEAR
    )
    smoothed = cv2.GaussianBlur(model_scale, (0, 0), HEATMAP_SIGMA)
    height, width = frame_size
    return cv2.resize(smoothed, (width, height), interpolation=cv2.INTER_LINEAR)


def find_regions(heatmap: np.ndarray, threshold: float, min_area: int = 0) -> list[Region]:
    """Connected components (8-connected) of heatmap [H, W] > threshold with at least min_area pixels,
    highest peak first."""
    mask = (heatmap > threshold).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return []
    peaks = ndimage.maximum(heatmap, labels, index=np.arange(1, count))
    regions = [
        Region(
            x=int(stats[label, cv2.CC_STAT_LEFT]),
            y=int(stats[label, cv2.CC_STAT_TOP]),
            width=int(stats[label, cv2.CC_STAT_WIDTH]),
            height=int(stats[label, cv2.CC_STAT_HEIGHT]),
            area=int(stats[label, cv2.CC_STAT_AREA]),
            peak_score=float(peaks[label - 1]),
        )
        for label in range(1, count)
        if stats[label, cv2.CC_STAT_AREA] >= min_area
    ]
    return sorted(regions, key=lambda region: region.peak_score, reverse=True)


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
        self._neighbours = NearestNeighbours(bank.vectors)

    def patch_scores(self, features: np.ndarray) -> np.ndarray:
        """features: [B, h*w, D] float32 -> [B, h, w] float32 patch scores (one search for the batch)."""
        grid_h, grid_w = self.model.grid
        if features.ndim != 3 or features.shape[1:] != (grid_h * grid_w, self.model.dim):
            raise InvalidInput(
                f"features must be [B, {grid_h * grid_w}, {self.model.dim}], got shape {features.shape}"
            )
        distances = self._neighbours.distances(features.reshape(-1, self.model.dim))
        return distances.reshape(features.shape[0], grid_h, grid_w)

    def result(self, patch_grid: np.ndarray, frame_size: tuple[int, int], want_heatmap: bool) -> FrameResult:
        """The verdict for one frame. patch_grid: [h, w] patch scores; frame_size: (H, W) of the frame.

        The full-size heatmap is computed only when asked for or when the frame is anomalous (regions).
        """
        options = self.bank.options
        score = image_score(patch_grid, options.top_k)
        anomalous = score > options.threshold
        heatmap = None
        regions: list[Region] = []
        if want_heatmap or anomalous:
            heatmap = upsample_heatmap(patch_grid, self.model.input_size, frame_size)
        if anomalous:
            regions = find_regions(heatmap, options.threshold, options.min_region_area)
        return FrameResult(
            score=score,
            anomalous=anomalous,
            threshold=options.threshold,
            heatmap=heatmap if want_heatmap else None,
            regions=regions,
        )
