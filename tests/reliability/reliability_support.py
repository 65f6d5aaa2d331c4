"""Helpers shared by the reliability tests: small images, requests, health, and a live server's state."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc
from patchcore_client.local_server import LocalServer
from patchcore_edge.v1 import inspection_pb2 as pb
from patchcore_edge.v1 import inspection_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
CRASH_VARIABLE = "PATCHCORE_TEST_CRASH_AT"  # read by crash_injection.py: the moment the server kills itself


def raw_image(rng: np.random.Generator, size: int = 32) -> pb.Image:
    """A random size x size RGB8 raw image: cheap to make, to send and to decode."""
    pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    return pb.Image(
        raw=pb.RawImage(width=size, height=size, format=pb.PIXEL_FORMAT_RGB8, pixels=pixels.tobytes())
    )


def teach_request(product_id: str, seed: int, count: int = 4, size: int = 32) -> pb.TeachRequest:
    """`count` random images; a small coreset keeps teaching fast."""
    rng = np.random.default_rng(seed)
    return pb.TeachRequest(
        product_id=product_id,
        images=[raw_image(rng, size) for _ in range(count)],
        options=pb.TeachOptions(coreset_ratio=0.05),
    )


def inspect_request(product_id: str, frame_id: int = 0, seed: int = 0) -> pb.InspectRequest:
    return pb.InspectRequest(
        product_id=product_id, frame_id=frame_id, image=raw_image(np.random.default_rng(seed))
    )


def stub_for(channel: grpc.Channel) -> inspection_pb2_grpc.InspectionServiceStub:
    return inspection_pb2_grpc.InspectionServiceStub(channel)


def health_status(channel: grpc.Channel) -> int:
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status


def wait_for_health(channel: grpc.Channel, wanted: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while health_status(channel) != wanted:
        assert time.monotonic() < deadline, f"health never became {wanted}"
        time.sleep(0.05)


def status_code(call, *args, **kwargs) -> grpc.StatusCode:
    """The status `call` ends with (OK when it returns)."""
    try:
        call(*args, **kwargs)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def run_command(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


def fill(disk: Path) -> Path:
    """Writes a file until the disk is full; returns it."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


def server_rss_bytes(server: LocalServer) -> int:
    """Resident memory of the server process."""
    return psutil.Process(server.process.pid).memory_info().rss


def start_server(model: Path, store: Path, log_dir: Path, *args: str, **kwargs) -> LocalServer:
    """A started LocalServer; its log goes to log_dir/server.log."""
    log_dir.mkdir(parents=True, exist_ok=True)
    server = LocalServer(model, store, list(args), log_path=log_dir / "server.log", **kwargs)
    return server.start()


def wait_until_usable(stub, product_ids: set[str], timeout: float = 120.0) -> dict[str, pb.Product]:
    """The products once every one of product_ids is usable (e.g. rebuilt for the loaded model)."""
    deadline = time.monotonic() + timeout
    while True:
        products = {p.product_id: p for p in stub.ListProducts(pb.ListProductsRequest()).products}
        waiting = {pid: products[pid].status_message for pid in product_ids if not products[pid].usable}
        if not waiting:
            return products
        assert time.monotonic() < deadline, f"not usable within {timeout:.0f} s: {waiting}"
        time.sleep(0.05)


def log_events(server: LocalServer, event: str, **fields: object) -> list[dict]:
    """The JSON log lines of `server` with this event name and these field values, in order."""
    entries = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    return [
        entry
        for entry in entries
        if entry["event"] == event and all(entry.get(key) == value for key, value in fields.items())
    ]


def wait_for_log_event(
    server: LocalServer, event: str, timeout: float = 120.0, nth: int = 1, **fields: object
) -> dict:
    """The nth JSON log line of `server` with this event name and these field values."""
    deadline = time.monotonic() + timeout
    while len(found := log_events(server, event, **fields)) < nth:
        assert time.monotonic() < deadline, f"no {event} {fields} (#{nth}) logged within {timeout:.0f} s"
        time.sleep(0.05)
    return found[nth - 1]


def metric_value(server: LocalServer, name: str) -> float:
    """The value of the unlabelled metric `name` on the server's /metrics page."""
    with urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10) as page:
        lines = page.read().decode().splitlines()
    [value] = [line.split()[1] for line in lines if line.split(" ")[0] == name]
    return float(value)
