"""The relay that makes every stderr line of a server in JSON log mode a JSON object."""

import io
import json
import os

from server.stderr_relay import NativeLineLimit, as_json_line, read_lines, relay

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


def handshake_line(port: int) -> str:
    return (
        f"I1129 18:28:54.{port:06d}    8717 security_handshaker.cc:306] Security handshake failed: "
        f'{{"created":"@1764355267.{port}","description":"Handshake failed","peer":"ipv4:10.0.3.7:{port}"}}'
    )


def test_repeats_of_a_grpc_core_line_are_limited_per_window_then_summed_up():
    limit = NativeLineLimit(per_window=3, window_seconds=60.0)
    admitted = [
        limit.admit(json.loads(as_json_line(handshake_line(40000 + n), NOW)), NOW + n) for n in range(8)
    ]
    assert admitted == [True] * 3 + [False] * 5
    assert limit.seconds_to_next_summary(NOW + 10) == 50.0
    assert limit.due(NOW + 59.9) == []
    assert limit.due(NOW + 60) == [
        {
            "ts": "2025-11-28T18:42:07.125Z",
            "level": "info",
            "event": "native_log_suppressed",
            "source": "security_handshaker.cc:306",
            "message": json.loads(as_json_line(handshake_line(40007), NOW))["message"],
            "not_logged": 5,
            "seconds": 60.0,
        }
    ]
    assert limit.seconds_to_next_summary(NOW + 60) is None
    assert limit.admit(json.loads(as_json_line(handshake_line(40008), NOW)), NOW + 60)  # a new window


def test_other_grpc_core_lines_critical_lines_and_plain_lines_are_never_held_back():
    limit = NativeLineLimit(per_window=1, window_seconds=60.0)
    lines = [
        handshake_line(1),
        "I1129 18:28:54.968107 8717 ssl_transport_security.cc:2563] Handshake failed: SSL_ERROR_SSL",
        "I1129 18:28:54.968107    8717 security_handshaker.cc:306] Security handshake failed: another error",
    ]
    assert all(limit.admit(json.loads(as_json_line(line, NOW)), NOW) for line in lines)
    for line in [
        "F1129 18:28:54.968107    8717 chttp2_server.cc:1] assertion failed: x",
        "Fatal Python error: Segmentation fault",
        "Current thread 0x00007f0c2d7fe700 (most recent call first):",
        '  File "/srv/server/app.py", line 12 in run',
    ]:
        assert all(limit.admit(json.loads(as_json_line(line, NOW)), NOW) for _ in range(3))


def test_relay_writes_a_summary_when_a_window_ends_without_another_line_and_at_its_end():
    clock = iter([NOW, NOW + 1, NOW + 2, NOW + 61, NOW + 62, NOW + 63, NOW + 64]).__next__
    lines = [handshake_line(n).encode() + b"\n" for n in range(3)] + [None]
    lines += [handshake_line(n).encode() + b"\n" for n in range(2)]
    sink = io.StringIO()
    relay(lines, sink, NativeLineLimit(per_window=1, window_seconds=60.0), clock)
    events = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert [(event["event"], event.get("not_logged")) for event in events] == [
        ("native_log", None),
        ("native_log_suppressed", 2),  # the window ended while no line came
        ("native_log", None),
        ("native_log_suppressed", 1),  # at the relay's end
    ]
    assert (events[1]["ts"], events[3]["ts"]) == ("2025-11-28T18:42:07.125Z", "2025-11-28T18:42:11.125Z")


def test_read_lines_yields_each_line_and_none_while_no_line_comes():
    read_end, write_end = os.pipe()
    try:
        lines = read_lines(read_end, lambda: 0.0)
        assert next(lines) is None
        os.write(write_end, b"first\nsecond\nthi")
        assert [next(lines), next(lines)] == [b"first\n", b"second\n"]
        os.write(write_end, b"rd")
        os.close(write_end)
        assert list(lines) == [b"third"]
    finally:
        os.close(read_end)
