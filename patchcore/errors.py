"""The engine's errors. Each message is written for a line operator; the server maps each class to one
gRPC status code (server/status.py) and nowhere else."""


class InspectionError(Exception):
    """Base class of every error the engine raises on purpose."""


class InvalidInput(InspectionError):
    """The caller sent something unusable: an undecodable image, a size mismatch, a bad product id."""


class TooLarge(InspectionError):
    """An image or request exceeds a configured limit."""


class ProductNotFound(InspectionError):
    """No product with this id is stored."""


class ProductUnusable(InspectionError):
    """A stored product cannot be scored with the loaded model: built for another model, or its bank file
    is unreadable."""


class ModelError(InspectionError):
    """The model file is missing, unreadable or does not follow the model contract."""


class StorageError(InspectionError):
    """The product store could not be written (disk full, read-only). A change refused with one changed
    nothing, and its message names only the fault: the server adds the product's state to it. One that
    `tells_outcome` says itself what became of the change (a fleet's store may hold it already)."""

    tells_outcome = False


class VersionConflict(InspectionError):
    """A change named the product version it expected and the product is at another one (optimistic
    concurrency): someone changed it meanwhile, and nothing was changed."""

    @classmethod
    def of(cls, product_id: str, current: int, expected: int, where: str = "") -> "VersionConflict":
        """The conflict of a change made from version `expected` of a product at `current` (0: not stored),
        `where` naming the store when it is not this server's own (" in the fleet")."""
        if not current:
            return cls(
                f"product {product_id!r} is not stored{where} (deleted, or never taught), not at the "
                f"expected version {expected}: nothing was changed; read it again and retry"
            )
        return cls(
            f"product {product_id!r} is at version {current}{where}, not at the expected version {expected}: "
            "it was changed meanwhile, and nothing was changed; read it again and retry"
        )
