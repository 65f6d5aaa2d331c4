"""Idle streams: InspectStream calls held open without frames (cameras between parts, stalled camera
processes), what they cost the server in memory, and whether a well-behaved client is still served as fast."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
import numpy as np
from patchcore_edge.v1 import inspection_pb2 as pb
from patchcore_edge.v1 import inspection_pb2_grpc

from tests.benchmarks.perf_process import ProcessMonitor

CONNECTIONS = 8
LATENCY_STREAMS = 256
LATENCY_CALLS = 20
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]  # channels to one target share one otherwise
OPEN_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class IdleStreamsResult:
    """Inspect p50 latency alone and beside LATENCY_STREAMS idle streams, one pair per round; the server's
    RSS before and with `streams` idle streams open."""

    idle_server_ms: tuple[float, ...]
    beside_idle_streams_ms: tuple[float, ...]
    streams: int
    rss_before_mib: float
    rss_with_streams_mib: float

    @property
    def latency_ratio(self) -> float:
        """Median over the rounds of (beside idle streams / idle server)."""
        pairs = zip(self.beside_idle_streams_ms, self.idle_server_ms, strict=True)
        return float(np.median([beside / alone for beside, alone in pairs]))

    @property
    def kib_per_stream(self) -> float:
        return (self.rss_with_streams_mib - self.rss_before_mib) * 1024 / self.streams


def open_calls(metrics_port: int) -> int:
    """patchcore_open_calls of the server: the InspectionService calls it holds open."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as page:
        for line in page.read().decode().splitlines():
            if line.startswith("patchcore_open_calls "):
                return int(float(line.split()[1]))
    raise RuntimeError("the server has no patchcore_open_calls metric")


async def _until_open(metrics_port: int, count: int) -> None:
    deadline = time.monotonic() + OPEN_TIMEOUT_SECONDS
    while await asyncio.to_thread(open_calls, metrics_port) != count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not reach {count} open calls")
        await asyncio.sleep(0.1)


@asynccontextmanager
async def idle_streams(target: str, metrics_port: int, count: int) -> AsyncIterator[None]:
    """`count` InspectStream calls over CONNECTIONS connections that send nothing, open on the server."""
    channels = [grpc.aio.insecure_channel(target, options=OWN_CONNECTION) for _ in range(CONNECTIONS)]
    stubs = [inspection_pb2_grpc.InspectionServiceStub(channel) for channel in channels]
    calls = [stubs[index % CONNECTIONS].InspectStream() for index in range(count)]
    try:
        await _until_open(metrics_port, count)
        yield
    finally:
        for call in calls:
            call.cancel()
        for channel in channels:
            await channel.close()
        await _until_open(metrics_port, 0)


async def _inspect_p50_ms(target: str, request: pb.InspectRequest) -> float:
    async with grpc.aio.insecure_channel(target, options=OWN_CONNECTION) as channel:
        stub = inspection_pb2_grpc.InspectionServiceStub(channel)
        for _ in range(3):
            await stub.Inspect(request)
        durations = []
        for _ in range(LATENCY_CALLS):
            started = time.perf_counter()
            await stub.Inspect(request)
            durations.append((time.perf_counter() - started) * 1000)
    return float(np.median(durations))


async def _measure(
    target: str, metrics_port: int, monitor: ProcessMonitor, request: pb.InspectRequest, streams: int
) -> IdleStreamsResult:
    monitor.wait_until_idle()
    before = monitor.current_mib()
    async with idle_streams(target, metrics_port, streams):
        monitor.wait_until_idle()
        with_streams = monitor.current_mib()
    alone, beside = [], []
    for _ in range(3):
        monitor.wait_until_idle()
        alone.append(await _inspect_p50_ms(target, request))
        async with idle_streams(target, metrics_port, LATENCY_STREAMS):
            beside.append(await _inspect_p50_ms(target, request))
    return IdleStreamsResult(tuple(alone), tuple(beside), streams, before, with_streams)


def measure_idle_streams(
    target: str, metrics_port: int, monitor: ProcessMonitor, request: pb.InspectRequest, streams: int
) -> IdleStreamsResult:
    """On a server that has only been taught: the RSS that `streams` idle streams add, then Inspect latency
    alone and beside LATENCY_STREAMS idle streams (three rounds)."""
    return asyncio.run(_measure(target, metrics_port, monitor, request, streams))
