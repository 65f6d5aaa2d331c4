"""A server holding --max-calls open streams still answers health checks and reflection, and refuses one
more inspection call with RESOURCE_EXHAUSTED naming the limit instead of queueing it."""

import queue
import signal

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from patchcore_edge.v1 import inspection_pb2 as pb
from reliability_support import health_status, inspect_request, start_server, status_code, stub_for
from reliability_support import teach_request as make_teach_request

PRODUCT = "busy"
MAX_CALLS = 2


def open_stream(stub) -> tuple[queue.Queue, grpc.Future]:
    """A stream that has been answered once, so it is open on the server until its requests end."""
    requests: queue.Queue = queue.Queue()
    call = stub.InspectStream(iter(requests.get, None))
    requests.put(inspect_request(PRODUCT))
    assert next(call).frame_id == 0
    return requests, call


def reflection_lists_services(channel: grpc.Channel) -> bool:
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (answer,) = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(iter([request]))
    return bool(answer.list_services_response.service)


def test_health_and_reflection_answer_and_extra_calls_are_refused_at_max_calls(tiny_model, tmp_path):
    server = start_server(tiny_model, tmp_path / "store", tmp_path, "--max-calls", str(MAX_CALLS))
    with grpc.insecure_channel(server.target) as channel:
        stub = stub_for(channel)
        stub.Teach(make_teach_request(PRODUCT, seed=1))
        streams = [open_stream(stub) for _ in range(MAX_CALLS)]

        assert health_status(channel) == health_pb2.HealthCheckResponse.SERVING
        assert reflection_lists_services(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetServerInfo(pb.GetServerInfoRequest(), timeout=20)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "--max-calls" in refused.value.details()

        for requests, call in streams:
            requests.put(None)
            assert list(call) == []
        assert status_code(stub.GetServerInfo, pb.GetServerInfoRequest(), timeout=20) == grpc.StatusCode.OK
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(60) == 0
