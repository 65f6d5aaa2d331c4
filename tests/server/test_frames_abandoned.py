"""server/frames.py: a frame whose call ended while it waited for the decode pool is not decoded; an
answered frame is freed as soon as its call lets go of it."""

from __future__ import annotations

import asyncio
import gc
import weakref
from types import SimpleNamespace

from patchcore_edge.v1 import inspection_pb2 as pb
from server_helpers import HeldPool

import server.frames
from server.frames import FrameProcessor
from server.lifecycle import Lifecycle
from server.metrics import ServerMetrics


class HeldBatcher:
    """A batcher whose frames wait until the test hands their futures their result."""

    def __init__(self) -> None:
        self.futures = []

    def submit(self, inputs, source, future, fine=False) -> None:
        self.futures.append(future)


class Product:
    """A held, usable product: what FrameProcessor.submit looks up."""

    def inspecting(self):
        return self

    def require_scorer(self):
        return SimpleNamespace(view=SimpleNamespace(shrink_for=None), wants_fine_cells=False)


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


def test_an_answered_frame_is_freed_without_the_cyclic_collector(monkeypatch):
    """A frame holds its request (a raw 640x480 one is 0.9 MB): once answered and dropped by its call it
    goes at once, not when Python's cyclic collector next runs, which an idle server hardly does."""
    monkeypatch.setattr(server.frames, "decode_image", lambda *args, **kwargs: None)
    monkeypatch.setattr(server.frames, "prepare", lambda scaled, view: SimpleNamespace(inputs=None))
    pool, batcher = HeldPool(), HeldBatcher()
    frames = FrameProcessor(Registry(), batcher, Lifecycle(4), ServerMetrics(), 10**6, 10**6, pool)
    monkeypatch.setattr(frames, "_respond", lambda pending, output: pb.InspectResponse(frame_id=output))

    async def answered_frame() -> weakref.ref:
        pending = frames.submit(
            pb.InspectRequest(product_id="part", frame_id=1, image=pb.Image(encoded=b"x"))
        )
        pool.run_all()  # decoded, prepared, queued for the model
        batcher.futures.pop().set_result(1)  # the model's output
        pool.run_all()  # searched, judged
        assert (await frames.answer(pending)).frame_id == 1
        return weakref.ref(pending)

    gc.disable()
    try:
        frame = asyncio.run(answered_frame())
        assert frame() is None
    finally:
        gc.enable()
