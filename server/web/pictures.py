"""Small pictures of inspected frames for the operator's page: the region of interest as the model saw it,
kept when the frame is answered, and its heatmap overlay with the defect regions, drawn when a page asks."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from patchcore.align import rect_on_reference
from patchcore.geometry import FramePlan, Rect
from patchcore.heatmap import roi_heatmap
from patchcore.overlay import render_overlay
from patchcore.prepare import PreparedFrame
from patchcore.regions import Region

if TYPE_CHECKING:
    from server.web.recorder import FrameRecord

PICTURE_SIDE = 256  # longer side of a tiled frame's kept picture and of the page's large view, pixels
THUMBNAIL_SIDE = 128  # longer side of a thumbnail on the page
JPEG_QUALITY = 85


def _fitted(roi: Rect, side: int) -> tuple[float, int, int]:
    """(scale, width, height) of roi shrunk or enlarged so its longer side is `side`."""
    scale = side / max(roi.width, roi.height)
    return scale, max(1, round(roi.width * scale)), max(1, round(roi.height * scale))


def roi_picture(prepared: PreparedFrame, side: int = PICTURE_SIDE) -> np.ndarray:
    """What the model saw of the frame, [h, w, 3] uint8 RGB: without tiling the one model input itself (the
    ROI squashed to a square, kept as it is: no work while the frame is answered); with tiles, the ROI at
    `side` pixels on its longer side with each tile put back in its place. overlay_jpeg brings either to the
    ROI's aspect ratio."""
    plan = prepared.plan
    if not plan.tiled:
        return prepared.inputs[0]
    roi = plan.roi
    scale, width, height = _fitted(roi, side)
    picture = np.zeros((height, width, 3), np.uint8)
    for tile_input, tile in zip(prepared.inputs, plan.tiles, strict=True):
        left, top = round((tile.x - roi.x) * scale), round((tile.y - roi.y) * scale)
        window = picture[top : max(round((tile.bottom - roi.y) * scale), top + 1),
                         left : max(round((tile.right - roi.x) * scale), left + 1)]  # fmt: skip
        window[:] = cv2.resize(tile_input, window.shape[1::-1], interpolation=cv2.INTER_AREA)
    return picture


def _scaled(rect: Rect | Region, roi: Rect, scale: float) -> tuple[int, int, int, int]:
    """rect (frame pixels) in the pixels of roi's picture at `scale`: x, y, width, height (at least 1)."""
    x, y = round((rect.x - roi.x) * scale), round((rect.y - roi.y) * scale)
    return x, y, max(1, round(rect.width * scale)), max(1, round(rect.height * scale))


def _on_picture(region: Region, plan: FramePlan) -> Rect:
    """A region (pixels of the frame as it came) where the picture shows it: an aligned frame's picture is
    turned onto the product's first teach image."""
    if plan.pose is None:
        return Rect(region.x, region.y, region.width, region.height)
    x, y, width, height = rect_on_reference(region.x, region.y, region.width, region.height, plan.pose)
    return Rect(max(x, 0), max(y, 0), max(width, 1), max(height, 1))


def overlay_jpeg(frame: FrameRecord, side: int) -> bytes:
    """The frame's picture at `side` pixels on its longer side with its heatmap and regions, as JPEG."""
    roi = frame.plan.roi
    scale, width, height = _fitted(roi, side)
    picture = cv2.resize(frame.picture, (width, height), interpolation=cv2.INTER_AREA)
    heatmap = roi_heatmap(frame.grids, frame.plan, width, height)
    regions = [
        Region(
            *_scaled(_on_picture(region, frame.plan), roi, scale),
            area=region.area,
            peak_score=region.peak_score,
        )
        for region in frame.regions
    ]
    overlay = render_overlay(picture, heatmap, frame.threshold, regions)
    ok, jpeg = cv2.imencode(
        ".jpg", cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:
        raise RuntimeError("JPEG encoding of a frame overlay failed")
    return jpeg.tobytes()
