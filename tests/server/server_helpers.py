"""Helpers of the server integration tests: product ids, image messages, unusable products in a store, the
metrics page, a decode pool held by the test."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import cv2
import numpy as np
from patchcore_client.synthetic import good_part
from patchcore_edge.v1 import inspection_pb2 as pb

from patchcore.bank import MemoryBank, ProductOptions, TeachOptions, TeachStats
from patchcore.product_version import ProductVersion
from patchcore.store import ProductStore

PRODUCT = "flange"
FOREIGN_PRODUCT = "foreign"  # built for another model
BROKEN_PRODUCT = "broken"  # bank file unreadable
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def encoded(rgb: np.ndarray) -> pb.Image:
    """An Image message holding `rgb` ([H, W, 3] uint8) as PNG bytes."""
    ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return pb.Image(encoded=png.tobytes())


def teach_frames(stub, product_id: str, frames: list[np.ndarray], **options) -> pb.Product:
    """Teach product_id from frames (sent as PNG) with a 5% coreset and the given TeachOptions fields."""
    request = pb.TeachRequest(
        product_id=product_id,
        images=[encoded(frame) for frame in frames],
        options=pb.TeachOptions(coreset_ratio=0.05, **options),
    )
    return stub.Teach(request)


def teach_request(product_id: str, seed: int, count: int = 8) -> pb.TeachRequest:
    rng = np.random.default_rng(seed)
    images = [encoded(good_part(rng)) for _ in range(count)]
    return pb.TeachRequest(product_id=product_id, images=images, options=pb.TeachOptions(threshold_scale=1.5))


def write_unusable_products(store: Path, dim: int) -> None:
    """A bank taught with another model's fingerprint, and a product whose only bank file is garbage."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((16, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    foreign = MemoryBank(
        product_id=FOREIGN_PRODUCT,
        version=1,
        model_fingerprint="f" * 64,
        vectors=vectors,
        options=ProductOptions(threshold=0.1),
        teach_options=TeachOptions(),
        stats=TeachStats(image_count=8, patch_count=16, bank_size=16, teach_seconds=1.0,
                         leave_one_out_scores=[0.05]),
        created_unix=0,
    )  # fmt: skip
    ProductStore(store).save(ProductVersion(foreign))  # no teach images: stored before they were kept
    broken = store / BROKEN_PRODUCT
    broken.mkdir()
    (broken / "v00000001.bank").write_bytes(b"this is not a memory bank")


def with_pit(frame: np.ndarray, centre: tuple[int, int], radius: int) -> np.ndarray:
    """A copy of frame with a black pit of `radius` pixels at centre (x, y)."""
    pitted = frame.copy()
    cv2.circle(pitted, centre, radius, (0, 0, 0), -1)
    return pitted


def scrape(port: int) -> dict[str, float]:
    """Every sample line of /metrics as {"name{labels}": value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = (line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {name: float(value) for name, value in samples}


class HeldPool:
    """A decode pool that runs its jobs only when told to."""

    def __init__(self) -> None:
        self.jobs = []

    def submit(self, source, job) -> None:
        self.jobs.append(job)

    def run_all(self) -> None:
        """Runs the jobs queued, and those they queue, and forgets them."""
        while self.jobs:
            self.jobs.pop(0)()
