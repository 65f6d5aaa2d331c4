"""The page's HTTP routes. Every /api route first checks the token for the InspectionService method it
amounts to (server/web/access.py); changes run that method itself (server/web/calls.py)."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import grpc
from aiohttp import web
from patchcore_edge.v1 import inspection_pb2 as pb

from server.web.access import PageAccess
from server.web.calls import Refused, call
from server.web.events import event_stream
from server.web.feeds import OverviewFeed, ProductFeed, product_json, rendered_overlay
from server.web.pictures import PICTURE_SIDE
from server.web.recorder import FrameRecord, FrameRecorder

STATIC = Path(__file__).parent / "static"
PRODUCT_INTERVAL = 0.5  # seconds between a product page's updates
OVERVIEW_INTERVAL = 1.0


class PageHandlers:
    def __init__(
        self,
        service: object,
        recorder: FrameRecorder,
        access: PageAccess,
        started: float,
        closing: asyncio.Event,
    ) -> None:
        self._service = service
        self._recorder = recorder
        self._access = access
        self._started = started
        self._closing = closing

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self.index),
            web.get("/products/{product_id}", self.product_page),
            web.static("/static", STATIC),
            web.get("/api/session", self.session),
            web.get("/api/events", self.overview_events),
            web.get("/api/products/{product_id}/events", self.product_events),
            web.get("/api/products/{product_id}/frames/{frame_id}/large.jpg", self.large_frame),
            web.post("/api/products/{product_id}/threshold", self.set_threshold),
            web.post("/api/products/{product_id}/teach", self.teach),
            web.post("/api/products/{product_id}/frames/{frame_id}/good", self.good_part),
        ]

    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def product_page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "product.html")

    async def session(self, request: web.Request) -> web.Response:
        """The token's role, so the page knows whether to offer changes."""
        self._access.require(request, "GetServerInfo")
        return web.json_response({"role": self._access.role_of(request).name.lower()})

    async def overview_events(self, request: web.Request) -> web.StreamResponse:
        self._access.require(request, "ListProducts")
        feed = OverviewFeed(self._service, self._recorder, self._started)
        return await event_stream(request, feed.next_event, OVERVIEW_INTERVAL, self._closing)

    async def product_events(self, request: web.Request) -> web.StreamResponse:
        self._access.require(request, "GetProduct")
        product_id = request.match_info["product_id"]
        try:
            await call(self._service.GetProduct, pb.GetProductRequest(product_id=product_id))
        except Refused as refusal:  # NOT_FOUND: deleted, or never taught
            if refusal.code == grpc.StatusCode.NOT_FOUND:
                self._recorder.forget(product_id)
            raise
        self._recorder.watch(product_id)
        try:
            feed = ProductFeed(self._service, self._recorder, product_id)
            return await event_stream(request, feed.next_event, PRODUCT_INTERVAL, self._closing)
        finally:
            self._recorder.unwatch(product_id)

    async def large_frame(self, request: web.Request) -> web.Response:
        self._access.require(request, "GetProduct")
        frame = self._frame(request)
        jpeg = await asyncio.get_running_loop().run_in_executor(None, rendered_overlay, frame, PICTURE_SIDE)
        return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def set_threshold(self, request: web.Request) -> web.Response:
        """{"threshold": number, "expected_version": n (0 = any)} -> UpdateProduct of the threshold alone: a
        new version."""
        self._access.require(request, "UpdateProduct")
        body = await _json_body(request)
        update = pb.UpdateProductRequest(
            product_id=request.match_info["product_id"],
            options=pb.ProductOptions(threshold=_number(body, "threshold", float)),
            update_fields=["threshold"],
            expected_version=_number(body, "expected_version", int, default=0),
        )
        return web.json_response(product_json(await call(self._service.UpdateProduct, update)))

    async def teach(self, request: web.Request) -> web.Response:
        """Multipart files named "images" -> Teach: the product (new or not) built from these good images; a
        product taught again keeps how it was taught (ROI, tiles, alignment, line views: the page has no
        fields for them)."""
        self._access.require(request, "Teach")
        form = await _form(request)
        images = [pb.Image(encoded=part.file.read()) for part in form.getall("images", []) if _is_file(part)]
        product_id = request.match_info["product_id"]
        teach = pb.TeachRequest(
            product_id=product_id, images=images, options=await self._taught_with(product_id)
        )
        return web.json_response(product_json(await call(self._service.Teach, teach)))

    async def _taught_with(self, product_id: str) -> pb.TeachOptions | None:
        """The teach options of the product stored under product_id; None (the defaults) for a new one."""
        try:
            product = await call(self._service.GetProduct, pb.GetProductRequest(product_id=product_id))
        except Refused:
            return None
        return product.teach_options

    async def good_part(self, request: web.Request) -> web.Response:
        """A flagged frame is a good part: AddImages of its image. {"expected_version": n} (0 = any)."""
        self._access.require(request, "AddImages")
        frame = self._frame(request)
        if frame.image is None:
            raise Refused(
                grpc.StatusCode.NOT_FOUND,
                f"frame {frame.seq}'s image is no longer kept (flagged frames' images are kept while a page "
                "is open, within a memory budget)",
            )
        expected_version = _number(await _json_body(request), "expected_version", int, default=0)
        add = pb.AddImagesRequest(
            product_id=request.match_info["product_id"],
            images=[frame.image],
            expected_version=expected_version,
        )
        return web.json_response(product_json(await call(self._service.AddImages, add)))

    def _frame(self, request: web.Request) -> FrameRecord:
        """The frame a URL names as "<run>-<number>" (server/web/feeds.py frame_id)."""
        product_id, name = request.match_info["product_id"], request.match_info["frame_id"]
        run, _, seq = name.partition("-")
        number = frame_number(seq)
        if run != self._recorder.run:
            raise Refused(
                grpc.StatusCode.NOT_FOUND,
                f"frame {name} of {product_id!r} was shown before the server restarted; it is no longer kept",
            )
        frame = self._recorder.frame(product_id, number) if number is not None else None
        if frame is None:
            raise Refused(grpc.StatusCode.NOT_FOUND, f"frame {seq} of {product_id!r} is no longer kept")
        return frame


def frame_number(text: str) -> int | None:
    """A frame number as a URL gives it: ASCII digits only (int() takes other scripts' digits too), at most
    18 of them."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


async def _form(request: web.Request) -> object:
    """The request's multipart form; Refused (RESOURCE_EXHAUSTED) over --max-message-bytes, as Teach is."""
    try:
        return await request.post()
    except web.HTTPRequestEntityTooLarge:
        size = f"{request.content_length:,} bytes" if request.content_length else "more"
        raise Refused(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"the images have {size} together; this server takes at most {request.client_max_size:,} "
            "at once (--max-message-bytes): drop fewer or smaller images",
        ) from None


async def _json_body(request: web.Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "the request body must be a JSON object")
    return body


def _number(body: dict, key: str, kind: type, default: float | None = None) -> float:
    """body[key] as a finite number >= 0 of `kind` (int: whole); Refused (INVALID_ARGUMENT) otherwise."""
    value = body.get(key, default)
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (kind is int and not whole)
    ):
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f"{key} must be a number, 0 or more")
    return kind(value)


def _is_file(part: object) -> bool:
    return isinstance(part, web.FileField)
