"""What `make bench` measures of products that learn, with EfficientNet-Lite0 (issue 12):

- AddImages of one frame to an 8-frame product against the Teach of those 8 frames, in rounds of one Teach
  and one AddImages to the product just taught, so each ratio is taken within a round.
- A model change: 10 products of 8 frames taught with EfficientNet-Lite2 are rebuilt when the server starts
  with Lite0, while another product (taught for Lite0) is inspected with sequential Inspect calls; the same
  calls once the rebuild is done give the idle p50. Between two such rounds the products are rebuilt back for
  Lite2 with no inspection going on, for comparison. The store's bytes per product are read on the way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from patchcore_client import InspectionClient
from patchcore_client.local_server import LocalServer
from patchcore_edge.v1 import inspection_pb2 as pb

from patchcore.bank import TeachOptions
from patchcore.model import FeatureExtractor
from patchcore.product_version import ProductVersion
from patchcore.store import ProductStore
from patchcore.teach import teach
from patchcore.teach_images import TeachImages
from server.teach_frames import prepare_teach_files
from tests.benchmarks.perf_frames import encoded_image, good_frame, raw_image
from tests.benchmarks.perf_process import ProcessMonitor

TEACH_IMAGES = 8
REBUILT_PRODUCTS = 10
LINE_PRODUCT = "line"
IDLE_CALLS = 300
MAX_IMAGE_PIXELS = 50_000_000


@dataclass(frozen=True)
class RebuildRound:
    seconds: float  # first product_rebuild_started to last product_rebuilt, from the server's log
    busy_ms: list[float]  # Inspect round trips while the rebuild ran
    idle_ms: list[float]  # the same calls once it was done

    @property
    def p50_ratio(self) -> float:
        return float(np.median(self.busy_ms) / np.median(self.idle_ms))


@dataclass(frozen=True)
class CallCost:
    wall_seconds: float
    cpu_seconds: float  # the server process's CPU time meanwhile: other tenants of the machine do not move it


@dataclass(frozen=True)
class LearnRun:
    teach: list[CallCost]
    added: list[CallCost]  # AddImages of one frame to the product taught in the same round
    rebuilds: list[RebuildRound]
    quiet_rebuild_seconds: list[float]  # the rebuilds back for Lite2, nothing inspected meanwhile
    store_bytes: dict[str, int]  # per product of 8 frames: "bank", "images JPEG", "images raw as PNG"

    @property
    def wall_ratios(self) -> list[float]:
        """AddImages over Teach, per round."""
        pairs = zip(self.added, self.teach, strict=True)
        return [added.wall_seconds / taught.wall_seconds for added, taught in pairs]

    @property
    def cpu_ratios(self) -> list[float]:
        pairs = zip(self.added, self.teach, strict=True)
        return [added.cpu_seconds / taught.cpu_seconds for added, taught in pairs]


def _frames(first_seed: int, count: int = TEACH_IMAGES) -> list[pb.Image]:
    return [encoded_image(good_frame(seed)) for seed in range(first_seed, first_seed + count)]


def _cost(server: ProcessMonitor, call: Callable[..., object], *args: object) -> CallCost:
    """What call(*args) costs: wall time, and the server's CPU time meanwhile."""
    cpu_before, started = server.cpu_seconds(), time.perf_counter()
    call(*args)
    return CallCost(time.perf_counter() - started, server.cpu_seconds() - cpu_before)


def _product_bytes(store: Path, product_id: str) -> dict[str, int]:
    folder = store / product_id
    return {
        kind: sum(path.stat().st_size for path in folder.glob(f"*.{kind}")) for kind in ("bank", "images")
    }


def _add_images_rounds(lite0: Path, rounds: int, log_dir: Path, say) -> tuple[list, list, dict]:
    """Teach of 8 JPEG frames, then AddImages of one more to that product, `rounds` times; the store's bytes
    of an 8-frame product taught from JPEG frames and from the same frames raw."""
    teach_costs, add_costs = [], []
    with (
        tempfile.TemporaryDirectory() as store,
        LocalServer(lite0, store, (), log_dir / "server-learn-add.log") as server,
        InspectionClient(server.target, timeout=600) as client,
    ):
        monitor = ProcessMonitor(server.process.pid)
        for number in range(rounds):
            say(f"learning: round {number + 1} of {rounds}: Teach 8, AddImages 1")
            product_id = f"add-{number}"
            frames, extra = (
                _frames(first_seed=100 * number + 1),
                _frames(first_seed=100 * number + 50, count=1),
            )
            teach_costs.append(_cost(monitor, client.teach, product_id, frames))
            add_costs.append(_cost(monitor, client.add_images, product_id, extra))
        monitor.stop()
        sizes = {}
        for kind, image in (("JPEG", encoded_image), ("raw as PNG", raw_image)):
            product_id = f"sized-{kind[:3].lower()}"
            client.teach(product_id, [image(good_frame(seed)) for seed in range(1, TEACH_IMAGES + 1)])
            sizes[kind] = _product_bytes(Path(store), product_id)
    store_bytes = {
        "bank": sizes["JPEG"]["bank"],
        "images JPEG": sizes["JPEG"]["images"],
        "images raw as PNG": sizes["raw as PNG"]["images"],
    }
    return teach_costs, add_costs, store_bytes


