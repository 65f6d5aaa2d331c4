"""Dynamic micro-batching: frames from every stream and unary call share one model execution.

Request threads prepare their frames (patchcore.prepare), then `submit` them. One worker thread takes frames
from the queue until they hold `max_batch` model inputs (a tiled frame brings all its tiles, so one frame
may hold more) - waiting at most `max_wait_ms` for more once it holds the first - runs the engine's score
stage over them (one model run, one search per product), and resolves each frame's future with its
patch-score grids. Turning grids into a verdict happens back in the request thread, in parallel with the
next batch.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from patchcore.inspection import score
from patchcore.model import FeatureExtractor
from patchcore.scoring import Scorer
from server.errors import ServerBusy, ShuttingDown
from server.logs import log_event
from server.metrics import ServerMetrics


@dataclass(frozen=True)
class BatchOutput:
    """What the model made of one frame."""

    grids: np.ndarray  # [T, h, w] float32 patch anomaly scores, one grid per model input of the frame
    queue_seconds: float
    inference_seconds: float  # the whole batch the frame was part of
    batch_size: int


@dataclass(frozen=True)
class _Job:
    inputs: np.ndarray  # [T, S, S, 3] uint8 RGB, the frame's model inputs
    scorer: Scorer
    enqueued: float
    future: Future


_STOP = object()


class InferenceBatcher:
    def __init__(
        self,
        extractor: FeatureExtractor,
        metrics: ServerMetrics,
        max_batch: int = 8,
        max_wait_ms: float = 0.0,
        queue_size: int = 256,
    ) -> None:
        if max_batch < 1 or queue_size < 1 or max_wait_ms < 0:
            raise ValueError("max_batch and queue_size must be 1 or more, max_wait_ms not negative")
        self._extractor = extractor
        self._metrics = metrics
        self._max_batch = max_batch
        self._max_wait = max_wait_ms / 1000.0
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="inference-batcher", daemon=True)
        self._worker.start()

    def submit(self, inputs: np.ndarray, scorer: Scorer) -> Future:
        """Queues one frame's model inputs ([T, S, S, 3] uint8 RGB) for scoring with `scorer`; the future
        gives a BatchOutput.

        Raises ServerBusy when the queue is full and ShuttingDown once the batcher is closed.
        """
        if self._closed:
            raise ShuttingDown("the server is shutting down; send the frame to another instance or retry")
        job = _Job(inputs=inputs, scorer=scorer, enqueued=time.perf_counter(), future=Future())
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise ServerBusy(
                f"the inference queue is full ({self._queue.maxsize} frames); frames arrive faster than the "
                "model scores them - send fewer at once"
            ) from None
        self._metrics.pending_requests.inc()
        return job.future

    def close(self) -> None:
        """Scores what is queued, then stops the worker."""
        self._closed = True
        self._queue.put(_STOP)
        self._worker.join()

    def _run(self) -> None:
        while (batch := self._collect()) is not None:
            self._execute(batch)
        self._fail_leftovers()

    def _fail_leftovers(self) -> None:
        """Frames that slipped in behind the stop marker get ShuttingDown instead of waiting forever."""
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not _STOP and self._claim(job):
                job.future.set_exception(ShuttingDown("the server is shutting down"))

    def _claim(self, job: _Job) -> bool:
        """Marks the job's future as running; False when its caller already cancelled it (the frame is
        dropped: a cancelled stream can leave dozens of frames queued that nobody would read)."""
        if job.future.set_running_or_notify_cancel():
            return True
        self._metrics.pending_requests.dec()
        return False

    def _next_job(self, deadline: float | None) -> _Job | object | None:
        """The next live job or the stop marker; blocks when deadline is None, else None once it passes."""
        while True:
            try:
                if deadline is None:
                    job = self._queue.get()
                else:
                    remaining = deadline - time.perf_counter()
                    job = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                return None
            if job is _STOP or self._claim(job):
                return job

    def _collect(self) -> list[_Job] | None:
        """Jobs up to max_batch model inputs (at least one job): blocks for the first, then waits at most
        max_wait for the rest.

        None when the stop marker came first; the jobs before it when it came later.
        """
        first = self._next_job(deadline=None)
        if first is _STOP:
            return None
        batch = [first]
        inputs = len(first.inputs)
        deadline = time.perf_counter() + self._max_wait
        while inputs < self._max_batch:
            job = self._next_job(deadline)
            if job is None:
                break
            if job is _STOP:
                self._queue.put(_STOP)
                break
            batch.append(job)
            inputs += len(job.inputs)
        return batch

    def _execute(self, batch: list[_Job]) -> None:
        started = time.perf_counter()
        self._metrics.pending_requests.dec(len(batch))
        try:
            grids = score(self._extractor, [(job.inputs, job.scorer) for job in batch])
        except Exception as error:  # every frame of the batch gets the error; the worker goes on
            log_event("batch_failed", level=logging.ERROR, exc_info=True, batch_size=len(batch))
            for job in batch:
                job.future.set_exception(error)
            return
        inference_seconds = time.perf_counter() - started
        self._metrics.exec_count.inc()
        self._metrics.inference_count.inc(len(batch))
        self._metrics.compute_infer_duration_us.observe(inference_seconds * 1e6)
        for job, grid in zip(batch, grids, strict=True):
            queue_seconds = started - job.enqueued
            self._metrics.queue_duration_us.observe(queue_seconds * 1e6)
            job.future.set_result(BatchOutput(grid, queue_seconds, inference_seconds, len(batch)))
