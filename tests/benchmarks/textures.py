"""Texture products with planted defects and exact masks, for pixel-level AUROC.

scikit-image ships 512x512 gray textures. Good frames are random crops with slight brightness jitter; the
teach crops come from the top half of the texture and the test crops from the bottom half, so a test frame is
never a shifted copy of a teach frame. Each defective test frame gets one planted defect whose mask is exact:
a scratch, a spot, a colour/brightness patch, or a cut-out pasted from another texture.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from skimage import data as skimage_data

TEXTURES = ("brick", "grass", "gravel")
CROP_SIZE = 192
TEACH_COUNT = 8
GOOD_TEST_COUNT = 20
DEFECTS_PER_KIND = 10


@dataclass(frozen=True)
class TextureProduct:
    """teach: [T, S, S, 3] uint8 RGB; test: [N, S, S, 3] uint8 RGB; masks: [N, S, S] bool (False on good)."""

    name: str
    teach: np.ndarray
    test: np.ndarray
    masks: np.ndarray


def make_texture_product(name: str, seed: int) -> TextureProduct:
    """8 teach crops, 20 good test crops and 10 defective crops of each defect kind, reproducible by seed."""
    rng = np.random.default_rng([seed, TEXTURES.index(name)])
    texture = getattr(skimage_data, name)()
    donors = [getattr(skimage_data, other)() for other in TEXTURES if other != name]
    half = texture.shape[0] // 2
    teach = np.stack([_good_crop(texture[:half], rng) for _ in range(TEACH_COUNT)])
    frames, masks = [], []
    for _ in range(GOOD_TEST_COUNT):
        frames.append(_good_crop(texture[half:], rng))
        masks.append(np.zeros((CROP_SIZE, CROP_SIZE), dtype=bool))
    for plant in _defect_planters(donors):
        for _ in range(DEFECTS_PER_KIND):
            frame, mask = plant(_good_crop(texture[half:], rng), rng)
            frames.append(frame)
            masks.append(mask)
    return TextureProduct(name=name, teach=teach, test=np.stack(frames), masks=np.stack(masks))


def _good_crop(region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random CROP_SIZE square of a gray region with +-5% gain and +-5 offset, as RGB [S, S, 3] uint8."""
    top = rng.integers(0, region.shape[0] - CROP_SIZE + 1)
    left = rng.integers(0, region.shape[1] - CROP_SIZE + 1)
    crop = region[top : top + CROP_SIZE, left : left + CROP_SIZE].astype(np.float32)
    crop = crop * rng.uniform(0.95, 1.05) + rng.uniform(-5.0, 5.0)
    gray = np.clip(crop, 0, 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=-1)


Planter = Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _defect_planters(donors: list[np.ndarray]) -> list[Planter]:
    def cut_out(frame: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return _plant_cut_out(frame, rng, donors[rng.integers(len(donors))])

    return [_plant_scratch, _plant_spot, _plant_colour_patch, cut_out]


def _random_point(rng: np.random.Generator, margin: int) -> tuple[int, int]:
    return int(rng.integers(margin, CROP_SIZE - margin)), int(rng.integers(margin, CROP_SIZE - margin))


def _blend(frame: np.ndarray, mask: np.ndarray, painted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replace the masked pixels of frame [S, S, 3] uint8 by painted [S, S, 3] float."""
    out = frame.copy()
    out[mask] = np.clip(painted[mask], 0, 255).astype(np.uint8)
    return out, mask


def _dark_or_bright(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The frame darkened to 30% or brightened by 90 grey levels, [S, S, 3] float32."""
    base = frame.astype(np.float32)
    return base * 0.3 if rng.random() < 0.5 else base + 90.0


def _plant_scratch(frame: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A straight scratch 40-100 px long and 2-4 px wide."""
    x0, y0 = _random_point(rng, 30)
    angle = rng.uniform(0, np.pi)
    length = rng.uniform(40, 100)
    x1 = int(np.clip(x0 + length * np.cos(angle), 0, CROP_SIZE - 1))
    y1 = int(np.clip(y0 + length * np.sin(angle), 0, CROP_SIZE - 1))
    canvas = np.zeros((CROP_SIZE, CROP_SIZE), dtype=np.uint8)
    cv2.line(canvas, (x0, y0), (x1, y1), 1, thickness=int(rng.integers(2, 5)))
    return _blend(frame, canvas.astype(bool), _dark_or_bright(frame, rng))


def _plant_spot(frame: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A round spot of radius 6-14 px."""
    canvas = np.zeros((CROP_SIZE, CROP_SIZE), dtype=np.uint8)
    cv2.circle(canvas, _random_point(rng, 20), int(rng.integers(6, 15)), 1, thickness=-1)
    return _blend(frame, canvas.astype(bool), _dark_or_bright(frame, rng))


def _random_ellipse_mask(rng: np.random.Generator, low: int, high: int) -> np.ndarray:
    canvas = np.zeros((CROP_SIZE, CROP_SIZE), dtype=np.uint8)
    axes = (int(rng.integers(low, high)), int(rng.integers(low, high)))
    cv2.ellipse(canvas, _random_point(rng, high + 2), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return canvas.astype(bool)


def _plant_colour_patch(frame: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An elliptic patch 20-50 px across, either tinted red/blue or shifted in brightness by +-60."""
    mask = _random_ellipse_mask(rng, 10, 25)
    painted = frame.astype(np.float32)
    if rng.random() < 0.5:
        painted = painted + np.array([60.0, -30.0, -30.0]) * rng.choice([-1.0, 1.0])
    else:
        painted = painted + 60.0 * rng.choice([-1.0, 1.0])
    return _blend(frame, mask, painted)


def _plant_cut_out(
    frame: np.ndarray, rng: np.random.Generator, donor: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """An elliptic piece of another texture, 24-60 px across, pasted in."""
    mask = _random_ellipse_mask(rng, 12, 30)
    top = rng.integers(0, donor.shape[0] - CROP_SIZE + 1)
    left = rng.integers(0, donor.shape[1] - CROP_SIZE + 1)
    piece = donor[top : top + CROP_SIZE, left : left + CROP_SIZE].astype(np.float32)
    return _blend(frame, mask, np.repeat(piece[..., None], 3, axis=-1))
