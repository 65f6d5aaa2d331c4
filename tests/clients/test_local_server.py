"""LocalServer as a context manager around a server that is already started."""

from patchcore_client.local_server import LocalServer
from tiny_model import write_tiny_model


def test_entering_a_started_server_keeps_its_process_and_stops_it_on_exit(tmp_path):
    model = write_tiny_model(tmp_path / "tiny.onnx")
    server = LocalServer(model, tmp_path / "store", log_path=tmp_path / "server.log").start()
    started = server.process
    with server as entered:
        assert entered.process is started
    assert started.poll() == 0
