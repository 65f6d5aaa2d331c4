"""The line-variation products: for one surface and seed, 8 teach frames from a steady line and test cases
that vary the way lines vary, each a set of good and defective frames with exact defect masks.

Cases of a product (frames 256x256, near the model's input size, so encoding noise is not averaged away):
- "pose/light": parts shifted up to 6 px, turned up to 4 degrees, gain +-15%, offset +-10, light gradient up
  to 30% across the frame; sent losslessly.
- "steady PNG", "steady JPEG q95", "q90", "q75": the same frames from a steady line, sent losslessly and as
  JPEG at each quality (the product was taught from lossless frames).
Teach frames come from one half of a texture, test frames from the other (scikit-image textures), or are new
part instances (generated surfaces).

High-resolution products: 2048x1536 frames from a steady line with defects 2-5 pixels across (lines 2-3 px
wide, spots of 2-5 px diameter), sent losslessly: the case "2048x1536".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tests.benchmarks.line_camera import POSE_LIGHT, STEADY, Variation, as_jpeg, shoot
from tests.benchmarks.line_defects import DEFECTS, FRAME_SCALE, HIGHRES_SCALE, DefectScale
from tests.benchmarks.line_surfaces import SURFACES, Instance

FRAME_SIZE = (256, 256)
HIGHRES_SIZE = (1536, 2048)
HIGHRES_CASE = "2048x1536"
HIGHRES_JPEG_CASE = "2048x1536 JPEG q90"  # the same test frames sent as JPEG after a lossless teach
CROP_SIZE = (480, 640)
CROPS_CASE = "640x480 crops"
HIGHRES_SURFACES = ("cast_metal", "pcb", "brushed_metal")
HIGHRES_GOOD_TEST_COUNT = 8
HIGHRES_DEFECTS_PER_KIND = 2
TEACH_COUNT = 8
GOOD_TEST_COUNT = 16
DEFECTS_PER_KIND = 4
JPEG_QUALITIES = (95, 90, 75)
POSE_LIGHT_CASE = "pose/light"
LOSSLESS_CASE = "steady PNG"


@dataclass(frozen=True)
class TestFrames:
    """frames: [N, H, W, 3] uint8 RGB as the server decodes them; masks: [N, H, W] bool (all False on good
    frames); kinds: [N] the defect kind of each frame, "" for good ones."""

    frames: np.ndarray
    masks: np.ndarray
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class LineProduct:
    """teach: [T, H, W, 3] uint8 RGB lossless frames; cases: case name -> its test frames."""

    surface: str
    teach: np.ndarray
    cases: dict[str, TestFrames]


def jpeg_case(quality: int) -> str:
    return f"steady JPEG q{quality}"


CASES = (POSE_LIGHT_CASE, LOSSLESS_CASE, *(jpeg_case(quality) for quality in JPEG_QUALITIES))


def shoot_test_frames(
    instance: Instance,
    rng: np.random.Generator,
    variation: Variation,
    size: tuple[int, int],
    scale: DefectScale,
    good_count: int,
    defects_per_kind: int,
) -> TestFrames:
    """good_count good frames, then defects_per_kind frames of each defect kind, from the test half."""
    frames, masks, kinds = [], [], []
    for _ in range(good_count):
        frame, mask = shoot(instance, rng, variation, size, test_half=True)
        frames.append(frame)
        masks.append(mask)
        kinds.append("")
    for kind, plant in DEFECTS.items():
        for _ in range(defects_per_kind):
            frame, mask = shoot(instance, rng, variation, size, test_half=True, defect=(plant, scale))
            frames.append(frame)
            masks.append(mask)
            kinds.append(kind)
    return TestFrames(np.stack(frames), np.stack(masks), tuple(kinds))


def shoot_teach_frames(
    instance: Instance, rng: np.random.Generator, size: tuple[int, int], count: int = TEACH_COUNT
) -> np.ndarray:
    """[count, H, W, 3] uint8 good frames from a steady line, from the teach half."""
    return np.stack([shoot(instance, rng, STEADY, size, test_half=False)[0] for _ in range(count)])


def product_rngs(surface: str, seed: int, size: tuple[int, int]) -> tuple[Instance, np.random.Generator]:
    """The product's instance maker for frames of size and the rng its frames are drawn with, both fixed by
    (surface, seed, size)."""
    key = [seed, list(SURFACES).index(surface), *size]
    instance = SURFACES[surface].make(np.random.default_rng([*key, 0]), size)
    return instance, np.random.default_rng([*key, 1])


def make_line_product(surface: str, seed: int) -> LineProduct:
    """The teach frames and every case of one surface, reproducible by (surface, seed)."""
    instance, rng = product_rngs(surface, seed, FRAME_SIZE)
    scale = FRAME_SCALE.times(SURFACES[surface].coarseness)
    teach = shoot_teach_frames(instance, rng, FRAME_SIZE)
    posed = shoot_test_frames(instance, rng, POSE_LIGHT, FRAME_SIZE, scale, GOOD_TEST_COUNT, DEFECTS_PER_KIND)
    steady = shoot_test_frames(instance, rng, STEADY, FRAME_SIZE, scale, GOOD_TEST_COUNT, DEFECTS_PER_KIND)
    cases = {POSE_LIGHT_CASE: posed, LOSSLESS_CASE: steady}
    for quality in JPEG_QUALITIES:
        encoded = np.stack([as_jpeg(frame, quality) for frame in steady.frames])
        cases[jpeg_case(quality)] = TestFrames(encoded, steady.masks, steady.kinds)
    return LineProduct(surface=surface, teach=teach, cases=cases)


def make_highres_product(surface: str, seed: int) -> LineProduct:
    """8 teach frames and the "2048x1536" case of one surface (and the same frames as JPEG q90), reproducible
    by (surface, seed)."""
    instance, rng = product_rngs(surface, seed, HIGHRES_SIZE)
    scale = HIGHRES_SCALE.times(SURFACES[surface].coarseness)
    teach = shoot_teach_frames(instance, rng, HIGHRES_SIZE)
    test = shoot_test_frames(
        instance, rng, STEADY, HIGHRES_SIZE, scale, HIGHRES_GOOD_TEST_COUNT, HIGHRES_DEFECTS_PER_KIND
    )
    encoded = np.stack([as_jpeg(frame, 90) for frame in test.frames])
    cases = {HIGHRES_CASE: test, HIGHRES_JPEG_CASE: TestFrames(encoded, test.masks, test.kinds)}
    return LineProduct(surface=surface, teach=teach, cases=cases)


def make_highres_crops_product(surface: str, seed: int) -> LineProduct:
    """The high-resolution product cut to 640x480: each teach frame cropped at random, each test frame once
    (a defective one around its defect), so the same defects meet the frame size the issue's reference
    figure was measured at, resized whole to the model's input."""
    product = make_highres_product(surface, seed)
    rng = np.random.default_rng([seed, list(SURFACES).index(surface), 2])
    teach = np.stack([_crop(frame, _crop_corner(rng, None)) for frame in product.teach])
    test = product.cases[HIGHRES_CASE]
    corners = [_crop_corner(rng, mask if mask.any() else None) for mask in test.masks]
    frames = np.stack([_crop(frame, corner) for frame, corner in zip(test.frames, corners, strict=True)])
    masks = np.stack([_crop(mask, corner) for mask, corner in zip(test.masks, corners, strict=True)])
    crops = TestFrames(frames, masks, test.kinds)
    return LineProduct(surface=surface, teach=teach, cases={CROPS_CASE: crops})


def _crop_corner(rng: np.random.Generator, mask: np.ndarray | None) -> tuple[int, int]:
    """Top-left corner of a CROP_SIZE window in a HIGHRES_SIZE frame: anywhere, or so that the mask's
    centre lies at least 60 pixels inside the window (or as far inside as the frame's edge allows)."""
    height, width = CROP_SIZE
    if mask is None:
        return int(rng.integers(0, HIGHRES_SIZE[0] - height)), int(rng.integers(0, HIGHRES_SIZE[1] - width))
    rows, cols = np.nonzero(mask)
    top = int(rows.mean()) - int(rng.integers(60, height - 60))
    left = int(cols.mean()) - int(rng.integers(60, width - 60))
    return int(np.clip(top, 0, HIGHRES_SIZE[0] - height)), int(np.clip(left, 0, HIGHRES_SIZE[1] - width))


def _crop(image: np.ndarray, corner: tuple[int, int]) -> np.ndarray:
    top, left = corner
    return image[top : top + CROP_SIZE[0], left : left + CROP_SIZE[1]]
