"""Fleet sync latency (issue 13): how soon a product taught on one server is served by another.

A nats-server with JetStream on a temp dir and two servers sharing it as their product store. A product is
taught on one server after the other (8 generated 640x480 parts each time); each Teach is timed from its
answer on the writer to the other server serving the new version (GetProduct asked every 2 ms). First with
the servers idle, then with an InspectStream running on each of them all along. Prints a Markdown table with
the issue's targets checked and writes it to bench-results/fleet_sync.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np
from patchcore_client.client import InspectionClient
from patchcore_client.demo import THRESHOLD_SCALE
from patchcore_client.fleet_demo import PRODUCT, TEACH_IMAGES, StreamUntilStopped, served_after
from patchcore_client.local_nats import LocalNats
from patchcore_client.local_server import LocalServer
from patchcore_client.synthetic import good_part

TARGET_P50_SECONDS = 1.0
TARGET_MAX_SECONDS = 5.0
STREAM_FRAMES = 16


def timed_teaches(clients: list[InspectionClient], count: int, rng: np.random.Generator) -> list[float]:
    """Seconds from each Teach's answer on one server to the other serving it, writers alternating."""
    latencies = []
    for number in range(count):
        writer, reader = clients[number % 2], clients[1 - number % 2]
        images = [good_part(rng) for _ in range(TEACH_IMAGES)]
        taught = writer.teach(PRODUCT, images, threshold_scale=THRESHOLD_SCALE)
        latencies.append(served_after(reader, taught.version))
    return latencies


def while_streaming(clients: list[InspectionClient], count: int, rng: np.random.Generator) -> list[float]:
    frames = [good_part(rng) for _ in range(STREAM_FRAMES)]
    streams = [StreamUntilStopped(client, frames) for client in clients]
    for stream in streams:
        stream.start()
    try:
        return timed_teaches(clients, count, rng)
    finally:
        for stream in streams:
            stream.stop()


def report_row(name: str, latencies: list[float]) -> str:
    milliseconds = sorted(1000 * latency for latency in latencies)
    p50, p90 = statistics.median(milliseconds), statistics.quantiles(milliseconds, n=10)[-1]
    met = p50 <= 1000 * TARGET_P50_SECONDS and milliseconds[-1] <= 1000 * TARGET_MAX_SECONDS
    return (
        f"| {name} | {len(milliseconds)} | {p50:.0f} | {p90:.0f} | {milliseconds[-1]:.0f} | "
        f"{'yes' if met else 'NO'} |"
    )


def measure(model: Path, teaches: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="patchcore-fleet-bench-") as temp, ExitStack() as stack:
        root = Path(temp)
        nats = stack.enter_context(LocalNats(root / "jetstream", root / "nats.log"))
        clients = []
        for name in ("a", "b"):
            flags = ["--fleet-store", nats.url]
            log = root / f"{name}.log"
            server = stack.enter_context(LocalServer(model, root / name, flags, log_path=log))
            clients.append(stack.enter_context(InspectionClient(server.target, timeout=120)))
        timed_teaches(clients, 1, rng)  # warm-up: the product's first version
        rows = [
            report_row("servers idle", timed_teaches(clients, teaches, rng)),
            report_row("a stream on each server", while_streaming(clients, teaches, rng)),
        ]
    return "\n".join(
        [
            f"Fleet sync latency: Teach answered on one server -> served by the other ({model.name}, "
            f"writers alternating; target p50 <= {TARGET_P50_SECONDS:g} s, max <= {TARGET_MAX_SECONDS:g} s)",
            "",
            "| servers | teaches | p50 ms | p90 ms | max ms | target met |",
            "| --- | --- | --- | --- | --- | --- |",
            *rows,
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.fleet_sync",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=Path("models/efficientnet_lite0_224.onnx"),
        help="ONNX model both servers run",
    )
    parser.add_argument("--teaches", type=int, default=20, help="timed Teach calls, idle and streaming each")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated parts")
    parser.add_argument("--out", type=Path, default=Path("bench-results/fleet_sync.md"), help="report file")
    args = parser.parse_args(argv)
    report = measure(args.model, args.teaches, args.seed)
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n")


if __name__ == "__main__":
    main()
