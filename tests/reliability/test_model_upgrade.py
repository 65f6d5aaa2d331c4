"""A server started with another model rebuilds every product whose teach images are stored, over gRPC:
two exported tiny models, a product stored before images were kept, and a damaged stored image."""

from __future__ import annotations

import shutil
from pathlib import Path

import grpc
import numpy as np
import pytest
from patchcore_edge.v1 import inspection_pb2 as pb
from reliability_support import (
    inspect_request,
    metric_value,
    start_server,
    status_code,
    stub_for,
    teach_request,
    wait_for_log_event,
    wait_until_usable,
)
from tiny_model import write_tiny_model

from patchcore.bank import MemoryBank, ProductOptions, TeachOptions, TeachStats, load_bank
from patchcore.model import read_model_info
from patchcore.product_version import ProductVersion
from patchcore.store import ProductStore

pytestmark = pytest.mark.slow

PART, SPARE, LEGACY = "part", "spare", "legacy"


@pytest.fixture(scope="module")
def other_model(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("other_model") / "tiny_other.onnx", seed=2)


def legacy_bank(fingerprint: str) -> MemoryBank:
    """A product as stored before teach images were kept: a bank and nothing else."""
    vectors = np.eye(32, dtype=np.float32)[:8]
    return MemoryBank(
        product_id=LEGACY, version=1, model_fingerprint=fingerprint, vectors=vectors,
        options=ProductOptions(threshold=0.3), teach_options=TeachOptions(),
        stats=TeachStats(image_count=4, patch_count=256, bank_size=8, teach_seconds=1.0,
                         leave_one_out_scores=[0.25]),
        created_unix=0,
    )  # fmt: skip


@pytest.fixture(scope="module")
def seed_store(tiny_model, tmp_path_factory) -> tuple[Path, dict[str, pb.Product]]:
    """PART and SPARE taught with tiny_model (PART twice: versions 1 and 2), and LEGACY without images."""
    folder = tmp_path_factory.mktemp("seed")
    store = folder / "store"
    with start_server(tiny_model, store, folder) as server, server.channel() as channel:
        stub = stub_for(channel)
        stub.Teach(teach_request(PART, seed=1))
        taught = {
            PART: stub.Teach(teach_request(PART, seed=2)),
            SPARE: stub.Teach(teach_request(SPARE, seed=3)),
        }
    ProductStore(store).save(ProductVersion(legacy_bank(read_model_info(tiny_model).fingerprint)))
    return store, taught


@pytest.fixture
def store(seed_store, tmp_path) -> Path:
    copy = tmp_path / "store"
    shutil.copytree(seed_store[0], copy)
    return copy


def test_a_new_model_rebuilds_each_product_from_its_images_and_the_old_model_again(
    tiny_model, other_model, seed_store, store, tmp_path
):
    taught = seed_store[1]
    new_fingerprint = read_model_info(other_model).fingerprint
    with start_server(other_model, store, tmp_path / "new") as server, server.channel() as channel:
        stub = stub_for(channel)
        products = wait_until_usable(stub, {PART, SPARE})
        for pid in (PART, SPARE):
            rebuilt = products[pid]
            assert (rebuilt.version, rebuilt.model_fingerprint) == (taught[pid].version + 1, new_fingerprint)
            assert rebuilt.teach_stats.image_count == taught[pid].teach_stats.image_count
            assert rebuilt.threshold != taught[pid].threshold  # the new model scores differently
            assert stub.Inspect(inspect_request(pid)).product_version == rebuilt.version
            event = wait_for_log_event(server, "product_rebuilt", product=pid)
            assert (event["from_version"], event["version"]) == (taught[pid].version, rebuilt.version)
        legacy = products[LEGACY]
        assert not legacy.usable
        assert "taught with another model" in legacy.status_message
        assert "Teach the product again" in legacy.status_message
        assert status_code(stub.Inspect, inspect_request(LEGACY)) == grpc.StatusCode.FAILED_PRECONDITION
        assert metric_value(server, "patchcore_rebuilds_pending") == 0
    assert (store / PART / "v00000002.bank").exists()  # the version for the old model stays on disk

    with start_server(tiny_model, store, tmp_path / "old") as server, server.channel() as channel:
        back = wait_until_usable(stub_for(channel), {PART, SPARE})
    assert back[PART].version == taught[PART].version + 2
    assert back[PART].model_fingerprint == taught[PART].model_fingerprint
    assert back[PART].threshold == pytest.approx(taught[PART].threshold, rel=1e-5)  # same images, same model
    assert back[LEGACY].usable


def test_a_damaged_stored_image_fails_the_rebuild_of_its_product_only(
    other_model, seed_store, store, tmp_path
):
    current = load_bank(store / PART / "v00000002.bank")
    images = store / PART / f"{current.teach_images_sha256}.images"
    content = bytearray(images.read_bytes())
    content[-10] ^= 0xFF  # inside the last of PART's 4 images
    images.write_bytes(bytes(content))

    with start_server(other_model, store, tmp_path / "new") as server, server.channel() as channel:
        stub = stub_for(channel)
        wait_until_usable(stub, {SPARE})
        event = wait_for_log_event(server, "product_rebuild_failed", product=PART)
        assert "teach image 4 of 4 is damaged" in event["error"]
        part = stub.GetProduct(pb.GetProductRequest(product_id=PART))
        assert not part.usable and part.version == seed_store[1][PART].version
        assert "could not be rebuilt" in part.status_message
        assert "teach image 4 of 4 is damaged" in part.status_message
        with pytest.raises(grpc.RpcError) as raised:
            stub.Inspect(inspect_request(PART))
        assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "teach image 4 of 4 is damaged" in raised.value.details()

        repaired = stub.Teach(teach_request(PART, seed=4))  # teaching it again with the new model repairs it
        assert repaired.usable
        assert stub.Inspect(inspect_request(PART)).product_version == repaired.version
