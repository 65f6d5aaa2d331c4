"""The InspectionService servicer: request handling only; the work is done by frames.py and products.py."""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Iterator

import grpc
from patchcore_edge.v1 import inspection_pb2 as pb
from patchcore_edge.v1 import inspection_pb2_grpc

from patchcore.errors import InvalidInput, TooLarge
from patchcore.model import ModelInfo
from server import __version__
from server.config import ServerConfig
from server.convert import kept_images, model_message, product_message, teach_options, updated_options
from server.fleet.fleet import FleetStatus
from server.frames import FrameProcessor, PendingFrame
from server.logs import log_event
from server.metrics import ServerMetrics
from server.products import ProductEntry, ProductRegistry
from server.status import abort, code_from_number
from server.teach_frames import prepare_teach_images

_END_OF_STREAM = object()


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

    def Teach(self, request: pb.TeachRequest, context: grpc.ServicerContext) -> pb.Product:
        started = time.perf_counter()
        try:
            if not request.images:
                raise InvalidInput("the teach set is empty: send at least one image of a good part")
            self._check_teach_set_size(len(request.images))
            options = teach_options(request.options)
            view = options.view(self._model.input_size)
            frames = prepare_teach_images(request.images, view, self._config.max_image_pixels)
            kept = kept_images(request.images, self._config.max_image_pixels)
            entry = self._registry.teach(request.product_id, frames, kept, options, request.expected_version)
        except Exception as error:
            log_event(
                "teach_failed", product=request.product_id, image_count=len(request.images), error=str(error)
            )
            abort(context, error)
        seconds = time.perf_counter() - started
        self._metrics.teach_duration_seconds.observe(seconds)
        self.count_products()
        _log_new_version("product_taught", entry, seconds)
        return product_message(entry)

    def AddImages(self, request: pb.AddImagesRequest, context: grpc.ServicerContext) -> pb.Product:
        started = time.perf_counter()
        try:
            current = self._registry.get(request.product_id)
            if not request.images:
                raise InvalidInput("no images to add: send at least one image of a good part")
            stored_count = current.bank.stats.image_count if current.bank else 0
            self._check_teach_set_size(stored_count + len(request.images))
            kept = kept_images(request.images, self._config.max_image_pixels)
            entry = self._registry.add_images(request.product_id, kept, request.expected_version)
        except Exception as error:
            log_event(
                "add_images_failed",
                product=request.product_id,
                image_count=len(request.images),
                error=str(error),
            )
            abort(context, error)
        self.count_products()
        _log_new_version("product_images_added", entry, time.perf_counter() - started, added=len(kept))
        return product_message(entry)

    def Inspect(self, request: pb.InspectRequest, context: grpc.ServicerContext) -> pb.InspectResponse:
        pending = self._frames.submit(request)
        context.add_callback(lambda: self._frames.abandon(pending))  # runs when the call ends, however
        response = self._frames.answer(pending)
        if response.HasField("error"):
            context.abort(code_from_number(response.error.code), response.error.message)
        return response

    def InspectStream(
        self, request_iterator: Iterator[pb.InspectRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.InspectResponse]:
        """Answers frames in order while a reader thread decodes and queues the next ones.

        At most `stream_window` frames are between reading and answering; beyond that the reader stops
        reading, and gRPC flow control holds the client back.
        """
        in_flight: queue.Queue = queue.Queue(maxsize=self._config.stream_window)
        reader = threading.Thread(
            target=self._read_stream, args=(request_iterator, in_flight, context), daemon=True
        )
        reader.start()
        started, answered, failed = time.perf_counter(), 0, 0
        try:
            while (pending := _get_while_active(in_flight, context)) is not _END_OF_STREAM:
                response = self._frames.answer(pending)
                answered += 1
                failed += response.HasField("error")
                yield response
        finally:
            if not context.is_active():
                self._abandon_queued(in_flight)
            log_event(
                "stream_ended",
                frames=answered,
                failed_frames=failed,
                seconds=round(time.perf_counter() - started, 3),
                cancelled=not context.is_active(),
            )

    def GetProduct(self, request: pb.GetProductRequest, context: grpc.ServicerContext) -> pb.Product:
        try:
            return product_message(self._registry.get(request.product_id))
        except Exception as error:
            abort(context, error)

    def ListProducts(
        self, request: pb.ListProductsRequest, context: grpc.ServicerContext
    ) -> pb.ListProductsResponse:
        return pb.ListProductsResponse(products=[product_message(e) for e in self._registry.entries()])

    def UpdateProduct(self, request: pb.UpdateProductRequest, context: grpc.ServicerContext) -> pb.Product:
        try:
            entry = self._registry.update(
                request.product_id,
                lambda current: updated_options(current, request),
                request.expected_version,
            )
        except Exception as error:
            abort(context, error)
        log_event(
            "product_updated",
            product=entry.product_id,
            version=entry.bank.version,
            threshold=entry.bank.options.threshold,
        )
        return product_message(entry)

    def DeleteProduct(
        self, request: pb.DeleteProductRequest, context: grpc.ServicerContext
    ) -> pb.DeleteProductResponse:
        try:
            version = self._registry.delete(request.product_id, request.expected_version)
        except Exception as error:
            abort(context, error)
        self.count_products()
        log_event("product_deleted", product=request.product_id, version=version)
        return pb.DeleteProductResponse(product_id=request.product_id, deleted_version=version)

    def GetServerInfo(self, request: pb.GetServerInfoRequest, context: grpc.ServicerContext) -> pb.ServerInfo:
        return pb.ServerInfo(
            version=__version__,
            model=model_message(self._model),
            product_count=len(self._registry.entries()),
            max_batch_size=self._config.max_batch,
            max_image_pixels=self._config.max_image_pixels,
            max_message_bytes=self._config.max_message_bytes,
            fleet=pb.FleetInfo(**dataclasses.asdict(self._fleet_status())),
        )

    def _check_teach_set_size(self, count: int) -> None:
        """TooLarge when a product would be taught from more than max_teach_images images."""
        if count > self._config.max_teach_images:
            raise TooLarge(
                f"the teach set has {count} images; this server takes at most "
                f"{self._config.max_teach_images} per product (8 good images are the reference)"
            )

    def count_products(self) -> None:
        """Updates the products gauge."""
        entries = self._registry.entries()
        usable = sum(entry.usable for entry in entries)
        self._metrics.products.labels("true").set(usable)
        self._metrics.products.labels("false").set(len(entries) - usable)

    def _abandon_queued(self, in_flight: queue.Queue) -> None:
        """A cancelled stream's frames that were read but not answered are not scored any more."""
        while True:
            try:
                pending = in_flight.get_nowait()
            except queue.Empty:
                return
            if pending is not _END_OF_STREAM:
                self._frames.abandon(pending)

    def _read_stream(
        self,
        request_iterator: Iterator[pb.InspectRequest],
        in_flight: queue.Queue,
        context: grpc.ServicerContext,
    ) -> None:
        """Reader thread of one stream: submits each frame and queues it for answering, in order."""
        try:
            for request in request_iterator:
                pending = self._frames.submit(request)
                if not _put_while_active(in_flight, pending, context):
                    self._frames.abandon(pending)
                    return
        except grpc.RpcError:
            pass  # the client cancelled or the connection broke; the call is over
        finally:
            _put_while_active(in_flight, _END_OF_STREAM, context)


def _log_new_version(event: str, entry: ProductEntry, seconds: float, **fields: object) -> None:
    bank = entry.bank
    log_event(
        event,
        product=entry.product_id,
        version=bank.version,
        image_count=bank.stats.image_count,
        threshold=bank.options.threshold,
        seconds=round(seconds, 3),
        **fields,
    )


def _get_while_active(in_flight: queue.Queue, context: grpc.ServicerContext) -> PendingFrame | object:
    """The next queued item; _END_OF_STREAM once the call has ended (a cancelled client), so the response
    loop never waits forever for a reader that gave up."""
    while context.is_active():
        try:
            return in_flight.get(timeout=0.5)
        except queue.Empty:
            continue
    return _END_OF_STREAM


def _put_while_active(
    in_flight: queue.Queue, item: PendingFrame | object, context: grpc.ServicerContext
) -> bool:
    """Puts `item`, waiting while the window is full; False when the call ended before there was room."""
    while context.is_active():
        try:
            in_flight.put(item, timeout=0.5)
            return True
        except queue.Full:
            continue
    return False
