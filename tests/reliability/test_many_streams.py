"""Hundreds of open streams on one server: idle streams hold no thread, so other clients are still served;
idle streams end only by their client's deadline or the server's --stream-idle-seconds."""

from __future__ import annotations

import asyncio
import queue
import signal
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from patchcore_client.local_server import LocalServer
from patchcore_edge.v1 import inspection_pb2 as pb
from patchcore_edge.v1 import inspection_pb2_grpc
from reliability_support import SERVING, inspect_request, metric_value, start_server, stub_for
from reliability_support import teach_request as make_teach_request

PRODUCT = "many"
IDLE_STREAMS = 256
CONNECTIONS = 8
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]  # channels to one target share one otherwise


def open_calls(server: LocalServer) -> int:
    """patchcore_open_calls: InspectionService calls the server holds open."""
    return int(metric_value(server, "patchcore_open_calls"))


def wait_for_open_calls(server: LocalServer, wanted: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while (count := open_calls(server)) != wanted:
        assert time.monotonic() < deadline, f"the server holds {count} calls open, not {wanted}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("many_streams")
    server = start_server(tiny_model, folder / "store", folder, "--stream-idle-seconds", "2")
    with grpc.insecure_channel(server.target) as channel:
        stub_for(channel).Teach(make_teach_request(PRODUCT, seed=1))
    yield server
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(60) == 0


@pytest.fixture
def server_with_limit(tiny_model, tmp_path):
    limit = 4
    server = start_server(
        tiny_model, tmp_path / "store", tmp_path, "--max-streams-per-connection", str(limit)
    )
    with server, grpc.insecure_channel(server.target) as channel:
        stub_for(channel).Teach(make_teach_request(PRODUCT, seed=1))
        yield server, limit


async def idle_streams_then_one_inspect(server: LocalServer) -> tuple[pb.InspectResponse, int]:
    """Opens IDLE_STREAMS InspectStream calls over CONNECTIONS connections, sends no frame on them, and
    makes one Inspect and one health check from another connection while they are all open."""
    channels = [grpc.aio.insecure_channel(server.target, options=OWN_CONNECTION) for _ in range(CONNECTIONS)]
    stubs = [inspection_pb2_grpc.InspectionServiceStub(channel) for channel in channels]
    streams = [stubs[index % CONNECTIONS].InspectStream(timeout=120) for index in range(IDLE_STREAMS)]
    try:
        await asyncio.to_thread(wait_for_open_calls, server, IDLE_STREAMS)
        async with grpc.aio.insecure_channel(server.target, options=OWN_CONNECTION) as other:
            response = await inspection_pb2_grpc.InspectionServiceStub(other).Inspect(
                inspect_request(PRODUCT, frame_id=7), timeout=60
            )
            health = await health_pb2_grpc.HealthStub(other).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
    finally:
        for stream in streams:
            stream.cancel()
        for channel in channels:
            await channel.close()
    return response, health.status


def test_idle_streams_leave_the_server_to_other_clients(server):
    response, health = asyncio.run(idle_streams_then_one_inspect(server))

    assert response.frame_id == 7 and not response.HasField("error")
    assert health == SERVING
    wait_for_open_calls(server, 0)  # the cancelled streams are released


async def answered_in_turn(target: str, limit: int) -> tuple[int, pb.InspectResponse]:
    """Sends a frame on each of limit + 1 streams of one connection; once `limit` are answered, ends one of
    them. Returns how many were still unanswered then, and the last stream's answer."""
    async with grpc.aio.insecure_channel(target, options=OWN_CONNECTION) as channel:
        stub = inspection_pb2_grpc.InspectionServiceStub(channel)
        streams = [stub.InspectStream(timeout=120) for _ in range(limit + 1)]
        answers = [asyncio.create_task(_answer(stream, index)) for index, stream in enumerate(streams)]
        done: set[asyncio.Task] = set()
        waiting = set(answers)
        while len(done) < limit:
            finished, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            done |= finished
        streams[answers.index(next(iter(done)))].cancel()
        last = await asyncio.wait_for(asyncio.gather(*waiting), 60)
        for stream in streams:
            stream.cancel()
    return len(waiting), last[-1]


async def _answer(stream, frame_id: int) -> pb.InspectResponse:
    await stream.write(inspect_request(PRODUCT, frame_id=frame_id))
    return await stream.read()


def test_streams_beyond_the_per_connection_limit_wait_for_a_free_one(server_with_limit):
    server, limit = server_with_limit
    unanswered, last = asyncio.run(answered_in_turn(server.target, limit))

    assert unanswered == 1
    assert not last.HasField("error")


def test_an_idle_stream_ends_with_deadline_exceeded_after_the_idle_timeout(server):
    requests: queue.Queue = queue.Queue()
    with grpc.insecure_channel(server.target) as channel:
        responses = stub_for(channel).InspectStream(iter(requests.get, None), timeout=60)
        requests.put(inspect_request(PRODUCT, frame_id=1))
        assert next(responses).frame_id == 1
        with pytest.raises(grpc.RpcError) as ended:  # no more frames: the stream goes idle
            next(responses)
        requests.put(None)

    assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "--stream-idle-seconds" in ended.value.details()


def test_an_idle_stream_ends_with_the_clients_deadline_and_is_released(tiny_model, tmp_path):
    requests: queue.Queue = queue.Queue()
    with (
        start_server(tiny_model, tmp_path / "store", tmp_path) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        responses = stub_for(channel).InspectStream(iter(requests.get, None), timeout=1)
        with pytest.raises(grpc.RpcError) as ended:
            next(responses)
        requests.put(None)
        assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        wait_for_open_calls(server, 0)


def test_busy_streams_beyond_the_queue_size_wait_instead_of_getting_queue_full(tiny_model, tmp_path):
    """Four streams whose windows (8 frames each) together hold more frames than the model's queue (2):
    each stream is held back by flow control, and no frame is refused for a full queue."""
    streams, frames = 4, 16
    settings = ["--queue-size", "2", "--stream-window", "8", "--max-batch", "1", "--model-workers", "1"]
    with (
        start_server(tiny_model, tmp_path / "store", tmp_path, *settings) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        stub = stub_for(channel)
        stub.Teach(make_teach_request(PRODUCT, seed=1))
        requests = [inspect_request(PRODUCT, frame_id=index) for index in range(frames)]
        calls = [stub.InspectStream(iter(requests), timeout=120) for _ in range(streams)]
        answers = [list(call) for call in calls]

    for answer in answers:
        assert [response.frame_id for response in answer] == list(range(frames))
        assert [response.error.message for response in answer if response.HasField("error")] == []
