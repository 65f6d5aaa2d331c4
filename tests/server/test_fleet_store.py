"""The fleet's VersionStore against a store that answers at once: what a change finds in the fleet when
another server changed the product first."""

import dataclasses

import numpy as np
import pytest

from patchcore.bank import MemoryBank, ProductOptions, TeachOptions, TeachStats
from patchcore.errors import ProductNotFound, StorageError, VersionConflict
from patchcore.product_version import ProductVersion
from patchcore.store import ProductStore
from server.errors import StoredInFleetOnly
from server.fleet.connection import CompareAndSetFailed
from server.fleet.manifest import Manifest
from server.fleet.store import FleetStore

PRODUCT = "widget"


class _AnsweringStore:
    """The fleet's manifests by compare-and-set on a revision, as FleetStore reaches them through
    FleetConnection.call; version files are not kept."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[Manifest, int]] = {}
        self._revision = 0

    def call(self, function, *args, timeout: float = 0.0, commits: bool = False):
        return function(*args)

    def read(self, product_id: str) -> tuple[Manifest | None, int]:
        return self.entries.get(product_id, (None, 0))

    def write(self, product_id: str, manifest: Manifest, revision: int) -> None:
        if self.read(product_id)[1] != revision:
            raise CompareAndSetFailed(f"{product_id} is past revision {revision}")
        self._revision += 1
        self.entries[product_id] = (manifest, self._revision)

    def put_object(self, name: str, content: bytes) -> None:
        pass

    def delete_object(self, name: str) -> None:
        pass


def _bank(version: int) -> MemoryBank:
    vectors = np.random.default_rng(version).standard_normal((8, 16)).astype(np.float32)
    return MemoryBank(
        product_id=PRODUCT,
        version=version,
        model_fingerprint="ab" * 32,
        vectors=vectors / np.linalg.norm(vectors, axis=1, keepdims=True),
        options=ProductOptions(threshold=0.5),
        teach_options=TeachOptions(),
        stats=TeachStats(
            image_count=2, patch_count=16, bank_size=8, teach_seconds=0.1, leave_one_out_scores=[0.1, 0.2]
        ),
        created_unix=1_700_000_000,
    )


def test_deleting_a_product_another_server_deleted_meanwhile_finds_no_product(tmp_path):
    """Two DeleteProduct calls at once on two servers: the second used to answer OK with deleted_version 0
    and write the tombstone again."""
    local = ProductStore(tmp_path / "store")
    local.save(ProductVersion(_bank(3)))
    fleet = _AnsweringStore()
    fleet.entries[PRODUCT] = (Manifest.tombstone(3, 0.0), 7)  # deleted on another server; not heard of yet
    store = FleetStore(local, fleet)
    with pytest.raises(ProductNotFound, match="deleted in the fleet meanwhile"):
        store.delete(PRODUCT)
    assert fleet.entries[PRODUCT][1] == 7


def test_a_change_made_from_the_version_this_server_holds_while_the_fleet_is_past_it_says_so(tmp_path):
    """UpdateProduct with expected_version 4 (the fleet's) on a server that holds 3 yet, or with none while
    another server stored 4: the answer used to name 3 as 'the expected version'."""
    local = ProductStore(tmp_path / "store")
    local.save(ProductVersion(_bank(3)))
    fleet = _AnsweringStore()
    fleet.entries[PRODUCT] = (Manifest(4, "widget/v4", "00" * 32, "ab" * 32, 0.0), 9)
    store = FleetStore(local, fleet)
    changed = dataclasses.replace(_bank(3), version=5, options=ProductOptions(threshold=0.7))
    with pytest.raises(VersionConflict) as raised:
        store.save(ProductVersion(changed), base_version=3)
    message = str(raised.value)
    assert "at version 4 in the fleet, and this server still holds version 3" in message
    assert "expected" not in message
    assert fleet.entries[PRODUCT][1] == 9


def test_a_delete_the_fleet_made_but_the_folder_refused_says_so_and_not_that_nothing_changed(
    tmp_path, monkeypatch
):
    """The registry adds "nothing was changed" to a StorageError that does not tell its outcome: here the
    tombstone is written, so the product is deleted in the fleet whatever this server's folder says."""
    local = ProductStore(tmp_path / "store")
    local.save(ProductVersion(_bank(3)))
    fleet = _AnsweringStore()

    def read_only(product_id: str, expected_version: int = 0) -> int:
        raise StorageError(f"cannot delete product {product_id!r}: Read-only file system")

    monkeypatch.setattr(local, "delete", read_only)
    with pytest.raises(StoredInFleetOnly) as raised:
        FleetStore(local, fleet).delete(PRODUCT)
    assert raised.value.tells_outcome
    assert str(raised.value) == (
        "cannot delete product 'widget': Read-only file system. The fleet has deleted 'widget' already: the "
        "other servers have deleted their copies, and this server deletes its own once its folder can be "
        "written; do not repeat the delete"
    )
    assert fleet.entries[PRODUCT][0].deleted
