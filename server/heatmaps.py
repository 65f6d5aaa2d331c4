"""Heatmaps in the two wire formats of the API."""

from __future__ import annotations

import cv2
import numpy as np
from patchcore_edge.v1 import inspection_pb2 as pb

from patchcore.overlay import render_overlay
from patchcore.verdict import Verdict


def heatmap_message(heatmap_format: int, result: Verdict, frame: np.ndarray | None) -> pb.Heatmap:
    """The verdict's heatmap ([H, W] float32 at the frame's size) as asked for; frame: [H, W, 3] uint8 RGB,
    needed for PNG."""
    heatmap = result.heatmap
    height, width = heatmap.shape
    message = pb.Heatmap(width=width, height=height)
    if heatmap_format == pb.HEATMAP_FORMAT_FLOAT32:
        message.float32 = np.ascontiguousarray(heatmap, dtype="<f4").tobytes()
    else:
        overlay = render_overlay(frame, heatmap, result.threshold, result.regions)
        ok, png = cv2.imencode(".png", cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
        if not ok:
            raise RuntimeError("PNG encoding of the heatmap overlay failed")
        message.png = png.tobytes()
    return message
