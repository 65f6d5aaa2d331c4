"""Turn what a camera or a file hands us into the RGB arrays the model eats.

Encoded images (JPEG/PNG/BMP/TIFF bytes) have their declared size checked against the pixel cap before they
are decoded; raw buffers (GRAY8/RGB8/BGR8, tightly packed) must have exactly width * height * channels bytes.
Every function returns [H, W, 3] uint8 RGB.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from patchcore.errors import InvalidInput, TooLarge
from patchcore.image_header import JPEG_START, PNG_SIGNATURE, declared_size, jpeg_orientation, png_sample_bits

DEFAULT_MAX_PIXELS = 50_000_000
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})


class PixelFormat(enum.Enum):
    """Layout of a raw, tightly packed 8-bit pixel buffer."""

    GRAY8 = "GRAY8"
    RGB8 = "RGB8"
    BGR8 = "BGR8"

    @property
    def channels(self) -> int:
        return 1 if self is PixelFormat.GRAY8 else 3


def _check_pixel_count(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise InvalidInput(f"the image size {width}x{height} is empty")
    if width * height > max_pixels:
        raise TooLarge(
            f"the image is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,} pixels"
        )


# cv2.imdecode flags for RGB output at 1/factor of the image's size (libjpeg shrinks inside the inverse DCT).
_RGB_SHRUNK_BY = {
    1: cv2.IMREAD_COLOR_RGB,
    2: cv2.IMREAD_REDUCED_GRAYSCALE_2 | cv2.IMREAD_COLOR_RGB,
    4: cv2.IMREAD_REDUCED_GRAYSCALE_4 | cv2.IMREAD_COLOR_RGB,
    8: cv2.IMREAD_REDUCED_GRAYSCALE_8 | cv2.IMREAD_COLOR_RGB,
}

ShrinkRule = Callable[[int, int], int]  # (width, height) of a frame -> 1, 2, 4 or 8


@dataclass(frozen=True)
class ScaledImage:
    """A decoded frame, possibly smaller than the frame itself (a JPEG decoded at 1/2, 1/4 or 1/8)."""

    rgb: np.ndarray  # [h, w, 3] uint8 RGB
    size: tuple[int, int]  # (H, W) of the frame itself, after its EXIF orientation

    @classmethod
    def full(cls, rgb: np.ndarray) -> ScaledImage:
        """A frame decoded at its own size."""
        return cls(rgb, rgb.shape[:2])

    @property
    def is_full_size(self) -> bool:
        return self.rgb.shape[:2] == self.size

    @property
    def shrink(self) -> int:
        """The power of two the frame was shrunk by (1 = full size)."""
        return max(1, round(self.size[1] / self.rgb.shape[1]))


def decode_scaled(
    data: bytes, shrink_for: ShrinkRule | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> ScaledImage:
    """Decode JPEG/PNG/BMP/TIFF bytes to RGB; a JPEG shrunk by shrink_for(width, height) inside the decoder
    (free, and the frame would be shrunk by that much anyway: see patchcore.prepare), other formats at
    full size.

    The size the header declares is checked first (TooLarge), so a small file claiming a huge image is never
    decoded. InvalidInput if the bytes are empty, of another format or undecodable. Alpha is dropped, grey
    becomes three equal channels, 16-bit samples are scaled to 8 bits: their top 8 bits, or, in a PNG whose
    sBIT chunk declares fewer significant bits (12-bit camera data unshifted), their range scaled to 0-255.
    """
    if not data:
        raise InvalidInput("the image is empty (0 bytes)")
    width, height = declared_size(data)
    _check_pixel_count(width, height, max_pixels)
    shrink = shrink_for(width, height) if shrink_for and data.startswith(JPEG_START) else 1
    depth, significant_bits = png_sample_bits(data) if data.startswith(PNG_SIGNATURE) else (8, 8)
    wide = significant_bits < depth == 16
    flags = _RGB_SHRUNK_BY[shrink] | (cv2.IMREAD_ANYDEPTH if wide else 0)
    try:
        rgb = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    except cv2.error:  # some decoders throw instead of returning None on damaged data
        rgb = None
    if rgb is None:
        raise InvalidInput(
            f"the {width}x{height} image could not be decoded (damaged or unsupported variant)"
        )
    if wide:
        rgb = _to_8_bits(rgb, significant_bits)
    if shrink == 1:
        return ScaledImage.full(rgb)
    return ScaledImage(rgb, (width, height) if _turned(rgb, width, height, shrink, data) else (height, width))


def _turned(shrunk: np.ndarray, width: int, height: int, shrink: int, data: bytes) -> bool:
    """Whether the decoder turned a JPEG of this stored size by 90 degrees (EXIF orientation 5-8): told by the
    shrunk image's shape, or, where stored width and height round to the same shrunk side, by the EXIF tag."""
    upright = (-(-height // shrink), -(-width // shrink))
    if upright[0] != upright[1]:
        return shrunk.shape[:2] != upright
    return jpeg_orientation(data) >= 5


def _to_8_bits(samples: np.ndarray, significant_bits: int) -> np.ndarray:
    """uint16 samples of which the low significant_bits carry data -> uint8 over the same range (one pass,
    rounded and saturated by OpenCV: no float copy of a frame of up to the pixel cap)."""
    return cv2.convertScaleAbs(samples, alpha=255.0 / (2**significant_bits - 1))


def decode_encoded(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode JPEG/PNG/BMP/TIFF bytes to [H, W, 3] uint8 RGB at full size (see decode_scaled)."""
    return decode_scaled(data, None, max_pixels).rgb


def decode_raw(
    pixels: bytes, width: int, height: int, fmt: PixelFormat, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Interpret a tightly packed raw buffer as [H, W, 3] uint8 RGB (RGB8: a read-only view of `pixels`).

    InvalidInput on a zero size or when len(pixels) != width * height * channels; TooLarge over the cap.
    OpenCV swaps and repeats the channels, many times faster than numpy's strided copies (README
    "Performance").
    """
    _check_pixel_count(width, height, max_pixels)
    expected = width * height * fmt.channels
    if len(pixels) != expected:
        raise InvalidInput(
            f"a {width}x{height} {fmt.name} image needs exactly {expected:,} bytes, got {len(pixels):,}"
        )
    array = np.frombuffer(pixels, dtype=np.uint8).reshape(height, width, fmt.channels)
    if fmt is PixelFormat.GRAY8:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
    if fmt is PixelFormat.BGR8:
        return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    return array


CONTRAST_PERCENTILES = (1.0, 99.0)


def stretch_contrast(images: np.ndarray) -> np.ndarray:
    """uint8 pixels of any shape -> the same with their 1st..99th percentile mapped to 0..255.

    Removes frame-to-frame differences in exposure and gain, which otherwise look like anomalies to the
    memory bank (README "Accuracy").
    """
    low, high = np.percentile(images, CONTRAST_PERCENTILES)
    scaled = (images.astype(np.float32) - low) * (255.0 / max(high - low, 1.0))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def read_image_bytes(path: str | Path) -> bytes:
    """The bytes of an image file (InvalidInput naming the file if it cannot be read)."""
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise InvalidInput(f"cannot read image file {path}: {error.strerror}") from error


def list_image_files(folder: str | Path) -> list[Path]:
    """The image files (jpg/jpeg/png/bmp/tif/tiff, any case) directly in folder, sorted by name."""
    folder = Path(folder)
    if not folder.exists():
        raise InvalidInput(f"image folder {folder} does not exist")
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a folder: give the folder that holds the images")
    try:
        return sorted(
            path for path in folder.iterdir() if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
        )
    except OSError as error:
        raise InvalidInput(f"cannot read image folder {folder}: {error.strerror}") from error
