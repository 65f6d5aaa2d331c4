"""A second server on a port that is taken does not start (gRPC's default SO_REUSEPORT would let it share)."""

import subprocess
import sys


def test_a_second_server_on_a_taken_port_refuses_to_start(served, lite0_model, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "server", "--model", str(lite0_model), "--store", str(tmp_path / "store"),
         "--port", str(served.port), "--metrics-port", "0", "--no-log-json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{served.port}" in result.stderr
