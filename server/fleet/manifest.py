"""What the fleet's Key-Value bucket holds per product: its current version's manifest, one JSON value.

A deleted product keeps a manifest marked deleted with the version it was deleted at (a tombstone), so
version numbers keep going up across a delete and a teach again, and a server that missed the delete while
away still learns of it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass

MAX_MANIFEST_BYTES = 4096  # the bucket's max value size: a manifest is a few hundred bytes


@dataclass(frozen=True)
class Manifest:
    version: int
    object_name: str  # the Object Store object holding the version file (patchcore/version_file.py); ""
    sha256: str  # of the version file
    model_fingerprint: str  # of the model the version's bank was built with
    stored_unix: float  # when the writing server stored it (its clock)
    deleted: bool = False
    previous_object: str = ""  # the version before, kept one step as the local folder keeps it

    def encode(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def decode(cls, value: bytes) -> Manifest:
        """ValueError when value is not a manifest."""
        try:
            return cls(**json.loads(value))
        except (TypeError, json.JSONDecodeError) as error:
            raise ValueError(f"not a product manifest ({error})") from error

    @classmethod
    def tombstone(cls, version: int, stored_unix: float) -> Manifest:
        return cls(version, "", "", "", stored_unix, deleted=True)


def product_key(product_id: str) -> str:
    """The bucket key of a product. Keys are NATS subject tokens, where "." separates tokens; product ids may
    hold dots anywhere, and "=" (allowed in keys, never in product ids) stands in for them."""
    return product_id.replace(".", "=")


def key_product(key: str) -> str:
    return key.replace("=", ".")


def new_object_name(product_id: str, version: int) -> str:
    """A name no other object has: two servers storing the same version number at once write two objects,
    and only the one whose manifest wins the compare-and-set is ever read."""
    return f"{product_id}/v{version:08d}-{uuid.uuid4().hex[:12]}"
