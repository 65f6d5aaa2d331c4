"""Keeps this server's copy of the products equal to the fleet's: a product whose manifest names a newer
version than the one served is fetched, checked (sha256 of the version file, product, version and model
fingerprint against its manifest), written to the local folder atomically and swapped in - frames in flight
finish with the version they started with. A tombstone deletes the local copy.

Which products to look at comes from a watch of the manifests and, because watchers miss changes in
practice (a store restarted, a connection that broke), from a full pass over every product after each
(re)connect and every RECONCILE_SECONDS, each with a new watch. One worker looks at one product at a
time, always reading its latest manifest, so a product changed twice while queued is fetched once.

A version that fails a check is refused (logged) and the served one stays; it is looked at again at the next
pass and counts as pending meanwhile.

The fleet's state wins over a local copy that is not the fleet's (no mark of the fleet version it is, see
server/fleet/store.py: a server that was on its own joins a fleet holding products of the same names): the
fleet's version replaces it or its tombstone deletes it, whatever the version numbers, with a warning. A copy
equal to the fleet's version (same number, teach images and teach options: a server upgraded from before the
marks) is only marked.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import time
from collections.abc import Callable

import nats.js.errors
from nats.js.kv import KeyValue

from patchcore.bank import MemoryBank
from patchcore.errors import InspectionError, ProductNotFound, ProductUnusable
from patchcore.product_version import ProductVersion
from patchcore.version_file import decode_version_file
from server.fleet.connection import STORE_ERRORS, FleetConnection
from server.fleet.manifest import Manifest, key_product
from server.fleet.store import FleetStore
from server.logs import log_event
from server.metrics import ServerMetrics
from server.products import ProductRegistry

RECONCILE_SECONDS = 30.0


class VersionRefused(Exception):
    """A version file that does not match its manifest; the message says how."""


class FleetSync:
    """on_change() is called after each product received or deleted."""

    def __init__(
        self,
        connection: FleetConnection,
        store: FleetStore,
        registry: ProductRegistry,
        metrics: ServerMetrics,
        on_change: Callable[[], None],
    ) -> None:
        self._connection = connection
        self._store = store
        self._registry = registry
        self._metrics = metrics
        self._on_change = on_change
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._behind: dict[str, int] = {}  # product -> fleet version not served yet (queued, refused)
        self._refused: dict[str, int] = {}  # product -> version refused last (logged once)
        self._watcher: KeyValue.KeyWatcher | None = None
        self._watching: asyncio.Task | None = None
        self._tasks: list[asyncio.Task] = []
        self.last_sync_unix = 0.0
        connection.on_connected(self._resync)

    @property
    def pending_products(self) -> int:
        return len(self._behind)

    def start(self) -> None:
        """Starts the worker and the periodic pass on the running event loop."""
        self._tasks = [asyncio.create_task(self._work()), asyncio.create_task(self._reconcile_every())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._stop_watching()

    async def _resync(self) -> None:
        """A new watch (the old one may have died with a connection, or silently: a leaf node's uplink that
        broke and came back), then a full pass."""
        await self._stop_watching()
        try:
            watcher = await self._connection.watch()
        except STORE_ERRORS as error:
            log_event("fleet_watch_failed", level=logging.WARNING, error=str(error))
        else:
            self._watcher = watcher
            self._watching = asyncio.create_task(self._watch(watcher))
        await self._reconcile()

    async def _stop_watching(self) -> None:
        watcher, self._watcher = self._watcher, None
        if self._watching is not None:
            self._watching.cancel()
        if watcher is not None:
            with contextlib.suppress(*STORE_ERRORS):  # the watch of a broken connection cannot unsubscribe
                await watcher.stop()

    async def _watch(self, watcher: KeyValue.KeyWatcher) -> None:
        async for entry in watcher:
            if entry is not None:  # None marks the end of the values current when the watch started
                self._enqueue(key_product(entry.key))

    async def _reconcile_every(self) -> None:
        while True:
            await asyncio.sleep(RECONCILE_SECONDS)
            if self._connection.connected:
                await self._resync()

    async def _reconcile(self) -> None:
        """Queues every product the fleet or this server knows."""
        try:
            fleet_products = await self._connection.product_ids()
        except STORE_ERRORS as error:
            log_event("fleet_reconcile_failed", level=logging.WARNING, error=str(error))
            return
        held = [entry.product_id for entry in self._registry.entries()]
        for product_id in sorted(set(fleet_products) | set(held)):
            self._enqueue(product_id)
        self._note_if_in_sync()

    def _enqueue(self, product_id: str) -> None:
        if product_id not in self._queued:
            self._queued.add(product_id)
            self._queue.put_nowait(product_id)

    async def _work(self) -> None:
        while True:
            product_id = await self._queue.get()
            self._queued.discard(product_id)
            try:
                await self._sync(product_id)
            except (*STORE_ERRORS, InspectionError) as error:  # the next pass retries
                log_event("fleet_sync_failed", level=logging.WARNING, product=product_id, error=str(error))
            except Exception:  # a bug must not end the worker: logged, and the next pass retries
                log_event("fleet_sync_failed", level=logging.ERROR, exc_info=True, product=product_id)
            self._note_if_in_sync()

    def _note_if_in_sync(self) -> None:
        """Every product queued has been compared with the store: the time is last_sync_unix."""
        if self._queue.empty() and self._connection.connected:
            self.last_sync_unix = time.time()

    async def _sync(self, product_id: str) -> None:
        manifest, _ = await self._connection.read(product_id)
        held = self._registry.held_version(product_id)
        if manifest is None:
            if held and await asyncio.to_thread(self._store.publish_held, product_id):
                log_event("fleet_product_published", product=product_id, version=held)
        elif manifest.deleted:
            self._behind.pop(product_id, None)
            if held:
                await self._delete(product_id, manifest, held)
        elif manifest.version <= self._store.published_version(product_id) or (
            held and await asyncio.to_thread(self._store.holds_fleet_copy, product_id, manifest)
        ):
            self._behind.pop(product_id, None)
        else:
            self._behind[product_id] = manifest.version
            await self._receive(product_id, manifest, held)

    def _foreign(self, product_id: str, manifest: Manifest) -> bool:
        return not self._store.holds_fleet_copy(product_id, manifest)

    async def _delete(self, product_id: str, manifest: Manifest, held: int) -> None:
        foreign = functools.partial(self._foreign, product_id, manifest)
        deleted = await asyncio.to_thread(
            self._registry.receive_delete, product_id, manifest.version, self._store.local.delete, foreign
        )
        if deleted:
            local_only = held > manifest.version  # a copy that was never the fleet's: its tombstone wins
            log_event(
                "fleet_product_deleted",
                level=logging.WARNING if local_only else logging.INFO,
                product=product_id,
                version=manifest.version,
                local_version=held if local_only else None,
            )
            self._on_change()

    async def _receive(self, product_id: str, manifest: Manifest, held: int) -> None:
        started = time.perf_counter()
        try:
            version = await self._fetch(product_id, manifest)
        except VersionRefused as error:
            if self._refused.get(product_id) != manifest.version:
                self._refused[product_id] = manifest.version
                log_event(
                    "fleet_version_refused",
                    level=logging.WARNING,
                    product=product_id,
                    version=manifest.version,
                    serving=held or None,
                    reason=str(error),
                )
            return
        if held >= manifest.version and _same_teach(self._held_bank(product_id), version.bank):
            await asyncio.to_thread(self._store.mark, product_id, manifest.version, manifest.sha256)
            self._behind.pop(product_id, None)
            return  # the fleet's version already, only not marked as such
        save = functools.partial(self._store.save_received, sha256=manifest.sha256)
        foreign = functools.partial(self._foreign, product_id, manifest)
        entry = await asyncio.to_thread(self._registry.receive, version, save, foreign)
        self._behind.pop(product_id, None)
        self._refused.pop(product_id, None)
        if entry is None:
            return  # this server holds it already (it stored it itself)
        if held >= manifest.version:
            log_event(
                "fleet_local_copy_replaced",
                level=logging.WARNING,
                product=product_id,
                local_version=held,
                version=manifest.version,
            )
        lag = max(0.0, time.time() - manifest.stored_unix)
        self._metrics.fleet_sync_lag_seconds.set(lag)
        log_event(
            "fleet_version_received",
            product=product_id,
            version=manifest.version,
            from_version=held or None,
            usable=entry.usable,
            problem=entry.problem or None,
            lag_seconds=round(lag, 3),
            seconds=round(time.perf_counter() - started, 3),
        )
        self._on_change()

    def _held_bank(self, product_id: str) -> MemoryBank | None:
        try:
            return self._registry.get(product_id).bank
        except ProductNotFound:
            return None

    async def _fetch(self, product_id: str, manifest: Manifest) -> ProductVersion:
        """The version manifest names, checked against it; VersionRefused saying what does not match."""
        try:
            content = await self._connection.get_object(manifest.object_name)
        except nats.js.errors.DigestMismatchError as error:
            raise VersionRefused(
                f"version file {manifest.object_name} does not match the digest the store recorded"
            ) from error
        sha256 = await asyncio.to_thread(lambda: hashlib.sha256(content).hexdigest())
        if sha256 != manifest.sha256:
            raise VersionRefused(
                f"version file {manifest.object_name} has sha256 {sha256[:12]}, its manifest says "
                f"{manifest.sha256[:12]}"
            )
        try:
            version = await asyncio.to_thread(decode_version_file, content, manifest.object_name)
        except ProductUnusable as error:
            raise VersionRefused(str(error)) from error
        bank = version.bank
        found = (bank.product_id, bank.version, bank.model_fingerprint)
        if found != (product_id, manifest.version, manifest.model_fingerprint):
            raise VersionRefused(
                f"version file {manifest.object_name} holds product {bank.product_id!r} version "
                f"{bank.version} of model {bank.model_fingerprint[:12]}, its manifest names product "
                f"{product_id!r} version {manifest.version} of model {manifest.model_fingerprint[:12]}"
            )
        return version


def _same_teach(local: MemoryBank | None, fleet: MemoryBank) -> bool:
    """Whether a local bank is the fleet's version as this server keeps it: same version, taught from the
    same images with the same options (a rebuild for this server's model keeps all three)."""
    if local is None or local.version != fleet.version:
        return False
    if local.teach_images_sha256 or fleet.teach_images_sha256:
        return (local.teach_images_sha256, local.teach_options) == (
            fleet.teach_images_sha256,
            fleet.teach_options,
        )
    return local.created_unix == fleet.created_unix
