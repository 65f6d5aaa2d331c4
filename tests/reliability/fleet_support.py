"""Helpers of the fleet tests: servers of one fleet, a stream that keeps inspecting, the store's contents."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import nats
from patchcore_client.local_nats import LocalNats, nats_server_binary
from patchcore_client.local_server import HOST, LocalServer
from patchcore_edge.v1 import inspection_pb2 as pb
from patchcore_edge.v1 import inspection_pb2_grpc
from reliability_support import inspect_request

RELOADED_LINE = "Reloaded server configuration"
BUCKET = "patchcore"  # the default --fleet-bucket
FRAME_PACING_SECONDS = 0.01  # keeps a stream at ~100 frames/s: CPU for the servers' own work


@dataclass
class Member:
    """A server of the fleet and a stub on a channel to it."""

    server: LocalServer
    stub: inspection_pb2_grpc.InspectionServiceStub

    def version(self, product_id: str) -> int:
        return self.stub.GetProduct(pb.GetProductRequest(product_id=product_id)).version

    def fleet_info(self) -> pb.FleetInfo:
        return self.stub.GetServerInfo(pb.GetServerInfoRequest()).fleet


def rpc_error(call: Callable, request: object) -> grpc.RpcError:
    """The error `call(request)` fails with (the test fails when it succeeds)."""
    try:
        call(request)
    except grpc.RpcError as error:
        return error
    raise AssertionError(f"{request.__class__.__name__} succeeded")


class InspectingStream:
    """An InspectStream of one product on a thread, one frame in flight, recording each answer's
    product_version (or error) until the context exits."""

    def __init__(self, stub: inspection_pb2_grpc.InspectionServiceStub, product_id: str) -> None:
        self._stub = stub
        self._product_id = product_id
        self.versions: list[int] = []
        self.errors: list[str] = []
        self._answered = threading.Condition()
        self._turn = threading.Semaphore(1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> InspectingStream:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._turn.release()
        self._thread.join(60)

    def _requests(self) -> Iterator[pb.InspectRequest]:
        frame_id = 0
        while self._turn.acquire() and not self._stop.wait(FRAME_PACING_SECONDS):
            yield inspect_request(self._product_id, frame_id)
            frame_id += 1

    def _run(self) -> None:
        for response in self._stub.InspectStream(self._requests()):
            with self._answered:
                if response.HasField("error"):
                    self.errors.append(response.error.message)
                else:
                    self.versions.append(response.product_version)
                self._answered.notify_all()
            self._turn.release()

    def wait_for(self, condition: Callable[[InspectingStream], bool], timeout: float = 60.0) -> None:
        with self._answered:
            met = self._answered.wait_for(lambda: condition(self), timeout)
            assert met, f"last versions {self.versions[-5:]}, errors {self.errors}"

    def wait_for_frames(self, count: int) -> None:
        self.wait_for(lambda stream: len(stream.versions) + len(stream.errors) >= count)

    def wait_for_version(self, version: int) -> None:
        self.wait_for(lambda stream: bool(stream.versions) and stream.versions[-1] == version)


class NatsWithoutJetStream(LocalNats):
    """nats-server whose configuration has JetStream off until enable_jetstream() turns it on by a
    configuration reload: connections stay up, and JetStream starts answering on them (as it does for a line
    whose leaf node's uplink comes back, or a cluster that has elected its leader)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        super().__init__(folder / "jetstream", folder / "nats.log")
        self._config = folder / "nats.conf"
        self._config.write_text(f"listen: {HOST}:{self.port}\n")

    def command(self) -> list[str]:
        return [str(nats_server_binary()), "-c", str(self._config)]

    def enable_jetstream(self, timeout: float = 30.0) -> None:
        reloads_before = self.log().count(RELOADED_LINE)
        jetstream = f"jetstream {{ store_dir: {json.dumps(str(self.store_dir))} }}\n"
        self._config.write_text(self._config.read_text() + jetstream)
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while self.log().count(RELOADED_LINE) == reloads_before:
            assert time.monotonic() < deadline, f"nats-server did not reload:\n{self.log()}"
            time.sleep(0.05)


async def _with_store(url: str, work: Callable) -> object:
    client = await nats.connect(url)
    try:
        jetstream = client.jetstream()
        return await work(await jetstream.key_value(BUCKET), await jetstream.object_store(BUCKET))
    finally:
        with contextlib.suppress(Exception):
            await client.close()


def read_manifest(url: str, product_id: str) -> dict:
    """The product's manifest in the fleet's Key-Value bucket, as stored."""

    async def read(kv, _objects) -> dict:
        return json.loads((await kv.get(product_id)).value)

    return asyncio.run(_with_store(url, read))


def publish_tampered_version(url: str, product_id: str) -> int:
    """Writes the next version of product_id as a copy of its current version file with one byte flipped,
    named by a manifest that keeps the sha256 of the original (a file damaged in the store or in transit);
    returns its version."""

    async def tamper(kv, objects) -> int:
        entry = await kv.get(product_id)
        manifest = json.loads(entry.value)
        content = bytearray((await objects.get(manifest["object_name"])).data)
        content[len(content) // 2] ^= 0xFF
        name = f"{manifest['object_name']}-tampered"
        await objects.put(name, bytes(content))
        manifest.update(version=manifest["version"] + 1, object_name=name)
        await kv.update(product_id, json.dumps(manifest).encode(), last=entry.revision)
        return manifest["version"]

    return asyncio.run(_with_store(url, tamper))
