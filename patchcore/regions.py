"""Defect regions: the connected areas of a heatmap above the threshold."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Region:
    x: int
    y: int
    width: int
    height: int
    area: int  # pixels above the threshold in the component (frame pixels)
    peak_score: float


def find_regions(heatmap: np.ndarray, threshold: float) -> list[Region]:
    """Connected components (8-connected) of heatmap [H, W] > threshold, highest peak first (the verdict
    leaves out those under the product's min_region_area: patchcore/verdict.py)."""
    mask = (heatmap > threshold).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return []
    regions = [
        Region(
            x=int(stats[label, cv2.CC_STAT_LEFT]),
            y=int(stats[label, cv2.CC_STAT_TOP]),
            width=int(stats[label, cv2.CC_STAT_WIDTH]),
            height=int(stats[label, cv2.CC_STAT_HEIGHT]),
            area=int(stats[label, cv2.CC_STAT_AREA]),
            peak_score=_peak(heatmap, labels, stats[label], label),
        )
        for label in range(1, count)
    ]
    return sorted(regions, key=lambda region: region.peak_score, reverse=True)


def _peak(heatmap: np.ndarray, labels: np.ndarray, box: np.ndarray, label: int) -> float:
    """The highest heatmap value of component `label`, read within its bounding box (a per-label maximum
    over the whole frame sorts every pixel: seconds and 8 bytes a pixel on a 20-megapixel frame)."""
    left, top = box[cv2.CC_STAT_LEFT], box[cv2.CC_STAT_TOP]
    rows = slice(top, top + box[cv2.CC_STAT_HEIGHT])
    columns = slice(left, left + box[cv2.CC_STAT_WIDTH])
    return float(heatmap[rows, columns][labels[rows, columns] == label].max())
