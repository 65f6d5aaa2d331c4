"""One InspectStream call: a reader task reads frames and starts them on their way (frames.py) while the
call answers them, in order.

At most `window` frames are between reading and answering; beyond that the reader stops reading, and gRPC
flow control holds the client back. The streams share one more limit, `pipeline`: the frames of all streams
read and not yet answered (being decoded, queued for the model or run), at most the model queue's size
(--queue-size). A stream whose frame finds it full waits, so busy streams together hold back their
clients instead of overflowing the model's queue, where the frames would be refused with
RESOURCE_EXHAUSTED; only a call of its own (Inspect) gets that.

An open stream without frames is one task waiting for a message: it costs no thread. With an idle timeout,
a stream that sent no frame for that long and has none in flight ends with StreamIdle (DEADLINE_EXCEEDED).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
from patchcore_edge.v1 import inspection_pb2 as pb

from server.errors import StreamIdle
from server.frames import FrameProcessor, PendingFrame
from server.metrics import UNKNOWN_PRODUCT

_END = object()
_IDLE = object()


class _IdleClock:
    """Frames read but not answered, and when the stream was last active (a frame read or answered)."""

    def __init__(self, idle_seconds: float) -> None:
        self.idle_seconds = idle_seconds
        self.in_flight = 0
        self._last_active = time.monotonic()

    def read(self) -> None:
        self.in_flight += 1
        self._last_active = time.monotonic()

    def answered(self) -> None:
        self.in_flight -= 1
        self._last_active = time.monotonic()

    def seconds_until_idle(self) -> float:
        if self.in_flight:
            return self.idle_seconds
        return self._last_active + self.idle_seconds - time.monotonic()


async def answer_stream(
    requests: AsyncIterator[pb.InspectRequest],
    frames: FrameProcessor,
    window: int,
    idle_seconds: float,
    products: set[str],
    pipeline: asyncio.Semaphore,
) -> AsyncIterator[pb.InspectResponse]:
    """The answers to `requests`, one per frame, in order. idle_seconds: 0 = a stream is never idle.
    pipeline: the slots of the frames of all streams between reading and their answer (see above).
    products: gets the id of each product the frames named, or UNKNOWN_PRODUCT for a frame refused before
    its product was found (an id the server does not hold; also an oversized frame, a drain), so it stays
    as small as the metrics' product labels.

    Raises StreamIdle when the stream was idle for idle_seconds. When the consumer stops (the call was
    cancelled), the frames read ahead are dropped before the model.
    """
    queued: asyncio.Queue = asyncio.Queue()  # PendingFrame, then _END; or _IDLE; or the reader's failure
    slots = asyncio.Semaphore(window)
    clock = _IdleClock(idle_seconds)
    reader = asyncio.create_task(_read(requests, frames, queued, slots, clock, products, pipeline))
    reader.add_done_callback(lambda task: _report_failure(task, queued))
    watchdog = asyncio.create_task(_expire_when_idle(clock, queued)) if idle_seconds > 0 else None
    try:
        while (item := await queued.get()) is not _END:
            if item is _IDLE:
                raise StreamIdle(
                    f"the stream sent no frame for {idle_seconds:g} s (the server's --stream-idle-seconds); "
                    "open a new stream to go on"
                )
            if isinstance(item, BaseException):
                raise item
            response = await frames.answer(item)
            yield response
            clock.answered()
            slots.release()
    finally:
        reader.cancel()
        if watchdog is not None:
            watchdog.cancel()
        while not queued.empty():
            item = queued.get_nowait()
            if isinstance(item, PendingFrame):
                frames.abandon(item)


async def _read(
    requests: AsyncIterator[pb.InspectRequest],
    frames: FrameProcessor,
    queued: asyncio.Queue,
    slots: asyncio.Semaphore,
    clock: _IdleClock,
    products: set[str],
    pipeline: asyncio.Semaphore,
) -> None:
    source = object()  # this stream's turn among the calls waiting for the model
    iterator = aiter(requests)
    try:
        while True:
            await slots.acquire()
            try:
                request = await anext(iterator)
            except StopAsyncIteration:
                break
            clock.read()
            await pipeline.acquire()
            pending = frames.submit(request, source)
            pending.answer.add_done_callback(lambda _: pipeline.release())  # answered or abandoned
            products.add(request.product_id if pending.entry else UNKNOWN_PRODUCT)
            queued.put_nowait(pending)
    except grpc.RpcError:
        pass  # the client cancelled, the connection broke, or a message was malformed: no more frames
    queued.put_nowait(_END)


def _report_failure(reader: asyncio.Task, queued: asyncio.Queue) -> None:
    """An unexpected error of the reader ends the call with it instead of leaving the call waiting."""
    if not reader.cancelled() and reader.exception() is not None:
        queued.put_nowait(reader.exception())


async def _expire_when_idle(clock: _IdleClock, queued: asyncio.Queue) -> None:
    while (seconds := clock.seconds_until_idle()) > 0:
        await asyncio.sleep(seconds)
    queued.put_nowait(_IDLE)
