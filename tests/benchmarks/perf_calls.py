"""Timed calls against a running server, made with the Python client as line software would make them."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from patchcore_client import InspectionClient
from patchcore_edge.v1 import inspection_pb2 as pb

from tests.benchmarks.perf_process import ProcessMonitor


@dataclass(frozen=True)
class StreamRun:
    streams: int
    frames: int
    seconds: float

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds


def timed_teach(target: str, product_id: str, images: list[pb.Image], tile_size: int = 0) -> float:
    """Seconds one Teach call takes, round trip."""
    with InspectionClient(target) as client:
        started = time.perf_counter()
        client.teach(product_id, images, tile_size=tile_size)
        return time.perf_counter() - started


def unary_durations_ms(target: str, product_id: str, image: pb.Image, calls: int) -> list[float]:
    """Round-trip milliseconds of `calls` sequential Inspect calls, after three warm-up calls."""
    with InspectionClient(target) as client:
        for _ in range(3):
            client.inspect(product_id, image)
        durations = []
        for frame_id in range(calls):
            started = time.perf_counter()
            client.inspect(product_id, image, frame_id=frame_id)
            durations.append((time.perf_counter() - started) * 1000)
    return durations


class _FrameBudget:
    """Frame ids for all streams until `total` frames are sent, or answers until `seconds` have gone.

    A time-boxed run counts the answers that arrive before the deadline and then cancels the streams:
    frames still in flight (gRPC buffers a good many per stream) must not stretch the measured window.
    """

    def __init__(self, total: int | None, seconds: float | None) -> None:
        self._ids = itertools.count()
        self._total = total
        self._deadline = None if seconds is None else time.perf_counter() + seconds
        self._lock = threading.Lock()

    def next_id(self) -> int | None:
        with self._lock:
            frame_id = next(self._ids)
        if self._total is not None and frame_id >= self._total:
            return None
        return None if self.expired() else frame_id

    def expired(self) -> bool:
        return self._deadline is not None and time.perf_counter() >= self._deadline


def _frames(budget: _FrameBudget, image: pb.Image) -> Iterator[tuple[int, pb.Image]]:
    while (frame_id := budget.next_id()) is not None:
        yield frame_id, image


def _one_stream(
    target: str, product_id: str, budget: _FrameBudget, image: pb.Image, counts: list[int], errors: list[str]
) -> None:
    """One stream; counts its answers, and records failed frames in `errors` (a thread cannot raise).
    Leaving the client's context cancels the call when the time is up."""
    with InspectionClient(target) as client:
        for result in client.inspect_stream(product_id, _frames(budget, image)):
            if budget.expired():
                return
            if result.error is not None:
                errors.append(f"frame {result.frame_id}: {result.error.message}")
            counts.append(1)


def stream_frames(
    target: str,
    product_id: str,
    image: pb.Image,
    streams: int,
    total_frames: int | None = None,
    seconds: float | None = None,
) -> StreamRun:
    """Runs `streams` concurrent InspectStream calls (one channel each, like separate cameras) sharing a
    budget of `total_frames` frames or `seconds` of sending, and counts the answers."""
    budget = _FrameBudget(total_frames, seconds)
    counts: list[int] = []
    errors: list[str] = []
    threads = [
        threading.Thread(target=_one_stream, args=(target, product_id, budget, image, counts, errors))
        for _ in range(streams)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started if seconds is None else seconds
    if errors:
        raise RuntimeError(f"{len(errors)} streamed frames failed, first: {errors[0]}")
    return StreamRun(streams, len(counts), elapsed)


def streamed_with_cpu(
    target: str, product_id: str, image: pb.Image, streams: int, seconds: float, monitor: ProcessMonitor
) -> tuple[StreamRun, float]:
    """stream_frames of `image` for `seconds` once the server `monitor` watches is idle, and the CPU seconds
    it used meanwhile."""
    monitor.wait_until_idle()
    cpu_before = monitor.cpu_seconds()
    run = stream_frames(target, product_id, image, streams=streams, seconds=seconds)
    return run, monitor.cpu_seconds() - cpu_before
