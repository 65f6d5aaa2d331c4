"""A server whose every inspection thread is held by an open stream still answers health checks, and refuses
one more inspection call with RESOURCE_EXHAUSTED instead of queueing it."""

import queue
import signal

import grpc
from grpc_health.v1 import health_pb2
from patchcore_edge.v1 import inspection_pb2 as pb
from reliability_support import health_status, inspect_request, start_server, status_code, stub_for
from reliability_support import teach_request as make_teach_request

PRODUCT = "busy"
INSPECTION_THREADS = 2


def open_stream(stub) -> tuple[queue.Queue, grpc.Future]:
    """A stream that has been answered once, so it holds a server thread until its requests end."""
    requests: queue.Queue = queue.Queue()
    call = stub.InspectStream(iter(requests.get, None))
    requests.put(inspect_request(PRODUCT))
    assert next(call).frame_id == 0
    return requests, call


def test_health_answers_and_extra_calls_are_refused_when_every_thread_streams(tiny_model, tmp_path):
    server = start_server(tiny_model, tmp_path / "store", tmp_path, "--grpc-threads", str(INSPECTION_THREADS))
    with grpc.insecure_channel(server.target) as channel:
        stub = stub_for(channel)
        stub.Teach(make_teach_request(PRODUCT, seed=1))
        streams = [open_stream(stub) for _ in range(INSPECTION_THREADS)]

        assert health_status(channel) == health_pb2.HealthCheckResponse.SERVING
        extra = status_code(stub.GetServerInfo, pb.GetServerInfoRequest(), timeout=20)
        assert extra == grpc.StatusCode.RESOURCE_EXHAUSTED

        for requests, call in streams:
            requests.put(None)
            assert list(call) == []
        assert status_code(stub.GetServerInfo, pb.GetServerInfoRequest(), timeout=20) == grpc.StatusCode.OK
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(60) == 0
