"""The VersionStore of a server in a fleet: reads come from the local folder (this server's copy, always
complete); a write goes to the fleet first - the version file into the Object Store, then the product's
manifest into the Key-Value bucket by compare-and-set on its revision - and into the local folder after.

So versions only go up fleet-wide: a version is numbered above the fleet's and the local copy's, and its
manifest is written only if no other server wrote one since it was read. A teach that loses the race is
numbered above the winner and written again (two teaches give two versions, the higher wins everywhere); a
change made from a version (new options, more images) or given an expected_version is refused with
VersionConflict instead, as it was made from a version that is no longer current.

With the store away every write fails with FleetUnavailable before anything is changed, locally or in the
fleet. Rebuilds for this server's model stay local and keep their version number (README "A fleet of
servers").

Each product folder holds a mark of the fleet version its current version is (or was rebuilt from): version
number and version file sha256. A copy without a matching mark is not the fleet's - a server that was on its
own joining a fleet that holds a product of the same name - and the fleet's version replaces it, whatever
the two version numbers (server/fleet/sync.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time

from patchcore.bank import MemoryBank
from patchcore.durable import write_atomically
from patchcore.errors import ProductNotFound, ProductUnusable, StorageError, VersionConflict
from patchcore.product_version import ProductVersion
from patchcore.store import FLEET_MARK, ProductStore
from patchcore.teach_images import TeachImages
from patchcore.version_file import encode_version_file
from server.errors import FleetUnavailable, StoredInFleetOnly
from server.fleet.connection import OBJECT_TIMEOUT_SECONDS, CompareAndSetFailed, FleetConnection
from server.fleet.manifest import Manifest, new_object_name
from server.logs import log_event

# A teach is numbered again and written again when another server stored a version meanwhile; this many
# times in a row means the product is changed faster than this server can store a version.
MAX_WRITE_ATTEMPTS = 5


class FleetStore:
    def __init__(self, local: ProductStore, connection: FleetConnection) -> None:
        self.local = local
        self._connection = connection
        self._published: dict[str, int] = {}  # product -> version this server wrote to the fleet last

    def product_ids(self) -> list[str]:
        return self.local.product_ids()

    def load(self, product_id: str) -> MemoryBank:
        return self.local.load(product_id)

    def load_images(self, bank: MemoryBank) -> TeachImages:
        return self.local.load_images(bank)

    def remove_temporaries(self) -> None:
        self.local.remove_temporaries()

    def check_writable(self, product_id: str) -> None:
        self.local.check_writable(product_id)

    def published_version(self, product_id: str) -> int:
        """The version of product_id this server wrote to the fleet last (0: none since it started)."""
        return self._published.get(product_id, 0)

    def current_version(self, product_id: str) -> int:
        """The fleet's current version (this server's when the fleet does not know the product yet)."""
        manifest, _ = self._read(product_id)
        current = self._current(product_id, manifest)
        if not current:
            raise ProductNotFound(f"no product {product_id!r} is stored in the fleet")
        return current

    def next_version(self, product_id: str) -> int:
        manifest, _ = self._read(product_id)
        return self._above(product_id, manifest, 0)

    def save(self, version: ProductVersion, base_version: int = 0) -> MemoryBank:
        bank = version.bank
        images = version.images
        if images is None and bank.teach_images_sha256:  # shared with the version before: ship them along
            images = self.local.load_images(bank)
        for _ in range(MAX_WRITE_ATTEMPTS):
            manifest, revision = self._read(bank.product_id)
            self._check_base(bank.product_id, manifest, base_version)
            bank = dataclasses.replace(bank, version=self._above(bank.product_id, manifest, bank.version - 1))
            try:
                published = self._publish(ProductVersion(bank, images), manifest, revision)
                break
            except CompareAndSetFailed:
                continue  # another server stored a version since the read: number this one above it
        else:
            raise VersionConflict(
                f"product {bank.product_id!r} was changed on other servers {MAX_WRITE_ATTEMPTS} times while "
                "this server stored a version; nothing was changed; retry"
            )
        self._published[bank.product_id] = bank.version
        # The fleet holds the version now. Should the local folder refuse it (disk full), sync.py brings it
        # in later like any version stored by another server: it must not take it as held already.
        try:
            saved = self.local.save(ProductVersion(bank, images))
        except StorageError as error:
            self._published.pop(bank.product_id, None)
            raise StoredInFleetOnly(
                f"{error}. The fleet holds version {bank.version} of {bank.product_id!r} already: the other "
                "servers serve it, and this server takes it from the fleet once its folder can be written; "
                "do not repeat the change"
            ) from error
        except Exception:
            self._published.pop(bank.product_id, None)
            raise
        self.mark(bank.product_id, bank.version, published.sha256)
        return saved

    def save_rebuilt(self, source: MemoryBank, rebuilt: MemoryBank) -> MemoryBank:
        """Stores the rebuild in the local folder only, as source's version: it changes nothing of the
        product, only what this server's model derives from it, and servers with other models (a rolling
        model upgrade) would otherwise rebuild each other's versions in turn, forever."""
        bank = dataclasses.replace(
            rebuilt, version=source.version, teach_images_sha256=source.teach_images_sha256
        )
        self.local.replace_current(bank)
        return bank

    def delete(self, product_id: str, expected_version: int = 0) -> int:
        """Writes the product's tombstone (other servers delete their copies), then deletes the local copy;
        returns the version that was current."""
        for _ in range(MAX_WRITE_ATTEMPTS):
            manifest, revision = self._read(product_id)
            self._check_base(product_id, manifest, expected_version)
            if manifest is not None and manifest.deleted:  # this server's copy goes with the next sync
                raise ProductNotFound(
                    f"product {product_id!r} was deleted in the fleet meanwhile (at version "
                    f"{manifest.version}); nothing to delete"
                )
            current = self._current(product_id, manifest)
            tombstone = Manifest.tombstone(self._above(product_id, manifest, 0) - 1, time.time())
            try:
                self._connection.call(self._connection.write, product_id, tombstone, revision, commits=True)
                break
            except CompareAndSetFailed:
                continue
        else:
            raise VersionConflict(
                f"product {product_id!r} kept changing on other servers; nothing was deleted; retry"
            )
        if manifest is not None:
            self._remove_objects(manifest.object_name, manifest.previous_object)
        if self._held(product_id):
            try:
                self.local.delete(product_id)
            except StorageError as error:
                raise StoredInFleetOnly(
                    f"{error}. The fleet has deleted {product_id!r} already: the other servers have deleted "
                    "their copies, and this server deletes its own once its folder can be written; do not "
                    "repeat the delete"
                ) from error
        return current

    def publish_held(self, product_id: str) -> bool:
        """Writes this server's copy of a product the fleet has never held (a server joining a fleet with a
        folder of products); False when the fleet holds it meanwhile or the copy cannot be read."""
        try:
            bank = self.local.load(product_id)
            images = self.local.load_images(bank) if bank.teach_images_sha256 else None
        except (ProductNotFound, ProductUnusable) as error:
            log_event("fleet_publish_skipped", level=logging.WARNING, product=product_id, error=str(error))
            return False
        try:
            published = self._publish(ProductVersion(bank, images), None, 0)
        except CompareAndSetFailed:
            return False
        self._published[product_id] = bank.version
        self.mark(product_id, bank.version, published.sha256)
        return True

    def mark(self, product_id: str, version: int, sha256: str) -> None:
        """Notes that the local copy's current version is the fleet's `version` (version file sha256). A mark
        the disk refuses is logged, not raised: the version is stored, and without its mark it costs one
        fetch of the version file at the next pass (sync.py)."""
        mark = json.dumps({"version": version, "sha256": sha256}).encode()
        try:
            write_atomically(self.local.root / product_id / FLEET_MARK, mark, "fleet version mark")
        except StorageError as error:
            log_event("fleet_mark_failed", level=logging.WARNING, product=product_id, error=str(error))

    def holds_fleet_copy(self, product_id: str, manifest: Manifest) -> bool:
        """Whether the local copy's current version is the version manifest names (by its file's sha256), or
        a newer one this server stored in the fleet (a manifest read before its own write landed)."""
        held = self._held(product_id)
        try:
            mark = json.loads((self.local.root / product_id / FLEET_MARK).read_bytes())
        except (OSError, ValueError):
            return False
        if not isinstance(mark, dict) or mark.get("version") != held:
            return False
        if held == manifest.version:
            return mark.get("sha256") == manifest.sha256
        return held > manifest.version

    def save_received(self, version: ProductVersion, sha256: str) -> None:
        """A version fetched from the fleet (version file sha256) into the local folder, marked. A local
        copy at that version or above is not the fleet's (the caller has checked) and is deleted first; a
        crash between the two leaves no copy, and the next start fetches the fleet's."""
        product_id = version.bank.product_id
        if self._held(product_id) >= version.bank.version:
            self.local.delete(product_id)
        self.local.save(version)
        self.mark(product_id, version.bank.version, sha256)

    def _read(self, product_id: str) -> tuple[Manifest | None, int]:
        return self._connection.call(self._connection.read, product_id)

    def _current(self, product_id: str, manifest: Manifest | None) -> int:
        """The product's current version: the fleet's (0 once deleted), or this server's when the fleet
        does not know the product yet."""
        if manifest is None:
            return self._held(product_id)
        return 0 if manifest.deleted else manifest.version

    def _above(self, product_id: str, manifest: Manifest | None, at_least: int) -> int:
        """A version number above every one the fleet (deleted ones too) and the local folder have used."""
        fleet = manifest.version if manifest is not None else 0
        return max(fleet, self._held(product_id), at_least) + 1

    def _held(self, product_id: str) -> int:
        """The local folder's current version of product_id; 0 when it holds none."""
        try:
            return self.local.current_version(product_id)
        except ProductNotFound:
            return 0

    def _check_base(self, product_id: str, manifest: Manifest | None, base_version: int) -> None:
        """VersionConflict unless base_version (the version a change was made from, or expected) is 0 or the
        fleet's. When it is the one this server holds and the fleet is past it, the message says so: the
        caller may have expected the fleet's newest version, or given none."""
        current = self._current(product_id, manifest)
        if not base_version or current == base_version:
            return
        if current > base_version == self._held(product_id):
            raise VersionConflict(
                f"product {product_id!r} is at version {current} in the fleet, and this server still holds "
                f"version {base_version}, from which the change was made (another server changed it "
                "meanwhile): nothing was changed; read it again and retry"
            )
        raise VersionConflict.of(product_id, current, base_version, " in the fleet")

    def _publish(self, version: ProductVersion, previous: Manifest | None, revision: int) -> Manifest:
        """Writes the version file, then the manifest by compare-and-set at `revision`, then removes the
        version file two steps back; returns the manifest. CompareAndSetFailed (its file removed) when
        another server was first."""
        bank = version.bank
        content = encode_version_file(version)
        name = new_object_name(bank.product_id, bank.version)
        self._connection.call(self._connection.put_object, name, content, timeout=OBJECT_TIMEOUT_SECONDS)
        kept = previous.object_name if previous is not None and not previous.deleted else ""
        manifest = Manifest(
            version=bank.version,
            object_name=name,
            sha256=hashlib.sha256(content).hexdigest(),
            model_fingerprint=bank.model_fingerprint,
            stored_unix=time.time(),
            previous_object=kept,
        )
        try:
            self._connection.call(self._connection.write, bank.product_id, manifest, revision, commits=True)
        except CompareAndSetFailed:
            self._remove_objects(name)
            raise
        if previous is not None:
            self._remove_objects(previous.previous_object)
        return manifest

    def _remove_objects(self, *names: str) -> None:
        """Removes version files no manifest names any more; one left behind (store away) is only space."""
        for name in filter(None, names):
            try:
                self._connection.call(self._connection.delete_object, name)
            except FleetUnavailable as error:
                log_event("fleet_object_left", level=logging.WARNING, object=name, error=str(error))
