"""What reaches a server's stderr outside its own logging is still a JSON line in its log."""

import json

from reliability_support import start_server


def strict_json(line: str) -> dict:
    """`line` parsed as RFC 8259 JSON (no NaN or Infinity)."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(line, parse_constant=refuse)


def test_what_onnx_runtime_writes_while_it_is_imported_is_logged_as_json(tiny_model, tmp_path):
    # With a HOME it cannot write to, ONNX Runtime complains on stderr as it is imported.
    server = start_server(tiny_model, tmp_path / "store", tmp_path, env={"HOME": "/proc/no-home"})
    with server:
        pass
    entries = [strict_json(line) for line in server.log().splitlines()]
    assert [entry["event"] for entry in entries][-1] == "server_stopped"
