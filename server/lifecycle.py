"""Tracks InspectionService calls in flight: caps them (--max-calls), and lets SIGTERM drain (refuse new
calls, let running ones finish within a grace).

`admit`, `release` and `drain` run on the server's event loop; `check_accepting` may be called from any
thread.
"""

from __future__ import annotations

import asyncio
import contextlib

from server.errors import ServerBusy, ShuttingDown

SHUTTING_DOWN_MESSAGE = "the server is shutting down; send to another instance or retry later"


class Lifecycle:
    def __init__(self, max_calls: int) -> None:
        self._in_flight = 0
        self._max_calls = max_calls
        self._draining = False
        self._all_done = asyncio.Event()
        self._all_done.set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def check_accepting(self) -> None:
        """Raises ShuttingDown once draining has begun."""
        if self._draining:
            raise ShuttingDown(SHUTTING_DOWN_MESSAGE)

    def admit(self) -> None:
        """Counts a new call as in flight. Pair with `release`.

        ShuttingDown while draining; ServerBusy when max_calls are in flight already (an open stream is one).
        """
        self.check_accepting()
        if self._in_flight >= self._max_calls:
            raise ServerBusy(
                f"the server already serves {self._max_calls} calls, its --max-calls limit (open streams "
                "count); close a stream, retry later or raise --max-calls"
            )
        self._in_flight += 1
        self._all_done.clear()

    def release(self) -> None:
        self._in_flight -= 1
        if not self._in_flight:
            self._all_done.set()

    async def drain(self, grace_seconds: float) -> int:
        """Refuses new calls, waits up to `grace_seconds` for the running ones; returns how many remain."""
        self._draining = True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._all_done.wait(), grace_seconds)
        return self._in_flight
