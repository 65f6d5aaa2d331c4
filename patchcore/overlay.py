"""A picture for people: the heatmap as a colour map over the frame, defect regions boxed."""

from collections.abc import Sequence

import cv2
import numpy as np

from patchcore.regions import Region

HEATMAP_WEIGHT = 0.45
BOX_COLOUR = (255, 255, 255)


def render_overlay(
    rgb: np.ndarray, heatmap: np.ndarray, threshold: float, regions: Sequence[Region]
) -> np.ndarray:
    """rgb: [H, W, 3] uint8, heatmap: [H, W] float32 (patch-score units) -> [H, W, 3] uint8 RGB.

    The colour scale is fixed relative to the threshold (blue = 0, the middle = threshold, red = twice the
    threshold), so colours mean the same across frames. Each region of the verdict gets a white box.
    """
    if heatmap.shape != rgb.shape[:2]:
        raise ValueError(f"heatmap {heatmap.shape} and frame {rgb.shape[:2]} differ in size")
    scale = 2.0 * threshold if threshold > 0 else max(float(heatmap.max()), 1e-6)
    levels = np.clip(heatmap / scale * 255.0, 0, 255).astype(np.uint8)
    colours = cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    blended = cv2.addWeighted(rgb, 1.0 - HEATMAP_WEIGHT, colours, HEATMAP_WEIGHT, 0.0)
    thickness = max(1, round(max(rgb.shape[:2]) / 300))
    for region in regions:
        corner = (region.x + region.width - 1, region.y + region.height - 1)
        cv2.rectangle(blended, (region.x, region.y), corner, BOX_COLOUR, thickness)
    return blended
