"""Rebuilding products for a new model, in the background, behind inspection work.

A product built with another model whose teach images are stored (server/products.py queues it) is taught
again from those images - prepared as Teach prepares received images, with the product's own TeachOptions -
and stored as a new version for the loaded model; the previous version stays on disk, so starting the old
model again rebuilds once more instead of losing anything.

One product at a time, on one thread with the lowest CPU priority (Linux: nice 19 for that thread alone),
running the model on one image at a time through the server's extractor: frames never wait for a rebuild's
whole teach, at most for one image's model run, and the coreset and threshold work gets the CPU that
inspection leaves.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
from prometheus_client import Gauge

from patchcore.bank import MemoryBank
from patchcore.errors import InspectionError, ProductNotFound, StorageError, VersionConflict
from patchcore.model import FeatureExtractor, ModelInfo
from server.logs import log_event
from server.products import TEACH_AGAIN, ProductRegistry

BACKGROUND_NICE = 19
STORE_RETRY_SECONDS = 60.0  # a rebuild the store could not take (disk full, fleet store away) is tried again
# What a product whose rebuild the store refused says to do: not to teach it again, which the store would
# refuse as well, and which its stored images make needless.
STORE_AGAIN = (
    "Nothing needs to be taught again: the product is rebuilt and stored once the store can be written"
)

Output = TypeVar("Output")


class RebuildQueue:
    """Products waiting for a rebuild, first come first served, each at most once; thread-safe.

    The gauge counts the waiting products, the one being rebuilt and those held back for a retry (later()).
    """

    def __init__(self, gauge: Gauge) -> None:
        self._waiting: dict[str, None] = {}  # an ordered set
        self._current: str | None = None
        self._later: set[str] = set()
        self._closed = False
        self._changed = threading.Condition()
        self._gauge = gauge

    def add(self, product_id: str) -> None:
        with self._changed:
            self._later.discard(product_id)
            self._waiting[product_id] = None
            self._count()
            self._changed.notify()

    def later(self, product_id: str) -> None:
        """Counts product_id as pending until it is added again (its retry)."""
        with self._changed:
            self._later.add(product_id)
            self._count()

    def take(self) -> str | None:
        """The next product to rebuild, waiting for one; None once closed. Call done() after its rebuild."""
        with self._changed:
            while not self._waiting and not self._closed:
                self._changed.wait()
            if self._closed:
                return None
            self._current = next(iter(self._waiting))
            del self._waiting[self._current]
            return self._current

    def done(self) -> None:
        with self._changed:
            self._current = None
            self._count()

    def pending(self) -> int:
        with self._changed:
            return self._pending()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _pending(self) -> int:
        return len(self._waiting.keys() | self._later) + (self._current is not None)

    def _count(self) -> None:
        self._gauge.set(self._pending())


class _Stopped(Exception):
    """The server is stopping: the rebuild in progress is dropped (it starts again at the next start)."""


class _OneImagePerRun:
    """The extractor as teach() uses it, one image per model run, checking before each whether to stop."""

    def __init__(self, extractor: FeatureExtractor, check_stop: Callable[[], None]) -> None:
        self.info: ModelInfo = extractor.info
        self._extractor = extractor
        self._check_stop = check_stop

    def extract(self, images: np.ndarray) -> np.ndarray:
        """images: [B, S, S, 3] uint8 -> [B, h*w, dim] float32, as FeatureExtractor.extract."""
        return np.concatenate(self._one_at_a_time(self._extractor.extract, images))

    def extract_with_fine(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """As FeatureExtractor.extract_with_fine."""
        features, fine = zip(*self._one_at_a_time(self._extractor.extract_with_fine, images), strict=True)
        return np.concatenate(features), np.concatenate(fine)

    def _one_at_a_time(self, run: Callable[[np.ndarray], Output], images: np.ndarray) -> list[Output]:
        """run on each image as a batch of one, checking before each whether to stop."""
        outputs = []
        for image in images:
            self._check_stop()
            outputs.append(run(image[None]))
        return outputs


def lower_this_threads_priority() -> None:
    """Gives the calling thread the lowest CPU priority. Linux applies setpriority to one thread when given
    its thread id; elsewhere the thread keeps its priority."""
    if not sys.platform.startswith("linux"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
    except OSError as error:
        log_event("rebuild_priority_unchanged", level=logging.WARNING, error=str(error))


class Rebuilder:
    """Rebuilds the products of `queue` for the loaded model on a background thread (start/stop).

    on_change() is called after each rebuild, whether it succeeded or failed. A rebuild the store could not
    take is queued again after retry_seconds.
    """

    def __init__(
        self,
        registry: ProductRegistry,
        queue: RebuildQueue,
        extractor: FeatureExtractor,
        on_change: Callable[[], None],
        retry_seconds: float = STORE_RETRY_SECONDS,
    ) -> None:
        self._registry = registry
        self._queue = queue
        self._retry_seconds = retry_seconds
        self._extractor = _OneImagePerRun(extractor, self._check_stop)
        self._on_change = on_change
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="product-rebuilder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Drops the rebuild in progress (nothing of it is stored) and ends the thread."""
        self._stopping.set()
        self._queue.close()
        if self._thread.is_alive():
            self._thread.join()

    def _check_stop(self, *_progress: int) -> None:
        if self._stopping.is_set():
            raise _Stopped

    def _run(self) -> None:
        lower_this_threads_priority()
        while (product_id := self._queue.take()) is not None:
            try:
                self.rebuild(product_id)
            except _Stopped:
                return
            finally:
                self._queue.done()

    def rebuild(self, product_id: str) -> None:
        """Rebuilds product_id for the loaded model if it (still) needs it; a failure is kept as the reason
        the product cannot be inspected."""
        try:
            source = self._registry.get(product_id).bank
        except ProductNotFound:
            return  # deleted meanwhile
        if source is None or not self._registry.needs_rebuild(source):
            return  # taught again meanwhile
        started = time.perf_counter()
        log_event("product_rebuild_started", product=product_id, version=source.version)
        try:
            rebuilt = self._registry.rebuilt_bank(source, self._extractor, progress=self._check_stop)
            entry = self._registry.store_rebuilt(source, rebuilt)
        except VersionConflict:
            log_event("product_rebuild_superseded", product=product_id, version=source.version)
            return  # changed meanwhile; queued again if the new version needs a rebuild too
        except StorageError as error:
            reason = f"{error}; tried again in {self._retry_seconds:g} s"
            self._failed(source, reason, logging.WARNING, advice=STORE_AGAIN)
            self._retry_later(product_id)
            return
        except InspectionError as error:
            self._failed(source, str(error), logging.WARNING)
            return
        except _Stopped:
            raise
        except Exception:
            self._failed(source, "internal error (the server log has the details)")
            return
        log_event(
            "product_rebuilt",
            product=product_id,
            version=entry.bank.version,
            from_version=source.version,
            image_count=entry.bank.stats.image_count,
            threshold=entry.bank.options.threshold,
            model=self._extractor.info.fingerprint[:12],
            seconds=round(time.perf_counter() - started, 3),
        )
        self._on_change()

    def _retry_later(self, product_id: str) -> None:
        self._queue.later(product_id)

        def again() -> None:
            if not self._stopping.is_set():
                self._queue.add(product_id)

        timer = threading.Timer(self._retry_seconds, again)
        timer.daemon = True
        timer.start()

    def _failed(
        self, source: MemoryBank, reason: str, level: int = logging.ERROR, advice: str = TEACH_AGAIN
    ) -> None:
        """Called in the except block: an ERROR is logged with the traceback."""
        self._registry.rebuild_failed(source, reason, advice)
        log_event(
            "product_rebuild_failed",
            level=level,
            exc_info=level == logging.ERROR,
            product=source.product_id,
            version=source.version,
            error=reason,
        )
        self._on_change()
