"""The fleet parts of one server, put together: built before the product registry (which writes through the
fleet's store), following it once it exists, started on the server's event loop and stopped with it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from patchcore.store import ProductStore
from server.fleet.connection import FleetConnection
from server.fleet.store import FleetStore
from server.fleet.sync import FleetSync
from server.metrics import ServerMetrics
from server.products import ProductRegistry


@dataclass(frozen=True)
class FleetStatus:
    """What GetServerInfo reports of the fleet."""

    enabled: bool = False
    connected: bool = False
    url: str = ""  # without credentials
    last_sync_unix: int = 0
    pending_products: int = 0


class Fleet:
    def __init__(
        self, url: str, creds: Path | None, bucket: str, local: ProductStore, metrics: ServerMetrics
    ) -> None:
        self._metrics = metrics
        self.connection = FleetConnection(url, creds, bucket, metrics.fleet_connected)
        self.store = FleetStore(local, self.connection)
        self._sync: FleetSync | None = None

    def follow(self, registry: ProductRegistry, on_change: Callable[[], None]) -> None:
        """Versions other servers store are swapped into registry; on_change() after each."""
        self._sync = FleetSync(self.connection, self.store, registry, self._metrics, on_change)

    def start(self) -> None:
        """Starts syncing and connecting on the running event loop, without waiting for the store: the server
        serves its folder."""
        if self._sync is not None:
            self._sync.start()
        self.connection.start()

    def status(self) -> FleetStatus:
        sync = self._sync
        return FleetStatus(
            enabled=True,
            connected=self.connection.connected,
            url=self.connection.url,
            last_sync_unix=int(sync.last_sync_unix) if sync else 0,
            pending_products=sync.pending_products if sync else 0,
        )

    async def stop(self) -> None:
        if self._sync is not None:
            await self._sync.stop()
        await self.connection.close()
