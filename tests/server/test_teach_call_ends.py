"""A Teach or AddImages whose call ends while the product is being built (its deadline, the client
cancelling, the server's drain running out) stops at the build's next step and stores nothing: a client told
DEADLINE_EXCEEDED or UNAVAILABLE that retries must not find the change made twice."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import threading

import grpc
import numpy as np
import pytest
from patchcore_edge.v1 import inspection_pb2 as pb
from tiny_model import write_tiny_model

from patchcore.errors import ProductNotFound
from patchcore.model import FeatureExtractor
from patchcore.store import ProductStore
from server import teach_frames
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


def test_a_teach_whose_call_ends_while_its_images_are_decoded_decodes_no_more_and_stores_nothing(
    service, monkeypatch
):
    service, extractor = service
    extractor.go_on.set()
    decoded = []
    decoding, go_on = threading.Event(), threading.Event()
    decode_image = teach_frames.decode_image

    def held_decode(image, max_pixels, shrink_for=None):
        decoded.append(image)
        decoding.set()
        go_on.wait(60)
        return decode_image(image, max_pixels, shrink_for)

    monkeypatch.setattr(teach_frames, "decode_image", held_decode)
    rng = np.random.default_rng(3)
    request = pb.TeachRequest(product_id=PRODUCT, images=[_raw(rng) for _ in range(64)])

    async def call_ends_during_the_decode() -> None:
        teach = asyncio.create_task(service.Teach(request, context=None))
        await asyncio.to_thread(decoding.wait, 60)
        teach.cancel()
        with pytest.raises(asyncio.CancelledError):
            await teach
        go_on.set()

    asyncio.run(call_ends_during_the_decode())  # returns once the teach's thread has ended
    assert len(decoded) == 1  # the image being decoded as the call ended, and no other
    assert not extractor.running.is_set()
    with pytest.raises(ProductNotFound):
        service._registry.get(PRODUCT)


def test_an_update_and_a_delete_whose_calls_end_while_they_wait_behind_a_teach_are_not_made(service):
    """Every change waits its turn on the one writer; one whose call has ended by then is not made."""
    service, extractor = service
    rng = np.random.default_rng(1)
    extractor.go_on.set()
    other = asyncio.run(
        service.Teach(pb.TeachRequest(product_id="other", images=[_raw(rng) for _ in range(2)]), None)
    )
    extractor.go_on.clear()
    extractor.running.clear()
    registry = service._registry
    waiting = {name: threading.Event() for name in ("update", "delete")}

    def called(name, method):
        def record(*args, **kwargs):
            waiting[name].set()
            return method(*args, **kwargs)

        return record

    registry.update = called("update", registry.update)
    registry.delete = called("delete", registry.delete)
    update = pb.UpdateProductRequest(product_id="other", options=pb.ProductOptions(threshold=1.5))
    update.update_fields.append("threshold")

    async def calls_end_while_a_teach_builds() -> None:
        teach_request = pb.TeachRequest(product_id=PRODUCT, images=[_raw(rng) for _ in range(2)])
        teaching = asyncio.create_task(service.Teach(teach_request, None))
        await asyncio.to_thread(extractor.running.wait, 60)
        changes = [
            asyncio.create_task(service.UpdateProduct(update, None)),
            asyncio.create_task(service.DeleteProduct(pb.DeleteProductRequest(product_id="other"), None)),
        ]
        for event in waiting.values():
            await asyncio.to_thread(event.wait, 60)
        for change in changes:
            change.cancel()  # their deadlines pass while the teach holds the writer
        extractor.go_on.set()
        await teaching
        for change in changes:
            with pytest.raises(asyncio.CancelledError):
                await change

    asyncio.run(calls_end_while_a_teach_builds())  # returns once the changes' threads have ended
    kept = registry.get("other")
    assert (kept.bank.version, kept.bank.options.threshold) == (other.version, pytest.approx(other.threshold))


class _Aborted(Exception):
    pass


class _Context:
    """What the service needs of a grpc.aio context to end a call with a status."""

    async def abort(self, code, details):
        raise _Aborted(code, details)


def test_two_add_images_at_once_cannot_take_a_product_over_the_image_limit(service):
    service, extractor = service
    service._config = dataclasses.replace(service._config, max_teach_images=3)
    rng = np.random.default_rng(2)
    extractor.go_on.set()
    asyncio.run(
        service.Teach(pb.TeachRequest(product_id=PRODUCT, images=[_raw(rng) for _ in range(2)]), None)
    )
    extractor.go_on.clear()
    extractor.running.clear()

    registry = service._registry
    queued = threading.Event()  # the second AddImages has passed the early check and waits for the writer
    add_images = registry.add_images

    def add_images_noting_the_second(*args, **kwargs):
        if extractor.running.is_set():
            queued.set()
        return add_images(*args, **kwargs)

    registry.add_images = add_images_noting_the_second

    async def two_at_once() -> list:
        first = asyncio.create_task(
            service.AddImages(pb.AddImagesRequest(product_id=PRODUCT, images=[_raw(rng)]), _Context())
        )
        await asyncio.to_thread(extractor.running.wait, 60)  # the first one builds; the second is sent now
        second = asyncio.create_task(
            service.AddImages(pb.AddImagesRequest(product_id=PRODUCT, images=[_raw(rng)]), _Context())
        )
        await asyncio.to_thread(queued.wait, 60)
        extractor.go_on.set()
        return await asyncio.gather(first, second, return_exceptions=True)

    added, refused = asyncio.run(two_at_once())
    assert added.teach_stats.image_count == 3
    assert isinstance(refused, _Aborted) and refused.args[0] == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "holds 3 images and 1 were sent" in refused.args[1]
    assert service._registry.get(PRODUCT).bank.stats.image_count == 3
