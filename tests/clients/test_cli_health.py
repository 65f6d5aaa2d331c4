"""`patchcore-client health`, the probe a service manager or monitoring runs: the standard gRPC health status
of a server, exit 0 only when SERVING; with --wait it rides out the server's start."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from certificates import CertificateAuthority
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
    target = f"127.0.0.1:{free_port()}"
    assert main(["--target", target, "health", "--wait", "0.5"]) == 1
    error = capsys.readouterr().err
    assert f"no answer from {target} within 0.5 s (" in error
    assert "refused" in error.lower()


def serve_health_with_tls(folder: Path, require_client_certificate: bool) -> tuple[grpc.Server, str, Path]:
    """A SERVING health service behind TLS: the server, its target, the CA that signed its certificate."""
    line_ca = CertificateAuthority(folder, "line-ca")
    issued = line_ca.issue("server", server=True)
    servicer = health.HealthServicer()
    servicer.set("", SERVING)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    credentials = grpc.ssl_server_credentials(
        [(issued.key_pem, issued.cert_pem)],
        root_certificates=line_ca.issued.cert_pem if require_client_certificate else None,
        require_client_auth=require_client_certificate,
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    return server, f"127.0.0.1:{port}", line_ca.issued.cert_path


@pytest.fixture
def tls_health_server(tmp_path) -> Iterator[tuple[str, Path]]:
    server, target, ca = serve_health_with_tls(tmp_path, require_client_certificate=False)
    yield target, ca
    server.stop(grace=None)


@pytest.fixture
def mtls_health_server(tmp_path) -> Iterator[tuple[str, Path]]:
    server, target, ca = serve_health_with_tls(tmp_path, require_client_certificate=True)
    yield target, ca
    server.stop(grace=None)


def probe_error(args: list[str], capsys) -> str:
    """The `error:` line of `patchcore-client ARGS`, which must exit 1."""
    assert main(args) == 1
    [error] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    return error


@pytest.mark.parametrize("wait", [[], ["--wait", "0.5"]], ids=["once", "wait"])
def test_a_tls_handshake_the_probe_fails_is_told_from_a_missing_server(
    tls_health_server, wait, tmp_path, capsys
):
    target, _ = tls_health_server
    stranger_ca = CertificateAuthority(tmp_path, "stranger-ca").issued.cert_path

    error = probe_error(["--target", target, "--ca-cert", str(stranger_ca), "health", *wait], capsys)

    assert error.startswith(f"error: no answer from {target}")
    assert "(UNAVAILABLE: " in error
    assert "certificate verify failed" in error.lower().replace("_", " ")


@pytest.mark.parametrize("wait", [[], ["--wait", "0.5"]], ids=["once", "wait"])
def test_a_plaintext_probe_of_a_tls_server_is_told_to_give_the_ca(tls_health_server, wait, capsys):
    target, _ = tls_health_server

    error = probe_error(["--target", target, "health", *wait], capsys)

    assert error.endswith(
        "the server closed the connection: a server with TLS closes plaintext ones (give --ca-cert)"
    )


def test_a_probe_without_a_client_certificate_is_told_to_give_one(mtls_health_server, capsys):
    target, ca = mtls_health_server

    error = probe_error(["--target", target, "--ca-cert", str(ca), "health"], capsys)

    assert error.endswith("closes connections without one (give --client-cert and --client-key)")


def test_a_call_the_server_closed_during_the_handshake_gets_the_same_advice(tls_health_server, capsys):
    target, _ = tls_health_server

    error = probe_error(["--target", target, "--timeout", "10", "products"], capsys)

    assert error.startswith("error: UNAVAILABLE: ")
    assert error.endswith("(give --ca-cert)")
