"""A product version, the unit that is stored and shipped whole, and the interface of the stores that keep
versions (the local folder, patchcore/store.py; a fleet store can stand behind the same methods)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

from patchcore.bank import MemoryBank
from patchcore.teach_images import TeachImages


@dataclass(frozen=True)
class ProductVersion:
    """One version of a product: its bank (vectors, options, stats, the model it was built with) and the
    images it was taught from, which the bank names by checksum (MemoryBank.teach_images_sha256).

    images is None when the bank's images are stored already (an options change, a rebuild for another model:
    the versions share them) or when the bank has none (a version from before teach images were kept).
    """

    bank: MemoryBank
    images: TeachImages | None = None

    @classmethod
    def taught(cls, bank: MemoryBank, images: TeachImages) -> ProductVersion:
        """A version built from images: its bank names them."""
        return cls(dataclasses.replace(bank, teach_images_sha256=images.sha256), images)


class VersionStore(Protocol):
    """Where product versions live. save() writes a version whole or not at all (kill -9 at any moment
    leaves the previous version or the new one complete); the current version is the highest complete one.

    A change derived from a version (new options, more images, a rebuild) names it as its base: it is stored
    only if the product is still at that version (VersionConflict otherwise, nothing stored).
    """

    def product_ids(self) -> list[str]: ...

    def current_version(self, product_id: str) -> int: ...

    def next_version(self, product_id: str) -> int: ...

    def check_writable(self, product_id: str) -> None:
        """StorageError unless a version of product_id can be written now, so that a long build learns that
        the store refuses it (read-only) before it starts instead of at its end."""
        ...

    def load(self, product_id: str) -> MemoryBank: ...

    def load_images(self, bank: MemoryBank) -> TeachImages: ...

    def save(self, version: ProductVersion, base_version: int = 0) -> MemoryBank:
        """Stores version unless the product moved on from base_version (0 = whatever is stored); returns the
        bank as stored: a store shared by several servers numbers it above a version stored meanwhile."""
        ...

    def save_rebuilt(self, source: MemoryBank, rebuilt: MemoryBank) -> MemoryBank:
        """Stores `rebuilt`, built for another model from the images of version `source`, unless the product
        moved on from source; returns the bank as stored."""
        ...

    def delete(self, product_id: str, expected_version: int = 0) -> int: ...

    def remove_temporaries(self) -> None: ...
