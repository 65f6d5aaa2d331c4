"""Inspection results as small dataclasses, decoded from InspectResponse messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
from patchcore_edge.v1 import inspection_pb2 as pb


@dataclass(frozen=True)
class Region:
    """A connected area above the threshold; box in pixels of the original frame."""

    x: int
    y: int
    width: int
    height: int
    area: int
    peak_score: float


@dataclass(frozen=True)
class FrameError:
    """Why one frame of a stream failed."""

    code: grpc.StatusCode
    message: str


@dataclass(frozen=True)
class InspectionResult:
    """The verdict on one frame.

    heatmap: [H, W] float32 anomaly scores at the frame's size when a FLOAT32 heatmap was asked for (the raw
    little-endian bytes when numpy is not installed); overlay_png: PNG bytes when a PNG heatmap was asked for.
    error: set (and score etc. unset) when this frame failed in a stream.
    """

    frame_id: int
    score: float = 0.0
    anomalous: bool = False
    threshold: float = 0.0
    product_version: int = 0
    regions: list[Region] = field(default_factory=list)
    heatmap: Any = None
    overlay_png: bytes | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    error: FrameError | None = None

    @property
    def verdict(self) -> str:
        """ "error", "anomalous" or "good"."""
        if self.error is not None:
            return "error"
        return "anomalous" if self.anomalous else "good"


def _status_code(number: int) -> grpc.StatusCode:
    return next((code for code in grpc.StatusCode if code.value[0] == number), grpc.StatusCode.UNKNOWN)


def _float32_heatmap(heatmap: pb.Heatmap) -> Any:
    try:
        import numpy as np
    except ImportError:
        return heatmap.float32
    return np.frombuffer(heatmap.float32, dtype="<f4").reshape(heatmap.height, heatmap.width)


def result_from_response(response: pb.InspectResponse) -> InspectionResult:
    if response.HasField("error"):
        error = FrameError(_status_code(response.error.code), response.error.message)
        return InspectionResult(frame_id=response.frame_id, error=error)
    heatmap_data = response.heatmap.WhichOneof("data") if response.HasField("heatmap") else None
    timings = response.timings
    return InspectionResult(
        frame_id=response.frame_id,
        score=response.score,
        anomalous=response.anomalous,
        threshold=response.threshold,
        product_version=response.product_version,
        regions=[Region(r.x, r.y, r.width, r.height, r.area, r.peak_score) for r in response.regions],
        heatmap=_float32_heatmap(response.heatmap) if heatmap_data == "float32" else None,
        overlay_png=response.heatmap.png if heatmap_data == "png" else None,
        timings_ms={
            "decode": timings.decode_ms,
            "queue": timings.queue_ms,
            "inference": timings.inference_ms,
            "total": timings.total_ms,
        },
    )