def _log_times(log: str, event: str, products: set[str]) -> list[float]:
    """Unix times of the server log's `event` lines about one of `products`."""
    times = []
    entries = (json.loads(line) for line in log.splitlines() if line.startswith("{"))
    for entry in entries:
        if entry["event"] == event and entry.get("product") in products:
            stamp = datetime.datetime.strptime(entry["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
            times.append(stamp.replace(tzinfo=datetime.timezone.utc).timestamp())
    return times


def _inspect_ms(client: InspectionClient, frame: pb.Image, until: Callable[[int], bool]) -> list[float]:
    """Round-trip ms of sequential Inspect calls of LINE_PRODUCT until until(calls made so far)."""
    durations: list[float] = []
    while not until(len(durations)):
        started = time.perf_counter()
        client.inspect(LINE_PRODUCT, frame)
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def _wait_until_usable(client: InspectionClient, product_ids: set[str]) -> None:
    while not all(p.usable for p in client.list_products() if p.product_id in product_ids):
        time.sleep(0.2)


def _rebuild_round(lite0: Path, store: Path, log_path: Path, products: set[str]) -> RebuildRound:
    """Starts Lite0 on a store whose `products` were built with another model; inspects LINE_PRODUCT while
    they are rebuilt, then as many calls (at most IDLE_CALLS) idle."""
    frame = encoded_image(good_frame(seed=0))
    log_path.unlink(missing_ok=True)
    with LocalServer(lite0, store, (), log_path) as server, InspectionClient(server.target) as client:
        done = threading.Event()

        def watch() -> None:
            _wait_until_usable(client, products)
            done.set()

        watcher = threading.Thread(target=watch)
        watcher.start()
        busy = _inspect_ms(client, frame, lambda _calls: done.is_set())
        watcher.join()
        ProcessMonitor(server.process.pid).wait_until_idle()
        idle = _inspect_ms(client, frame, lambda calls: calls >= min(len(busy), IDLE_CALLS))
        log = server.log()
    return RebuildRound(_rebuild_seconds(log, products), busy, idle)


def _rebuild_seconds(log: str, products: set[str]) -> float:
    """From the first product_rebuild_started to the last product_rebuilt in a server's log."""
    started = _log_times(log, "product_rebuild_started", products)
    rebuilt = _log_times(log, "product_rebuilt", products)
    assert len(rebuilt) == len(products), f"{len(rebuilt)} of {len(products)} products rebuilt"
    return max(rebuilt) - min(started)


def _line_product(lite0: Path, store: ProductStore) -> Callable[[], None]:
    """Teaches LINE_PRODUCT for Lite0 in-process; returns a function that makes that bank the product's
    current version again (after a server with another model rebuilt it)."""
    extractor = FeatureExtractor(lite0)
    images = TeachImages(tuple(frame.encoded for frame in _frames(first_seed=900)))
    options = TeachOptions()
    frames = prepare_teach_files(images, options.view(extractor.info.input_size), MAX_IMAGE_PIXELS)
    version = ProductVersion.taught(teach(extractor, frames, LINE_PRODUCT, options), images)
    store.save(version)

    def restore() -> None:
        bank = dataclasses.replace(version.bank, version=store.next_version(LINE_PRODUCT))
        store.save(ProductVersion(bank))

    return restore


@contextlib.contextmanager
def _served(model: Path, store: Path, log_path: Path) -> Iterator[InspectionClient]:
    """A client of a server started on model and store."""
    with (
        LocalServer(model, store, (), log_path) as server,
        InspectionClient(server.target, timeout=600) as client,
    ):
        yield client


def _rebuild_rounds(
    lite0: Path, lite2: Path, rounds: int, log_dir: Path, say
) -> tuple[list[RebuildRound], list[float]]:
    """`rounds` model changes to Lite0 measured while inspecting, and the quiet rebuilds back to Lite2."""
    products = {f"rebuilt-{number}" for number in range(REBUILT_PRODUCTS)}
    results, quiet = [], []
    lite2_log = log_dir / "server-learn-lite2.log"
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder)
        say(f"learning: teaching {REBUILT_PRODUCTS} products with Lite2")
        with _served(lite2, store, lite2_log) as client:
            for number, product_id in enumerate(sorted(products)):
                client.teach(product_id, _frames(first_seed=1000 + 10 * number))
        restore_line = _line_product(lite0, ProductStore(store))
        for number in range(rounds):
            say(f"learning: round {number + 1} of {rounds}: rebuild for Lite0 while inspecting")
            results.append(_rebuild_round(lite0, store, log_dir / "server-learn-lite0.log", products))
            if number + 1 < rounds:
                say("learning: back to Lite2 (rebuilds again, not measured)")
                lite2_log.unlink()
                with _served(lite2, store, lite2_log) as client:
                    _wait_until_usable(client, products)
                quiet.append(_rebuild_seconds(lite2_log.read_text(), products))
                restore_line()
    return results, quiet


def measure_learning(lite0: Path, lite2: Path, rounds: int, log_dir: Path, say) -> LearnRun:
    """say(text) reports progress; `rounds` AddImages rounds and max(1, rounds // 2) model changes."""
    teach_costs, add_costs, store_bytes = _add_images_rounds(lite0, rounds, log_dir, say)
    rebuilds, quiet = _rebuild_rounds(lite0, lite2, max(1, rounds // 2), log_dir, say)
    return LearnRun(teach_costs, add_costs, rebuilds, quiet, store_bytes)
