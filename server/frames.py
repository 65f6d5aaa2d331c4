"""One frame's way through the server, shared by Inspect and InspectStream.

`submit` runs in the thread that read the request: look up the product, decode, prepare (the engine's first
stage), queue for the batcher (which runs the score stage). `answer` waits for the batch, runs the verdict
stage on the patch grids, and builds the response. Neither raises for a bad frame: the failure is kept and
answered as the response's `error`, so a stream goes on; the unary call turns that error into its status.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass

import grpc
import numpy as np
from patchcore_edge.v1 import inspection_pb2 as pb

from patchcore.prepare import PreparedFrame, prepare
from patchcore.verdict import verdict
from server.batcher import BatchOutput, InferenceBatcher
from server.convert import check_heatmap_format, decode_image, region_message
from server.errors import CallCancelled
from server.heatmaps import heatmap_message
from server.lifecycle import Lifecycle
from server.logs import log_event
from server.message_size import check_frame_size
from server.metrics import UNKNOWN_PRODUCT, ServerMetrics
from server.products import ProductEntry, ProductRegistry
from server.status import frame_error, status_of


@dataclass
class PendingFrame:
    """A frame between submit and answer."""

    request: pb.InspectRequest
    received: float  # perf_counter when the request was read
    entry: ProductEntry | None = None  # the product version the frame is scored with
    frame: np.ndarray | None = None  # [H, W, 3] uint8 RGB, kept only when a PNG heatmap is asked for
    prepared: PreparedFrame | None = None
    decode_seconds: float = 0.0
    future: Future | None = None  # resolves to a BatchOutput
    error: BaseException | None = None


class FrameProcessor:
    def __init__(
        self,
        registry: ProductRegistry,
        batcher: InferenceBatcher,
        lifecycle: Lifecycle,
        metrics: ServerMetrics,
        max_image_pixels: int,
        record: Callable[..., None] = lambda *frame: None,
    ) -> None:
        """record(product_id, version, prepared, grids, verdict, image): told of every frame answered with a
        score (the web page's recent frames, server/web/recorder.py)."""
        self._registry = registry
        self._batcher = batcher
        self._lifecycle = lifecycle
        self._metrics = metrics
        self._max_image_pixels = max_image_pixels
        self._record = record

    def submit(self, request: pb.InspectRequest) -> PendingFrame:
        pending = PendingFrame(request=request, received=time.perf_counter())
        try:
            check_frame_size(request)
            self._lifecycle.check_accepting()
            pending.entry = self._registry.get(request.product_id)
            scorer = pending.entry.require_scorer()
            check_heatmap_format(request.heatmap)
            scaled = decode_image(request.image, self._max_image_pixels, scorer.view.shrink_for)
            if request.heatmap == pb.HEATMAP_FORMAT_PNG:  # the overlay is drawn on the full-size frame
                full = scaled if scaled.is_full_size else decode_image(request.image, self._max_image_pixels)
                pending.frame = full.rgb
            pending.prepared = prepare(scaled, scorer.view)
            pending.decode_seconds = time.perf_counter() - pending.received
            pending.future = self._batcher.submit(pending.prepared.inputs, scorer)
        except Exception as error:
            pending.error = error
        return pending

    def answer(self, pending: PendingFrame) -> pb.InspectResponse:
        request = pending.request
        if pending.error is None:
            try:
                response = self._score(pending, pending.future.result())
            except CancelledError:
                pending.error = CallCancelled("the call was cancelled before the frame was scored")
            except Exception as error:
                pending.error = error
        if pending.error is not None:
            return self._failed(pending)
        product = request.product_id
        self._metrics.request_success.labels(product).inc()
        if response.anomalous:
            self._metrics.anomalies.labels(product).inc()
        self._metrics.request_duration_us.labels(product).observe(response.timings.total_ms * 1e3)
        return response

    @staticmethod
    def abandon(pending: PendingFrame) -> None:
        """The caller is gone: a frame still queued for the model is dropped instead of scored for nobody."""
        if pending.future is not None:
            pending.future.cancel()

    def _score(self, pending: PendingFrame, output: BatchOutput) -> pb.InspectResponse:
        request = pending.request
        want_heatmap = request.heatmap != pb.HEATMAP_FORMAT_NONE
        result = verdict(output.grids, pending.prepared.plan, pending.entry.bank.options, want_heatmap)
        version = pending.entry.bank.version
        self._record(request.product_id, version, pending.prepared, output.grids, result, request.image)
        response = pb.InspectResponse(
            frame_id=request.frame_id,
            score=result.score,
            anomalous=result.anomalous,
            threshold=result.threshold,
            product_version=pending.entry.bank.version,
            regions=[region_message(region) for region in result.regions],
        )
        if want_heatmap:
            response.heatmap.CopyFrom(heatmap_message(request.heatmap, result, pending.frame))
        response.timings.CopyFrom(
            pb.Timings(
                decode_ms=pending.decode_seconds * 1e3,
                queue_ms=output.queue_seconds * 1e3,
                inference_ms=output.inference_seconds * 1e3,
                total_ms=(time.perf_counter() - pending.received) * 1e3,
            )
        )
        return response

    def _failed(self, pending: PendingFrame) -> pb.InspectResponse:
        error = pending.error
        code, message = status_of(error)
        known = pending.entry is not None
        product = pending.request.product_id if known else UNKNOWN_PRODUCT
        self._metrics.request_failure.labels(product, code.name).inc()
        internal = code == grpc.StatusCode.INTERNAL
        log_event(
            "frame_failed",
            level=logging.ERROR if internal else logging.DEBUG,
            exc_info=error if internal else False,
            product=product,
            frame_id=pending.request.frame_id,
            code=code.name,
            message=message,
        )
        return pb.InspectResponse(frame_id=pending.request.frame_id, error=frame_error(error))
