"""Patch-score grids -> a heatmap in frame pixels.

Each model input's grid is upsampled bilinearly to the input's size and laid onto a canvas of the region of
interest at model-input resolution (tiles where they were cut; where tiles overlap the higher score wins, as
the image score is the highest patch score of any tile). The canvas is Gaussian-smoothed with sigma 4 there,
as PatchCore does, resized to the ROI's size in the frame and placed into a frame-sized map that is 0
outside the ROI; an aligned frame's map is then turned and shifted back onto the frame as it came. The map
can also be made at a whole fraction of the frame's size, where a frame-sized one would be large (the regions
of a frame of many megapixels: patchcore/verdict.py).
"""

from __future__ import annotations

import cv2
import numpy as np

from patchcore.align import scaled_pose, to_frame
from patchcore.geometry import FramePlan

HEATMAP_SIGMA = 4.0  # pixels at model input scale


def frame_heatmap(grids: np.ndarray, plan: FramePlan, step: int = 1) -> np.ndarray:
    """grids: [T, h, w] patch scores, one per tile of plan -> [H, W] float32 at the frame's size, or with step
    above 1 at 1/step of it (each side rounded up), a map pixel covering step x step frame pixels."""
    roi = plan.roi
    frame_height, frame_width = plan.frame_size
    height, width = -(-frame_height // step), -(-frame_width // step)
    if (roi.width, roi.height) == (frame_width, frame_height):
        heatmap = roi_heatmap(grids, plan, width, height)
    else:
        top, left = roi.y // step, roi.x // step
        bottom, right = -(-roi.bottom // step), -(-roi.right // step)
        heatmap = np.zeros((height, width), np.float32)
        heatmap[top:bottom, left:right] = roi_heatmap(grids, plan, right - left, bottom - top)
    if plan.pose is None:
        return heatmap
    return to_frame(heatmap, plan.pose if step == 1 else scaled_pose(plan.pose, (1 / step, 1 / step)))


def roi_heatmap(grids: np.ndarray, plan: FramePlan, width: int, height: int) -> np.ndarray:
    """grids as in frame_heatmap -> [height, width] float32: the heatmap of plan's ROI drawn at that size (an
    aligned frame's ROI as the product's reference sees it: no pose applied)."""
    size = plan.input_size
    roi = plan.roi
    if plan.tiled:
        per_pixel = size / plan.tiles[0].width  # canvas pixels per frame pixel
        canvas = np.zeros((round(roi.height * per_pixel), round(roi.width * per_pixel)), np.float32)
        for grid, tile in zip(grids, plan.tiles, strict=True):
            top, left = round((tile.y - roi.y) * per_pixel), round((tile.x - roi.x) * per_pixel)
            window = canvas[top : top + size, left : left + size]
            block = _upsampled(grid, size)[: window.shape[0], : window.shape[1]]
            np.maximum(window, block, out=window)
    else:
        canvas = _upsampled(grids[0], size)
    smoothed = cv2.GaussianBlur(canvas, (0, 0), HEATMAP_SIGMA)
    return cv2.resize(smoothed, (width, height), interpolation=cv2.INTER_LINEAR)


def _upsampled(grid: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(grid.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
