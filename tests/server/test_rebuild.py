"""The rebuild of products built with another model, in-process: what a product says while it waits, the
rebuild itself, and a rebuild that loses a race with a change of the product.

Two tiny contract models with different weights stand for the old and the new model (over gRPC:
tests/reliability/test_model_upgrade.py)."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Gauge
from tiny_model import TINY_SIZE, write_tiny_model

from patchcore.bank import TeachOptions
from patchcore.errors import ProductUnusable, StorageError
from patchcore.model import FeatureExtractor
from patchcore.product_version import ProductVersion
from patchcore.store import ProductStore
from patchcore.teach import teach
from patchcore.teach_images import TeachImages, png_file
from server.products import ProductRegistry
from server.rebuild import Rebuilder, RebuildQueue
from server.status import status_of
from server.teach_frames import prepare_teach_files

PRODUCT = "part"


@pytest.fixture(scope="module")
def extractors(tmp_path_factory) -> tuple[FeatureExtractor, FeatureExtractor]:
    """(old model, new model)."""
    folder = tmp_path_factory.mktemp("models")
    old, new = (write_tiny_model(folder / f"tiny_{seed}.onnx", seed=seed) for seed in (0, 1))
    return FeatureExtractor(old, intra_op_threads=1), FeatureExtractor(new, intra_op_threads=1)


prepare_files = functools.partial(prepare_teach_files, max_pixels=10_000)


def random_images(seed: int, count: int) -> TeachImages:
    rng = np.random.default_rng(seed)
    return TeachImages(tuple(png_file(rng.integers(0, 256, (48, 48, 3), np.uint8)) for _ in range(count)))


@pytest.fixture
def store(tmp_path, extractors) -> ProductStore:
    """PRODUCT taught with the old model from 4 random images, stored with them as PNG files."""
    images, options = random_images(seed=0, count=4), TeachOptions(coreset_ratio=0.25)
    frames = prepare_files(images, options.view(TINY_SIZE))
    bank = teach(extractors[0], frames, PRODUCT, options)
    store = ProductStore(tmp_path / "store")
    store.save(ProductVersion.taught(bank, images))
    return store


@pytest.fixture
def start_server_parts(store, extractors):
    """A function of the Rebuilder's options -> (registry, queue, rebuilder, pending gauge value) of a server
    started with the new model; the rebuilder's thread is not started: tests rebuild one product at a time by
    calling it. The registries are closed after the test."""
    registries = []

    def start(**rebuilder_options):
        metrics = CollectorRegistry()
        queue = RebuildQueue(Gauge("rebuilds_pending", "Products waiting for a rebuild.", registry=metrics))
        registry = ProductRegistry(store, extractors[1], prepare_files, queue.add)
        registries.append(registry)
        registry.load_all()
        rebuilder = Rebuilder(registry, queue, extractors[1], on_change=lambda: None, **rebuilder_options)
        return registry, queue, rebuilder, lambda: metrics.get_sample_value("rebuilds_pending")

    yield start
    for registry in registries:
        registry.close()


@pytest.fixture
def server_parts(start_server_parts):
    """start_server_parts() with the Rebuilder's defaults."""
    return start_server_parts()


def test_a_product_waiting_for_its_rebuild_says_so_and_for_which_model(server_parts, extractors):
    registry, queue, _, pending_gauge = server_parts
    entry = registry.get(PRODUCT)
    assert not entry.usable
    with pytest.raises(ProductUnusable) as raised:
        entry.require_scorer()
    code, message = status_of(raised.value)
    assert code.name == "FAILED_PRECONDITION"
    new_fingerprint = extractors[1].info.fingerprint[:12]
    assert "being rebuilt" in message
    assert f"tiny_test {TINY_SIZE} px (fingerprint {new_fingerprint})" in message
    assert (queue.pending(), pending_gauge()) == (1, 1)


def test_the_rebuild_stores_a_new_version_for_the_new_model(server_parts, store, extractors):
    registry, queue, rebuilder, pending_gauge = server_parts
    source = registry.get(PRODUCT).bank
    assert queue.take() == PRODUCT
    rebuilder.rebuild(PRODUCT)
    queue.done()

    entry = registry.get(PRODUCT)
    assert entry.usable
    assert (entry.bank.version, entry.bank.model_fingerprint) == (2, extractors[1].info.fingerprint)
    assert entry.bank.stats.image_count == 4
    assert entry.bank.teach_images_sha256 == source.teach_images_sha256  # the versions share the images
    assert entry.bank.options.threshold != source.options.threshold  # recomputed with the new model
    assert store.load(PRODUCT).version == 2
    assert (queue.pending(), pending_gauge()) == (0, 0)


