"""Servers of their own: SIGTERM drains and exits 0, a restart finds the stored product, token auth."""

import queue
import signal
import time

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from patchcore_client.local_server import LocalServer, ServerStartError
from patchcore_client.synthetic import good_part
from patchcore_edge.v1 import inspection_pb2 as pb
from patchcore_edge.v1 import inspection_pb2_grpc
from server_helpers import encoded, teach_request

PRODUCT = "kept"
TOKEN = "line-7-secret"


def wait_for_health(channel: grpc.Channel, wanted: int, timeout: float = 60.0) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + timeout
    while health.Check(health_pb2.HealthCheckRequest()).status != wanted:
        assert time.monotonic() < deadline, "health never changed"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("lifecycle") / "store"


@pytest.fixture(scope="module")
def drained(lite0_model, store, tmp_path_factory):
    """A server that taught PRODUCT, was sent SIGTERM with a stream open, and what was observed meanwhile."""
    server = LocalServer(lite0_model, store, log_path=tmp_path_factory.mktemp("logs") / "first.log").start()
    frame = pb.InspectRequest(product_id=PRODUCT, image=encoded(good_part(np.random.default_rng(22))))
    seen = {}
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = inspection_pb2_grpc.InspectionServiceStub(channel)
            seen["taught"] = stub.Teach(teach_request(PRODUCT, seed=21))
            requests: queue.Queue = queue.Queue()
            responses = stub.InspectStream(iter(requests.get, None))
            requests.put(frame)
            seen["before"] = next(responses)

            server.process.send_signal(signal.SIGTERM)
            wait_for_health(channel, health_pb2.HealthCheckResponse.NOT_SERVING)
            with pytest.raises(grpc.RpcError) as refused:
                stub.GetServerInfo(pb.GetServerInfoRequest())
            seen["new_call"] = refused.value.code()
            requests.put(frame)
            seen["during"] = next(responses)
            requests.put(None)
            seen["rest"] = list(responses)
        seen["exit_code"] = server.process.wait(60)
    finally:
        server.stop()
    return seen


def test_sigterm_refuses_new_calls_with_unavailable(drained):
    assert drained["new_call"] == grpc.StatusCode.UNAVAILABLE


def test_sigterm_lets_an_open_stream_finish(drained):
    assert not drained["before"].HasField("error")
    assert drained["during"].error.code == grpc.StatusCode.UNAVAILABLE.value[0]
    assert drained["rest"] == []


def test_sigterm_exits_0(drained):
    assert drained["exit_code"] == 0


@pytest.fixture(scope="module")
def restarted(lite0_model, store, drained, tmp_path_factory):
    """A second server on the first one's store, requiring a token."""
    log = tmp_path_factory.mktemp("logs") / "second.log"
    with LocalServer(lite0_model, store, ["--token", TOKEN], log_path=log) as server:
        yield server


def test_a_second_server_on_the_same_store_is_refused_naming_the_first(
    lite0_model, store, restarted, tmp_path
):
    second = LocalServer(lite0_model, store, log_path=tmp_path / "second-at-once.log")
    with pytest.raises(
        ServerStartError, match=rf"in use by a patchcore-edge server \(pid {restarted.process.pid}\)"
    ):
        second.start(attempts=1)
    assert second.process.returncode == 1  # may pass (the other process ends): systemd tries again


def test_restart_finds_the_product(restarted, drained):
    with grpc.insecure_channel(restarted.target) as channel:
        stub = inspection_pb2_grpc.InspectionServiceStub(channel)
        product = stub.GetProduct(
            pb.GetProductRequest(product_id=PRODUCT), metadata=[("authorization", f"Bearer {TOKEN}")]
        )
    taught = drained["taught"]
    assert (product.version, product.threshold, product.usable) == (taught.version, taught.threshold, True)


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        ((), grpc.StatusCode.UNAUTHENTICATED),
        ((("authorization", "Bearer wrong"),), grpc.StatusCode.UNAUTHENTICATED),  # unknown token
    ],
)
def test_token_is_required_when_configured(restarted, metadata, code):
    with grpc.insecure_channel(restarted.target) as channel:
        stub = inspection_pb2_grpc.InspectionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.ListProducts(pb.ListProductsRequest(), metadata=metadata)
        assert raised.value.code() == code
        wait_for_health(channel, health_pb2.HealthCheckResponse.SERVING)  # probes need no token
