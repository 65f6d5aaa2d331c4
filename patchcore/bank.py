"""A taught product (memory bank) and its file format.

File layout (all integers little-endian):

    magic            8 bytes   b"PCEBANK\\0"
    format version   uint32    FORMAT_VERSION
    header length    uint64    n
    header           n bytes   UTF-8 JSON: product, version, model fingerprint, options, stats, vector shape,
                               the sha256 of the teach images file (patchcore/teach_images.py; absent in
                               files written before teach images were kept), the fine bank's shape and
                               scale (format 2)
    vectors          M*D*4     float32 little-endian, row-major [M, D]
    fine vectors     F*d*4     format 2 only: the fine bank (patchcore/fine.py), float32 [F, d]
    checksum         32 bytes  sha256 of everything above

A bank without a fine bank is written as format 1, so a server from before format 2 still reads it.

The checksum makes a truncated or bit-flipped file fail loudly instead of scoring with garbage.
"""

import dataclasses
import hashlib
import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from patchcore.align import Reference
from patchcore.durable import write_atomically
from patchcore.errors import InvalidInput, ProductUnusable
from patchcore.fine import FineBank
from patchcore.geometry import FrameView, Rect, check_roi, check_tile_size
from patchcore.outliers import outlier_images

MAGIC = b"PCEBANK\0"
FORMAT_VERSION = 2
FORMAT_WITHOUT_FINE = 1
_PREAMBLE = struct.Struct("<8sIQ")  # magic, format version, header length
_CHECKSUM_SIZE = hashlib.sha256().digest_size
_VECTOR_DTYPE = np.dtype("<f4")
# Multiplies the highest held-out score to give the default threshold (see patchcore/threshold.py; chosen by
# `make bench-accuracy` section "thresholds", README "Accuracy").
DEFAULT_THRESHOLD_SCALE = 1.15
MAX_LINE_VIEWS = 32


@dataclass
class ProductOptions:
    """What an operator may change without re-teaching (UpdateProduct)."""

    threshold: float
    top_k: int = 1  # image score = mean of the top_k patch scores (1 = max, plain PatchCore)
    min_region_area: int = 0  # defect regions smaller than this many frame pixels are not reported

    def __post_init__(self) -> None:
        if not math.isfinite(self.threshold) or self.threshold < 0:
            raise InvalidInput(f"the threshold must be a finite number >= 0, got {self.threshold}")
        if self.top_k < 1:
            raise InvalidInput(f"top_k must be at least 1, got {self.top_k}")
        if self.min_region_area < 0:
            raise InvalidInput(f"min_region_area must be >= 0, got {self.min_region_area}")


@dataclass
class TeachOptions:
    """How a product is taught.

    The memory bank keeps coreset_ratio x the training images' patch count, counting at most 16 images
    (patchcore.coreset.bank_size). Augmented views and images past 16 are not counted: they widen the choice
    of patches, not the bank, so inference cost stays the same.
    """

    coreset_ratio: float = 0.1
    augment_rotations: bool = False  # add 90/180/270 rotations and flips of each image (rotation-free parts)
    line_views: int = 4  # extra views of each image as the line varies it (patchcore.augment.line_views)
    contrast_stretch: bool = False  # stretch each frame's contrast before the model (patchcore.images)
    threshold_scale: float = DEFAULT_THRESHOLD_SCALE
    top_k: int = 1
    seed: int = 0
    roi: Rect | None = None  # frame pixels; None = the whole frame
    tile_size: int = 0  # frame pixels; 0 = the whole ROI as one model input (patchcore.geometry)
    align: bool = False  # turn and shift each frame onto the first teach frame (patchcore.align)

    def __post_init__(self) -> None:
        if not 0 < self.coreset_ratio <= 1:
            raise InvalidInput(f"the coreset ratio must be in (0, 1], got {self.coreset_ratio}")
        if not math.isfinite(self.threshold_scale) or self.threshold_scale <= 0:
            raise InvalidInput(f"the threshold scale must be a finite number > 0, got {self.threshold_scale}")
        if self.top_k < 1:
            raise InvalidInput(f"top_k must be at least 1, got {self.top_k}")
        check_tile_size(self.tile_size)
        if self.roi is not None:
            check_roi(self.roi)
        if self.seed < 0:
            raise InvalidInput(f"the seed must be 0 or more, got {self.seed}")
        if not 0 <= self.line_views <= MAX_LINE_VIEWS:
            raise InvalidInput(f"line_views must be in 0..{MAX_LINE_VIEWS}, got {self.line_views}")

    def view(
        self,
        input_size: int,
        reference: Reference | None = None,
        frame_size: tuple[int, int] | None = None,
    ) -> FrameView:
        """What a model with input_size inputs sees of a frame of this product (aligned to reference, when
        the product aligns; without one, to the first teach frame; frames of frame_size only, when set)."""
        return FrameView(
            input_size, self.roi, self.tile_size, self.contrast_stretch, self.align, reference, frame_size
        )


