"""Augmentation of training images: extra views of each good image, whose patches the coreset may pick.

- dihedral_views: the 90-degree rotations and mirror images, for parts that can lie any way round (opt-in).
- line_views: the small differences between frames of one line that are not defects: the part a few pixels
  off and turned a few degrees, brighter or darker, a light gradient across it, JPEG compression noise.
"""

from dataclasses import dataclass

import cv2
import numpy as np


def dihedral_views(rgb: np.ndarray) -> list[np.ndarray]:
    """The 8 rotations/reflections of a square image [S, S, 3]: itself first, then 90/180/270 degree
    rotations, then the mirror image and its three rotations."""
    mirrored = rgb[:, ::-1]
    rotations = [np.rot90(rgb, turns) for turns in range(4)]
    mirrored_rotations = [np.rot90(mirrored, turns) for turns in range(4)]
    return [np.ascontiguousarray(view) for view in rotations + mirrored_rotations]


@dataclass(frozen=True)
class LineVariation:
    """How far a line view may differ from its image (each view draws uniformly within these), in pixels of
    the model's input: shift_px |dx|, |dy|; rotation_deg |angle| about the centre; gain |gain - 1|; offset
    in grey levels; gradient the brightness change from one side to the other (0.2 = 20%); JPEG quality
    range (0 = no re-encoding)."""

    shift_px: float = 4.0
    rotation_deg: float = 4.0
    gain: float = 0.15
    offset: float = 10.0
    gradient: float = 0.2
    jpeg_quality: tuple[int, int] = (75, 95)


LINE_VARIATION = LineVariation()


def _posed(rgb: np.ndarray, rng: np.random.Generator, variation: LineVariation) -> np.ndarray:
    """rgb shifted and turned about its centre; pixels that come from outside are the border mirrored."""
    height, width = rgb.shape[:2]
    angle = rng.uniform(-variation.rotation_deg, variation.rotation_deg)
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    matrix[:, 2] += rng.uniform(-variation.shift_px, variation.shift_px, 2)
    return cv2.warpAffine(
        rgb, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )


def _lit(rgb: np.ndarray, rng: np.random.Generator, variation: LineVariation) -> np.ndarray:
    """rgb with a gain, an offset and a linear light gradient in a random direction."""
    height, width = rgb.shape[:2]
    direction = rng.uniform(0, 2 * np.pi)
    strength = rng.uniform(-variation.gradient, variation.gradient) / max(height, width)
    across = (np.arange(width, dtype=np.float32) - width / 2) * np.cos(direction)
    down = (np.arange(height, dtype=np.float32) - height / 2) * np.sin(direction)
    gain = (1 + rng.uniform(-variation.gain, variation.gain)) * (
        1 + strength * (down[:, None] + across[None, :])
    )
    lit = rgb * gain[..., None] + np.float32(rng.uniform(-variation.offset, variation.offset) + 0.5)
    return np.clip(lit, 0, 255).astype(np.uint8)


def _jpeg(rgb: np.ndarray, rng: np.random.Generator, variation: LineVariation) -> np.ndarray:
    """rgb through a JPEG encode and decode at a random quality of the variation's range."""
    low, high = variation.jpeg_quality
    if high <= 0:
        return rgb
    quality = int(rng.integers(low, high + 1))
    _, data = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(data, cv2.IMREAD_COLOR_RGB)


def line_views(
    rgb: np.ndarray, count: int, rng: np.random.Generator, variation: LineVariation = LINE_VARIATION
) -> list[np.ndarray]:
    """count views of an image [S, S, 3] uint8 RGB as the line may show the same part: each shifted,
    turned, lit and JPEG-compressed within variation, drawn from rng."""
    return [_jpeg(_lit(_posed(rgb, rng, variation), rng, variation), rng, variation) for _ in range(count)]
