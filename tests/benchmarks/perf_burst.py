"""Bursts of many cameras at once: what the server keeps of them once it is idle again, against its idle
footprint before them."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import grpc
from patchcore_edge.v1 import inspection_pb2 as pb
from patchcore_edge.v1 import inspection_pb2_grpc

from server.__main__ import TRIM_EVERY_SECONDS
from tests.benchmarks.perf_idle import OWN_CONNECTION
from tests.benchmarks.perf_process import ProcessMonitor

BURST_FRAMES = 10  # per stream
BURSTS = 2


@dataclass(frozen=True)
class BurstResult:
    """Idle RSS before the bursts and after each, and each burst's peak; every stream sent
    `frames_per_stream` raw frames."""

    streams: int
    frames_per_stream: int
    idle_before_mib: float
    peaks_mib: tuple[float, ...]
    idle_after_mib: tuple[float, ...]
    seconds: tuple[float, ...]  # each burst's wall time

    @property
    def excess(self) -> float:
        """Idle RSS after the last burst over idle RSS before the first, minus 1."""
        return self.idle_after_mib[-1] / self.idle_before_mib - 1.0


def _idle_mib(monitor: ProcessMonitor) -> float:
    """The server's RSS once it is idle and its periodic malloc_trim (server/__main__.py) has run since."""
    monitor.wait_until_idle()
    time.sleep(TRIM_EVERY_SECONDS + 1.0)
    return monitor.current_mib()


async def _one_stream(target: str, request: pb.InspectRequest, frames: int) -> None:
    async def requests():
        for frame_id in range(frames):
            message = pb.InspectRequest()
            message.CopyFrom(request)
            message.frame_id = frame_id
            yield message

    async with grpc.aio.insecure_channel(target, options=OWN_CONNECTION) as channel:
        stub = inspection_pb2_grpc.InspectionServiceStub(channel)
        async for response in stub.InspectStream(requests()):
            if response.HasField("error"):
                raise RuntimeError(f"frame {response.frame_id}: {response.error.message}")


async def _burst(target: str, request: pb.InspectRequest, streams: int, frames: int) -> None:
    await asyncio.gather(*(_one_stream(target, request, frames) for _ in range(streams)))


def measure_bursts(
    target: str, monitor: ProcessMonitor, product_id: str, image: pb.Image, streams: int
) -> BurstResult:
    """BURSTS bursts of `streams` InspectStream calls at once (a connection each, like separate cameras),
    each sending BURST_FRAMES frames of `image` as fast as the server takes them."""
    request = pb.InspectRequest(product_id=product_id, image=image)
    before = _idle_mib(monitor)
    peaks, after, seconds = [], [], []
    for _ in range(BURSTS):
        monitor.start_window()
        started = time.perf_counter()
        asyncio.run(_burst(target, request, streams, BURST_FRAMES))
        seconds.append(time.perf_counter() - started)
        peaks.append(monitor.window_peak_mib)
        after.append(_idle_mib(monitor))
    return BurstResult(streams, BURST_FRAMES, before, tuple(peaks), tuple(after), tuple(seconds))
