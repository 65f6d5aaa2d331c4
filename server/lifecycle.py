"""Tracks InspectionService calls in flight: caps them so health checks always find a free thread, and lets
SIGTERM drain (refuse new calls, let running ones finish within a grace)."""

from __future__ import annotations

import threading
import time

from server.errors import ServerBusy, ShuttingDown

SHUTTING_DOWN_MESSAGE = "the server is shutting down; send to another instance or retry later"


class Lifecycle:
    def __init__(self, max_calls: int) -> None:
        self._condition = threading.Condition()
        self._in_flight = 0
        self._max_calls = max_calls
        self._draining = False

    def check_accepting(self) -> None:
        """Raises ShuttingDown once draining has begun."""
        if self._draining:
            raise ShuttingDown(SHUTTING_DOWN_MESSAGE)

    def admit(self) -> None:
        """Counts a new call as in flight. Pair with `release`.

        ShuttingDown while draining; ServerBusy when max_calls are in flight already (an open stream is one).
        """
        with self._condition:
            self.check_accepting()
            if self._in_flight >= self._max_calls:
                raise ServerBusy(
                    f"the server already serves {self._max_calls} calls (open streams count); close a stream "
                    "or raise --grpc-threads"
                )
            self._in_flight += 1

    def release(self) -> None:
        with self._condition:
            self._in_flight -= 1
            self._condition.notify_all()

    def drain(self, grace_seconds: float) -> int:
        """Refuses new calls, waits up to `grace_seconds` for the running ones; returns how many remain."""
        deadline = time.monotonic() + grace_seconds
        with self._condition:
            self._draining = True
            while self._in_flight and (remaining := deadline - time.monotonic()) > 0:
                self._condition.wait(remaining)
            return self._in_flight
