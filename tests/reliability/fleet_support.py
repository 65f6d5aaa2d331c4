"""Helpers of the fleet tests: servers of one fleet, a stream that keeps inspecting, the store's contents."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import nats
from patchcore_client.local_server import LocalServer
from patchcore_edge.v1 import inspection_pb2 as pb
from patchcore_edge.v1 import inspection_pb2_grpc
from reliability_support import inspect_request

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