@dataclass
class TeachStats:
    image_count: int
    patch_count: int  # training patches before the coreset (augmented views included)
    bank_size: int
    teach_seconds: float
    leave_one_out_scores: list[float]  # per-image held-out scores the threshold comes from (threshold.py)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per teach stage

    @property
    def outlier_images(self) -> list[int]:
        """The images whose held-out scores stand far above the others' (patchcore.outliers)."""
        return outlier_images(self.leave_one_out_scores)


@dataclass
class MemoryBank:
    product_id: str
    version: int
    model_fingerprint: str
    vectors: np.ndarray  # [M, D] float32 unit vectors (the coreset)
    options: ProductOptions
    teach_options: TeachOptions
    stats: TeachStats
    created_unix: int
    # sha256 of the file of images this version was taught from; "" = none kept (stored before they were)
    teach_images_sha256: str = ""
    reference: Reference | None = None  # what frames are aligned to, when teach_options.align
    # (H, W) of the teach frames, which every frame must have when the product's geometry is in their pixels
    # (FrameView.in_frame_pixels); None otherwise, and in files written before it was kept
    frame_size: tuple[int, int] | None = None
    fine: FineBank | None = None  # the fine channel of a product whose tiles are shrunk (patchcore/fine.py)

    def view(self, input_size: int) -> FrameView:
        """What a model with input_size inputs sees of a frame of this product."""
        return self.teach_options.view(input_size, self.reference, self.frame_size)


def _header(bank: MemoryBank) -> bytes:
    header = {
        "product_id": bank.product_id,
        "version": bank.version,
        "model_fingerprint": bank.model_fingerprint,
        "created_unix": bank.created_unix,
        "options": dataclasses.asdict(bank.options),
        "teach_options": dataclasses.asdict(bank.teach_options),
        "stats": dataclasses.asdict(bank.stats),
        "vectors": {"count": bank.vectors.shape[0], "dim": bank.vectors.shape[1], "dtype": _VECTOR_DTYPE.str},
        "teach_images_sha256": bank.teach_images_sha256,
        "reference": bank.reference.to_json() if bank.reference else None,
        "frame_size": list(bank.frame_size) if bank.frame_size else None,
    }
    if bank.fine is not None:
        count, dim = bank.fine.vectors.shape
        header["fine"] = {"count": count, "dim": dim, "scale": bank.fine.scale}
    return json.dumps(header, sort_keys=True).encode()


def encode_bank(bank: MemoryBank) -> bytes:
    """The complete file content for bank."""
    header = _header(bank)
    arrays = [bank.vectors] if bank.fine is None else [bank.vectors, bank.fine.vectors]
    version = FORMAT_WITHOUT_FINE if bank.fine is None else FORMAT_VERSION
    body = _PREAMBLE.pack(MAGIC, version, len(header)) + header
    body += b"".join(np.ascontiguousarray(array, dtype=_VECTOR_DTYPE).tobytes() for array in arrays)
    return body + hashlib.sha256(body).digest()


def save_bank(bank: MemoryBank, path: str | Path) -> None:
    """Write bank to path atomically and durably (patchcore.durable). StorageError on OSError."""
    write_atomically(Path(path), encode_bank(bank), "product file")


