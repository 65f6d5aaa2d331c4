"""One frame's way through the server, shared by Inspect and InspectStream.

`submit` runs on the event loop: it looks up the product and hands the frame to the decode pool, which
decodes and prepares it (the engine's first stage) and queues it for the batcher (the model run, on the
batcher's thread); when its batch is done, the decode pool runs the search and the verdict and builds the
response, and only then wakes the loop, once. `answer` awaits that response. The loop never touches pixels,
so a slow frame does not hold up the other calls. Neither raises for a bad frame: the failure is answered as
the response's `error`, so a stream goes on; the unary call turns that error into its status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field

import grpc
import numpy as np
from patchcore_edge.v1 import inspection_pb2 as pb

from patchcore.inspection import search
from patchcore.prepare import PreparedFrame, prepare
from patchcore.scoring import Scorer
from patchcore.verdict import verdict
from server.batcher import BatchOutput, InferenceBatcher
from server.convert import check_heatmap_format, decode_image, region_message
from server.fair_executor import FairExecutor
from server.heatmaps import heatmap_message
from server.lifecycle import Lifecycle
from server.logs import log_event
from server.message_size import OversizedFrame, check_frame_size, check_response_size
from server.metrics import UNKNOWN_PRODUCT, ServerMetrics
from server.products import ProductEntry, ProductRegistry
from server.status import frame_error, status_of


@dataclass
class PendingFrame:
    """A frame between submit and answer."""

    frame_id: int
    product_id: str
    received: float  # perf_counter when the request was read
    source: Hashable  # the call, for its turn in the decode pool and the batcher
    answer: asyncio.Future  # resolves to the InspectResponse
    heatmap: int = pb.HEATMAP_FORMAT_NONE
    scored: Future = field(default_factory=Future)  # the batcher's BatchOutput; cancelled = dropped
    entry: ProductEntry | None = None  # the product version the frame is scored with
    scorer: Scorer | None = None  # entry's, looked up once when the frame is read
    frame: np.ndarray | None = None  # [H, W, 3] uint8 RGB, kept only when a PNG heatmap is asked for
    prepared: PreparedFrame | None = None
    decode_seconds: float = 0.0
    image: pb.Image | None = None  # the frame as sent, for the web page's recent frames


class FrameProcessor:
    def __init__(
        self,
        registry: ProductRegistry,
        batcher: InferenceBatcher,
        lifecycle: Lifecycle,
        metrics: ServerMetrics,
        max_image_pixels: int,
        max_message_bytes: int,
        decode_pool: FairExecutor,
        record: Callable[..., None] = lambda *frame: None,
        record_failure: Callable[[str, str], None] = lambda *failure: None,
    ) -> None:
        """record(product_id, version, prepared, scores, verdict, image, frame_id): told of every frame
        answered with a score (the web page's recent frames, server/web/recorder.py); record_failure(
        product_id, "CODE: message") of every frame of a known product answered with an error."""
        self._registry = registry
        self._batcher = batcher
        self._lifecycle = lifecycle
        self._metrics = metrics
        self._max_image_pixels = max_image_pixels
        self._max_message_bytes = max_message_bytes
        self._pool = decode_pool
        self._record = record
        self._record_failure = record_failure

    def submit(
        self, request: pb.InspectRequest | OversizedFrame, source: Hashable | None = None
    ) -> PendingFrame:
        """Starts the frame on its way (on the event loop). source: the call the frame belongs to (None: a
        call of its own)."""
        loop = asyncio.get_running_loop()
        pending = PendingFrame(
            frame_id=request.frame_id,
            product_id=request.product_id,
            received=time.perf_counter(),
            source=object() if source is None else source,
            answer=loop.create_future(),
        )
        try:
            check_frame_size(request)
            pending.heatmap = request.heatmap
            pending.image = request.image
            self._lifecycle.check_accepting()
            pending.entry = self._registry.get(request.product_id).inspecting()
            pending.scorer = pending.entry.require_scorer()
            check_heatmap_format(request.heatmap)
            self._pool.submit(pending.source, lambda: self._prepare(pending, loop))
        except Exception as error:
            pending.answer.set_result(self._failed(pending, error))
        return pending

    async def answer(self, pending: PendingFrame) -> pb.InspectResponse:
        """The frame's response; if the call ends while waiting, the frame is dropped."""
        try:
            return await pending.answer
        except asyncio.CancelledError:
            self.abandon(pending)
            raise

    @staticmethod
    def abandon(pending: PendingFrame) -> None:
        """The caller is gone: a frame still queued for the model is dropped instead of scored for nobody,
        and its answer is cancelled (on the event loop)."""
        pending.scored.cancel()
        pending.answer.cancel()

    def _prepare(self, pending: PendingFrame, loop: asyncio.AbstractEventLoop) -> None:
        """Decode and prepare stage, then queued for the batcher (in the decode pool)."""
        if pending.scored.cancelled():
            return  # abandoned while it waited for its turn: nobody waits for it
        image, scorer = pending.image, pending.scorer
        try:
            scaled = decode_image(image, self._max_image_pixels, scorer.view.shrink_for)
            if pending.heatmap == pb.HEATMAP_FORMAT_PNG:  # the overlay is drawn on the full-size frame
                full = scaled if scaled.is_full_size else decode_image(image, self._max_image_pixels)
                pending.frame = full.rgb
            pending.prepared = prepare(scaled, scorer.view)
            pending.decode_seconds = time.perf_counter() - pending.received
            self._batcher.submit(
                pending.prepared.inputs, pending.source, pending.scored, fine=pending.scorer.wants_fine_cells
            )
        except Exception as error:
            self._resolve(pending, self._failed(pending, error), loop)
            return
        # The future keeps its callbacks and the frame keeps the future: a callback holding the frame would
        # make a cycle, and the frame's request (0.9 MB for a raw 640x480 one), model input and features
        # would wait for Python's cyclic collector, which an idle server hardly runs (README
        # "Performance"). So the callback lets go of the frame as it runs.
        waiting = [pending]
        pending.scored.add_done_callback(lambda _: self._judge_in_turn(waiting.pop(), loop))

    def _judge_in_turn(self, pending: PendingFrame, loop: asyncio.AbstractEventLoop) -> None:
        self._pool.submit(pending.source, lambda: self._judge(pending, loop))

    def _judge(self, pending: PendingFrame, loop: asyncio.AbstractEventLoop) -> None:
        """Search and verdict stages and the response (in the decode pool), handed to the waiting call."""
        if pending.scored.cancelled():
            return  # nobody waits for it
        try:
            response = self._respond(pending, pending.scored.result())
        except Exception as error:
            response = self._failed(pending, error)
        self._resolve(pending, response, loop)

    @staticmethod
    def _resolve(
        pending: PendingFrame, response: pb.InspectResponse, loop: asyncio.AbstractEventLoop
    ) -> None:
        def resolve() -> None:
            if not pending.answer.done():
                pending.answer.set_result(response)

        loop.call_soon_threadsafe(resolve)

    def _respond(self, pending: PendingFrame, output: BatchOutput) -> pb.InspectResponse:
        want_heatmap = pending.heatmap != pb.HEATMAP_FORMAT_NONE
        scores = search(pending.scorer, output.frame)
        result = verdict(scores, pending.prepared.plan, pending.entry.bank.options, want_heatmap)
        version = pending.entry.bank.version
        self._record(
            pending.product_id, version, pending.prepared, scores, result, pending.image, pending.frame_id
        )
        response = pb.InspectResponse(
            frame_id=pending.frame_id,
            score=result.score,
            anomalous=result.anomalous,
            threshold=result.threshold,
            product_version=version,
            regions=[region_message(region) for region in result.regions],
        )
        if want_heatmap:
            response.heatmap.CopyFrom(heatmap_message(pending.heatmap, result, pending.frame))
            png = pending.heatmap == pb.HEATMAP_FORMAT_PNG
            check_response_size(response.ByteSize(), self._max_message_bytes, png)
        response.timings.CopyFrom(
            pb.Timings(
                decode_ms=pending.decode_seconds * 1e3,
                queue_ms=output.queue_seconds * 1e3,
                inference_ms=(output.inference_seconds + scores.search_seconds) * 1e3,  # model and search
                total_ms=(time.perf_counter() - pending.received) * 1e3,
            )
        )
        series = self._metrics.series_of(pending.product_id)
        if series is not None:  # None: the product was deleted while the frame was scored
            series.count_answer(response.anomalous, response.timings.total_ms * 1e3)
        return response

    def _failed(self, pending: PendingFrame, error: BaseException) -> pb.InspectResponse:
        code, message = status_of(error)
        # A frame refused before its product was looked up (over the size limit) still counts for it.
        known = pending.entry is not None or self._registry.held_version(pending.product_id) > 0
        product = pending.product_id if known else UNKNOWN_PRODUCT
        self._metrics.count_failure(product, code.name)
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
        if known:
            self._record_failure(product, f"{code.name}: {message}")
        return pb.InspectResponse(frame_id=pending.frame_id, error=frame_error(error))
