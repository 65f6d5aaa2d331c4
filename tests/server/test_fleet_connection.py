"""What a change through the fleet's store says when the store does not answer: before anything was sent,
nothing changed; after a manifest write was sent, the change may have landed."""

import asyncio
import threading
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Gauge

from server.errors import FleetUnavailable
from server.fleet.connection import FleetConnection


class _Connected(FleetConnection):
    connected = True  # as if the buckets were open


@pytest.fixture
def connection() -> Iterator[FleetConnection]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    gauge = Gauge("fleet_connected", "Connected.", registry=CollectorRegistry())
    connection = _Connected("nats://store.site:4222", None, "patchcore", gauge)
    connection._loop = loop
    yield connection
    loop.call_soon_threadsafe(loop.stop)
    thread.join()


async def _never_answers() -> None:
    await asyncio.Event().wait()


def test_a_read_without_an_answer_changed_nothing(connection):
    with pytest.raises(FleetUnavailable, match=r"no answer within 0\.05 s.*nothing was changed"):
        connection.call(_never_answers, timeout=0.05)


def test_a_change_sent_without_an_answer_may_have_landed(connection):
    with pytest.raises(FleetUnavailable) as raised:
        connection.call(_never_answers, timeout=0.05, commits=True)
    message = str(raised.value)
    assert "may or may not have been stored" in message and "nothing was changed" not in message
    assert "GetProduct" in message
