"""Products on disk, one folder per product (the local VersionStore, patchcore/product_version.py):

    <root>/<product id>/v<version:08d>.bank   one per version: vectors, options, stats (patchcore/bank.py)
    <root>/<product id>/<sha256>.images       teach images (patchcore/teach_images.py), named by checksum
    <root>/<product id>/fleet-version.json    in a fleet, which fleet version the folder holds (server/fleet)
    <root>/.lock                              held by the one process writing the store (store_lock.py)
    <root>/.deleted/<product id>@<version>    an empty file naming a deleted product's last version: a product
                                              taught again under its id goes on from there, so a version
                                              number never names two products (expected_version stays safe)

A version is its bank file and the images file its bank names; versions with the same images (an options
change, a rebuild for another model) share the file. A version is written images first, bank last, each
atomically and durably (patchcore/durable.py), so its bank file exists only once all of it is on disk: kill -9
at any moment leaves the old version or the new one whole. The current version is the highest bank file.
What a crash can leave - temp files, an images file no bank names, a half-deleted product - is never read
and is removed by remove_temporaries() at start. After a save, versions older than the previous one are
pruned (bank first, then the images no remaining bank names), so an operator can still go back one step.
"""

import contextlib
import dataclasses
import hashlib
import re
import shutil
import tempfile
import uuid
from pathlib import Path

from patchcore.bank import MemoryBank, load_bank, save_bank
from patchcore.durable import TEMP_SUFFIX, fsync_directory, write_atomically
from patchcore.errors import InvalidInput, ProductNotFound, ProductUnusable, StorageError, VersionConflict
from patchcore.product_version import ProductVersion
from patchcore.teach_images import TeachImages, decode_teach_images

_PRODUCT_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_VERSION_FILE = re.compile(r"v(\d{8})\.bank")
_IMAGES_SUFFIX = ".images"
# A product directory being deleted is renamed to this prefix first; it can never be a valid product id.
_DELETING_PREFIX = ".deleting-"
_DELETED_DIR = ".deleted"
_VERSIONS_KEPT = 2  # the current one and the previous one
FLEET_MARK = "fleet-version.json"  # in a product's folder: {"version": N, "sha256": "..."}


def _storage_error(action: str, error: OSError) -> StorageError:
    return StorageError(f"cannot {action}: {error.strerror or error} ({error.filename or ''})")


