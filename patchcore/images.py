"""Turn what a camera or a file hands us into the RGB arrays the model eats.

Encoded images (JPEG/PNG/BMP/TIFF bytes) have their declared size checked against the pixel cap before they
are decoded; raw buffers (GRAY8/RGB8/BGR8, tightly packed) must have exactly width * height * channels bytes.
Every function returns [H, W, 3] uint8 RGB.
"""

import enum
from pathlib import Path

import cv2
import numpy as np

from patchcore.errors import InvalidInput, TooLarge
from patchcore.image_header import declared_size

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


def decode_encoded(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode JPEG/PNG/BMP/TIFF bytes to [H, W, 3] uint8 RGB.

    The size the header declares is checked first (TooLarge), so a small file claiming a huge image is never
    decoded. InvalidInput if the bytes are empty, of another format or undecodable. Alpha is dropped, grey
    becomes three equal channels, 16-bit samples are scaled to 8 bits.
    """
    if not data:
        raise InvalidInput("the image is empty (0 bytes)")
    width, height = declared_size(data)
    _check_pixel_count(width, height, max_pixels)
    try:
        rgb = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR_RGB)
    except cv2.error:  # some decoders throw instead of returning None on damaged data
        rgb = None
    if rgb is None:
        raise InvalidInput(
            f"the {width}x{height} image could not be decoded (damaged or unsupported variant)"
        )
    return rgb


def decode_raw(
    pixels: bytes, width: int, height: int, fmt: PixelFormat, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Interpret a tightly packed raw buffer as [H, W, 3] uint8 RGB.

    InvalidInput on a zero size or when len(pixels) != width * height * channels; TooLarge over the cap.
    """
    _check_pixel_count(width, height, max_pixels)
    expected = width * height * fmt.channels
    if len(pixels) != expected:
        raise InvalidInput(
            f"a {width}x{height} {fmt.name} image needs exactly {expected:,} bytes, got {len(pixels):,}"
        )
    array = np.frombuffer(pixels, dtype=np.uint8).reshape(height, width, fmt.channels)
    if fmt is PixelFormat.GRAY8:
        return np.repeat(array, 3, axis=2)
    if fmt is PixelFormat.BGR8:
        return np.ascontiguousarray(array[:, :, ::-1])
    return array.copy()


def resize_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """Resize [H, W, 3] to [size, size, 3] (aspect ratio not kept, the same way at teach and inspect time).

    INTER_AREA when shrinking (no aliasing), bilinear when enlarging.
    """
    height, width = rgb.shape[:2]
    if (height, width) == (size, size):
        return rgb
    shrinking = height >= size and width >= size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(rgb, (size, size), interpolation=interpolation)


CONTRAST_PERCENTILES = (1.0, 99.0)


def stretch_contrast(image: np.ndarray) -> np.ndarray:
    """[H, W, C] uint8 -> the same with its 1st..99th percentile mapped to 0..255.

    Removes frame-to-frame differences in exposure and gain, which otherwise look like anomalies to the
    memory bank (measured on elpv solar cells: +0.008 to +0.030 image AUROC, README "Accuracy").
    """
    low, high = np.percentile(image, CONTRAST_PERCENTILES)
    scaled = (image.astype(np.float32) - low) * (255.0 / max(high - low, 1.0))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def model_input(rgb: np.ndarray, size: int, contrast_stretch: bool) -> np.ndarray:
    """What the model sees of a frame [H, W, 3] uint8 RGB: resized to [size, size, 3], then contrast-stretched
    when the product was taught so. Teach and inspection both go through here."""
    resized = resize_square(rgb, size)
    return stretch_contrast(resized) if contrast_stretch else resized


def read_image_file(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read and decode an image file to [H, W, 3] uint8 RGB (InvalidInput if unreadable)."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise InvalidInput(f"cannot read image file {path}: {error.strerror}") from error
    try:
        return decode_encoded(data, max_pixels)
    except InvalidInput as error:
        raise InvalidInput(f"{path}: {error}") from error


def list_image_files(folder: str | Path) -> list[Path]:
    """The image files (jpg/jpeg/png/bmp/tif/tiff, any case) directly in folder, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInput(f"image folder {folder} does not exist")
    return sorted(
        path for path in folder.iterdir() if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    )
