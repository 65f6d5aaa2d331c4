"""server/metrics.py: a product deleted while one of its frames is being scored stays off /metrics when that
frame is answered."""

from __future__ import annotations

import asyncio
import functools

import numpy as np
from patchcore_edge.v1 import inspection_pb2 as pb
from prometheus_client import generate_latest
from server_helpers import HeldPool
from tiny_model import write_tiny_model

from patchcore.inspection import FrameFeatures
from patchcore.model import FeatureExtractor
from patchcore.store import ProductStore
from server.batcher import BatchOutput
from server.config import ServerConfig
from server.fleet.fleet import FleetStatus
from server.frames import FrameProcessor
from server.lifecycle import Lifecycle
from server.metrics import ServerMetrics
from server.products import ProductRegistry
from server.service import InspectionService
from server.teach_frames import prepare_teach_files

PRODUCT = "part"


class DirectBatcher:
    """Runs each frame's model inputs at once, on the caller's thread."""

    def __init__(self, extractor: FeatureExtractor) -> None:
        self._extractor = extractor

    def submit(self, inputs, source, scored, fine=False) -> None:
        scored.set_result(BatchOutput(FrameFeatures(self._extractor.extract(inputs)), 0.0, 0.0, 1))


def _raw(rng: np.random.Generator) -> pb.Image:
    pixels = rng.integers(0, 256, (64, 64, 3), np.uint8).tobytes()
    return pb.Image(raw=pb.RawImage(width=64, height=64, format=pb.PIXEL_FORMAT_RGB8, pixels=pixels))


def _page(metrics: ServerMetrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_a_frame_answered_after_its_product_was_deleted_does_not_bring_its_series_back(tmp_path):
    model = write_tiny_model(tmp_path / "tiny.onnx")
    extractor = FeatureExtractor(model, intra_op_threads=1)
    prepare = functools.partial(prepare_teach_files, max_pixels=10**6)
    registry = ProductRegistry(ProductStore(tmp_path / "store"), extractor, prepare)
    metrics = ServerMetrics()
    pool = HeldPool()
    frames = FrameProcessor(registry, DirectBatcher(extractor), Lifecycle(4), metrics, 10**6, 10**8, pool)
    config = ServerConfig(model=model, store=tmp_path / "store")
    service = InspectionService(config, extractor.info, registry, frames, metrics, FleetStatus)
    rng = np.random.default_rng(0)
    label = f'product="{PRODUCT}"'

    async def delete_while_a_frame_is_scored() -> tuple[str, pb.InspectResponse]:
        await service.Teach(pb.TeachRequest(product_id=PRODUCT, images=[_raw(rng) for _ in range(3)]), None)
        first = frames.submit(pb.InspectRequest(product_id=PRODUCT, frame_id=1, image=_raw(rng)))
        pool.run_all()
        await frames.answer(first)
        before = _page(metrics)
        in_flight = frames.submit(pb.InspectRequest(product_id=PRODUCT, frame_id=2, image=_raw(rng)))
        pool.jobs.pop(0)()  # decoded, prepared and run by the model: its search and verdict are next
        await service.DeleteProduct(pb.DeleteProductRequest(product_id=PRODUCT), None)
        assert label not in _page(metrics)
        pool.run_all()
        return before, await frames.answer(in_flight)

    try:
        before, answered = asyncio.run(delete_while_a_frame_is_scored())
    finally:
        registry.close()
    assert label in before
    assert answered.frame_id == 2 and not answered.HasField("error")
    assert label not in _page(metrics)
