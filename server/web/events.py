"""Server-sent events: one JSON object per event, pushed while the page is open.

The page reads the stream with fetch() (not EventSource, which cannot send the Authorization header).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from server.web.calls import Refused

NextEvent = Callable[[], Awaitable[dict | None]]  # the next event, None when nothing changed
KEEP_ALIVE_SECONDS = 15.0  # a comment line after this long without an event, so idle connections stay open


async def event_stream(
    request: web.Request, next_event: NextEvent, interval: float, closing: asyncio.Event
) -> web.StreamResponse:
    """Sends next_event() every `interval` seconds (when it is not None) until the page goes away (its
    connection closes) or the server stops (`closing`). A refusal meanwhile (the product was deleted) is
    sent as {"error": message} and ends the stream."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    last_sent = loop.time()
    try:
        while not closing.is_set() and _connected(request):
            try:
                event = await next_event()
            except Refused as refusal:
                await _send(response, {"error": refusal.message, "code": refusal.code.name})
                break
            if event is not None:
                await _send(response, event)
                last_sent = loop.time()
            elif loop.time() - last_sent > KEEP_ALIVE_SECONDS:
                await response.write(b": keep-alive\n\n")
                last_sent = loop.time()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(closing.wait(), interval)
    except ConnectionResetError:
        pass  # the page was closed
    return response


def _connected(request: web.Request) -> bool:
    return request.transport is not None and not request.transport.is_closing()


async def _send(response: web.StreamResponse, event: dict) -> None:
    await response.write(f"data: {json.dumps(event)}\n\n".encode())
