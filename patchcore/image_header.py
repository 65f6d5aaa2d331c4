"""Read the pixel size an encoded image declares in its header, without decoding it.

A few hundred bytes of PNG or JPEG can declare billions of pixels; decoding such a file would exhaust memory
before any size check on the decoded array could run. These parsers look only at the header fields, so the
caller can refuse an oversized image first. Only the formats the engine accepts are recognised.
"""

import struct

from patchcore.errors import InvalidInput

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_START = b"\xff\xd8"
# JPEG start-of-frame markers carry the frame size; 0xC4 (DHT), 0xC8 (JPG) and 0xCC (DAC) share the range
# but are not frames.
_JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# JPEG markers that stand alone, without a length field.
_JPEG_STANDALONE_MARKERS = frozenset([0x01, *range(0xD0, 0xD8)])
_JPEG_APP1 = 0xE1
_EXIF_START = b"Exif\x00\x00"
_EXIF_ORIENTATION = 0x0112
_TIFF_IMAGE_WIDTH = 256
_TIFF_IMAGE_LENGTH = 257
# TIFF field types that may hold the width/height: SHORT, LONG, LONG8 -> struct code.
_TIFF_INTEGER_TYPES = {3: "H", 4: "I", 16: "Q"}


def declared_size(data: bytes) -> tuple[int, int]:
    """(width, height) that the header of a PNG, JPEG, BMP or TIFF file declares.

    Raises InvalidInput when the format is not one of these or the header is cut short or malformed.
    """
    if data.startswith(PNG_SIGNATURE):
        return _png_size(data)
    if data.startswith(JPEG_START):
        return _jpeg_size(data)
    if data.startswith(b"BM"):
        return _bmp_size(data)
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _tiff_size(data)
    raise InvalidInput("the image is not a JPEG, PNG, BMP or TIFF file")


def _unpack(fmt: str, data: bytes, offset: int) -> tuple[int, ...]:
    if offset < 0 or offset + struct.calcsize(fmt) > len(data):
        raise InvalidInput("the image header is cut short or damaged")
    return struct.unpack_from(fmt, data, offset)


def _png_size(data: bytes) -> tuple[int, int]:
    # Signature (8 bytes), then the IHDR chunk: length (4), type (4), width (4), height (4).
    if data[12:16] != b"IHDR":
        raise InvalidInput("the PNG file has no IHDR header")
    return _unpack(">II", data, 16)


def png_sample_bits(data: bytes) -> tuple[int, int]:
    """(bit depth, significant bits) of a PNG file's samples: the significant bits are fewer than the depth
    where an sBIT chunk before the image data says so (a 12-bit camera's samples in a 16-bit file), else
    the depth."""
    (depth,) = _unpack("B", data, 24)
    offset = len(PNG_SIGNATURE)
    while offset + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        if kind in (b"IDAT", b"IEND"):
            break
        declared = data[offset + 8 : offset + 8 + length]
        if kind == b"sBIT" and declared and 0 < max(declared) < depth:
            return depth, max(declared)
        offset += 12 + length
    return depth, depth


def _jpeg_size(data: bytes) -> tuple[int, int]:
    offset = 2
    while True:
        (marker_prefix,) = _unpack("B", data, offset)
        if marker_prefix != 0xFF:
            raise InvalidInput("the JPEG file has a damaged header")
        (marker,) = _unpack("B", data, offset + 1)
        if marker == 0xFF:  # fill byte before a marker
            offset += 1
            continue
        if marker in _JPEG_STANDALONE_MARKERS:
            offset += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            raise InvalidInput("the JPEG file has no frame header")
        (segment_length,) = _unpack(">H", data, offset + 2)
        if marker in _JPEG_SOF_MARKERS:
            height, width = _unpack(">HH", data, offset + 5)
            return width, height
        offset += 2 + segment_length


def jpeg_orientation(data: bytes) -> int:
    """The EXIF orientation (1-8; 5-8 turn the image by 90 degrees) a JPEG file declares, 1 when it declares
    none or its EXIF block cannot be read."""
    try:
        offset = 2
        while True:
            marker = data[offset + 1]
            if data[offset] != 0xFF or marker in (0xD9, 0xDA):
                return 1
            if marker == 0xFF or marker in _JPEG_STANDALONE_MARKERS:
                offset += 1 if marker == 0xFF else 2
                continue
            (segment_length,) = _unpack(">H", data, offset + 2)
            segment = data[offset + 4 : offset + 2 + segment_length]
            if marker == _JPEG_APP1 and segment.startswith(_EXIF_START):
                return _exif_orientation(segment[len(_EXIF_START) :])
            offset += 2 + segment_length
    except (IndexError, InvalidInput):
        return 1


def _exif_orientation(tiff: bytes) -> int:
    """The orientation tag of the first IFD of an EXIF block's TIFF structure (1 if absent)."""
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd_offset,) = _unpack(order + "I", tiff, 4)
    (entry_count,) = _unpack(order + "H", tiff, ifd_offset)
    for index in range(entry_count):
        tag, field_type, _, value = _unpack(order + "HHIH", tiff, ifd_offset + 2 + index * 12)
        if tag == _EXIF_ORIENTATION and field_type == 3:
            return value if 1 <= value <= 8 else 1
    return 1


def _bmp_size(data: bytes) -> tuple[int, int]:
    (header_size,) = _unpack("<I", data, 14)
    if header_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit unsigned sizes
        return _unpack("<HH", data, 18)
    width, height = _unpack("<ii", data, 18)
    return abs(width), abs(height)  # a negative height means a top-down bitmap


def _tiff_size(data: bytes) -> tuple[int, int]:
    """Size of the first image (IFD), which is the one cv2 decodes. Handles classic TIFF and BigTIFF.

    A size tag given twice is refused: libtiff decodes with the first, so a small size after a huge one
    would pass this check and decode a huge image."""
    order = "<" if data[:2] == b"II" else ">"
    big = _unpack(order + "H", data, 2)[0] == 43
    if big:
        (ifd_offset,) = _unpack(order + "Q", data, 8)
        count_fmt, entry_size, value_offset = "Q", 20, 12
    else:
        (ifd_offset,) = _unpack(order + "I", data, 4)
        count_fmt, entry_size, value_offset = "H", 12, 8
    (entry_count,) = _unpack(order + count_fmt, data, ifd_offset)
    first_entry = ifd_offset + struct.calcsize(count_fmt)
    fields: dict[int, int] = {}
    seen: set[int] = set()
    for index in range(entry_count):
        entry = first_entry + index * entry_size
        tag, field_type = _unpack(order + "HH", data, entry)
        if tag in (_TIFF_IMAGE_WIDTH, _TIFF_IMAGE_LENGTH):
            if tag in seen:
                raise InvalidInput("the TIFF file declares its image size twice")
            seen.add(tag)
            if field_type in _TIFF_INTEGER_TYPES:
                (fields[tag],) = _unpack(order + _TIFF_INTEGER_TYPES[field_type], data, entry + value_offset)
    if _TIFF_IMAGE_WIDTH not in fields or _TIFF_IMAGE_LENGTH not in fields:
        raise InvalidInput("the TIFF file does not declare its image size")
    return fields[_TIFF_IMAGE_WIDTH], fields[_TIFF_IMAGE_LENGTH]
