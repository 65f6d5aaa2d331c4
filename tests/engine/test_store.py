import dataclasses

import pytest

import patchcore.store
from patchcore.bank import load_bank
from patchcore.errors import InvalidInput, ProductNotFound, ProductUnusable, StorageError, VersionConflict
from patchcore.product_version import ProductVersion
from patchcore.store import ProductStore
from patchcore.teach_images import TeachImages


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


def save(store: ProductStore, bank) -> None:
    """Store a bank without teach images, as versions were stored before they were kept."""
    store.save(ProductVersion(bank))


def test_save_then_load_and_list(store, make_bank):
    save(store, make_bank("widget", version=1))
    assert (store.root / "widget" / "v00000001.bank").is_file()
    assert store.product_ids() == ["widget"]
    assert store.load("widget").version == 1


def test_versions_increase_and_the_highest_is_current(store, make_bank):
    assert store.next_version("widget") == 1
    for version in (1, 2, 3):
        save(store, make_bank("widget", version=store.next_version("widget")))
        assert store.next_version("widget") == version + 1
    assert store.load("widget").version == 3


def test_old_versions_are_pruned_keeping_the_previous_one(store, make_bank):
    for version in (1, 2, 3):
        save(store, make_bank("widget", version=version))
    assert sorted(path.name for path in (store.root / "widget").iterdir()) == [
        "v00000002.bank",
        "v00000003.bank",
    ]


def test_saving_a_version_that_is_not_newer_is_a_conflict(store, make_bank):
    save(store, make_bank("widget", version=2))
    with pytest.raises(VersionConflict, match="not newer"):
        save(store, make_bank("widget", version=2))


def test_unknown_product_is_not_found(store):
    with pytest.raises(ProductNotFound):
        store.load("nothing")
    with pytest.raises(ProductNotFound):
        store.delete("nothing")


def test_temporary_files_are_never_products_and_are_removed_at_start(store, make_bank):
    save(store, make_bank("widget", version=1))
    (store.root / "widget" / ".v00000002.bank.x1.tmp").write_bytes(b"half written")
    (store.root / "ghost").mkdir()
    (store.root / "ghost" / ".v00000001.bank.x2.tmp").write_bytes(b"half written")
    (store.root / ".deleting-old-123").mkdir()
    assert store.product_ids() == ["widget"]
    assert store.load("widget").version == 1
    store.remove_temporaries()
    assert sorted(path.name for path in store.root.rglob("*")) == [".deleted", "v00000001.bank", "widget"]


def test_delete_removes_every_version(store, make_bank):
    save(store, make_bank("widget", version=1))
    save(store, make_bank("widget", version=2))
    save(store, make_bank("gadget", version=1))
    assert store.delete("widget") == 2
    assert store.product_ids() == ["gadget"]
    assert not (store.root / "widget").exists()
    assert store.next_version("widget") == 3  # a product taught again under the id goes on from there


def test_a_file_holding_another_product_is_unusable(store, make_bank):
    save(store, make_bank("widget", version=1))
    (store.root / "widget" / "v00000001.bank").rename(store.root / "widget" / "v00000005.bank")
    with pytest.raises(ProductUnusable, match="version 1"):
        store.load("widget")


def test_a_store_that_cannot_be_created_is_a_storage_error(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StorageError, match="cannot create"):
        ProductStore(tmp_path / "file" / "store")


def test_a_product_deleted_while_loading_is_not_found(store, make_bank, monkeypatch):
    save(store, make_bank("widget", version=1))

    def load_after_a_concurrent_delete(path):
        store.delete("widget")
        return load_bank(path)

    monkeypatch.setattr(patchcore.store, "load_bank", load_after_a_concurrent_delete)
    with pytest.raises(ProductNotFound, match="no longer stored"):
        store.load("widget")


def teach_images(*names: str) -> TeachImages:
    return TeachImages(tuple(f"image file {name}".encode() for name in names))


def images_files(store: ProductStore, product_id: str = "widget") -> list[str]:
    return sorted(path.name for path in (store.root / product_id).glob("*.images"))


def test_a_version_is_stored_with_its_images_and_they_load_back(store, make_bank):
    store.save(ProductVersion.taught(make_bank("widget", version=1), teach_images("a", "b")))
    bank = store.load("widget")
    assert bank.teach_images_sha256
    assert store.load_images(bank).files == (b"image file a", b"image file b")


