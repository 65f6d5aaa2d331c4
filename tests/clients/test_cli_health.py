"""`patchcore-client health`, the probe a service manager or monitoring runs: the standard gRPC health status
of a server, exit 0 only when SERVING; with --wait it rides out the server's start."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from patchcore_client.cli import main
from patchcore_client.local_server import free_port

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class WatchedHealth(health.HealthServicer):
    """The standard health service, telling the test when a client has started watching."""

    def __init__(self) -> None:
        super().__init__()
        self.watching = threading.Event()

    def Watch(self, request, context, send_response_callback=None):
        self.watching.set()
        return super().Watch(request, context, send_response_callback)


@pytest.fixture
def health_server() -> Iterator[tuple[str, WatchedHealth]]:
    """A gRPC server with only the health service, NOT_SERVING until the test says otherwise."""
    servicer = WatchedHealth()
    servicer.set("", NOT_SERVING)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", servicer
    servicer.enter_graceful_shutdown()
    server.stop(grace=None)


def test_a_server_not_serving_prints_its_status_and_exits_1(health_server, capsys):
    target, servicer = health_server
    assert main(["--target", target, "health"]) == 1
    assert capsys.readouterr().out.strip() == "NOT_SERVING"
    servicer.set("", SERVING)
    assert main(["--target", target, "health"]) == 0
    assert capsys.readouterr().out.strip() == "SERVING"


def test_wait_returns_once_a_starting_server_turns_serving(health_server, capsys):
    target, servicer = health_server
    exit_codes = []
    probe = threading.Thread(
        target=lambda: exit_codes.append(main(["--target", target, "health", "--wait", "60"]))
    )
    probe.start()
    assert servicer.watching.wait(timeout=60), "the probe never started watching the health status"
    servicer.set("", SERVING)
    probe.join(timeout=60)
    assert exit_codes == [0]
    assert capsys.readouterr().out.strip() == "SERVING"


def test_wait_gives_up_on_a_port_nobody_listens_on(capsys):
    assert main(["--target", f"127.0.0.1:{free_port()}", "health", "--wait", "0.5"]) == 1
    assert "DEADLINE_EXCEEDED" in capsys.readouterr().err
