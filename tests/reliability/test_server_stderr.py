"""What reaches a server's stderr outside its own logging is still a JSON line in its log."""

import re
import signal

import grpc
import psutil
import pytest
from reliability_support import SERVING, health_status, start_server, wait_for_log_event

from tests.json_lines import strict_json

FATAL = {signal.SIGSEGV: "Segmentation fault", signal.SIGABRT: "Aborted"}  # faulthandler's names


def test_what_is_written_while_onnx_runtime_is_imported_is_logged_as_json(tiny_model, tmp_path):
    # Python's import profiler writes a plain-text line to stderr as each import ends; the one for ONNX
    # Runtime must reach the log through the relay. (The lines of the modules imported before the relay
    # starts stay plain text: nothing can catch them.)
    server = start_server(tiny_model, tmp_path / "store", tmp_path, env={"PYTHONPROFILEIMPORTTIME": "1"})
    with server:
        pass
    lines = server.log().splitlines()
    onnxruntime_imports = [line for line in lines if re.search(r"\|\s+onnxruntime\"?}?$", line)]
    assert onnxruntime_imports
    for line in onnxruntime_imports:
        entry = strict_json(line)
        assert entry["event"] == "native_log"
        assert entry["message"].startswith("import time:")
    assert strict_json(lines[-1])["event"] == "server_stopped"


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