def test_versions_share_their_images_and_images_no_kept_version_names_are_removed(store, make_bank):
    first = ProductVersion.taught(make_bank("widget", version=1), teach_images("a"))
    store.save(first)
    store.save(ProductVersion(dataclasses.replace(first.bank, version=2)))  # an options change
    assert len(images_files(store)) == 1
    store.save(ProductVersion.taught(make_bank("widget", version=3), teach_images("a", "b")))
    assert len(images_files(store)) == 2  # version 2 (kept) still names the first images
    third = store.load("widget")
    store.save(ProductVersion(dataclasses.replace(third, version=4)))
    assert len(images_files(store)) == 1  # versions 3 and 4 name the same images
    assert store.load_images(store.load("widget")).files == (b"image file a", b"image file b")


def test_a_version_stored_before_images_were_kept_has_none(store, make_bank):
    save(store, make_bank("widget", version=1))
    with pytest.raises(ProductUnusable, match="before teach images were kept"):
        store.load_images(store.load("widget"))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda content: content[:-1] + bytes([content[-1] ^ 1]), "teach image 2 of 2 is damaged"),
        (lambda content: content[:40], "truncated"),
        (lambda content: b"", "truncated"),
        (lambda content: b"x" * 100, "not a patchcore-edge teach images file"),
    ],
    ids=["flipped-bit", "truncated", "empty", "foreign"],
)
def test_damaged_images_are_unusable_with_the_reason(store, make_bank, damage, reason):
    store.save(ProductVersion.taught(make_bank("widget", version=1), teach_images("a", "b")))
    [path] = (store.root / "widget").glob("*.images")
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ProductUnusable, match=reason):
        store.load_images(store.load("widget"))


def test_missing_images_are_unusable(store, make_bank):
    store.save(ProductVersion.taught(make_bank("widget", version=1), teach_images("a")))
    [path] = (store.root / "widget").glob("*.images")
    path.unlink()
    with pytest.raises(ProductUnusable, match=r"teach images file .* is unusable"):
        store.load_images(store.load("widget"))


def test_images_no_version_names_are_removed_at_start_unless_a_bank_is_unreadable(store, make_bank):
    store.save(ProductVersion.taught(make_bank("widget", version=1), teach_images("a")))
    store.save(ProductVersion.taught(make_bank("gadget", version=1), teach_images("b")))
    kept = images_files(store)
    (store.root / "widget" / f"{'0' * 64}.images").write_bytes(b"left by a crash before its bank")
    (store.root / "gadget" / f"{'1' * 64}.images").write_bytes(b"maybe named by the damaged bank")
    (store.root / "gadget" / "v00000002.bank").write_bytes(b"damaged")
    store.remove_temporaries()
    assert images_files(store) == kept
    assert len(images_files(store, "gadget")) == 2


def test_saving_images_whose_stored_copy_is_damaged_writes_them_again(store, make_bank):
    """Teaching a product again with the same images repairs their damaged file."""
    images = teach_images("a", "b")
    store.save(ProductVersion.taught(make_bank("widget", version=1), images))
    [path] = (store.root / "widget").glob("*.images")
    path.write_bytes(b"damaged")
    store.save(ProductVersion.taught(make_bank("widget", version=2), images))
    assert store.load_images(store.load("widget")).files == images.files


def test_a_change_made_from_a_version_is_stored_only_while_the_product_is_at_it(store, make_bank):
    save(store, make_bank("widget", version=1))
    save(store, make_bank("widget", version=2))
    with pytest.raises(VersionConflict, match="at version 2, not at the expected version 1"):
        store.save(ProductVersion(make_bank("widget", version=3)), base_version=1)
    assert store.current_version("widget") == 2
    assert store.save(ProductVersion(make_bank("widget", version=3)), base_version=2).version == 3


def test_a_delete_expecting_another_version_deletes_nothing(store, make_bank):
    save(store, make_bank("widget", version=1))
    with pytest.raises(VersionConflict):
        store.delete("widget", expected_version=2)
    assert store.delete("widget", expected_version=1) == 1


