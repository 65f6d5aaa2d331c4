"""Structured logs: one JSON object per line on stderr, each with an `event` name and its fields (the lines
native libraries write to stderr too: server/stderr_relay.py).

Callers pass only identifiers, counts and durations as fields: never image data, never the auth token.
An event logged while an InspectionService call runs (in its task, or in a thread asyncio.to_thread
started for it) also carries the call's `peer`, the client's address as gRPC names it
("ipv4:10.0.3.7:51234"), so a line can be traced to a camera; events of the product writer's and the
decode pool's threads do not, and the service logs a call's outcome in its task.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from contextvars import ContextVar

LOGGER_NAME = "patchcore.server"

call_peer: ContextVar[str | None] = ContextVar("call_peer", default=None)  # set for each call


def utc_timestamp(seconds: float) -> str:
    """Unix time `seconds` as the `ts` of a log line: "2026-11-28T18:41:07.123Z"."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1000):03d}Z"


class _JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": utc_timestamp(record.created),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        try:
            return json.dumps(entry, default=str, allow_nan=False)
        except ValueError:  # NaN or an infinity, which JSON (RFC 8259) has no number for
            return json.dumps(_finite(entry), default=str, allow_nan=False)


def _finite(value: object) -> object:
    """`value` with every NaN and infinity, also inside lists and dicts, as the string "NaN", "Infinity" or
    "-Infinity"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{key}={value}" for key, value in getattr(record, "fields", {}).items())
        line = (
            f"{self.formatTime(record)} {record.levelname.lower():7} {record.getMessage()} {fields}".rstrip()
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str, json_lines: bool) -> None:
    """Sends the server's log to stderr, as JSON lines or as plain text."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonLineFormatter() if json_lines else _TextFormatter())
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False


def log_event(
    event: str, level: int = logging.INFO, exc_info: BaseException | bool = False, **fields: object
) -> None:
    """Logs `event` (a snake_case name such as "product_taught") with `fields` as its key/value pairs, and
    the call's `peer` when it is logged for a call."""
    peer = call_peer.get()
    if peer is not None:
        fields.setdefault("peer", peer)
    logging.getLogger(LOGGER_NAME).log(level, event, extra={"fields": fields}, exc_info=exc_info)
