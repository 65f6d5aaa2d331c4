"""A bounded queue of items from many sources (the server's calls), handed out round-robin across sources:
one item of each source with items waiting, then the next item of each, so a source that queued a long
backlog delays another source's item by at most one of its own items per turn, not by its whole backlog.
Optionally one item per source at a time: its next item waits until the last one is done, so the items of
one source are handled in order even by several workers."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class QueueFull(Exception):
    """The queue holds `capacity` items already."""


class QueueClosed(Exception):
    """put: the queue was closed. get: the queue was closed and nothing is left in it."""


class FairQueue(Generic[T]):
    def __init__(self, capacity: int | None = None, one_at_a_time: bool = False) -> None:
        """capacity: the most items queued at once; None = no limit. one_at_a_time: a source's next item is
        handed out only once `done(source)` was called for the one before."""
        self.capacity = capacity
        self._one_at_a_time = one_at_a_time
        self._sources: dict[Hashable, deque[T]] = {}  # in turn order: the first source gives the next item
        self._busy: set[Hashable] = set()  # sources with an item handed out and not done (one_at_a_time)
        self._count = 0
        self._closed = False
        self._ready = threading.Condition()

    def put(self, source: Hashable, item: T) -> None:
        """Queues `item` behind the items of its `source`. QueueFull at capacity, QueueClosed once closed."""
        with self._ready:
            if self._closed:
                raise QueueClosed()
            if self.capacity is not None and self._count >= self.capacity:
                raise QueueFull()
            self._sources.setdefault(source, deque()).append(item)
            self._count += 1
            self._ready.notify()

    def get(self, timeout: float | None = None) -> T | None:
        """The next item in turn: waits for one (at most `timeout` seconds; None after that).

        QueueClosed when the queue is closed and empty.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._ready:
            while (source := self._next_source()) is None:
                if self._closed and not self._count:
                    raise QueueClosed()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._ready.wait(remaining)
            items = self._sources.pop(source)
            item = items.popleft()
            if items:
                self._sources[source] = items  # back of the line
            self._count -= 1
            if self._one_at_a_time:
                self._busy.add(source)
            return item

    def done(self, source: Hashable) -> None:
        """The item of `source` handed out last is done: its next one may be handed out (one_at_a_time)."""
        with self._ready:
            self._busy.discard(source)
            self._ready.notify()

    def _next_source(self) -> Hashable | None:
        return next((source for source in self._sources if source not in self._busy), None)

    def close(self) -> None:
        """Refuses new items; the queued ones can still be taken."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
