"""A second server on a port that is taken does not start (gRPC's default SO_REUSEPORT would let it share)."""

import socket
import subprocess
import sys

import pytest


def test_a_second_server_on_a_taken_port_refuses_to_start(served, lite0_model, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "server", "--model", str(lite0_model), "--store", str(tmp_path / "store"),
         "--port", str(served.port), "--metrics-port", "0", "--no-log-json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{served.port}" in result.stderr


@pytest.mark.parametrize(
    ("flag", "listener"), [("--metrics-port", "metrics"), ("--web-port", "the web page")]
)
def test_a_taken_metrics_or_web_port_is_named_with_its_flag(lite0_model, tmp_path, flag, listener):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "server", "--model", str(lite0_model), "--store", str(tmp_path / "store"),
             "--port", "0", "--metrics-port", "0", flag, str(port), "--no-log-json"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 2
    assert (
        f"cannot listen for {listener} on 127.0.0.1:{port}: the port is taken ({flag} {port})"
        in result.stderr
    )
