"""One server's connection to its fleet's NATS server: the Key-Value bucket of product manifests and the
Object Store of version files (both named by --fleet-bucket), reconnecting forever.

The NATS client runs on the server's own event loop beside the gRPC calls: it only reads, writes and waits.
The product registry writes from worker threads (teaching is CPU work), and they reach the store through
call(), which fails at once with FleetUnavailable while the connection is down, and after a timeout when the
store stops answering: a write never waits for the store to come back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import nats
import nats.errors
import nats.js.errors
from nats.js.api import KeyValueConfig, ObjectStoreConfig
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore
from prometheus_client import Gauge

from patchcore.errors import StorageError
from server.errors import FleetUnavailable
from server.fleet.manifest import MAX_MANIFEST_BYTES, Manifest, key_product, product_key
from server.logs import log_event

T = TypeVar("T")

RECONNECT_WAIT_SECONDS = 0.5
BUCKETS_RETRY_SECONDS = 2.0  # connected, but JetStream does not answer yet (a leaf node's uplink is down)
PING_SECONDS = 5  # a store that stops answering without closing the connection is noticed within ~3 pings
CALL_TIMEOUT_SECONDS = 5.0
OBJECT_TIMEOUT_SECONDS = 60.0  # a version file of a few MB; many on a slow uplink
STORE_ERRORS = (nats.errors.Error, asyncio.TimeoutError, TimeoutError, OSError)


class CompareAndSetFailed(Exception):
    """Another server wrote the product's manifest since it was read."""


