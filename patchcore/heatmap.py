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

import math

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
    side = 2 * _kernel_radius() + 1
    smoothed = cv2.GaussianBlur(canvas, (side, side), HEATMAP_SIGMA)
    return cv2.resize(smoothed, (width, height), interpolation=cv2.INTER_LINEAR)


def meeting_on_the_map(marked: np.ndarray, plan: FramePlan) -> np.ndarray:
    """marked: [T, h, w] bool over the patches of plan's tiles -> [T, h, w] bool: every patch whose score can
    meet a marked patch's score at one pixel of any map frame_heatmap draws for plan.

    A pixel's value is a weighted mean of patch scores, or the higher of two where tiles overlap, so it is
    never above every score it is made of; it is made of the patches within a reach of cells
    (FramePlan.patch_cells) around it: one for the bilinear upsampling between patch centres, the Gaussian's
    kernel, one for resizing to the frame (and turning an aligned frame back: a frame pixel is less than a
    cell, MIN_REGION_SIDE) and one for placing each tile at its nearest cells. Two patches that meet at a
    pixel are at most twice that apart."""
    cell = plan.input_size / marked.shape[2]  # canvas pixels per cell
    reach = 1 + math.ceil(_kernel_radius() / cell) + 1 + 1
    return plan.near(marked, 2 * reach)


def _kernel_radius() -> int:
    """The Gaussian kernel's radius in canvas pixels: 4 sigma, as OpenCV chooses for float maps."""
    return round(4 * HEATMAP_SIGMA)


def _upsampled(grid: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(grid.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
