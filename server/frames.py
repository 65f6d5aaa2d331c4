"""One frame's way through the server, shared by Inspect and InspectStream.

`submit` looks up the product, then decodes and prepares the frame (the engine's first stage) in the decode
pool, and queues it for the batcher (which runs the score stage on its own thread). `answer` waits for the
batch, runs the verdict stage on the patch grids in the decode pool, and builds the response. Both are
coroutines on the server's event loop, which only waits: pixels are never touched on it, so a slow frame
never holds up the other calls. Neither raises for a bad frame: the failure is kept and answered as the
response's `error`, so a stream goes on; the unary call turns that error into its status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Hashable
from concurrent.futures import Executor, Future
from dataclasses import dataclass

import grpc
import numpy as np
from patchcore_edge.v1 import inspection_pb2 as pb

from patchcore.geometry import FrameView
from patchcore.prepare import PreparedFrame, prepare
from patchcore.verdict import verdict
from server.batcher import BatchOutput, InferenceBatcher
from server.convert import check_heatmap_format, decode_image, region_message
from server.heatmaps import heatmap_message
from server.lifecycle import Lifecycle
from server.logs import log_event
from server.metrics import UNKNOWN_PRODUCT, ServerMetrics
from server.products import ProductEntry, ProductRegistry
from server.status import frame_error, status_of


@dataclass
class PendingFrame:
    """A frame between submit and answer (without its request, whose pixels are not needed any more)."""

    frame_id: int
    product_id: str
    heatmap: int  # HeatmapFormat
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
        decode_pool: Executor,
    ) -> None:
        self._registry = registry
        self._batcher = batcher
        self._lifecycle = lifecycle
        self._metrics = metrics
        self._max_image_pixels = max_image_pixels
        self._pool = decode_pool

    async def submit(self, request: pb.InspectRequest, source: Hashable | None = None) -> PendingFrame:
        """source: the call the frame belongs to, for its turn in the batcher (None: a call of its own)."""
        pending = PendingFrame(
            frame_id=request.frame_id,
            product_id=request.product_id,
            heatmap=request.heatmap,
            received=time.perf_counter(),
        )
        try:
            self._lifecycle.check_accepting()
            pending.entry = self._registry.get(request.product_id)
            scorer = pending.entry.require_scorer()
            check_heatmap_format(request.heatmap)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._pool, self._prepare, pending, request.image, scorer.view)
            pending.future = self._batcher.submit(pending.prepared.inputs, scorer, source)
        except Exception as error:
            pending.error = error
        return pending

    async def answer(self, pending: PendingFrame) -> pb.InspectResponse:
        if pending.error is None:
            try:
                output = await asyncio.wrap_future(pending.future)
                loop = asyncio.get_running_loop()
                response = await loop.run_in_executor(self._pool, self._score, pending, output)
            except Exception as error:
                pending.error = error
        if pending.error is not None:
            return self._failed(pending)
        product = pending.product_id
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

    def _prepare(self, pending: PendingFrame, image: pb.Image, view: FrameView) -> None:
        """Decode and prepare stage, in the decode pool."""
        scaled = decode_image(image, self._max_image_pixels, view.shrink_for)
        if pending.heatmap == pb.HEATMAP_FORMAT_PNG:  # the overlay is drawn on the full-size frame
            full = scaled if scaled.is_full_size else decode_image(image, self._max_image_pixels)
            pending.frame = full.rgb
        pending.prepared = prepare(scaled, view)
        pending.decode_seconds = time.perf_counter() - pending.received

    def _score(self, pending: PendingFrame, output: BatchOutput) -> pb.InspectResponse:
        """Verdict stage and the response, in the decode pool."""
        want_heatmap = pending.heatmap != pb.HEATMAP_FORMAT_NONE
        result = verdict(output.grids, pending.prepared.plan, pending.entry.bank.options, want_heatmap)
        response = pb.InspectResponse(
            frame_id=pending.frame_id,
            score=result.score,
            anomalous=result.anomalous,
            threshold=result.threshold,
            product_version=pending.entry.bank.version,
            regions=[region_message(region) for region in result.regions],
        )
        if want_heatmap:
            response.heatmap.CopyFrom(heatmap_message(pending.heatmap, result, pending.frame))
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
        product = pending.product_id if known else UNKNOWN_PRODUCT
        self._metrics.request_failure.labels(product, code.name).inc()
        internal = code == grpc.StatusCode.INTERNAL
        log_event(
            "frame_failed",
            level=logging.ERROR if internal else logging.DEBUG,
            exc_info=error if internal else False,
            product=product,
            frame_id=pending.frame_id,
            code=code.name,
            message=message,
        )
        return pb.InspectResponse(frame_id=pending.frame_id, error=frame_error(error))
