"""Where the server listens: the port it logs is the port it serves on."""

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from reliability_support import SERVING, health_status


def started_event(process: subprocess.Popen, log: Path, timeout: float = 120.0) -> dict:
    """The server's server_started log line, once it is written."""
    deadline = time.monotonic() + timeout
    while True:
        for line in log.read_text().splitlines():
            if line.startswith("{") and json.loads(line)["event"] == "server_started":
                return json.loads(line)
        assert process.poll() is None, f"the server exited with {process.returncode}:\n{log.read_text()}"
        assert time.monotonic() < deadline, "the server never started"
        time.sleep(0.05)


def test_port_0_logs_the_port_the_server_listens_on(tiny_model, tmp_path):
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "server", "--model", str(tiny_model), "--store", str(tmp_path / "store"),
             "--port", "0", "--metrics-port", "0"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        host, _, port = started_event(process, log)["address"].rpartition(":")
        assert (host, int(port) > 0) == ("127.0.0.1", True)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert health_status(channel) == SERVING
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def free_ipv6_port() -> int:
    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_an_ipv6_host_serves_grpc_metrics_and_the_web_page(tiny_model, tmp_path, host):
    metrics_port, web_port = free_ipv6_port(), free_ipv6_port()
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "server", "--model", str(tiny_model), "--store", str(tmp_path / "store"),
             "--host", host, "--port", "0", "--metrics-port", str(metrics_port), "--web-port", str(web_port)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        address = started_event(process, log)["address"]
        assert address.startswith("[::1]:")
        with grpc.insecure_channel(address) as channel:
            assert health_status(channel) == SERVING
        for port, path in ((metrics_port, "metrics"), (web_port, "")):
            with urllib.request.urlopen(f"http://[::1]:{port}/{path}", timeout=10) as page:
                assert page.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
