"""The products the server holds: each product's current memory bank and the Scorer built from it.

Every change (teach, update, delete) runs on one dedicated writer thread, so changes of a product never race
and the heavy bank building stays off the gRPC request threads. A change is stored first (atomically, by
ProductStore.save) and swapped into the registry after; a frame keeps the Scorer it looked up, so frames in
flight finish with the version they started with.
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
from patchcore.errors import ProductNotFound, ProductUnusable
from patchcore.model import FeatureExtractor
from patchcore.prepare import PreparedFrame
from patchcore.scoring import Scorer
from patchcore.store import ProductStore
from patchcore.teach import teach
from server.logs import log_event

T = TypeVar("T")


@dataclass(frozen=True)
class ProductEntry:
    """One product as loaded. `scorer` is None when the product cannot be inspected; `problem` says why."""

    product_id: str
    bank: MemoryBank | None  # None when the stored bank could not be read
    scorer: Scorer | None
    problem: str = ""

    @property
    def usable(self) -> bool:
        return self.scorer is not None

    def require_scorer(self) -> Scorer:
        """The Scorer; ProductUnusable when there is none."""
        if self.scorer is None:
            raise ProductUnusable(f"product {self.product_id!r} cannot be inspected: {self.problem}")
        return self.scorer


class ProductRegistry:
    def __init__(self, store: ProductStore, extractor: FeatureExtractor) -> None:
        self._store = store
        self._extractor = extractor
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

    def teach(self, product_id: str, frames: Sequence[PreparedFrame], options: TeachOptions) -> ProductEntry:
        """Builds a new version from good frames (prepared with options' view), stores it, swaps it in."""
        ProductStore.validate_product_id(product_id)

        def build() -> ProductEntry:
            version = self._store.next_version(product_id)
            bank = teach(self._extractor, frames, product_id, options, version=version)
            return self._store_and_swap(bank)

        return self._write(build)

    def update(self, product_id: str, change: Callable[[ProductOptions], ProductOptions]) -> ProductEntry:
        """Stores a new version whose options are change(current options); the memory bank stays the same."""

        def apply() -> ProductEntry:
            bank = self.get(product_id).bank
            if bank is None:
                raise ProductUnusable(f"product {product_id!r} has an unreadable bank; teach it again")
            new_bank = dataclasses.replace(
                bank,
                version=self._store.next_version(product_id),
                options=change(bank.options),
                created_unix=int(time.time()),
            )
            return self._store_and_swap(new_bank)

        return self._write(apply)

    def delete(self, product_id: str) -> int:
        """Deletes every stored version; returns the version that was current."""

        def remove() -> int:
            self.get(product_id)
            deleted_version = self._store.delete(product_id)
            with self._lock:
                del self._entries[product_id]
            return deleted_version

        return self._write(remove)

    def close(self) -> None:
        """Lets a running change finish, then stops the writer thread."""
        self._writer.shutdown(wait=True)

    def _write(self, change: Callable[[], T]) -> T:
        return self._writer.submit(change).result()

    def _store_and_swap(self, bank: MemoryBank) -> ProductEntry:
        entry = self._entry_for(bank)
        self._store.save(bank)
        with self._lock:
            self._entries[bank.product_id] = entry
        return entry

    def _load(self, product_id: str) -> ProductEntry:
        try:
            bank = self._store.load(product_id)
        except ProductUnusable as error:
            return ProductEntry(product_id, bank=None, scorer=None, problem=str(error))
        return self._entry_for(bank)

    def _entry_for(self, bank: MemoryBank) -> ProductEntry:
        try:
            scorer = Scorer(bank, self._extractor.info)
        except ProductUnusable as error:
            return ProductEntry(bank.product_id, bank=bank, scorer=None, problem=str(error))
        return ProductEntry(bank.product_id, bank=bank, scorer=scorer)
