"""JSON log mode: every line on the server's stderr is a JSON object, the native libraries' lines included.

gRPC core (through absl, e.g. on every failed TLS handshake), ONNX Runtime and a dying interpreter write
plain text straight to file descriptor 2, around Python's logging. So in JSON mode the server points fd 2
at a pipe to this relay, a child process that passes the server's JSON lines through and turns every other
line into a `native_log` event. As a process of its own it still forwards what the server writes while it
dies (a fatal error, a failed assertion), and it ends when the last writer of the pipe is gone.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from typing import TextIO

from server.logs import utc_timestamp

# absl's prefix as gRPC core writes it: "I1129 18:28:54.968107    8717 ssl_transport_security.cc:2563] text"
_ABSL_LINE = re.compile(r"([IWEF])\d{4} [\d:.]+ +\d+ ([^\]]+)\] ?(.*)")
_ABSL_LEVELS = {"I": "info", "W": "warning", "E": "error", "F": "critical"}
STOP_TIMEOUT_SECONDS = 10.0


def _is_json_object(line: str) -> bool:
    if not line.startswith("{"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def as_json_line(line: str, now: float) -> str:
    """`line` as it is when it is a JSON object; otherwise a `native_log` event that carries it."""
    if _is_json_object(line):
        return line
    entry: dict[str, object] = {"ts": utc_timestamp(now), "level": "warning", "event": "native_log"}
    absl = _ABSL_LINE.fullmatch(line)
    if absl:
        level, source, message = absl.groups()
        entry.update(level=_ABSL_LEVELS[level], source=source, message=message)
    else:
        entry["message"] = line
    return json.dumps(entry)


def relay(lines: Iterable[bytes], sink: TextIO) -> None:
    """Writes each line of `lines` to `sink` as a JSON line, flushed at once."""
    for raw in lines:
        sink.write(as_json_line(raw.decode(errors="replace").rstrip("\r\n"), time.time()) + "\n")
        sink.flush()


def route_stderr_through_relay() -> Callable[[], None]:
    """Points this process's fd 2 at a new relay process; returns the function that restores fd 2 and waits
    until the relay has written everything. Call it before starting threads that write to stderr."""
    sys.stderr.flush()
    original = os.dup(2)
    child = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=original)
    os.dup2(child.stdin.fileno(), 2)
    child.stdin.close()  # fd 2 is now this process's only end of the pipe

    def stop() -> None:
        sys.stderr.flush()
        os.dup2(original, 2)  # closes the pipe: the relay writes what is left and ends
        os.close(original)
        child.wait(STOP_TIMEOUT_SECONDS)

    return stop


if __name__ == "__main__":
    # Ctrl-C, a service manager's SIGTERM and a terminal's SIGHUP reach the whole process group. The server
    # then drains (or ignores SIGHUP) and logs meanwhile, so the relay ignores them and ends with the pipe.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    relay(sys.stdin.buffer, sys.stdout)
