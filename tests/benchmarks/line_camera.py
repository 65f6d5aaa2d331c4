"""A line camera: a part instance is placed with a small pose error, may get a defect, is lit with a gain,
an offset and a light gradient, picks up sensor noise and leaves the camera as 8-bit RGB, then is sent
losslessly (PNG or raw) or as JPEG and decoded the way the server decodes it.

Order matters and follows the physics: the defect is on the part (planted after the pose, so its mask is
exact in frame pixels), the light falls on part and defect alike, noise and encoding come last.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from patchcore.images import decode_encoded
from tests.benchmarks.line_defects import DefectScale, Planter
from tests.benchmarks.line_surfaces import Instance


@dataclass(frozen=True)
class Variation:
    """How far a frame strays from the nominal part and light; each frame draws uniformly within these.

    shift_px: |dx|, |dy| in frame pixels; rotation_deg: |angle|; gain: |gain - 1|; offset: grey levels;
    gradient: brightness change from one side of the frame to the other (0.3 = 30%), in a random
    direction; noise: sensor noise standard deviation in grey levels.
    """

    shift_px: float
    rotation_deg: float
    gain: float
    offset: float
    gradient: float
    noise: float = 2.0


# A steady line: parts in a fixture, constant light (teach frames, and the encoding set).
STEADY = Variation(shift_px=1.0, rotation_deg=0.5, gain=0.03, offset=3.0, gradient=0.0)
# Parts that shift a few pixels, turn a few degrees and see changing light.
POSE_LIGHT = Variation(shift_px=6.0, rotation_deg=4.0, gain=0.15, offset=10.0, gradient=0.3)


def margin_for(variation: Variation, height: int, width: int) -> int:
    """Pixels around the frame that a part instance must have so the worst pose shows no border."""
    turn = np.radians(variation.rotation_deg)
    return int(np.ceil(variation.shift_px + (height + width) / 2 * np.sin(turn))) + 3


def place(
    part: np.ndarray, rng: np.random.Generator, variation: Variation, height: int, width: int
) -> np.ndarray:
    """The [height, width] view of part [height + 2m, width + 2m, 3] after a random shift and rotation
    about the part's centre."""
    margin = (part.shape[0] - height) // 2
    angle = rng.uniform(-variation.rotation_deg, variation.rotation_deg)
    shift = rng.uniform(-variation.shift_px, variation.shift_px, 2)
    centre = (part.shape[1] / 2, part.shape[0] / 2)
    matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)
    matrix[:, 2] += shift - margin
    return cv2.warpAffine(part, matrix, (width, height), flags=cv2.INTER_LINEAR)


def light(frame: np.ndarray, rng: np.random.Generator, variation: Variation) -> np.ndarray:
    """frame [H, W, 3] float lit with gain, offset and a linear gradient, plus noise -> uint8."""
    height, width = frame.shape[:2]
    gain = 1 + rng.uniform(-variation.gain, variation.gain)
    offset = rng.uniform(-variation.offset, variation.offset)
    direction = rng.uniform(0, 2 * np.pi)
    strength = rng.uniform(-variation.gradient, variation.gradient) / max(height, width)
    across = (np.arange(width, dtype=np.float32) - width / 2) * np.cos(direction)
    down = (np.arange(height, dtype=np.float32) - height / 2) * np.sin(direction)
    ramp = gain * (1 + strength * (down[:, None] + across[None, :]))
    lit = rng.standard_normal(frame.shape, dtype=np.float32)
    lit *= variation.noise
    lit += np.float32(offset + 0.5)  # + 0.5: the cast to uint8 below then rounds
    lit += frame * ramp[..., None]
    return np.clip(lit, 0, 255, out=lit).astype(np.uint8)


Defect = tuple[Planter, DefectScale]


def pose(
    instance: Instance,
    rng: np.random.Generator,
    variation: Variation,
    size: tuple[int, int],
    test_half: bool,
    defect: Defect | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A new part placed in a [H, W] view, unlit: [H, W, 3] float32, and its defect mask [H, W] bool."""
    height, width = size
    margin = margin_for(variation, height, width)
    part = instance(rng, height + 2 * margin, width + 2 * margin, test_half)
    view = place(part, rng, variation, height, width)
    if defect is None:
        return view, np.zeros((height, width), dtype=bool)
    plant, scale = defect
    return plant(view, rng, scale)


def shoot(
    instance: Instance,
    rng: np.random.Generator,
    variation: Variation,
    size: tuple[int, int],
    test_half: bool,
    defect: Defect | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One frame [H, W, 3] uint8 RGB of a new part and its defect mask [H, W] bool (all False if good)."""
    view, mask = pose(instance, rng, variation, size, test_half, defect)
    return light(view, rng, variation), mask


def as_jpeg(frame: np.ndarray, quality: int) -> np.ndarray:
    """frame [H, W, 3] uint8 RGB sent as a JPEG of this quality and decoded as the server decodes it."""
    ok, data = cv2.imencode(".jpg", frame[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError(f"JPEG encoding at quality {quality} failed")
    return decode_encoded(data.tobytes())
