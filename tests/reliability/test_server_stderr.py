"""What reaches a server's stderr outside its own logging is still a JSON line in its log."""

import signal

import grpc
import psutil
import pytest
from reliability_support import SERVING, health_status, start_server, wait_for_log_event

from tests.json_lines import strict_json

FATAL = {signal.SIGSEGV: "Segmentation fault", signal.SIGABRT: "Aborted"}  # faulthandler's names


def test_what_onnx_runtime_writes_while_it_is_imported_is_logged_as_json(tiny_model, tmp_path):
    # With its telemetry on (an explicit setting wins over the engine's) and a cache directory it cannot
    # write to, ONNX Runtime complains on stderr as it is imported, before the server has configured
    # anything. It keeps its device id under $XDG_CACHE_HOME when that is set, else under $HOME/.cache.
    env = {"HOME": "/proc/no-home", "XDG_CACHE_HOME": "/proc/no-home", "ORT_DISABLE_TELEMETRY": "0"}
    server = start_server(tiny_model, tmp_path / "store", tmp_path, env=env)
    with server:
        pass
    entries = [strict_json(line) for line in server.log().splitlines()]
    assert any(entry["event"] == "native_log" and "telemetry" in entry["message"] for entry in entries)
    assert [entry["event"] for entry in entries][-1] == "server_stopped"


@pytest.mark.parametrize("signum", [signal.SIGSEGV, signal.SIGABRT], ids=["SIGSEGV", "SIGABRT"])
def test_a_fatal_signal_leaves_the_python_traceback_in_the_log(tiny_model, tmp_path, signum):
    server = start_server(tiny_model, tmp_path / "store", tmp_path)
    with server:
        server.process.send_signal(signum)
        assert server.process.wait(60) == -signum
    fatal = wait_for_log_event(
        server, "native_log", timeout=30, message=f"Fatal Python error: {FATAL[signum]}"
    )
    assert fatal["level"] == "warning"


def test_sighup_is_logged_and_ignored(tiny_model, tmp_path):
    server = start_server(tiny_model, tmp_path / "store", tmp_path)
    with server, grpc.insecure_channel(server.target) as channel:
        # A terminal's hangup reaches the whole process group: the server and its relay.
        (relay,) = psutil.Process(server.process.pid).children()
        relay.send_signal(signal.SIGHUP)
        server.process.send_signal(signal.SIGHUP)
        ignored = wait_for_log_event(server, "signal_ignored", signal="SIGHUP")
        assert ignored["level"] == "warning"
        assert health_status(channel) == SERVING
        assert server.stop() == 0
    wait_for_log_event(server, "server_stopped", timeout=30)
