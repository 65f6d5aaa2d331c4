"""JSON log mode: every line on the server's stderr is a JSON object, the native libraries' lines included.

gRPC core (through absl, e.g. on every failed TLS handshake), ONNX Runtime and a dying interpreter write
plain text straight to file descriptor 2, around Python's logging. So in JSON mode the server points fd 2
at a pipe to this relay, a child process that passes the server's JSON lines through and turns every other
line into a `native_log` event. As a process of its own it still forwards what the server writes while it
dies (a fatal error, a failed assertion), and it ends when the last writer of the pipe is gone.

gRPC core logs every failed TLS handshake (two lines) with no limit of its own, so a client retrying with
the wrong CA every 100 ms would fill the journal: repeated gRPC core lines are limited (NativeLineLimit).
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TextIO

from server.logs import utc_timestamp

# absl's prefix as gRPC core writes it: "I1129 18:28:54.968107    8717 ssl_transport_security.cc:2563] text"
_ABSL_LINE = re.compile(r"([IWEF])\d{4} [\d:.]+ +\d+ ([^\]]+)\] ?(.*)")
_ABSL_LEVELS = {"I": "info", "W": "warning", "E": "error", "F": "critical"}
STOP_TIMEOUT_SECONDS = 10.0
NATIVE_LINES_PER_WINDOW = 10  # of one kind (NativeLineLimit); one failed handshake writes two kinds
NATIVE_WINDOW_SECONDS = 60.0
# What differs between repeats of one line: numbers, hexadecimal error codes and addresses, ports.
_VARYING = re.compile(r"0x[0-9a-fA-F]+|[0-9a-fA-F]*[0-9][0-9a-fA-F]*")


def _is_json_object(line: str) -> bool:
    if not line.startswith("{"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _native_entry(line: str, now: float) -> dict[str, object]:
    entry: dict[str, object] = {"ts": utc_timestamp(now), "level": "warning", "event": "native_log"}
    absl = _ABSL_LINE.fullmatch(line)
    if absl:
        level, source, message = absl.groups()
        entry.update(level=_ABSL_LEVELS[level], source=source, message=message)
    else:
        entry["message"] = line
    return entry


def as_json_line(line: str, now: float) -> str:
    """`line` as it is when it is a JSON object; otherwise a `native_log` event that carries it."""
    return line if _is_json_object(line) else json.dumps(_native_entry(line, now))


@dataclass
class _Window:
    started: float
    level: object
    logged: int = 0
    not_logged: int = 0
    last_message: object = ""


class NativeLineLimit:
    """At most `per_window` gRPC core lines of one kind per `window_seconds`: the same source (file:line)
    and the same message but for numbers and addresses (a peer's port, an error code). When a window in
    which lines were left out ends, a `native_log_suppressed` line says how many, with the last one's message.

    Only gRPC core's lines are limited, and never its critical ones: a fatal error, faulthandler's traceback
    and every other plain line always pass."""

    def __init__(
        self, per_window: int = NATIVE_LINES_PER_WINDOW, window_seconds: float = NATIVE_WINDOW_SECONDS
    ) -> None:
        self._per_window = per_window
        self._window_seconds = window_seconds
        self._windows: dict[tuple[object, str], _Window] = {}

    def admit(self, entry: dict[str, object], now: float) -> bool:
        """Whether to log the `native_log` entry; counts it as left out otherwise. Call due(now) first."""
        if "source" not in entry or entry["level"] == "critical":
            return True
        key = (entry["source"], _VARYING.sub("#", str(entry["message"])))
        window = self._windows.setdefault(key, _Window(started=now, level=entry["level"]))
        if window.logged < self._per_window:
            window.logged += 1
            return True
        window.not_logged += 1
        window.last_message = entry["message"]
        return False

    def due(self, now: float, ending: bool = False) -> list[dict[str, object]]:
        """The summaries of the windows ended by `now`; of every window when the relay is `ending`."""
        summaries = []
        for key, window in list(self._windows.items()):
            if now - window.started < self._window_seconds and not ending:
                continue
            del self._windows[key]
            if window.not_logged:
                summaries.append(
                    {
                        "ts": utc_timestamp(min(now, window.started + self._window_seconds)),
                        "level": window.level,
                        "event": "native_log_suppressed",
                        "source": key[0],
                        "message": window.last_message,
                        "not_logged": window.not_logged,
                        "seconds": self._window_seconds,
                    }
                )
        return summaries

    def seconds_to_next_summary(self, now: float) -> float | None:
        """How long until the next window with lines left out ends; None when there is none."""
        ends = [w.started + self._window_seconds for w in self._windows.values() if w.not_logged]
        return max(0.0, min(ends) - now) if ends else None


def relay(
    lines: Iterable[bytes | None],
    sink: TextIO,
    limit: NativeLineLimit | None = None,
    clock: Callable[[], float] = time.time,
) -> None:
    """Writes each line of `lines` to `sink` as a JSON line, flushed at once, except the native lines `limit`
    leaves out. A None in `lines` (no line came for a while) writes the summaries due; so does the end."""
    limit = limit or NativeLineLimit()
    for raw in lines:
        now = clock()
        written = [json.dumps(summary) for summary in limit.due(now)]
        if raw is not None:
            line = raw.decode(errors="replace").rstrip("\r\n")
            if _is_json_object(line):
                written.append(line)
            elif limit.admit(entry := _native_entry(line, now), now):
                written.append(json.dumps(entry))
        if written:
            sink.write("".join(f"{text}\n" for text in written))
            sink.flush()
    sink.write("".join(f"{json.dumps(summary)}\n" for summary in limit.due(clock(), ending=True)))
    sink.flush()


def read_lines(fd: int, timeout: Callable[[], float | None]) -> Iterator[bytes | None]:
    """The lines read from `fd` (the last one maybe without its newline), and None each time none came for
    timeout() seconds (None: wait for ever)."""
    pending = b""
    while True:
        ready, _, _ = select.select([fd], [], [], timeout())
        if not ready:
            yield None
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            if pending:
                yield pending
            return
        *complete, pending = (pending + chunk).split(b"\n")
        for line in complete:
            yield line + b"\n"


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
    native_lines = NativeLineLimit()
    relay(
        read_lines(sys.stdin.fileno(), lambda: native_lines.seconds_to_next_summary(time.time())),
        sys.stdout,
        native_lines,
    )
