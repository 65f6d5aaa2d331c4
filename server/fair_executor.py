"""Worker threads that run the jobs of many sources (the server's calls) in turn (server/fair_queue.py): a
stream that read many frames ahead does not queue another stream's frame behind all of them. A source's
jobs run one at a time, in the order they were submitted."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable

from server.fair_queue import FairQueue, QueueClosed
from server.logs import log_event


class FairExecutor:
    def __init__(self, threads: int, name: str) -> None:
        self._jobs: FairQueue[tuple[Hashable, Callable[[], object]]] = FairQueue(one_at_a_time=True)
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}_{index}", daemon=True)
            for index in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, source: Hashable, job: Callable[[], object]) -> None:
        """Runs job() on a worker, in turn with the other sources' jobs. QueueClosed after shutdown."""
        self._jobs.put(source, (source, job))

    def shutdown(self) -> None:
        """Runs the jobs already queued, then stops the workers."""
        self._jobs.close()
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        while True:
            try:
                source, job = self._jobs.get()
            except QueueClosed:
                return
            try:
                job()
            except Exception:  # a job answers its own errors; this is a bug, and the worker goes on
                log_event("job_failed", level=logging.ERROR, exc_info=True)
            finally:
                self._jobs.done(source)
