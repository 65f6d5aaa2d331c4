"""What the operator's page shows of the line: each product's recent scores and, while a page watches the
product, its recent frames. Memory only, and bounded (README "Operator's page").

`record` runs in the thread that answered the frame, so it does little: without a page watching the
product it appends the score; with one it also keeps the frame's patch grids and a small picture of what the
model saw, and the image of a flagged frame (for "this is a good part"). Overlays are drawn later, when a
page asks for them (server/web/pictures.py).
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from patchcore_edge.v1 import inspection_pb2 as pb

from patchcore.geometry import FramePlan
from patchcore.prepare import PreparedFrame
from patchcore.scoring import PatchScores
from patchcore.verdict import Verdict
from server.web.pictures import roi_picture

FRAMES_KEPT = 48  # per watched product: the frames its page shows
SCORES_KEPT = 1000  # per product: the histogram's scores
IMAGES_KEPT_BYTES = 64 * 1024 * 1024  # all products: flagged frames' images, oldest dropped first
RATE_SECONDS = 5  # frames/s is averaged over this many whole seconds


@dataclass(eq=False)  # compared by identity: a frame is one object
class FrameRecord:
    """One answered frame as the page shows it."""

    seq: int  # 1, 2, ... per product, in the order frames were answered
    version: int  # the product version that scored it
    unix: float
    score: float
    anomalous: bool
    threshold: float
    regions: list  # patchcore.regions.Region, frame pixels
    plan: FramePlan
    grids: np.ndarray  # [T, h, w] patch scores
    picture: np.ndarray  # [h, w, 3] uint8 RGB: the region of interest as the model saw it, small
    image: pb.Image | None  # the frame as received, kept for flagged frames within IMAGES_KEPT_BYTES
    image_bytes: int = 0
    rendered: dict[int, bytes] = field(default_factory=dict)  # JPEG overlays by size, drawn once
    frame_id: int = 0  # the client's, as in its InspectRequest


@dataclass
class _ProductLog:
    scores: deque = field(default_factory=lambda: deque(maxlen=SCORES_KEPT))
    score_count: int = 0  # scores ever recorded; the deque holds the last SCORES_KEPT of them
    frames: deque = field(default_factory=lambda: deque(maxlen=FRAMES_KEPT))
    seqs: itertools.count = field(default_factory=lambda: itertools.count(1))
    watchers: int = 0
    failures: int = 0  # frames answered with an error
    last_failure: str = ""  # "CODE: message" of the last of them
    last_failure_unix: float = 0.0


class _RateMeter:
    """Frames per second over the last RATE_SECONDS whole seconds; one counter bump per frame."""

    def __init__(self) -> None:
        self._counts: deque = deque(maxlen=RATE_SECONDS + 1)  # (second, frames), the last one still open

    def count(self, now: float) -> None:
        second = int(now)
        if self._counts and self._counts[-1][0] == second:
            self._counts[-1][1] += 1
        else:
            self._counts.append([second, 1])

    def per_second(self, now: float) -> float:
        current = int(now)
        done = sum(frames for second, frames in self._counts if current - RATE_SECONDS <= second < current)
        return done / RATE_SECONDS


class FrameRecorder:
    """`run` tells this server process's frames from those of an earlier one: frame numbers start again at 1
    after a restart, and a page still showing the old frames must not reach new ones by their number."""

    def __init__(self) -> None:
        self.run = secrets.token_hex(4)
        self._lock = threading.Lock()
        self._products: dict[str, _ProductLog] = {}
        self._rate = _RateMeter()
        self._kept_images: deque[FrameRecord] = deque()
        self._kept_bytes = 0

    def record(
        self,
        product_id: str,
        version: int,
        prepared: PreparedFrame,
        scores: PatchScores,
        result: Verdict,
        image: pb.Image,
        frame_id: int = 0,
    ) -> None:
        """Called for every frame answered with a score."""
        now = time.time()
        with self._lock:
            self._rate.count(time.monotonic())
            log = self._products.setdefault(product_id, _ProductLog())
            log.scores.append(result.score)
            log.score_count += 1
            if not log.watchers:
                return
        frame = FrameRecord(
            seq=0,
            version=version,
            unix=now,
            score=result.score,
            anomalous=result.anomalous,
            threshold=result.threshold,
            regions=result.regions,
            plan=prepared.plan,
            grids=scores.grids(),
            picture=roi_picture(prepared),
            image=image if result.anomalous else None,
            frame_id=frame_id,
        )
        with self._lock:
            if not log.watchers:  # the last page closed meanwhile
                return
            frame.seq = next(log.seqs)
            if len(log.frames) == FRAMES_KEPT:
                self._release_image(log.frames[0])
            log.frames.append(frame)
            if frame.image is not None:
                self._keep_image(frame)

    def watch(self, product_id: str) -> None:
        """A page shows product_id: its frames are kept from now on. Pair with `unwatch`."""
        with self._lock:
            self._products.setdefault(product_id, _ProductLog()).watchers += 1

    def unwatch(self, product_id: str) -> None:
        """The page is gone; with no page left the product's frames are dropped (its scores stay)."""
        with self._lock:
            log = self._products[product_id]
            log.watchers -= 1
            if not log.watchers:
                for frame in log.frames:
                    self._release_image(frame)
                log.frames.clear()

    def frames_since(self, product_id: str, seq: int) -> list[FrameRecord]:
        """The kept frames of product_id after frame `seq`, oldest first."""
        with self._lock:
            log = self._products.get(product_id)
            return [frame for frame in log.frames if frame.seq > seq] if log else []

    def frame(self, product_id: str, seq: int) -> FrameRecord | None:
        with self._lock:
            log = self._products.get(product_id)
            return next((frame for frame in log.frames if frame.seq == seq), None) if log else None

    def record_failure(self, product_id: str, failure: str) -> None:
        """Called for every frame of a known product answered with an error ("CODE: message")."""
        with self._lock:
            log = self._products.setdefault(product_id, _ProductLog())
            log.failures += 1
            log.last_failure = failure
            log.last_failure_unix = time.time()

    def failures(self, product_id: str) -> dict:
        """{"count", "last", "unix"} of the product's frames answered with an error since the start."""
        with self._lock:
            log = self._products.get(product_id)
            if log is None or not log.failures:
                return {"count": 0, "last": "", "unix": 0.0}
            return {"count": log.failures, "last": log.last_failure, "unix": log.last_failure_unix}

    def scores_since(self, product_id: str, count: int) -> tuple[list[float], int]:
        """The scores recorded after the first `count` (as many as are kept) and the new total count."""
        with self._lock:
            log = self._products.get(product_id)
            if log is None:
                return [], 0
            new = min(log.score_count - count, len(log.scores))
            return list(log.scores)[len(log.scores) - new :], log.score_count

    def frames_per_second(self) -> float:
        with self._lock:
            return self._rate.per_second(time.monotonic())

    def keep_only(self, product_ids: set[str]) -> None:
        """Forgets the products not in product_ids (deleted ones), unless a page still watches them."""
        with self._lock:
            for product_id in [pid for pid, log in self._products.items() if not log.watchers]:
                if product_id not in product_ids:
                    del self._products[product_id]

    def forget(self, product_id: str) -> None:
        """Forgets a product found deleted (its scores and failures) unless a page still watches it: a
        product taught later under the same id starts with none."""
        with self._lock:
            log = self._products.get(product_id)
            if log is not None and not log.watchers:
                del self._products[product_id]

    def _keep_image(self, frame: FrameRecord) -> None:
        """Keeps frame.image, dropping the oldest kept images beyond IMAGES_KEPT_BYTES. Holds the lock."""
        frame.image_bytes = frame.image.ByteSize()
        self._kept_images.append(frame)
        self._kept_bytes += frame.image_bytes
        while self._kept_bytes > IMAGES_KEPT_BYTES:
            self._release_image(self._kept_images[0])

    def _release_image(self, frame: FrameRecord) -> None:
        """Drops frame.image (if kept): the frame left the ring or the budget needs room. Holds the lock."""
        if frame.image is not None:
            self._kept_images.remove(frame)
            self._kept_bytes -= frame.image_bytes
            frame.image = None
