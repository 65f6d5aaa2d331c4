"""The operator's page as an aiohttp application on --web-port, started and stopped with the server.

`OperatorPage.start`/`stop` are coroutines for whichever event loop hosts the page; `PageThread` gives it a
loop of its own in a thread, beside the gRPC server's, so the page's pictures never hold up a gRPC call.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time

from aiohttp import web

from server.config import ServerConfig, host_port
from server.logs import log_event
from server.tls import ssl_context
from server.web.access import PageAccess
from server.web.calls import refusals
from server.web.handlers import PageHandlers
from server.web.recorder import FrameRecorder

SHUTDOWN_SECONDS = 5.0  # how long open pages' streams get to end when the server stops


class OperatorPage:
    def __init__(
        self, config: ServerConfig, service: object, recorder: FrameRecorder, access: PageAccess
    ) -> None:
        self._host = config.host
        self._port = config.web_port
        self._allowed_names = config.page_allowed_hosts
        self._ssl: ssl.SSLContext | None = ssl_context(config.tls_cert, config.tls_key, config.tls_client_ca)
        self._max_upload_bytes = config.max_message_bytes
        self._service = service
        self._recorder = recorder
        self._access = access
        self._started = time.monotonic()
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None

    @property
    def address(self) -> str:
        return f"{'https' if self._ssl else 'http'}://{host_port(self._host, self._port)}/"

    async def start(self) -> None:
        """Listens on the web port; OSError when it cannot."""
        self._closing = asyncio.Event()
        handlers = PageHandlers(self._service, self._recorder, self._access, self._started, self._closing)
        middlewares = [refusals, self._access.known_hosts_only(self._host, self._allowed_names)]
        app = web.Application(middlewares=middlewares, client_max_size=self._max_upload_bytes)
        app.add_routes(handlers.routes())
        app.on_response_prepare.append(_not_framed)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port, ssl_context=self._ssl).start()
        log_event("web_page_started", address=self.address)

    async def stop(self) -> None:
        """Ends the open pages' streams and stops listening."""
        self._closing.set()
        await self._runner.cleanup()


async def _not_framed(request: web.Request, response: web.StreamResponse) -> None:
    """No other site may show the page inside a frame of its own: hidden under a decoy, the operator's click
    would apply a threshold or add a flagged part as good (clickjacking)."""
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"


class PageThread:
    """Runs an OperatorPage on its own event loop in a daemon thread."""

    def __init__(self, page: OperatorPage) -> None:
        self.page = page
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="web-page", daemon=True)

    def start(self) -> None:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.page.start(), self._loop).result()
        except BaseException:
            self._end_loop()
            raise

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.page.stop(), self._loop).result()
        self._end_loop()

    def _end_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