def url_without_credentials(url: str) -> str:
    """url with any user:password@ removed, fit for logs and ServerInfo."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class FleetConnection:
    """on_connected coroutines run after each connect and reconnect, once the buckets are open."""

    def __init__(self, url: str, creds: Path | None, bucket: str, connected_gauge: Gauge) -> None:
        self.url = url_without_credentials(url)
        self._full_url = url
        self._creds = creds
        self._bucket = bucket
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gauge = connected_gauge
        self._client = nats.NATS()
        self._kv: KeyValue | None = None
        self._objects: ObjectStore | None = None
        self._ready = False
        self._closing = False
        self._unreachable_logged = False
        self._on_connected: list[Callable[[], Awaitable[None]]] = []
        self._connecting: asyncio.Task | None = None
        self._opening: asyncio.Task | None = None

    @property
    def connected(self) -> bool:
        return self._ready and self._client.is_connected

    def on_connected(self, callback: Callable[[], Awaitable[None]]) -> None:
        self._on_connected.append(callback)

    def start(self) -> None:
        """Connects in the background on the running event loop; until then (and whenever the store is away)
        calls are unavailable."""
        log_event("fleet_connecting", url=self.url, bucket=self._bucket)
        self._loop = asyncio.get_running_loop()
        self._connecting = asyncio.create_task(self._connect())

    async def close(self) -> None:
        self._closing = True
        for task in (self._connecting, self._opening):
            if task is not None:
                task.cancel()
        try:
            await asyncio.wait_for(self._client.close(), CALL_TIMEOUT_SECONDS)
        except STORE_ERRORS as error:
            log_event("fleet_close_failed", level=logging.WARNING, error=str(error))

    def unavailable(self, reason: object) -> FleetUnavailable:
        return FleetUnavailable(
            f"the fleet product store {self.url} is unreachable ({reason}); nothing was changed. This server "
            "goes on inspecting with the products it holds; retry when the store is back"
        )

    def unconfirmed(self, reason: object) -> FleetUnavailable:
        """A change sent to the store whose answer did not come: it may have been stored."""
        return FleetUnavailable(
            f"the fleet product store {self.url} did not confirm the change ({reason}): it may or may not "
            "have been stored. Read the product (GetProduct) once the store is back before retrying"
        )

    def call(
        self,
        function: Callable[..., Coroutine[Any, Any, T]],
        *args: Any,
        timeout: float = CALL_TIMEOUT_SECONDS,
        commits: bool = False,
    ) -> T:
        """function(*args) awaited on the event loop, from a worker thread (never the loop's own: it would
        wait for itself); FleetUnavailable when the store is away or does not answer within timeout. A call
        that commits a change (a manifest write) and gets no answer says the change may have been stored."""
        if not self.connected:
            raise self.unavailable("not connected")
        failed = self.unconfirmed if commits else self.unavailable
        future = asyncio.run_coroutine_threadsafe(function(*args), self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise failed(f"no answer within {timeout:g} s") from None
        except STORE_ERRORS as error:
            raise failed(str(error) or type(error).__name__) from error

    async def _connect(self) -> None:
        await self._client.connect(
            servers=[self._full_url],
            name="patchcore-edge",
            user_credentials=str(self._creds) if self._creds else None,
            max_reconnect_attempts=-1,  # also retries the first connect: a server may start before its store
            reconnect_time_wait=RECONNECT_WAIT_SECONDS,
            connect_timeout=2,
            ping_interval=PING_SECONDS,
            max_outstanding_pings=2,
            disconnected_cb=self._disconnected,
            reconnected_cb=self._opened,
            error_cb=self._error,
        )
        await self._opened()

    async def _opened(self) -> None:
        """Opens the buckets in the background (the NATS client waits for its reconnect callback)."""
        if self._opening is not None:
            self._opening.cancel()
        self._opening = asyncio.create_task(self._open_buckets())

    async def _open_buckets(self) -> None:
        """Opens (or creates) the buckets, then runs the on_connected callbacks. While the connection stands
        but JetStream does not answer (a leaf node whose uplink is down, a cluster electing its leader), tried
        again every BUCKETS_RETRY_SECONDS: the next reconnect may be far away."""
        attempts = 0
        while True:
            try:
                jetstream = self._client.jetstream(timeout=CALL_TIMEOUT_SECONDS)
                self._kv = await _key_value(jetstream, self._bucket)
                self._objects = await _object_store(jetstream, self._bucket)
                break
            except STORE_ERRORS as error:
                level = logging.ERROR if attempts == 0 else logging.DEBUG
                log_event("fleet_buckets_unusable", level=level, url=self.url, error=str(error))
            if self._closing or not self._client.is_connected:
                return  # the next reconnect opens them
            attempts += 1
            await asyncio.sleep(BUCKETS_RETRY_SECONDS)
        self._ready = True
        self._unreachable_logged = False
        self._gauge.set(1)
        log_event("fleet_connected", url=self.url, bucket=self._bucket)
        for callback in self._on_connected:
            await callback()

    async def _disconnected(self) -> None:
        if self._ready and not self._closing:
            log_event("fleet_disconnected", level=logging.WARNING, url=self.url)
        self._ready = False
        self._gauge.set(0)

    async def _error(self, error: Exception) -> None:
        """Called at each failed attempt to (re)connect: the first is a warning, the next ones details."""
        level = logging.DEBUG if self._unreachable_logged or self._closing else logging.WARNING
        self._unreachable_logged = True
        log_event("fleet_unreachable", level=level, url=self.url, error=str(error) or type(error).__name__)

    async def read(self, product_id: str) -> tuple[Manifest | None, int]:
        """The product's manifest and its revision; (None, revision to create it at) when it has none."""
        try:
            entry = await self._kv.get(product_key(product_id))
        except nats.js.errors.KeyNotFoundError as error:  # never written, or removed by hand
            return None, error.entry.revision if error.entry else 0
        try:
            return Manifest.decode(entry.value), entry.revision
        except ValueError as error:
            raise StorageError(
                f"the fleet store {self.url} holds a damaged manifest of {product_id!r}: {error}"
            ) from error

    async def write(self, product_id: str, manifest: Manifest, revision: int) -> None:
        """Stores manifest if the product's manifest is still at `revision` (0: has none); CompareAndSetFailed
        otherwise."""
        try:
            await self._kv.update(product_key(product_id), manifest.encode(), last=revision)
        except nats.js.errors.KeyWrongLastSequenceError as error:
            raise CompareAndSetFailed(str(error)) from error

    async def product_ids(self) -> list[str]:
        try:
            return [key_product(key) for key in await self._kv.keys()]
        except nats.js.errors.NoKeysError:
            return []

    async def watch(self) -> KeyValue.KeyWatcher:
        """Every product's manifest entry, then None, then each change."""
        return await self._kv.watchall()

    async def put_object(self, name: str, content: bytes) -> None:
        await self._objects.put(name, content)

    async def get_object(self, name: str) -> bytes:
        return (await self._objects.get(name)).data

    async def delete_object(self, name: str) -> None:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await self._objects.delete(name)


async def _key_value(jetstream: Any, bucket: str) -> KeyValue:
    try:
        return await jetstream.key_value(bucket)
    except nats.js.errors.BucketNotFoundError:
        # One value per product: compare-and-set on its revision needs no history.
        config = KeyValueConfig(bucket=bucket, history=1, max_value_size=MAX_MANIFEST_BYTES)
        return await jetstream.create_key_value(config)


async def _object_store(jetstream: Any, bucket: str) -> ObjectStore:
    try:
        return await jetstream.object_store(bucket)
    except nats.js.errors.BucketNotFoundError:
        # Objects are sent in chunks of nats-py's default size (128 KiB); the store keeps each product's
        # current and previous version files, so it needs no limit of its own beyond the server's.
        return await jetstream.create_object_store(bucket, ObjectStoreConfig(bucket=bucket))
