"""Dynamic micro-batching: frames from every stream and unary call share one model execution.

Calls prepare their frames (patchcore.prepare), then `submit` them. A worker thread takes frames from the
queue until they hold `max_batch` model inputs (a tiled frame brings all its tiles, so one frame may hold
more) - waiting at most `max_wait_ms` for more once it holds the first - runs the engine's extract stage over
them (one model run), and resolves each frame's future with its features. The queue hands frames out
round-robin across calls (server/fair_queue.py), so a stream with a full window does not hold back the
frames of the others. The search and the verdict happen outside the workers (server/frames.py), in parallel
with the next model run: the workers are the threads every frame passes through, so they do nothing else.

`workers` model runs may go at once (ONNX Runtime's run() is thread-safe). One run alone leaves cores idle
where an operator does not parallelise (small layers, the graph's serial parts); a second run fills them.
A run that starts while no other is in flight uses `extractor`, on every intra-op thread, so a lone frame is
as fast as with one worker; a run that starts beside another uses `beside`, the same model in a session
with a share of the threads, so the runs do not fight over one thread pool (README "Performance"). Each
call's frames are released in the order they were submitted (server/in_order.py), whichever run finishes
first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Hashable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import numpy as np

from patchcore.inspection import FrameFeatures, extract
from patchcore.model import FeatureExtractor
from server.errors import ServerBusy, ShuttingDown
from server.fair_queue import FairQueue, QueueClosed, QueueFull
from server.in_order import InOrderRelease
from server.logs import log_event
from server.metrics import ServerMetrics


@dataclass(frozen=True)
class BatchOutput:
    """What the model made of one frame."""

    frame: FrameFeatures  # the frame's features (and its fine cells where asked for)
    queue_seconds: float
    inference_seconds: float  # the model run of the whole batch the frame was part of
    batch_size: int


@dataclass(frozen=True)
class _Job:
    inputs: np.ndarray  # [T, S, S, 3] uint8 RGB, the frame's model inputs
    enqueued: float
    future: Future
    source: Hashable
    ticket: int  # the frame's place among its source's frames
    fine: bool  # whether the frame's fine cells are wanted too


class InferenceBatcher:
    def __init__(
        self,
        extractor: FeatureExtractor,
        metrics: ServerMetrics,
        max_batch: int = 1,
        max_wait_ms: float = 0.0,
        queue_size: int = 256,
        workers: int = 1,
        beside: FeatureExtractor | None = None,
    ) -> None:
        """beside: the model for runs that start while another is in flight (default: extractor)."""
        if min(max_batch, queue_size, workers) < 1 or max_wait_ms < 0:
            raise ValueError("max_batch, queue_size and workers must be 1 or more, max_wait_ms not negative")
        self._extractor = extractor
        self._beside = extractor if beside is None else beside
        self._runs_lock = threading.Lock()
        self._runs = 0  # model runs in flight
        self._metrics = metrics
        self._max_batch = max_batch
        self._max_wait = max_wait_ms / 1000.0
        self._queue: FairQueue[_Job] = FairQueue(queue_size)
        self._in_order = InOrderRelease()
        self._workers = [
            threading.Thread(target=self._run, name=f"inference-batcher-{index}", daemon=True)
            for index in range(workers)
        ]
        for worker in self._workers:
            worker.start()

    def submit(
        self,
        inputs: np.ndarray,
        source: Hashable | None = None,
        future: Future | None = None,
        fine: bool = False,
    ) -> Future:
        """Queues one frame's model inputs ([T, S, S, 3] uint8 RGB) for the model; the future (`future`, or
        a new one) gives a BatchOutput; cancelling it drops the frame before the model. `source`: the call
        the frame belongs to, whose frames take their turn with other calls' (None: the frame is a call of
        its own). fine: the frame's fine cells are wanted too (Scorer.wants_fine_cells).

        Raises ServerBusy when the queue is full and ShuttingDown once the batcher is closed.
        """
        future = Future() if future is None else future
        source = object() if source is None else source
        try:
            with self._in_order.ticket(source) as ticket:
                job = _Job(inputs, time.perf_counter(), future, source, ticket, fine)
                self._queue.put(source, job)
        except QueueClosed:
            raise ShuttingDown(
                "the server is shutting down; send the frame to another instance or retry"
            ) from None
        except QueueFull:
            raise ServerBusy(
                f"the inference queue is full ({self._queue.capacity} frames); frames arrive faster than the "
                "model scores them - send fewer at once"
            ) from None
        self._metrics.pending_requests.inc()
        return job.future

    def close(self) -> None:
        """Runs the model over what is queued, then stops the workers."""
        self._queue.close()
        for worker in self._workers:
            worker.join()

    def _run(self) -> None:
        while (batch := self._collect()) is not None:
            self._execute(batch)

    def _claim(self, job: _Job) -> bool:
        """Marks the job's future as running; False when its caller already cancelled it (the frame is
        dropped: a cancelled stream can leave dozens of frames queued that nobody would read)."""
        if job.future.set_running_or_notify_cancel():
            return True
        self._metrics.pending_requests.dec()
        self._in_order.finish(job.source, job.ticket, lambda: None)
        return False

    def _next_job(self, deadline: float | None) -> _Job | None:
        """The next live job; blocks when deadline is None, else None once it passes. QueueClosed when the
        queue is closed and empty."""
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.perf_counter())
            job = self._queue.get(timeout)
            if job is None or self._claim(job):
                return job

    def _collect(self) -> list[_Job] | None:
        """Jobs up to max_batch model inputs (at least one job): blocks for the first, then waits at most
        max_wait for the rest.

        None once the queue is closed and empty.
        """
        try:
            batch = [self._next_job(deadline=None)]
        except QueueClosed:
            return None
        inputs = len(batch[0].inputs)
        deadline = time.perf_counter() + self._max_wait
        while inputs < self._max_batch:
            try:
                job = self._next_job(deadline)
            except QueueClosed:
                break
            if job is None:
                break
            batch.append(job)
            inputs += len(job.inputs)
        return batch

    @contextmanager
    def _model_run(self) -> Iterator[FeatureExtractor]:
        """The extractor for a run starting now: the full one when no other run is in flight."""
        with self._runs_lock:
            self._runs += 1
            alone = self._runs == 1
        try:
            yield self._extractor if alone else self._beside
        finally:
            with self._runs_lock:
                self._runs -= 1

    def _execute(self, batch: list[_Job]) -> None:
        started = time.perf_counter()
        self._metrics.pending_requests.dec(len(batch))
        try:
            with self._model_run() as extractor:
                features = extract(extractor, [job.inputs for job in batch], [job.fine for job in batch])
        except Exception as error:  # every frame of the batch gets the error; the worker goes on
            log_event("batch_failed", level=logging.ERROR, exc_info=True, batch_size=len(batch))
            for job in batch:
                self._in_order.finish(job.source, job.ticket, partial(job.future.set_exception, error))
            return
        inference_seconds = time.perf_counter() - started
        self._metrics.exec_count.inc()
        self._metrics.inference_count.inc(len(batch))
        self._metrics.compute_infer_duration_us.observe(inference_seconds * 1e6)
        for job, frame in zip(batch, features, strict=True):
            queue_seconds = started - job.enqueued
            self._metrics.queue_duration_us.observe(queue_seconds * 1e6)
            output = BatchOutput(frame, queue_seconds, inference_seconds, len(batch))
            self._in_order.finish(job.source, job.ticket, partial(job.future.set_result, output))