def test_a_rebuild_is_the_next_version_sharing_its_sources_images(store, make_bank):
    source = store.save(ProductVersion.taught(make_bank("widget", version=1), teach_images("a")))
    rebuilt = store.save_rebuilt(source, make_bank("widget", version=0))
    assert (rebuilt.version, rebuilt.teach_images_sha256) == (2, source.teach_images_sha256)
    assert store.load_images(store.load("widget")).files == (b"image file a",)
    with pytest.raises(VersionConflict):  # the product moved on from source meanwhile
        store.save_rebuilt(source, make_bank("widget", version=0))


def test_replacing_the_current_version_keeps_its_number(store, make_bank):
    save(store, make_bank("widget", version=1))
    save(store, make_bank("widget", version=2))
    store.replace_current(make_bank("widget", version=2, rows=7))
    assert store.load("widget").vectors.shape[0] == 7
    with pytest.raises(VersionConflict):
        store.replace_current(make_bank("widget", version=1))


def test_a_product_taught_again_after_a_delete_goes_on_from_the_deleted_version(store, make_bank):
    store.save(ProductVersion(make_bank(version=1)))
    store.save(ProductVersion(make_bank(version=2)))
    assert store.delete("widget") == 2
    assert store.next_version("widget") == 3
    store.save(ProductVersion(make_bank(version=3)))
    assert store.current_version("widget") == 3
    assert store.product_ids() == ["widget"]
    store.remove_temporaries()
    assert store.next_version("widget") == 4


def test_a_folder_left_empty_by_a_crash_is_removed_at_start(store, make_bank):
    (store.root / "newp").mkdir()  # a first Teach killed after its images were written: they are removed
    store.remove_temporaries()
    assert not (store.root / "newp").exists()


def test_folders_that_are_not_products_are_left_alone_at_start(store):
    (store.root / "lost+found").mkdir()  # a store that is a mount point
    store.remove_temporaries()
    assert (store.root / "lost+found").is_dir()


def full_disk_for_banks(monkeypatch) -> None:
    """Every bank write fails as on a full disk; images files are still written."""

    def no_space(bank, path) -> None:
        raise StorageError(f"cannot write product file {path}: No space left on device")

    monkeypatch.setattr(patchcore.store, "save_bank", no_space)


def test_a_version_refused_by_a_full_disk_leaves_neither_its_images_nor_its_folder(
    store, make_bank, monkeypatch
):
    """The images of a change whose bank found the disk full would keep the space they took until the next
    start, and refuse the next change that would have fitted."""
    store.save(ProductVersion.taught(make_bank("widget", version=1), teach_images("a")))
    kept = images_files(store)
    full_disk_for_banks(monkeypatch)
    with pytest.raises(StorageError, match="No space left on device"):
        store.save(ProductVersion.taught(make_bank("widget", version=2), teach_images("a", "b")))
    with pytest.raises(StorageError, match="No space left on device"):
        store.save(ProductVersion.taught(make_bank("gadget", version=1), teach_images("c")))
    assert images_files(store) == kept
    assert store.load_images(store.load("widget")).files == (b"image file a",)
    assert sorted(path.name for path in store.root.iterdir()) == [".deleted", "widget"]


def test_a_version_stored_whose_old_version_cannot_be_removed_is_stored(store, make_bank, monkeypatch):
    """A StorageError from save means nothing was changed: once the new bank is in place, pruning the old
    ones is left to the next save."""
    for version in (1, 2):
        save(store, make_bank("widget", version=version))
    unlink = patchcore.store.Path.unlink

    def refused_for_banks(path, missing_ok=False):
        if path.suffix == ".bank":
            raise PermissionError(13, "Permission denied", str(path))
        unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(patchcore.store.Path, "unlink", refused_for_banks)
    save(store, make_bank("widget", version=3))
    assert store.load("widget").version == 3
    monkeypatch.undo()
    save(store, make_bank("widget", version=4))
    assert sorted(path.name for path in (store.root / "widget").iterdir()) == [
        "v00000003.bank",
        "v00000004.bank",
    ]


def test_a_deleted_product_whose_folder_cannot_be_removed_is_deleted(store, make_bank, monkeypatch):
    """The folder is renamed away first: once that is done the product is gone, and the rest goes at start."""
    save(store, make_bank("widget", version=1))

    def refused(path, ignore_errors=False):
        if not ignore_errors:
            raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(patchcore.store.shutil, "rmtree", refused)
    assert store.delete("widget") == 1
    assert store.product_ids() == []
    monkeypatch.undo()
    store.remove_temporaries()
    assert sorted(path.name for path in store.root.iterdir()) == [".deleted"]
