"""The images a product version was taught from, kept with it so the product can learn more good images
(AddImages) and be rebuilt when the model changes.

Each image is kept as the bytes of an image file: as received (JPEG/PNG/BMP/TIFF), a raw camera buffer as a
PNG (lossless), so decoding it again gives the pixels the product was taught with.

File layout (integers little-endian):

    magic            8 bytes   b"PCEIMGS\\0"
    format version   uint32    FORMAT_VERSION
    header length    uint64    n
    header           n bytes   UTF-8 JSON: {"images": [{"bytes": size, "sha256": hex digest}, ...]}
    images           the image files back to back, in teach order

The sha256 of the whole file names it in the store and is recorded in the bank of every version taught from
it (MemoryBank.teach_images_sha256), so a damaged file is never taught from; the per-image digests say which
image is damaged.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from patchcore.errors import InvalidInput, ProductUnusable

MAGIC = b"PCEIMGS\0"
FORMAT_VERSION = 1
_PREAMBLE = struct.Struct("<8sIQ")  # magic, format version, header length


@dataclass(frozen=True)
class TeachImages:
    """The teach images of one product version, in teach order, each the bytes of an image file."""

    files: tuple[bytes, ...]

    def __len__(self) -> int:
        return len(self.files)

    def __add__(self, more: TeachImages) -> TeachImages:
        return TeachImages(self.files + more.files)

    @cached_property
    def content(self) -> bytes:
        """The file that stores these images."""
        entries = [{"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()} for data in self.files]
        header = json.dumps({"images": entries}).encode()
        return b"".join([_PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(header)), header, *self.files])

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def png_file(pixels: np.ndarray) -> bytes:
    """The bytes of a lossless PNG of pixels: [H, W, 3] uint8 RGB or [H, W] uint8 grey."""
    bgr = pixels if pixels.ndim == 2 else np.ascontiguousarray(pixels[:, :, ::-1])
    ok, encoded = cv2.imencode(".png", bgr)
    if not ok:
        raise InvalidInput(f"the {pixels.shape[1]}x{pixels.shape[0]} image could not be encoded as PNG")
    return encoded.tobytes()


def _entries(content: bytes) -> tuple[list[dict], int]:
    """The header's image entries and where the first image starts; ValueError saying what is wrong."""
    if len(content) < _PREAMBLE.size:
        raise ValueError(f"only {len(content)} bytes long (truncated)")
    magic, format_version, header_length = _PREAMBLE.unpack_from(content)
    if magic != MAGIC:
        raise ValueError("not a patchcore-edge teach images file")
    if format_version != FORMAT_VERSION:
        raise ValueError(f"file format version {format_version}, this server reads version {FORMAT_VERSION}")
    start = _PREAMBLE.size + header_length
    if len(content) < start:
        raise ValueError(f"only {len(content)} bytes long, shorter than its header (truncated)")
    try:
        entries = json.loads(content[_PREAMBLE.size : start])["images"]
        sizes = [int(entry["bytes"]) for entry in entries]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"its header is damaged ({error})") from error
    if start + sum(sizes) != len(content):
        raise ValueError(f"{len(content)} bytes long, its header describes {start + sum(sizes)} (truncated?)")
    return entries, start


def _damage(content: bytes) -> str:
    """Why content, whose checksum is wrong, is damaged: the first damaged image, else the header."""
    try:
        entries, offset = _entries(content)
    except ValueError as error:
        return str(error)
    for number, entry in enumerate(entries, start=1):
        data = content[offset : offset + entry["bytes"]]
        offset += entry["bytes"]
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            return f"teach image {number} of {len(entries)} is damaged (checksum mismatch)"
    return "its header is damaged (checksum mismatch)"


def decode_teach_images(content: bytes, sha256: str) -> TeachImages:
    """The images of a teach images file whose content must have this sha256.

    ProductUnusable saying what is damaged (the caller adds which file) when it does not.
    """
    if hashlib.sha256(content).hexdigest() != sha256:
        raise ProductUnusable(_damage(content))
    entries, offset = _entries(content)
    files = []
    for entry in entries:
        files.append(content[offset : offset + entry["bytes"]])
        offset += entry["bytes"]
    return TeachImages(tuple(files))