def _holds(path: Path, sha256: str) -> bool:
    """Whether path exists with content of this sha256 (a damaged copy is written again)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    except OSError:
        return False


class ProductStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise _storage_error(f"create the product store {self.root}", error) from error
        with contextlib.suppress(OSError):  # made while there is room: deleting must work on a full disk
            (self.root / _DELETED_DIR).mkdir(exist_ok=True)

    def check_writable(self, product_id: str) -> None:
        """StorageError unless a version of product_id can be written now (a read-only or foreign store), so a
        long build learns it before it starts instead of at its end."""
        directory = self._product_dir(product_id)
        target = directory if directory.exists() else self.root
        try:
            with tempfile.TemporaryFile(dir=target):  # unnamed where the system allows: nothing left behind
                pass
        except OSError as error:  # its filename is the probe's, which tells an operator nothing
            raise StorageError(f"cannot write to {target}: {error.strerror or error}") from error

    @staticmethod
    def validate_product_id(product_id: str) -> None:
        """InvalidInput unless product_id is 1-64 of a-z 0-9 . _ - starting with a letter or digit."""
        if not isinstance(product_id, str) or not _PRODUCT_ID.fullmatch(product_id):
            raise InvalidInput(
                f"invalid product id {product_id!r}: use 1 to 64 characters a-z, 0-9, '.', '_', '-', "
                "starting with a letter or digit"
            )

    def _product_dir(self, product_id: str) -> Path:
        self.validate_product_id(product_id)
        return self.root / product_id

    def _versions(self, product_id: str) -> list[int]:
        """Complete versions stored for product_id, ascending."""
        directory = self._product_dir(product_id)
        if not directory.is_dir():
            return []
        matches = (_VERSION_FILE.fullmatch(path.name) for path in directory.iterdir())
        return sorted(int(match.group(1)) for match in matches if match)

    def version_path(self, product_id: str, version: int) -> Path:
        return self._product_dir(product_id) / f"v{version:08d}.bank"

    def images_path(self, product_id: str, sha256: str) -> Path:
        return self._product_dir(product_id) / f"{sha256}{_IMAGES_SUFFIX}"

    def product_ids(self) -> list[str]:
        """Ids of the products that have at least one complete version, sorted."""
        return sorted(
            path.name
            for path in self.root.iterdir()
            if _PRODUCT_ID.fullmatch(path.name) and path.is_dir() and self._versions(path.name)
        )

    def is_fleet_copy(self, product_id: str) -> bool:
        """Whether product_id's folder is a fleet's copy (its versions come from and go to the fleet)."""
        return (self._product_dir(product_id) / FLEET_MARK).exists()

    def current_version(self, product_id: str) -> int:
        versions = self._versions(product_id)
        if not versions:
            raise ProductNotFound(f"no product {product_id!r} is stored")
        return versions[-1]

    def load(self, product_id: str) -> MemoryBank:
        """The current version of product_id (ProductNotFound / ProductUnusable)."""
        version = self.current_version(product_id)
        path = self.version_path(product_id, version)
        try:
            bank = load_bank(path)
        except ProductUnusable:
            if not path.exists():  # deleted or replaced by a newer version since it was listed
                raise ProductNotFound(
                    f"product {product_id!r} version {version} is no longer stored"
                ) from None
            raise
        if (bank.product_id, bank.version) != (product_id, version):
            raise ProductUnusable(
                f"product file {path} holds product {bank.product_id!r} version {bank.version}, not "
                f"{product_id!r} version {version}"
            )
        return bank

    def next_version(self, product_id: str) -> int:
        """Above every version stored, and above the last one of the product deleted under this id."""
        versions = self._versions(product_id)
        return max(versions[-1] if versions else 0, self._deleted_version(product_id)) + 1

    def _deleted_version(self, product_id: str) -> int:
        marks = (self.root / _DELETED_DIR).glob(f"{product_id}@*")
        return max((int(mark.name.rpartition("@")[2]) for mark in marks), default=0)

    def _mark_deleted(self, product_id: str, version: int) -> None:
        """Notes the version a deleted product was at. The mark is a name, not content: it needs no data
        block, so deleting products to free a full disk still works (and a mark that cannot be made does not
        stop the delete: only a later Teach's numbering would start lower)."""
        folder = self.root / _DELETED_DIR
        try:
            (folder / f"{product_id}@{version}").touch()
            fsync_directory(folder)
        except OSError:
            return
        for older in folder.glob(f"{product_id}@*"):
            if older.name != f"{product_id}@{version}":
                older.unlink(missing_ok=True)

    def load_images(self, bank: MemoryBank) -> TeachImages:
        """The images bank's version was taught from; ProductUnusable saying why when there are none
        (stored before teach images were kept) or their file is missing or damaged."""
        if not bank.teach_images_sha256:
            raise ProductUnusable("it was stored before teach images were kept with each version")
        path = self.images_path(bank.product_id, bank.teach_images_sha256)
        try:
            content = path.read_bytes()
        except OSError as error:
            raise ProductUnusable(f"its teach images file {path} is unusable: {error.strerror}") from error
        try:
            return decode_teach_images(content, bank.teach_images_sha256)
        except ProductUnusable as error:
            raise ProductUnusable(f"its teach images file {path} is unusable: {error}") from error

    def save(self, version: ProductVersion, base_version: int = 0) -> MemoryBank:
        """Write a new version whole - its images (unless stored already), then its bank - and prune.

        The version must be newer than every stored one, and the product at base_version unless that is 0
        (VersionConflict otherwise: another writer was first); StorageError when the disk refuses the version,
        which then is not stored.
        """
        bank = version.bank
        versions = self._versions(bank.product_id)
        self._check_base(bank.product_id, versions, base_version)
        if versions and bank.version <= versions[-1]:
            raise VersionConflict(
                f"product {bank.product_id!r} version {bank.version} is not newer than the stored "
                f"version {versions[-1]}; nothing was changed"
            )
        if version.images is not None and version.images.sha256 != bank.teach_images_sha256:
            raise ValueError("the bank does not name the images it is saved with")
        directory = self._product_dir(bank.product_id)
        try:
            if version.images is not None:
                path = self.images_path(bank.product_id, version.images.sha256)
                if not _holds(path, version.images.sha256):  # another version may have stored them already
                    write_atomically(path, version.images.content, "teach images file")
            save_bank(bank, self.version_path(bank.product_id, bank.version))
        except StorageError:
            self._forget_unsaved(directory)
            raise
        # The version is stored, so the change is made: what cannot be removed now goes with the next save.
        with contextlib.suppress(StorageError, OSError):
            for old in versions[: max(0, len(versions) + 1 - _VERSIONS_KEPT)]:
                self.version_path(bank.product_id, old).unlink(missing_ok=True)
            self._remove_unnamed_images(directory)
        return bank

    def _forget_unsaved(self, directory: Path) -> None:
        """After a version could not be written (disk full): removes its images if they were written, which no
        bank names, so a refused change does not keep the space it took, and the folder a refused first Teach
        made. What cannot be removed now is removed at the next start."""
        with contextlib.suppress(StorageError, OSError):
            self._remove_unnamed_images(directory)
            directory.rmdir()  # only when empty: a product's first version

    def save_rebuilt(self, source: MemoryBank, rebuilt: MemoryBank) -> MemoryBank:
        """Stores `rebuilt` (taught again from source's images) as the next version, sharing source's images
        file; source stays as the previous version, for a start with the old model."""
        bank = dataclasses.replace(
            rebuilt,
            version=self.next_version(source.product_id),
            teach_images_sha256=source.teach_images_sha256,
        )
        return self.save(ProductVersion(bank), base_version=source.version)

    def replace_current(self, bank: MemoryBank) -> None:
        """Writes bank over the product's current version, which must be bank.version (VersionConflict
        otherwise): a rebuild for this server's model that keeps the version number it has in a fleet."""
        self._check_base(bank.product_id, self._versions(bank.product_id), bank.version)
        save_bank(bank, self.version_path(bank.product_id, bank.version))

    @staticmethod
    def _check_base(product_id: str, versions: list[int], base_version: int) -> None:
        """VersionConflict unless base_version is 0 or the highest of versions."""
        current = versions[-1] if versions else 0
        if base_version and current != base_version:
            raise VersionConflict.of(product_id, current, base_version)

    def delete(self, product_id: str, expected_version: int = 0) -> int:
        """Remove every version of product_id; returns the version that was current (ProductNotFound;
        VersionConflict unless it is expected_version or that is 0).

        The directory is renamed away first, so a concurrent reader sees the whole product or none of it.
        """
        version = self.current_version(product_id)
        self._check_base(product_id, [version], expected_version)
        self._mark_deleted(product_id, version)
        doomed = self.root / f"{_DELETING_PREFIX}{product_id}-{uuid.uuid4().hex}"
        try:
            self._product_dir(product_id).rename(doomed)
        except OSError as error:
            raise _storage_error(f"delete product {product_id!r}", error) from error
        # The product is deleted: what cannot be removed now goes at the next start (remove_temporaries).
        shutil.rmtree(doomed, ignore_errors=True)
        return version

    def remove_temporaries(self) -> None:
        """Remove what a crash can leave behind: half-written temp files, images files no version names,
        half-deleted products, the empty folder of a product whose first version was never written."""
        try:
            for path in self.root.iterdir():
                if path.name.startswith(_DELETING_PREFIX) and path.is_dir():
                    shutil.rmtree(path)
                elif _PRODUCT_ID.fullmatch(path.name) and path.is_dir():
                    for temp in path.glob(f"*{TEMP_SUFFIX}"):
                        temp.unlink()
                    self._remove_unnamed_images(path)
                    if not any(path.iterdir()):  # a first Teach that died before its bank was written
                        path.rmdir()
        except OSError as error:
            raise _storage_error(f"clean up temporary files in {self.root}", error) from error

    @staticmethod
    def _remove_unnamed_images(directory: Path) -> None:
        """Remove the images files in a product's directory that no bank there names. Keeps them all when a
        bank cannot be read: it may name any of them."""
        named = set()
        for bank_path in directory.iterdir():
            if _VERSION_FILE.fullmatch(bank_path.name):
                try:
                    named.add(load_bank(bank_path).teach_images_sha256)
                except ProductUnusable:
                    return
        for images_path in directory.glob(f"*{_IMAGES_SUFFIX}"):
            if images_path.name.removesuffix(_IMAGES_SUFFIX) not in named:
                try:
                    images_path.unlink()
                except OSError as error:
                    raise _storage_error(f"remove unused teach images {images_path.name}", error) from error
