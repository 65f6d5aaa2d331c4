"""The InspectionService servicer on grpc.aio: request handling only; the work is done by frames.py,
stream.py and products.py. Work that blocks (teaching, storing) runs in a thread, never on the event loop."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import grpc
from patchcore_edge.v1 import inspection_pb2 as pb
from patchcore_edge.v1 import inspection_pb2_grpc

from patchcore.errors import InvalidInput, TooLarge
from patchcore.model import ModelInfo
from patchcore.teach import Progress, stage_progress
from server import __version__
from server.config import ServerConfig
from server.convert import kept_images, model_message, product_message, teach_options, updated_options
from server.errors import CallEnded, StreamIdle
from server.fleet.fleet import FleetStatus
from server.frames import FrameProcessor
from server.logs import log_event
from server.metrics import ServerMetrics
from server.products import ADDED_IMAGE, ProductEntry, ProductRegistry
from server.status import abort, code_from_number, status_of
from server.stream import answer_stream
from server.teach_frames import prepare_teach_images

T = TypeVar("T")


class InspectionService(inspection_pb2_grpc.InspectionServiceServicer):
    def __init__(
        self,
        config: ServerConfig,
        model: ModelInfo,
        registry: ProductRegistry,
        frames: FrameProcessor,
        metrics: ServerMetrics,
        fleet_status: Callable[[], FleetStatus],
    ) -> None:
        self._config = config
        self._model = model
        self._registry = registry
        self._frames = frames
        self._metrics = metrics
        self._fleet_status = fleet_status
        # count_products runs on the event loop, the rebuilder's and the fleet's threads: one at a time, each
        # with the products as they are at its turn, so a stale list cannot bring a deleted product back.
        self._counting = threading.Lock()
        # The frames of all streams between reading and their answer: at most what the model's queue holds.
        self._stream_frames = asyncio.Semaphore(config.queue_size)

    async def Teach(self, request: pb.TeachRequest, context: grpc.aio.ServicerContext) -> pb.Product:
        started = time.perf_counter()
        entry = await _built("teach", functools.partial(self._teach, request), context, request)
        seconds = time.perf_counter() - started
        self._metrics.teach_duration_seconds.observe(seconds)
        self.count_products()
        _log_new_version("product_taught", entry, seconds)
        return product_message(entry)

    def _teach(self, request: pb.TeachRequest, progress: Progress) -> ProductEntry:
        """Checks, decodes and prepares the teach set, then builds and stores the product (in a thread).
        Keeping the images (raw buffers encoded as PNG) is reported as preparing them too."""
        if not request.images:
            raise InvalidInput("the teach set is empty: send at least one image of a good part")
        count = len(request.images)
        self._check_image_count(count, f"the teach set has {count} images")
        options = teach_options(request.options)
        view = options.view(self._model.input_size)
        prepared = stage_progress(progress, "prepare")
        max_pixels = self._config.max_image_pixels
        frames = prepare_teach_images(request.images, view, max_pixels, progress=prepared)
        kept = kept_images(request.images, max_pixels, progress=prepared)
        return self._registry.teach(
            request.product_id, frames, kept, options, request.expected_version, progress=progress
        )

    async def AddImages(self, request: pb.AddImagesRequest, context: grpc.aio.ServicerContext) -> pb.Product:
        started = time.perf_counter()
        entry = await _built("add_images", functools.partial(self._add_images, request), context, request)
        self.count_products()
        elapsed = time.perf_counter() - started
        _log_new_version("product_images_added", entry, elapsed, added=len(request.images))
        return product_message(entry)

    def _add_images(self, request: pb.AddImagesRequest, progress: Progress) -> ProductEntry:
        """Checks the images and the product's new image count, then rebuilds and stores it (in a thread)."""
        current = self._registry.get(request.product_id)
        if not request.images:
            raise InvalidInput("no images to add: send at least one image of a good part")
        # Before the images are decoded (a million tiny PNGs fit in a request); checked again at the
        # change's turn, when another AddImages may have been stored meanwhile.
        self._check_added_count(current.bank.stats.image_count if current.bank else 0, len(request.images))
        kept = kept_images(
            request.images, self._config.max_image_pixels, ADDED_IMAGE, stage_progress(progress, "prepare")
        )
        return self._registry.add_images(
            request.product_id, kept, request.expected_version, progress, self._check_added_count
        )

    async def Inspect(
        self, request: pb.InspectRequest, context: grpc.aio.ServicerContext
    ) -> pb.InspectResponse:
        response = await self._frames.answer(self._frames.submit(request))
        if response.HasField("error"):
            await context.abort(code_from_number(response.error.code), response.error.message)
        return response

    async def InspectStream(
        self, request_iterator: AsyncIterator[pb.InspectRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.InspectResponse]:
        """Answers frames in order while the next ones are read and prepared (server/stream.py)."""
        started, answered, failed, cancelled = time.perf_counter(), 0, 0, False
        config, products, code = self._config, set(), grpc.StatusCode.UNKNOWN
        try:
            async for response in answer_stream(
                request_iterator,
                self._frames,
                config.stream_window,
                config.stream_idle_seconds,
                products,
                self._stream_frames,
            ):
                answered += 1
                failed += response.HasField("error")
                yield response
            code = context.code() or grpc.StatusCode.OK  # set when a malformed message ended the requests
        except StreamIdle as error:
            code, _ = status_of(error)
            await abort(context, error)
        except (asyncio.CancelledError, GeneratorExit):  # GeneratorExit: it ended while an answer was sent
            cancelled, code = True, _ended_by(context)
            raise
        finally:
            log_event(
                "stream_ended",
                products=sorted(products),
                frames=answered,
                failed_frames=failed,
                seconds=round(time.perf_counter() - started, 3),
                cancelled=cancelled,
                code=code.name,
            )

    async def GetProduct(
        self, request: pb.GetProductRequest, context: grpc.aio.ServicerContext
    ) -> pb.Product:
        try:
            return product_message(self._registry.get(request.product_id))
        except Exception as error:
            await abort(context, error)

    async def ListProducts(
        self, request: pb.ListProductsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListProductsResponse:
        return pb.ListProductsResponse(products=[product_message(e) for e in self._registry.entries()])

    async def UpdateProduct(
        self, request: pb.UpdateProductRequest, context: grpc.aio.ServicerContext
    ) -> pb.Product:
        try:
            entry = await _until_the_call_ends(
                lambda proceed: self._registry.update(
                    request.product_id,
                    lambda current: updated_options(current, request),
                    request.expected_version,
                    proceed,
                ),
                "update_cancelled",
                product=request.product_id,
            )
        except Exception as error:
            _log_refused("update_failed", error, product=request.product_id)
            await abort(context, error)
        log_event(
            "product_updated",
            product=entry.product_id,
            version=entry.bank.version,
            threshold=entry.bank.options.threshold,
        )
        return product_message(entry)

    async def DeleteProduct(
        self, request: pb.DeleteProductRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteProductResponse:
        try:
            version = await _until_the_call_ends(
                lambda proceed: self._registry.delete(request.product_id, request.expected_version, proceed),
                "delete_cancelled",
                product=request.product_id,
            )
        except Exception as error:
            _log_refused("delete_failed", error, product=request.product_id)
            await abort(context, error)
        self.count_products()
        log_event("product_deleted", product=request.product_id, version=version)
        return pb.DeleteProductResponse(product_id=request.product_id, deleted_version=version)

    async def GetServerInfo(
        self, request: pb.GetServerInfoRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerInfo:
        return pb.ServerInfo(
            version=__version__,
            model=model_message(self._model),
            product_count=len(self._registry.entries()),
            max_batch_size=self._config.max_batch,
            max_image_pixels=self._config.max_image_pixels,
            max_message_bytes=self._config.max_message_bytes,
            fleet=pb.FleetInfo(**dataclasses.asdict(self._fleet_status())),
        )

    def _check_added_count(self, stored: int, added: int) -> None:
        """TooLarge when the product's stored images and the added ones exceed max_teach_images."""
        total = stored + added
        self._check_image_count(
            total, f"the product holds {stored} images and {added} were sent, {total} in all"
        )

    def _check_image_count(self, count: int, described: str) -> None:
        """TooLarge when a product would be taught from more than max_teach_images images."""
        if count > self._config.max_teach_images:
            raise TooLarge(
                f"{described}; this server takes at most {self._config.max_teach_images} per product (8 good "
                "images are the reference)"
            )

    def count_products(self) -> None:
        """Updates the products gauge, and drops the series of products no longer held."""
        with self._counting:
            entries = self._registry.entries()
            self._metrics.keep_products({entry.product_id for entry in entries})
            usable = sum(entry.usable for entry in entries)
            self._metrics.products.labels("true").set(usable)
            self._metrics.products.labels("false").set(len(entries) - usable)


def _ended_by(context: grpc.aio.ServicerContext) -> grpc.StatusCode:
    """How a call ended before its handler did: its deadline passed, or it was cancelled (by the client, a
    broken connection, or the server's stop)."""
    remaining = context.time_remaining()
    return (
        grpc.StatusCode.DEADLINE_EXCEEDED
        if remaining is not None and remaining <= 0
        else grpc.StatusCode.CANCELLED
    )


def _log_new_version(event: str, entry: ProductEntry, seconds: float, **fields: object) -> None:
    bank = entry.bank
    outliers = bank.stats.outlier_images
    log_event(
        event,
        level=logging.WARNING if outliers else logging.INFO,
        product=entry.product_id,
        version=bank.version,
        image_count=bank.stats.image_count,
        threshold=bank.options.threshold,
        seconds=round(seconds, 3),
        outlier_images=outliers,
        **fields,
    )


def _log_refused(event: str, error: BaseException, **fields: object) -> None:
    """A change that was refused, with its status code: at warning when the store was unavailable (the
    operator must know which changes did not land) or on a server fault, else at info."""
    code, _ = status_of(error)
    serious = code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL)
    log_event(
        event, level=logging.WARNING if serious else logging.INFO, code=code.name, error=str(error), **fields
    )


async def _built(
    change: str,
    build: Callable[[Progress], ProductEntry],
    context: grpc.aio.ServicerContext,
    request: pb.TeachRequest | pb.AddImagesRequest,
) -> ProductEntry:
    """The product build(progress) makes, in a thread, for `request` (`change`: "teach", "add_images"): a
    failure is logged as `<change>_failed` and aborts the call with its status; the call ending first is
    logged as `<change>_cancelled` (see _until_the_call_ends)."""
    fields = {"product": request.product_id, "image_count": len(request.images)}
    try:
        return await _until_the_call_ends(build, f"{change}_cancelled", **fields)
    except Exception as error:
        _log_refused(f"{change}_failed", error, **fields)
        await abort(context, error)


async def _until_the_call_ends(change: Callable[[Callable[..., None]], T], event: str, **fields: object) -> T:
    """change(stop_if_the_call_ended) in a thread. When the call ends first (its deadline, the client, the
    server's drain), change is told to stop: its next call of stop_if_the_call_ended (a Teach's progress
    reports; an update's or a delete's turn on the writer, which may come after a long Teach) raises
    CallEnded, so nothing is stored (unless it was being stored already), and `event` is logged."""
    ended = threading.Event()

    def stop_if_the_call_ended(*_progress: object) -> None:
        if ended.is_set():
            raise CallEnded("the call ended before the change was made; nothing was stored")

    try:
        return await asyncio.to_thread(change, stop_if_the_call_ended)
    except asyncio.CancelledError:
        ended.set()
        log_event(event, level=logging.WARNING, **fields)
        raise
