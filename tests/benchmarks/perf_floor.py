"""The floor under the server's own work per frame: a bare `grpc.aio` server of the same contract that answers
each InspectStream frame with an empty response (no decode, no model, no search, one event loop), streamed
the same raw frames as the server in the same rounds. Its CPU per frame is what gRPC's transport and
protobuf cost a Python server on this machine, which no change to the server's own code can go below.

Run as `python -m tests.benchmarks.perf_floor`: it serves on a free local port and prints the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import grpc
from patchcore_edge.v1 import inspection_pb2 as pb
from patchcore_edge.v1 import inspection_pb2_grpc as pb_grpc

READY_SECONDS = 30.0


class _EmptyAnswers(pb_grpc.InspectionServiceServicer):
    async def InspectStream(
        self, request_iterator: AsyncIterator[pb.InspectRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.InspectResponse]:
        async for request in request_iterator:
            yield pb.InspectResponse(frame_id=request.frame_id)


async def _serve() -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    pb_grpc.add_InspectionServiceServicer_to_server(_EmptyAnswers(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()


@contextlib.contextmanager
def floor_server() -> Iterator[tuple[str, int]]:
    """The bare server in a process of its own, ready for calls: its target and process id."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.benchmarks.perf_floor"], stdout=subprocess.PIPE, text=True
    )
    try:
        port = process.stdout.readline().strip()
        if not port:
            raise RuntimeError(f"the bare gRPC server did not start (exit code {process.wait()})")
        target = f"127.0.0.1:{port}"
        with grpc.insecure_channel(target) as channel:
            grpc.channel_ready_future(channel).result(timeout=READY_SECONDS)
        yield target, process.pid
    finally:
        process.terminate()
        process.wait()


if __name__ == "__main__":
    asyncio.run(_serve())