def test_a_product_taught_again_while_it_waits_is_not_rebuilt(server_parts, extractors):
    registry, queue, rebuilder, _ = server_parts
    images, options = random_images(seed=1, count=2), TeachOptions()
    registry.teach(PRODUCT, prepare_files(images, options.view(TINY_SIZE)), images, options)
    assert queue.take() == PRODUCT
    rebuilder.rebuild(PRODUCT)
    queue.done()
    entry = registry.get(PRODUCT)
    assert (entry.bank.version, entry.bank.stats.image_count) == (2, 2)


def test_a_rebuild_overtaken_by_a_change_is_dropped_and_the_changed_version_rebuilt(server_parts):
    registry, queue, rebuilder, _ = server_parts
    rebuilt_bank = registry.rebuilt_bank

    def rebuilt_then_a_change(*args, **kwargs):
        bank = rebuilt_bank(*args, **kwargs)
        registry.update(PRODUCT, lambda options: dataclasses.replace(options, min_region_area=50))
        return bank

    registry.rebuilt_bank = rebuilt_then_a_change
    assert queue.take() == PRODUCT
    rebuilder.rebuild(PRODUCT)  # built from version 1, which is no longer current: not stored
    queue.done()
    assert registry.get(PRODUCT).bank.version == 2 and not registry.get(PRODUCT).usable
    registry.rebuilt_bank = rebuilt_bank

    assert queue.take() == PRODUCT  # the updated version waits for its own rebuild
    rebuilder.rebuild(PRODUCT)
    queue.done()
    entry = registry.get(PRODUCT)
    assert entry.usable
    assert (entry.bank.version, entry.bank.options.min_region_area) == (3, 50)


def test_a_rebuild_of_a_product_deleted_and_taught_again_meanwhile_is_dropped(server_parts, extractors):
    """The fresh product must stay, and must not get the old product's rebuild failure either (it is checked
    by its bank, not only its number: stores written before versions went on after a delete, and fleets,
    may reuse one)."""
    registry, queue, rebuilder, _ = server_parts
    rebuilt_bank = registry.rebuilt_bank
    fresh_images, options = random_images(seed=2, count=3), TeachOptions()

    def rebuilt_while_deleted_and_taught_again(*args, **kwargs):
        bank = rebuilt_bank(*args, **kwargs)
        registry.delete(PRODUCT)
        registry.teach(PRODUCT, prepare_files(fresh_images, options.view(TINY_SIZE)), fresh_images, options)
        return bank

    registry.rebuilt_bank = rebuilt_while_deleted_and_taught_again
    assert queue.take() == PRODUCT
    rebuilder.rebuild(PRODUCT)
    queue.done()
    entry = registry.get(PRODUCT)
    assert entry.usable and not entry.problem
    assert (entry.bank.version, entry.bank.stats.image_count) == (2, 3)  # on from the deleted version 1
    assert entry.bank.teach_images_sha256 == fresh_images.sha256


def test_a_rebuild_the_store_could_not_take_is_tried_again(start_server_parts):
    """A full disk at the first attempt: the product says so, and is queued again (here at once)."""
    registry, queue, rebuilder, _ = start_server_parts(retry_seconds=0)
    store_rebuilt = registry.store_rebuilt

    def disk_full(*args):
        registry.store_rebuilt = store_rebuilt
        raise StorageError("the product store is full (No space left on device)")

    registry.store_rebuilt = disk_full
    assert queue.take() == PRODUCT
    rebuilder.rebuild(PRODUCT)
    queue.done()
    entry = registry.get(PRODUCT)
    assert not entry.usable and "(No space left on device); tried again in 0 s" in entry.problem
    assert "once the store can be written" in entry.problem
    assert "Teach the product again" not in entry.problem  # the store would refuse a Teach as well

    assert queue.take() == PRODUCT  # queued again by the retry
    rebuilder.rebuild(PRODUCT)
    queue.done()
    assert registry.get(PRODUCT).usable and registry.get(PRODUCT).bank.version == 2


def test_a_rebuild_waiting_for_its_retry_is_still_counted_as_pending(start_server_parts):
    """patchcore_rebuilds_pending must not read 0 (all rebuilt) while a product waits to be stored again."""
    registry, queue, rebuilder, pending_gauge = start_server_parts(retry_seconds=3600)

    def disk_full(*args):
        raise StorageError("the product store is full (No space left on device)")

    registry.store_rebuilt = disk_full
    assert queue.take() == PRODUCT
    rebuilder.rebuild(PRODUCT)
    queue.done()
    assert not registry.get(PRODUCT).usable
    assert queue.pending() == 1
    assert pending_gauge() == 1
    queue.add(PRODUCT)  # the retry
    assert queue.pending() == 1
    rebuilder.stop()
