"""The relay that makes every stderr line of a server in JSON log mode a JSON object."""

import io
import json

from server.stderr_relay import as_json_line, relay

NOW = 1_764_355_267.125  # 2025-11-28T18:41:07.125Z


def test_json_lines_pass_unchanged():
    line = '{"ts": "2025-11-28T18:41:07.000Z", "level": "info", "event": "server_started", "port": 1}'
    assert as_json_line(line, NOW) == line


def test_a_grpc_core_line_becomes_an_event_with_its_level_source_and_message():
    line = (
        "E1129 18:28:54.968107    8717 ssl_transport_security.cc:2563] Handshake failed with error "
        "SSL_ERROR_SSL: error:100000f7:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER"
    )
    assert json.loads(as_json_line(line, NOW)) == {
        "ts": "2025-11-28T18:41:07.125Z",
        "level": "error",
        "event": "native_log",
        "source": "ssl_transport_security.cc:2563",
        "message": "Handshake failed with error SSL_ERROR_SSL: error:100000f7:SSL routines:"
        "OPENSSL_internal:WRONG_VERSION_NUMBER",
    }


def test_any_other_line_becomes_a_warning_that_carries_it():
    for line in ["Fatal Python error: Segmentation fault", '{"half a json object', "", "[1, 2]"]:
        assert json.loads(as_json_line(line, NOW)) == {
            "ts": "2025-11-28T18:41:07.125Z",
            "level": "warning",
            "event": "native_log",
            "message": line,
        }


def test_relay_writes_one_json_object_per_line():
    sink = io.StringIO()
    relay([b'{"event": "a"}\n', b"I1129 18:28:54.968107 1 x.cc:1] hello\n", b"caf\xc3\xa9 \xff\n"], sink)
    events = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert [event["event"] for event in events] == ["a", "native_log", "native_log"]
    assert events[1]["level"] == "info" and events[1]["message"] == "hello"
    assert events[2]["message"] == "café \ufffd"
