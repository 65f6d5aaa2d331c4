"""server/frames.py: a frame whose call ended while it waited for the decode pool is not decoded."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from patchcore_edge.v1 import inspection_pb2 as pb

import server.frames
from server.frames import FrameProcessor
from server.lifecycle import Lifecycle
from server.metrics import ServerMetrics


class HeldPool:
    """A decode pool that runs its jobs only when told to."""

    def __init__(self) -> None:
        self.jobs = []

    def submit(self, source, job) -> None:
        self.jobs.append(job)


class Product:
    """A held, usable product: what FrameProcessor.submit looks up."""

    def inspecting(self):
        return self

    def require_scorer(self):
        return SimpleNamespace(view=SimpleNamespace(shrink_for=None))


class Registry:
    def get(self, product_id: str) -> Product:
        return Product()


def test_a_frame_abandoned_before_its_decode_is_not_decoded(monkeypatch):
    decoded = []
    monkeypatch.setattr(server.frames, "decode_image", lambda *args, **kwargs: decoded.append(args))
    pool = HeldPool()
    frames = FrameProcessor(Registry(), None, Lifecycle(4), ServerMetrics(), 10**6, 10**6, pool)

    async def run() -> None:
        pending = frames.submit(
            pb.InspectRequest(product_id="part", frame_id=1, image=pb.Image(encoded=b"x"))
        )
        frames.abandon(pending)  # the stream was cancelled
        for job in pool.jobs:
            job()

    asyncio.run(run())
    assert len(pool.jobs) == 1
    assert decoded == []