def _unusable(path: Path, reason: str) -> ProductUnusable:
    return ProductUnusable(f"product file {path} is unusable: {reason}")


def decode_bank(content: bytes, path: Path) -> MemoryBank:
    """Parse a bank file's content; ProductUnusable naming path and the reason if it is not a valid bank."""
    if len(content) < _PREAMBLE.size + _CHECKSUM_SIZE:
        raise _unusable(path, f"only {len(content)} bytes long (truncated)")
    magic, format_version, header_length = _PREAMBLE.unpack_from(content)
    if magic != MAGIC:
        raise _unusable(path, "not a patchcore-edge bank file")
    if format_version not in (FORMAT_WITHOUT_FINE, FORMAT_VERSION):
        raise _unusable(
            path,
            f"file format version {format_version}, this server reads versions {FORMAT_WITHOUT_FINE} and "
            f"{FORMAT_VERSION}",
        )
    body, checksum = content[:-_CHECKSUM_SIZE], content[-_CHECKSUM_SIZE:]
    if hashlib.sha256(body).digest() != checksum:
        raise _unusable(path, "checksum mismatch (the file is truncated or corrupted)")
    header_end = _PREAMBLE.size + header_length
    try:
        header = json.loads(body[_PREAMBLE.size : header_end])
        vectors, fine = _vectors(body[header_end:], header)
        return MemoryBank(
            product_id=header["product_id"],
            version=header["version"],
            model_fingerprint=header["model_fingerprint"],
            vectors=vectors.astype(np.float32),
            options=ProductOptions(**header["options"]),
            teach_options=_teach_options(header["teach_options"]),
            stats=TeachStats(**header["stats"]),
            created_unix=header["created_unix"],
            teach_images_sha256=header.get("teach_images_sha256", ""),
            reference=Reference.from_json(header["reference"]) if header.get("reference") else None,
            frame_size=_frame_size(header.get("frame_size")),
            fine=fine,
        )
    except (ValueError, KeyError, TypeError, InvalidInput) as error:
        raise _unusable(path, f"malformed content ({error})") from error


def _vectors(data: bytes, header: dict) -> tuple[np.ndarray, FineBank | None]:
    """The bank's vectors [M, D] and its fine bank from what follows the header (ValueError when the sizes do
    not add up)."""
    shapes = [(header["vectors"]["count"], header["vectors"]["dim"])]
    fine = header.get("fine")
    if fine is not None:
        shapes.append((fine["count"], fine["dim"]))
    sizes = [rows * dim * _VECTOR_DTYPE.itemsize for rows, dim in shapes]
    if sum(sizes) != len(data):
        raise ValueError(f"{len(data)} bytes of vectors, the header says {sum(sizes)}")
    arrays = [
        np.frombuffer(data, dtype=_VECTOR_DTYPE, count=rows * dim, offset=offset).reshape(rows, dim)
        for (rows, dim), offset in zip(shapes, np.cumsum([0, *sizes[:-1]]), strict=True)
    ]
    vectors = arrays[0].astype(np.float32)
    return vectors, None if fine is None else FineBank(arrays[1].astype(np.float32), float(fine["scale"]))


def _frame_size(field: object) -> tuple[int, int] | None:
    """The header's frame_size: None, or (H, W) of two positive ints (ValueError otherwise)."""
    if field is None:
        return None
    if not (
        isinstance(field, list) and len(field) == 2 and all(type(side) is int and side > 0 for side in field)
    ):
        raise ValueError(f"frame_size {field!r} is not [height, width]")
    return (field[0], field[1])


def _teach_options(fields: dict) -> TeachOptions:
    """A file written before line views existed was taught without them: it keeps 0 (what an AddImages or a
    rebuild of it then uses), not today's default."""
    roi = fields.get("roi")
    return TeachOptions(**{"line_views": 0, **fields, "roi": Rect(**roi) if roi else None})


def load_bank(path: str | Path) -> MemoryBank:
    """Read a bank file (ProductUnusable naming the file and the reason if it cannot be used)."""
    path = Path(path)
    try:
        content = path.read_bytes()
    except OSError as error:
        raise _unusable(path, error.strerror or str(error)) from error
    return decode_bank(content, path)
