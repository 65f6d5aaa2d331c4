"""A product version as one file, to ship it whole between stores (a fleet of servers):

    magic            8 bytes   b"PCEVERS\\0"
    format version   uint32    FORMAT_VERSION
    bank length      uint64    n
    bank             n bytes   the bank file (patchcore/bank.py), checksummed itself
    images           the rest  the teach images file its bank names (patchcore/teach_images.py); empty when
                               the bank names none (a version from before teach images were kept)

Decoding checks the bank's checksum and that the images are the ones the bank names, so a version read from
this file is the version that was written or an error; the file's own sha256 travels beside it.
"""

from __future__ import annotations

import struct
from pathlib import Path

from patchcore.bank import decode_bank, encode_bank
from patchcore.errors import ProductUnusable
from patchcore.product_version import ProductVersion
from patchcore.teach_images import decode_teach_images

MAGIC = b"PCEVERS\0"
FORMAT_VERSION = 1
_PREAMBLE = struct.Struct("<8sIQ")  # magic, format version, bank length


def encode_version_file(version: ProductVersion) -> bytes:
    """The file for `version`, which must carry exactly the images its bank names (if it names any)."""
    bank = version.bank
    images = version.images.content if version.images is not None else b""
    carried = version.images.sha256 if version.images is not None else ""
    if bank.teach_images_sha256 != carried:
        raise ValueError("a version file carries the images its bank names")
    bank_content = encode_bank(bank)
    return _PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(bank_content)) + bank_content + images


def decode_version_file(content: bytes, name: str) -> ProductVersion:
    """The version in a version file; ProductUnusable naming `name` and what is wrong otherwise."""
    if len(content) < _PREAMBLE.size:
        raise ProductUnusable(f"version file {name} is only {len(content)} bytes long (truncated)")
    magic, format_version, bank_length = _PREAMBLE.unpack_from(content)
    if magic != MAGIC:
        raise ProductUnusable(f"{name} is not a patchcore-edge version file")
    if format_version != FORMAT_VERSION:
        raise ProductUnusable(
            f"version file {name} has format version {format_version}, this server reads {FORMAT_VERSION}"
        )
    bank_end = _PREAMBLE.size + bank_length
    bank = decode_bank(content[_PREAMBLE.size : bank_end], Path(name))
    images_content = content[bank_end:]
    if not bank.teach_images_sha256:
        if images_content:
            raise ProductUnusable(f"version file {name} carries teach images its bank does not name")
        return ProductVersion(bank)
    try:
        images = decode_teach_images(images_content, bank.teach_images_sha256)
    except ProductUnusable as error:
        raise ProductUnusable(f"the teach images in version file {name} are unusable: {error}") from error
    return ProductVersion(bank, images)
