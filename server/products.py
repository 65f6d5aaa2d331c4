"""The products the server holds: each product's current memory bank and the Scorer built from it.

Every change (teach, add images, update, delete, storing a rebuild) runs on one dedicated writer thread, so
changes of a product never race, an expected_version checked at the start of a change still holds when it is
stored, and the heavy bank building stays off the gRPC request threads. A change is stored first (whole and
atomically, by the store) and swapped into the registry after; a frame keeps the Scorer it looked up, so
frames in flight finish with the version they started with.

A product built with another model whose teach images are stored is queued for a rebuild (server/rebuild.py)
and answers FAILED_PRECONDITION saying so until the rebuilt version is swapped in. One without stored images
(taught before they were kept) says it must be taught again.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from patchcore.bank import MemoryBank, ProductOptions, TeachOptions
from patchcore.errors import ProductNotFound, ProductUnusable, StorageError, VersionConflict
from patchcore.model import FeatureExtractor, ModelInfo
from patchcore.prepare import PreparedFrame
from patchcore.product_version import ProductVersion, VersionStore
from patchcore.scoring import Scorer
from patchcore.store import ProductStore
from patchcore.teach import Progress, stage_progress, teach
from patchcore.teach_images import TeachImages
from server.logs import log_event
from server.relearn import PrepareFiles, teach_again

ADDED_IMAGE = "added image"  # how errors name the images of an AddImages call
TEACH_AGAIN = "Teach the product again with this model"  # what repairs a product whose rebuild failed

T = TypeVar("T")


@dataclass(frozen=True)
class ProductEntry:
    """One product as loaded. `scorer` is None when the product cannot be inspected; `problem` says why.

    A version received or changed while this server held a usable one, and built for another model, waits
    for its rebuild with that one as its `stand_in`: frames are inspected with the previous version meanwhile
    (in a fleet of two models every change on one side would otherwise stop inspection on the other for a
    rebuild's time)."""

    product_id: str
    bank: MemoryBank | None  # None when the stored bank could not be read
    scorer: Scorer | None
    problem: str = ""
    stand_in: ProductEntry | None = None

    @property
    def usable(self) -> bool:
        return self.scorer is not None or self.stand_in is not None

    def inspecting(self) -> ProductEntry:
        """The entry frames are inspected with: this one, or its stand-in while it waits for its rebuild."""
        return self if self.scorer is not None or self.stand_in is None else self.stand_in

    def require_scorer(self) -> Scorer:
        """The Scorer; ProductUnusable when there is none."""
        if self.scorer is None:
            raise ProductUnusable(f"product {self.product_id!r} cannot be inspected: {self.problem}")
        return self.scorer


def describe_model(info: ModelInfo) -> str:
    """The model as a line operator tells models apart, e.g. "efficientnet_lite0 224 px (fingerprint ...)"."""
    return f"{info.backbone} {info.input_size} px (fingerprint {info.fingerprint[:12]})"


class ProductRegistry:
    """prepare_files prepares kept teach images (stored ones and AddImages') as Teach prepares a call's
    images. rebuild_later(product_id) is called for every product swapped in that waits for a rebuild."""

    def __init__(
        self,
        store: VersionStore,
        extractor: FeatureExtractor,
        prepare_files: PrepareFiles,
        rebuild_later: Callable[[str], None] = lambda _product_id: None,
    ) -> None:
        self._store = store
        self._extractor = extractor
        self._prepare_files = prepare_files
        self._rebuild_later = rebuild_later
        self._entries: dict[str, ProductEntry] = {}
        self._lock = threading.Lock()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="product-writer")

    def load_all(self) -> None:
        """Loads every stored product; unusable ones are kept with the reason, so they can be listed."""
        self._store.remove_temporaries()
        entries = {pid: self._load(pid) for pid in self._store.product_ids()}
        with self._lock:
            self._entries = entries
        for entry in entries.values():
            self._queue_if_stale(entry)
            version = entry.bank.version if entry.bank else None
            log_event(
                "product_loaded",
                product=entry.product_id,
                version=version,
                usable=entry.usable,
                problem=entry.problem or None,
            )

    def get(self, product_id: str) -> ProductEntry:
        """The product's current entry; ProductNotFound when there is none."""
        ProductStore.validate_product_id(product_id)
        with self._lock:
            entry = self._entries.get(product_id)
        if entry is None:
            raise ProductNotFound(f"no product {product_id!r} on this server; teach it first")
        return entry

    def entries(self) -> list[ProductEntry]:
        """All products, ordered by id."""
        with self._lock:
            return [self._entries[pid] for pid in sorted(self._entries)]

    def teach(
        self,
        product_id: str,
        frames: Sequence[PreparedFrame],
        images: TeachImages,
        options: TeachOptions,
        expected_version: int = 0,
        progress: Progress | None = None,
    ) -> ProductEntry:
        """Builds a new version from good frames (prepared with options' view; images: the same images as
        they are kept), stores it with its images, swaps it in. progress as teach()'s: an exception it
        raises stops the build, and nothing is stored."""
        ProductStore.validate_product_id(product_id)

        def build() -> ProductEntry:
            self._check_expected(product_id, expected_version)
            self._store.check_writable(product_id)
            version = self._store.next_version(product_id)
            bank = teach(self._extractor, frames, product_id, options, version=version, progress=progress)
            return self._store_and_swap(ProductVersion.taught(bank, images), base_version=expected_version)

        return self._change(product_id, build)

    def add_images(
        self,
        product_id: str,
        images: TeachImages,
        expected_version: int = 0,
        progress: Progress | None = None,
        check_count: Callable[[int, int], None] = lambda stored, added: None,
    ) -> ProductEntry:
        """Builds a new version from the current version's stored images and these (image files as kept),
        with the product's own TeachOptions, stores it with all its images, swaps it in; progress as in
        teach(). check_count(stored, added) may refuse the image count, checked when the change's turn comes
        (two calls at once each see the other's images)."""

        def build() -> ProductEntry:
            current = self._current_bank(product_id)
            self._check_expected(product_id, expected_version)
            check_count(current.stats.image_count, len(images.files))
            self._store.check_writable(product_id)
            try:
                stored = self._store.load_images(current)
            except ProductUnusable as error:
                raise ProductUnusable(
                    f"cannot add images to product {product_id!r}: {error}; teach it again with all its good "
                    "images"
                ) from error
            version = self._store.next_version(product_id)  # before the work: a fleet's store may be away
            view = current.view(self._extractor.info.input_size)
            new_frames = self._prepare_files(
                images, view, noun=ADDED_IMAGE, progress=stage_progress(progress, "prepare")
            )
            bank = teach_again(
                self._extractor, current, stored, self._prepare_files, new_frames, progress=progress
            )
            bank = dataclasses.replace(bank, version=version)
            return self._store_and_swap(ProductVersion.taught(bank, stored + images), current.version)

        return self._change(product_id, build)

    def update(
        self,
        product_id: str,
        change: Callable[[ProductOptions], ProductOptions],
        expected_version: int = 0,
        proceed: Callable[[], None] = lambda: None,
    ) -> ProductEntry:
        """Stores a new version whose options are change(current options); the memory bank stays the same.
        proceed() is called when the change's turn comes, and may raise to call it off (its call ended while
        it waited behind a Teach)."""

        def apply() -> ProductEntry:
            proceed()
            bank = self._current_bank(product_id)
            self._check_expected(product_id, expected_version)
            new_bank = dataclasses.replace(
                bank,
                version=self._store.next_version(product_id),
                options=change(bank.options),
                created_unix=int(time.time()),
            )
            return self._store_and_swap(ProductVersion(new_bank), bank.version)

        return self._change(product_id, apply)

    def delete(
        self, product_id: str, expected_version: int = 0, proceed: Callable[[], None] = lambda: None
    ) -> int:
        """Deletes every stored version; returns the version that was current. proceed as in update()."""

        def remove() -> int:
            proceed()
            self.get(product_id)
            self._check_expected(product_id, expected_version)
            deleted_version = self._store.delete(product_id, expected_version)
            with self._lock:
                del self._entries[product_id]
            return deleted_version

        return self._change(product_id, remove)

    def needs_rebuild(self, bank: MemoryBank | None) -> bool:
        """Built with another model, and rebuildable: its teach images are stored."""
        return (
            bank is not None
            and bank.model_fingerprint != self._extractor.info.fingerprint
            and bool(bank.teach_images_sha256)
        )

    def rebuilt_bank(
        self, source: MemoryBank, extractor: FeatureExtractor, progress: Progress | None = None
    ) -> MemoryBank:
        """A bank of source's product taught again from source's stored images with `extractor` (the loaded
        model, as the rebuild runs it): its version number is set when it is stored (store_rebuilt).
        ProductUnusable when the images are missing, damaged or cannot be decoded."""
        stored = self._store.load_images(source)
        return teach_again(extractor, source, stored, self._prepare_files, progress=progress)

    def store_rebuilt(self, source: MemoryBank, rebuilt: MemoryBank) -> ProductEntry:
        """Stores `rebuilt`, built for the loaded model from the images of version `source` (the bank this
        registry served), as the next version; VersionConflict when the product changed since `source`,
        deleted and taught again included (checked by the bank, not its number: a store from before deleted
        versions were noted, or a fleet copy replaced, may reuse a number): nothing is stored."""

        def store() -> ProductEntry:
            if not self._serves(source):
                raise VersionConflict(
                    f"product {source.product_id!r} changed while version {source.version} was rebuilt"
                )
            return self._swap(self._store.save_rebuilt(source, rebuilt))

        return self._write(store)

    def receive(
        self,
        version: ProductVersion,
        save: Callable[[ProductVersion], object],
        foreign: Callable[[], bool] = lambda: False,
    ) -> ProductEntry | None:
        """Stores with `save` and swaps in a version another server stored, unless this server holds it or a
        newer one already (None then) - or holds a copy foreign() says is not the fleet's, asked on the
        writer thread, where no change of the product can come between. Frames in flight finish with the
        version they started with."""

        def store() -> ProductEntry | None:
            if self.held_version(version.bank.product_id) >= version.bank.version and not foreign():
                return None
            save(version)
            return self._swap(version.bank)

        return self._write(store)

    def receive_delete(
        self,
        product_id: str,
        version: int,
        delete: Callable[[str], object],
        foreign: Callable[[], bool] = lambda: False,
    ) -> bool:
        """Deletes with `delete` a product another server deleted at `version`, unless this server does not
        hold it or holds a newer version that foreign() does not say is another than the fleet's (False
        then)."""

        def remove() -> bool:
            held = self.held_version(product_id)
            if held == 0 or (held > version and not foreign()):
                return False
            delete(product_id)
            with self._lock:
                self._entries.pop(product_id, None)
            return True

        return self._write(remove)

    def held_version(self, product_id: str) -> int:
        """The version of product_id this server holds; 0 when none (or its bank is unreadable)."""
        with self._lock:
            entry = self._entries.get(product_id)
        return entry.bank.version if entry is not None and entry.bank is not None else 0

    def rebuild_failed(self, source: MemoryBank, reason: str, advice: str = TEACH_AGAIN) -> None:
        """The product, if it is still `source`, says why it could not be rebuilt for the model, and what to
        do about it."""
        problem = (
            f"it was built with another model (fingerprint {source.model_fingerprint[:12]}) and could not be "
            f"rebuilt for the loaded model {describe_model(self._extractor.info)}: {reason}. {advice}"
        )
        with self._lock:
            entry = self._entries.get(source.product_id)
            if _is_bank_of(entry, source):
                if entry.stand_in is not None and entry.stand_in.bank is not None:
                    problem += f"; frames are inspected with version {entry.stand_in.bank.version} meanwhile"
                self._entries[source.product_id] = dataclasses.replace(entry, problem=problem)

    def _serves(self, bank: MemoryBank) -> bool:
        with self._lock:
            return _is_bank_of(self._entries.get(bank.product_id), bank)

    def close(self) -> None:
        """Lets a running change finish, then stops the writer thread."""
        self._writer.shutdown(wait=True)

    def _write(self, change: Callable[[], T]) -> T:
        return self._writer.submit(change).result()

    def _change(self, product_id: str, change: Callable[[], T]) -> T:
        """_write(change) for a change a client asked for. The store's faults name the file and the cause; a
        client must also learn that nothing was changed, and what to do. The product's state is read on the
        writer thread, before a change queued behind this one can make another."""

        def reporting_the_state() -> T:
            try:
                return change()
            except StorageError as error:
                if error.tells_outcome:
                    raise
                state = self._state(product_id)
                raise StorageError(
                    f"{error}. Nothing was changed: {state}. Retry once the store can be written"
                ) from error

        return self._write(reporting_the_state)

    def _state(self, product_id: str) -> str:
        with self._lock:
            entry = self._entries.get(product_id)
        if entry is None:
            return f"product {product_id!r} still does not exist"
        if entry.bank is None:
            return f"product {product_id!r} stays as it was (its bank file unreadable)"
        return f"product {product_id!r} stays at version {entry.bank.version}"

    def _current_bank(self, product_id: str) -> MemoryBank:
        """The product's current bank; ProductNotFound / ProductUnusable when there is none readable."""
        bank = self.get(product_id).bank
        if bank is None:
            raise ProductUnusable(f"product {product_id!r} has an unreadable bank; teach it again")
        return bank

    def _check_expected(self, product_id: str, expected_version: int) -> None:
        """VersionConflict unless expected_version is 0 (any) or the product's current version."""
        if expected_version == 0:
            return
        try:
            current = self._store.current_version(product_id)
        except ProductNotFound:
            current = 0
        if current != expected_version:
            raise VersionConflict.of(product_id, current, expected_version)

    def _store_and_swap(self, version: ProductVersion, base_version: int) -> ProductEntry:
        return self._swap(self._store.save(version, base_version))

    def _swap(self, bank: MemoryBank) -> ProductEntry:
        entry = self._entry_for(bank)
        with self._lock:
            previous = self._entries.get(entry.product_id)
            if entry.scorer is None and self.needs_rebuild(bank) and previous is not None:
                entry = _with_stand_in(entry, previous.inspecting(), describe_model(self._extractor.info))
            self._entries[entry.product_id] = entry
        self._queue_if_stale(entry)
        return entry

    def _queue_if_stale(self, entry: ProductEntry) -> None:
        if self.needs_rebuild(entry.bank):
            self._rebuild_later(entry.product_id)

    def _load(self, product_id: str) -> ProductEntry:
        try:
            bank = self._store.load(product_id)
        except ProductUnusable as error:
            return ProductEntry(product_id, bank=None, scorer=None, problem=str(error))
        return self._entry_for(bank)

    def _entry_for(self, bank: MemoryBank) -> ProductEntry:
        if self.needs_rebuild(bank):
            problem = (
                f"it was built with another model (fingerprint {bank.model_fingerprint[:12]}) and is being "
                f"rebuilt from its {bank.stats.image_count} stored teach images for the loaded model "
                f"{describe_model(self._extractor.info)}; it can be inspected once that is done"
            )
            return ProductEntry(bank.product_id, bank=bank, scorer=None, problem=problem)
        try:
            scorer = Scorer(bank, self._extractor.info)
        except ProductUnusable as error:
            return ProductEntry(bank.product_id, bank=bank, scorer=None, problem=str(error))
        return ProductEntry(bank.product_id, bank=bank, scorer=scorer)


def _is_bank_of(entry: ProductEntry | None, bank: MemoryBank) -> bool:
    """Whether bank (the object) is entry's: a version number alone may name another bank (a store from
    before deleted versions were noted, a fleet's copy replacing a local one)."""
    return entry is not None and entry.bank is bank


def _with_stand_in(entry: ProductEntry, previous: ProductEntry, model: str) -> ProductEntry:
    """entry, waiting for its rebuild, inspecting with `previous` meanwhile if that one can."""
    if previous.scorer is None or previous.bank is None or entry.bank is None:
        return entry
    problem = (
        f"version {entry.bank.version} is being rebuilt for the loaded model {model}; frames are inspected "
        f"with version {previous.bank.version} until it is done"
    )
    return dataclasses.replace(entry, problem=problem, stand_in=previous)
