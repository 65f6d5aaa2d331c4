"""A Teach or AddImages whose call ends while the product is being built (its deadline, the client
cancelling, the server's drain running out) stops at the build's next step and stores nothing: a client told
DEADLINE_EXCEEDED or UNAVAILABLE that retries must not find the change made twice."""

from __future__ import annotations

import asyncio
import functools
import threading

import numpy as np
import pytest
from patchcore_edge.v1 import inspection_pb2 as pb
from tiny_model import write_tiny_model

from patchcore.errors import ProductNotFound
from patchcore.model import FeatureExtractor
from patchcore.store import ProductStore
from server.config import ServerConfig
from server.fleet.fleet import FleetStatus
from server.metrics import ServerMetrics
from server.products import ProductRegistry
from server.service import InspectionService
from server.teach_frames import prepare_teach_files

PRODUCT = "part"


class _HeldExtractor:
    """The tiny model, whose first run waits until the test lets it go."""

    def __init__(self, extractor: FeatureExtractor) -> None:
        self.info = extractor.info
        self._extractor = extractor
        self.running = threading.Event()
        self.go_on = threading.Event()

    def extract(self, images: np.ndarray) -> np.ndarray:
        self.running.set()
        self.go_on.wait()
        return self._extractor.extract(images)


def _raw(rng: np.random.Generator) -> pb.Image:
    pixels = rng.integers(0, 256, (32, 32, 3), np.uint8).tobytes()
    return pb.Image(raw=pb.RawImage(width=32, height=32, format=pb.PIXEL_FORMAT_RGB8, pixels=pixels))


@pytest.fixture
def service(tmp_path):
    model = write_tiny_model(tmp_path / "tiny.onnx")
    extractor = _HeldExtractor(FeatureExtractor(model, intra_op_threads=1))
    prepare = functools.partial(prepare_teach_files, max_pixels=10_000)
    registry = ProductRegistry(ProductStore(tmp_path / "store"), extractor, prepare)
    config = ServerConfig(model=model, store=tmp_path / "store")
    yield InspectionService(config, extractor.info, registry, None, ServerMetrics(), FleetStatus), extractor
    registry.close()


def test_a_teach_whose_call_ends_while_it_builds_stores_nothing(service):
    service, extractor = service
    rng = np.random.default_rng(0)
    request = pb.TeachRequest(product_id=PRODUCT, images=[_raw(rng) for _ in range(4)])

    async def call_ends_during_the_build() -> None:
        teach = asyncio.create_task(service.Teach(request, context=None))
        await asyncio.to_thread(extractor.running.wait, 60)
        teach.cancel()  # what grpc.aio does when the deadline passes or the client goes
        with pytest.raises(asyncio.CancelledError):
            await teach
        extractor.go_on.set()

    asyncio.run(call_ends_during_the_build())  # returns once the build's thread has ended
    with pytest.raises(ProductNotFound):
        service._registry.get(PRODUCT)
