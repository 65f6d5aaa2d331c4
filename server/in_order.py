"""Each source's results handed out in the order its jobs were submitted, whichever job finishes first.

With several model workers, a call's later frame can be in a batch that finishes before the batch holding
its earlier frame. A stream answers in order anyway, but everything after the model (the search, the
verdict, the web page's recent frames) sees a call's frames in the order they came only if the model's
results are released in that order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class _SourceOrder:
    issued: int = 0  # tickets handed out
    released: int = 0  # tickets whose release ran
    finished: dict[int, Callable[[], None]] = field(default_factory=dict)  # ticket -> its release


class InOrderRelease:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sources: dict[Hashable, _SourceOrder] = {}

    @contextmanager
    def ticket(self, source: Hashable) -> Iterator[int]:
        """The source's next ticket, for a job queued inside the with-block. The ticket counts only when
        the block succeeds (a job that could not be queued leaves no gap), and no other ticket of the
        source is issued meanwhile, so tickets follow the order jobs enter the queue."""
        with self._lock:
            order = self._sources.setdefault(source, _SourceOrder())
            try:
                yield order.issued
            except BaseException:
                self._forget_if_idle(source, order)
                raise
            order.issued += 1

    def finish(self, source: Hashable, ticket: int, release: Callable[[], None]) -> None:
        """The job holding `ticket` is done: release() runs now if every earlier ticket of the source was
        released, else right after the last of them. Releases run under the lock, one source's strictly in
        ticket order."""
        with self._lock:
            order = self._sources[source]
            order.finished[ticket] = release
            while order.released in order.finished:
                order.finished.pop(order.released)()
                order.released += 1
            self._forget_if_idle(source, order)

    def _forget_if_idle(self, source: Hashable, order: _SourceOrder) -> None:
        """A source with nothing outstanding is dropped (calls come and go by the thousand)."""
        if order.released == order.issued and not order.finished:
            del self._sources[source]

    def outstanding(self) -> int:
        """Sources with tickets not yet released."""
        with self._lock:
            return len(self._sources)
