"""What the page's live streams carry: the products and the server for `/`, one product's frames and scores
for its page. Products and server info come from the service's own GetProduct, ListProducts and
GetServerInfo, so the page shows what a gRPC client sees."""

from __future__ import annotations

import asyncio
import base64
import time

from patchcore_edge.v1 import inspection_pb2 as pb

from server.web.calls import call
from server.web.pictures import THUMBNAIL_SIDE, overlay_jpeg
from server.web.recorder import FRAMES_KEPT, FrameRecord, FrameRecorder

FRAMES_PER_UPDATE = 6  # newest frames sent per update; at more than 6 per interval the page skips some


def product_json(product: pb.Product) -> dict:
    return {
        "id": product.product_id,
        "version": product.version,
        "threshold": product.threshold,
        "bank_size": product.teach_stats.bank_size,
        "images": product.teach_stats.image_count,
        "outlier_images": list(product.teach_stats.outlier_images),
        "usable": product.usable,
        "status": product.status_message,
    }


def rendered_overlay(frame: FrameRecord, side: int) -> bytes:
    """The frame's overlay JPEG at `side`, drawn on first use and kept with the frame."""
    if side not in frame.rendered:
        frame.rendered[side] = overlay_jpeg(frame, side)
    return frame.rendered[side]


def frame_id(run: str, frame: FrameRecord) -> str:
    """The name of a frame in the page's URLs: the recorder's run and the frame's number."""
    return f"{run}-{frame.seq}"


def _frame_json(frame: FrameRecord, thumbnail: bytes, run: str) -> dict:
    return {
        "id": frame_id(run, frame),
        "seq": frame.seq,
        "frame_id": frame.frame_id,
        "version": frame.version,
        "unix": frame.unix,
        "score": frame.score,
        "anomalous": frame.anomalous,
        "threshold": frame.threshold,
        "regions": len(frame.regions),
        "good_part_kept": frame.image is not None,
        "thumbnail": "data:image/jpeg;base64," + base64.b64encode(thumbnail).decode("ascii"),
    }


def _thumbnails(frames: list[FrameRecord]) -> list[bytes]:
    return [rendered_overlay(frame, THUMBNAIL_SIDE) for frame in frames]


class ProductFeed:
    """The events of one product page: the product when it changed, frames and scores since the last."""

    def __init__(self, service: object, recorder: FrameRecorder, product_id: str) -> None:
        self._service = service
        self._recorder = recorder
        self._product_id = product_id
        self._last_seq = 0
        self._score_count = 0
        self._product: dict | None = None
        self._failures: dict | None = None

    async def next_event(self) -> dict | None:
        product = product_json(
            await call(self._service.GetProduct, pb.GetProductRequest(product_id=self._product_id))
        )
        newest = FRAMES_KEPT if self._product is None else FRAMES_PER_UPDATE  # the page fills at first
        frames = self._recorder.frames_since(self._product_id, self._last_seq)[-newest:]
        scores, self._score_count = self._recorder.scores_since(self._product_id, self._score_count)
        failures = self._recorder.failures(self._product_id)
        if not frames and not scores and product == self._product and failures == self._failures:
            return None
        self._product, self._failures = product, failures
        if frames:
            self._last_seq = frames[-1].seq
        thumbnails = await asyncio.get_running_loop().run_in_executor(None, _thumbnails, frames)
        return {
            "product": product,
            "frames": [
                _frame_json(frame, jpeg, self._recorder.run)
                for frame, jpeg in zip(frames, thumbnails, strict=True)
            ],
            "scores": scores,
            "failures": failures,
        }


class OverviewFeed:
    """The events of `/`: every product and the server, each time."""

    def __init__(self, service: object, recorder: FrameRecorder, started: float) -> None:
        self._service = service
        self._recorder = recorder
        self._started = started  # time.monotonic() when the server started

    async def next_event(self) -> dict:
        listed = await call(self._service.ListProducts, pb.ListProductsRequest())
        info = await call(self._service.GetServerInfo, pb.GetServerInfoRequest())
        self._recorder.keep_only({product.product_id for product in listed.products})
        return {
            "server": {
                "version": info.version,
                "backbone": info.model.backbone,
                "input_size": info.model.input_size,
                "fingerprint": info.model.fingerprint,
                "uptime_seconds": time.monotonic() - self._started,
                "frames_per_second": self._recorder.frames_per_second(),
            },
            "products": [product_json(product) for product in listed.products],
        }
