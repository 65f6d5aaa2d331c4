import pytest

import patchcore.store
from patchcore.bank import load_bank
from patchcore.errors import InvalidInput, ProductNotFound, ProductUnusable, StorageError
from patchcore.store import ProductStore


@pytest.fixture
def store(tmp_path) -> ProductStore:
    return ProductStore(tmp_path / "store")


@pytest.mark.parametrize("product_id", ["a", "widget-7", "part_1.v2", "0" * 64])
def test_valid_product_ids(product_id):
    ProductStore.validate_product_id(product_id)


@pytest.mark.parametrize(
    "product_id", ["", "../etc", "a/b", "Widget", ".hidden", "-dash", "a" * 65, "ok\n", "a b", "..", "é"]
)
def test_invalid_product_ids(product_id):
    with pytest.raises(InvalidInput, match="invalid product id"):
        ProductStore.validate_product_id(product_id)


def test_every_operation_refuses_an_id_that_escapes_the_store(store):
    for operation in (store.load, store.next_version, store.delete):
        with pytest.raises(InvalidInput):
            operation("../outside")


def test_save_then_load_and_list(store, make_bank):
    path = store.save(make_bank("widget", version=1))
    assert path == store.root / "widget" / "v00000001.bank"
    assert store.product_ids() == ["widget"]
    assert store.load("widget").version == 1


def test_versions_increase_and_the_highest_is_current(store, make_bank):
    assert store.next_version("widget") == 1
    for version in (1, 2, 3):
        store.save(make_bank("widget", version=store.next_version("widget")))
        assert store.next_version("widget") == version + 1
    assert store.load("widget").version == 3


def test_old_versions_are_pruned_keeping_the_previous_one(store, make_bank):
    for version in (1, 2, 3):
        store.save(make_bank("widget", version=version))
    assert sorted(path.name for path in (store.root / "widget").iterdir()) == [
        "v00000002.bank",
        "v00000003.bank",
    ]


def test_saving_a_version_that_is_not_newer_is_refused(store, make_bank):
    store.save(make_bank("widget", version=2))
    with pytest.raises(InvalidInput, match="not newer"):
        store.save(make_bank("widget", version=2))


def test_unknown_product_is_not_found(store):
    with pytest.raises(ProductNotFound):
        store.load("nothing")
    with pytest.raises(ProductNotFound):
        store.delete("nothing")


def test_temporary_files_are_never_products_and_are_removed_at_start(store, make_bank):
    store.save(make_bank("widget", version=1))
    (store.root / "widget" / ".v00000002.bank.x1.tmp").write_bytes(b"half written")
    (store.root / "ghost").mkdir()
    (store.root / "ghost" / ".v00000001.bank.x2.tmp").write_bytes(b"half written")
    (store.root / ".deleting-old-123").mkdir()
    assert store.product_ids() == ["widget"]
    assert store.load("widget").version == 1
    store.remove_temporaries()
    assert sorted(path.name for path in store.root.rglob("*")) == ["ghost", "v00000001.bank", "widget"]


def test_delete_removes_every_version(store, make_bank):
    store.save(make_bank("widget", version=1))
    store.save(make_bank("widget", version=2))
    store.save(make_bank("gadget", version=1))
    assert store.delete("widget") == 2
    assert store.product_ids() == ["gadget"]
    assert not (store.root / "widget").exists()
    assert store.next_version("widget") == 1


def test_a_file_holding_another_product_is_unusable(store, make_bank):
    store.save(make_bank("widget", version=1))
    (store.root / "widget" / "v00000001.bank").rename(store.root / "widget" / "v00000005.bank")
    with pytest.raises(ProductUnusable, match="version 1"):
        store.load("widget")


def test_a_store_that_cannot_be_created_is_a_storage_error(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StorageError, match="cannot create"):
        ProductStore(tmp_path / "file" / "store")


def test_a_product_deleted_while_loading_is_not_found(store, make_bank, monkeypatch):
    store.save(make_bank("widget", version=1))

    def load_after_a_concurrent_delete(path):
        store.delete("widget")
        return load_bank(path)

    monkeypatch.setattr(patchcore.store, "load_bank", load_after_a_concurrent_delete)
    with pytest.raises(ProductNotFound, match="no longer stored"):
        store.load("widget")
