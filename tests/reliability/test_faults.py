"""Storage faults: corrupted bank files at start, and a store that fills up or turns read-only under Teach.

The disk faults are real: the store lives on a small tmpfs that is filled to the last byte and remounted
read-only, which stops root too (unlike chmod). Without the right to mount, those tests are skipped
(the small_disk fixture, conftest.py).
"""

import functools
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest
from patchcore_edge.v1 import inspection_pb2 as pb
from reliability_support import fill, inspect_request, run_command, start_server, status_code, stub_for
from reliability_support import teach_request as make_teach_request

from exporter.bank import main as build_bank
from patchcore.bank import TeachOptions
from patchcore.errors import StorageError
from patchcore.model import FeatureExtractor
from patchcore.prepare import PreparedFrame
from patchcore.store import ProductStore
from patchcore.teach_images import TeachImages, png_file
from server.products import ProductRegistry
from server.teach_frames import prepare_teach_files

GOOD, TRUNCATED, FLIPPED = "good", "truncated", "flipped"


@pytest.fixture(scope="module")
def damaged_store(tiny_model, tmp_path_factory):
    """Three taught products; then one bank file is cut short and another has one bit flipped."""
    folder = tmp_path_factory.mktemp("damaged")
    store = folder / "store"
    with (
        start_server(tiny_model, store, folder / "teach") as server,
        grpc.insecure_channel(server.target) as ch,
    ):
        for seed, product_id in enumerate((GOOD, TRUNCATED, FLIPPED)):
            stub_for(ch).Teach(make_teach_request(product_id, seed=seed))
    [truncated] = (store / TRUNCATED).glob("*.bank")
    truncated.write_bytes(truncated.read_bytes()[:-100])
    [flipped] = (store / FLIPPED).glob("*.bank")
    content = bytearray(flipped.read_bytes())
    content[len(content) // 2] ^= 0x10
    flipped.write_bytes(bytes(content))
    with (
        start_server(tiny_model, store, folder / "serve") as server,
        grpc.insecure_channel(server.target) as ch,
    ):
        yield stub_for(ch)


@pytest.mark.parametrize("product_id", [TRUNCATED, FLIPPED])
def test_a_damaged_bank_makes_only_its_product_failed_precondition_with_the_reason(damaged_store, product_id):
    stub = damaged_store
    product = stub.GetProduct(pb.GetProductRequest(product_id=product_id))
    assert not product.usable
    assert "checksum mismatch" in product.status_message
    with pytest.raises(grpc.RpcError) as raised:
        stub.Inspect(inspect_request(product_id))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert product_id in raised.value.details() and "checksum mismatch" in raised.value.details()
    assert not stub.Inspect(inspect_request(GOOD)).HasField("error")


def test_teaching_a_damaged_product_again_repairs_it(damaged_store):
    stub = damaged_store
    product = stub.Teach(make_teach_request(TRUNCATED, seed=9))
    assert product.usable and product.version == 2
    assert stub.Inspect(inspect_request(TRUNCATED)).product_version == 2


def stored_names(store: Path) -> list[str]:
    return sorted(str(path.relative_to(store)) for path in store.rglob("*"))


WRITES = {
    "Teach": lambda stub: stub.Teach(make_teach_request("part", seed=2)),
    "AddImages": lambda stub: stub.AddImages(
        pb.AddImagesRequest(product_id="part", images=make_teach_request("part", seed=5, count=1).images)
    ),
    "UpdateProduct": lambda stub: stub.UpdateProduct(
        pb.UpdateProductRequest(
            product_id="part", options=pb.ProductOptions(threshold=0.3), update_fields=["threshold"]
        )
    ),
    "DeleteProduct": lambda stub: stub.DeleteProduct(pb.DeleteProductRequest(product_id="part")),
}


def assert_refused_and_unchanged(
    stub, store: Path, before: pb.Product, reason: str, methods: list[str]
) -> None:
    """Each of `methods` gets UNAVAILABLE naming `reason` and saying the product is unchanged; the old version
    still serves; nothing is left."""
    files = stored_names(store)
    unchanged = (
        f". Nothing was changed: product 'part' stays at version {before.version}. Retry once the store can "
        "be written"
    )
    for method in methods:
        with pytest.raises(grpc.RpcError) as raised:
            WRITES[method](stub)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE, method
        assert reason in raised.value.details()
        assert raised.value.details().endswith(unchanged), method
    assert stub.GetProduct(pb.GetProductRequest(product_id="part")) == before
    assert stub.Inspect(inspect_request("part")).product_version == before.version
    assert stored_names(store) == files  # no temp file, no half-deleted folder


def test_full_or_read_only_store_refuses_changes_and_keeps_serving(tiny_model, small_disk, tmp_path):
    store = small_disk / "store"
    with start_server(tiny_model, store, tmp_path) as server, grpc.insecure_channel(server.target) as channel:
        stub = stub_for(channel)
        before = stub.Teach(make_teach_request("part", seed=1))
        spare = stub.Teach(make_teach_request("spare", seed=2))

        filler = fill(small_disk)
        # Deleting needs no space (an operator frees the disk so), so only the calls that write a version
        # are refused.
        assert_refused_and_unchanged(
            stub, store, before, "No space left on device", ["Teach", "AddImages", "UpdateProduct"]
        )
        stub.DeleteProduct(pb.DeleteProductRequest(product_id="spare"))
        assert (
            status_code(stub.GetProduct, pb.GetProductRequest(product_id="spare"))
            == grpc.StatusCode.NOT_FOUND
        )

        filler.unlink()
        assert run_command("mount", "-o", "remount,ro", str(small_disk)).returncode == 0
        assert_refused_and_unchanged(stub, store, before, "Read-only file system", list(WRITES))
        with pytest.raises(grpc.RpcError) as raised:
            stub.Teach(make_teach_request("fresh", seed=6))
        assert raised.value.details().endswith(
            ". Nothing was changed: product 'fresh' still does not exist. Retry once the store can be written"
        )

        assert run_command("mount", "-o", "remount,rw", str(small_disk)).returncode == 0
        assert stub.Teach(make_teach_request("part", seed=3)).version == before.version + 1
        # the delete on the full disk noted the version it removed: the id goes on from there
        assert stub.Teach(make_teach_request("spare", seed=4)).version == spare.version + 1
        assert status_code(stub.GetProduct, pb.GetProductRequest(product_id="part")) == grpc.StatusCode.OK


def test_the_offline_builder_refuses_a_read_only_store_before_it_reads_an_image(
    tiny_model, small_disk, tmp_path, capsys
):
    images = tmp_path / "good"
    images.mkdir()
    for index in range(3):
        pixels = np.random.default_rng(index).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        cv2.imwrite(str(images / f"part_{index}.png"), pixels)
    arguments = ["--model", str(tiny_model), "--images", str(images), "--product", "part"]
    arguments += ["--store", str(small_disk / "store")]
    assert build_bank(arguments) == 0
    capsys.readouterr()
    assert run_command("mount", "-o", "remount,ro", str(small_disk)).returncode == 0
    assert build_bank(arguments) == 1
    printed = capsys.readouterr().err
    assert "Read-only file system" in printed
    assert "reading" not in printed  # refused before the first image, not after the whole build


class _CountingExtractor:
    """The tiny model, counting its runs."""

    def __init__(self, model: Path) -> None:
        self._extractor = FeatureExtractor(model, intra_op_threads=1)
        self.info = self._extractor.info
        self.runs = 0

    def extract(self, images: np.ndarray) -> np.ndarray:
        self.runs += 1
        return self._extractor.extract(images)


def test_a_read_only_store_refuses_a_teach_and_added_images_before_the_model_runs(tiny_model, small_disk):
    """A long Teach or AddImages (minutes for hundreds of images) learns that the store refuses it before
    building, not after."""
    extractor = _CountingExtractor(tiny_model)
    prepare = functools.partial(prepare_teach_files, max_pixels=10_000)
    registry = ProductRegistry(ProductStore(small_disk / "store"), extractor, prepare)
    rng = np.random.default_rng(0)
    images = TeachImages(tuple(png_file(rng.integers(0, 256, (32, 32, 3), np.uint8)) for _ in range(3)))
    options = TeachOptions(coreset_ratio=0.25)

    def frames() -> list[PreparedFrame]:
        return prepare(images, options.view(extractor.info.input_size))

    try:
        registry.teach("part", frames(), images, options)
        assert run_command("mount", "-o", "remount,ro", str(small_disk)).returncode == 0
        runs = extractor.runs
        with pytest.raises(StorageError, match="Read-only file system"):
            registry.teach("part", frames(), images, options)
        with pytest.raises(StorageError, match="Read-only file system"):
            registry.teach("other", frames(), images, options)
        with pytest.raises(StorageError, match="Read-only file system"):
            registry.add_images("part", images)
        assert extractor.runs == runs
    finally:
        registry.close()
