"""Region-of-interest products: a part in a fixture on a conveyor belt, seen in a 640x480 frame, with the
product's ROI around the fixture. The belt around it is not part of the inspection: it carries dust that
changes from frame to frame and, in some frames, a bright metal chip; none of that may flag a frame.

Cases (the same 12 frames with a defect on the part in both, so each row has an image AUROC):
- "ROI, defects on the part": 16 good frames and the 12 frames with a defect on the part.
- "ROI, defects outside it": 12 frames whose only defect lies on the belt outside the ROI (good frames for
  the product: its false-alarm rate is the share of them flagged) and the 12 with a defect on the part.
"""

from __future__ import annotations

import numpy as np

from patchcore.geometry import Rect
from tests.benchmarks.line_camera import STEADY, light, pose
from tests.benchmarks.line_defects import DEFECTS, FRAME_SCALE, swarf
from tests.benchmarks.line_sets import TEACH_COUNT, LineProduct, TestFrames, product_rngs
from tests.benchmarks.line_surfaces import Instance, smooth_noise

ROI_FRAME_SIZE = (480, 640)
ROI = Rect(x=170, y=90, width=300, height=300)
ROI_SURFACES = ("pcb", "machined_flange")
ROI_PART_CASE = "ROI, defects on the part"
ROI_OUTSIDE_CASE = "ROI, defects outside it"
ROI_CASES = (ROI_PART_CASE, ROI_OUTSIDE_CASE)
GOOD_COUNT = 16
DEFECTS_PER_KIND = 2
OUTSIDE_COUNT = 12
DEBRIS_SCALE = FRAME_SCALE.times(1.5)
ROI_MARGIN = 8  # debris stays this far from the ROI


def belt(rng: np.random.Generator) -> np.ndarray:
    """A dark rubber conveyor belt with fine grain and a sprinkle of light dust, [H, W, 3] float32."""
    height, width = ROI_FRAME_SIZE
    surface = 42 + 5 * smooth_noise(rng, height, width, 1.0) + 4 * smooth_noise(rng, height, width, 12.0)
    dust = rng.random((height, width)) < 0.0004
    surface[dust] += rng.uniform(40, 90, int(dust.sum()))
    return np.repeat(surface[..., None], 3, axis=-1)


def _debris_outside(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """frame with a metal chip on the belt, clear of the ROI."""
    near_roi = np.zeros(ROI_FRAME_SIZE, dtype=bool)
    near_roi[ROI.y - ROI_MARGIN : ROI.bottom + ROI_MARGIN, ROI.x - ROI_MARGIN : ROI.right + ROI_MARGIN] = True
    while True:
        planted, mask = swarf(frame, rng, DEBRIS_SCALE)
        if not (mask & near_roi).any():
            return planted


def _shoot(
    instance: Instance,
    rng: np.random.Generator,
    test_half: bool,
    defect_on_part: bool,
    debris: bool,
    kind: str = "",
) -> tuple[np.ndarray, np.ndarray]:
    """One 640x480 frame and its mask (the part's defect only; debris outside the ROI is not a defect)."""
    frame = belt(rng)
    planter = DEFECTS[kind] if defect_on_part else None
    part, part_mask = pose(
        instance, rng, STEADY, (ROI.height, ROI.width), test_half, (planter, FRAME_SCALE) if planter else None
    )
    frame[ROI.y : ROI.bottom, ROI.x : ROI.right] = part
    mask = np.zeros(ROI_FRAME_SIZE, dtype=bool)
    mask[ROI.y : ROI.bottom, ROI.x : ROI.right] = part_mask
    if debris:
        frame = _debris_outside(frame, rng)
    return light(frame, rng, STEADY), mask


def make_roi_product(surface: str, seed: int) -> LineProduct:
    """8 teach frames and both ROI cases of one part, reproducible by (surface, seed)."""
    instance, rng = product_rngs(surface, seed, (ROI.height, ROI.width))
    teach = np.stack([_shoot(instance, rng, False, False, False)[0] for _ in range(TEACH_COUNT)])
    good = [_shoot(instance, rng, True, False, False) for _ in range(GOOD_COUNT)]
    on_part = [
        (*_shoot(instance, rng, True, True, False, kind), kind)
        for kind in DEFECTS
        for _ in range(DEFECTS_PER_KIND)
    ]
    outside = [_shoot(instance, rng, True, False, True) for _ in range(OUTSIDE_COUNT)]

    def case(goods: list[tuple[np.ndarray, np.ndarray]]) -> TestFrames:
        frames = [frame for frame, _ in goods] + [frame for frame, _, _ in on_part]
        masks = [mask for _, mask in goods] + [mask for _, mask, _ in on_part]
        kinds = [""] * len(goods) + [kind for _, _, kind in on_part]
        return TestFrames(np.stack(frames), np.stack(masks), tuple(kinds))

    return LineProduct(surface, teach, {ROI_PART_CASE: case(good), ROI_OUTSIDE_CASE: case(outside)})
