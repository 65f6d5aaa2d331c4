"""The engine end to end with the real EfficientNet-Lite0 features on scikit-image textures."""

import dataclasses

import cv2
import numpy as np
import pytest
from patchcore_client.synthetic import machined_surface
from skimage import data as skimage_data

from patchcore.bank import TeachOptions
from patchcore.images import ScaledImage
from patchcore.inspection import inspect
from patchcore.model import FeatureExtractor
from patchcore.scoring import Scorer
from patchcore.teach import teach_images

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lite0(lite0_model) -> FeatureExtractor:
    return FeatureExtractor(lite0_model)


@pytest.fixture(scope="module")
def gravel_crops() -> list[np.ndarray]:
    gray = skimage_data.gravel()
    rng = np.random.default_rng(0)
    tops, lefts = rng.integers(0, gray.shape[0] - 256, 12), rng.integers(0, gray.shape[1] - 256, 12)
    return [
        np.repeat(gray[top : top + 256, left : left + 256, None], 3, axis=2)
        for top, left in zip(tops, lefts, strict=True)
    ]


@pytest.fixture(scope="module")
def gravel_bank(lite0, gravel_crops):
    return teach_images(lite0, gravel_crops[:8], "gravel", TeachOptions(line_views=0))


def test_training_crops_score_below_every_held_out_crop(lite0, gravel_bank, gravel_crops, frame_scorer):
    score_frame = frame_scorer(lite0, gravel_bank)
    training = [score_frame(crop).score for crop in gravel_crops[:8]]
    held_out = [score_frame(crop).score for crop in gravel_crops[8:]]
    assert max(training) < min(held_out)
    assert max(training) < 0.75 * gravel_bank.options.threshold


def test_contrast_stretch_scores_a_training_frame_under_other_exposure_near_zero(
    lite0, gravel_crops, frame_scorer
):
    """A training crop at half the gain with a raised offset: an exposure change, not a defect."""
    darker = (gravel_crops[1].astype(np.float32) * 0.5 + 40).astype(np.uint8)
    plain, stretched = (
        teach_images(
            lite0,
            gravel_crops[:3],
            "gravel",
            TeachOptions(coreset_ratio=1.0, contrast_stretch=stretch, line_views=0),
        )
        for stretch in (False, True)
    )
    assert frame_scorer(lite0, stretched)(darker).score < 0.01
    assert frame_scorer(lite0, plain)(darker).score > 0.03


def test_a_full_bank_scores_a_training_frame_at_zero(lite0, gravel_crops, frame_scorer):
    bank = teach_images(lite0, gravel_crops[:3], "gravel", TeachOptions(coreset_ratio=1.0, line_views=0))
    assert frame_scorer(lite0, bank)(gravel_crops[1]).score == pytest.approx(0.0, abs=1e-4)


@pytest.mark.parametrize("defect", ["blob", "scratch"])
def test_planted_defects_are_flagged_with_the_heatmap_peak_on_them(
    lite0, gravel_bank, gravel_crops, frame_scorer, defect
):
    frame = gravel_crops[9].copy()
    mask = np.zeros(frame.shape[:2], np.uint8)
    if defect == "blob":
        cv2.circle(mask, (150, 100), 15, 1, -1)
        colour = (255, 0, 0)
    else:
        cv2.line(mask, (60, 180), (140, 200), 1, 3)
        colour = (0, 0, 0)
    frame[mask == 1] = colour
    result = frame_scorer(lite0, gravel_bank)(frame)
    assert result.anomalous
    peak = np.unravel_index(np.argmax(result.heatmap), mask.shape)
    near_defect = cv2.dilate(mask, np.ones((17, 17), np.uint8))  # within 8 px (the patch stride) of it
    assert near_defect[peak] == 1
    top = result.regions[0]
    assert mask[top.y : top.y + top.height, top.x : top.x + top.width].any()


PITS = [(300, 400), (700, 650), (150, 900), (800, 200)]  # (x, y) on a 1024 x 1024 frame


def test_at_tile_512_the_fine_channel_finds_small_pits_that_the_patches_alone_miss(lite0):
    """Black pits 7 pixels across on 1024 x 1024 machined surfaces, 4 tiles of 512 each shrunk to 224: a
    pit covers about one stride-4 cell of the model input."""
    rng = np.random.default_rng(12)
    surfaces = [machined_surface(rng, 1024, 1024) for _ in range(10)]
    bank = teach_images(lite0, surfaces[:8], "machined", TeachOptions(tile_size=512))
    assert bank.fine is not None
    scorers = {
        "fine": Scorer(bank, lite0.info),
        "patches": Scorer(dataclasses.replace(bank, fine=None), lite0.info),
    }
    pitted = [cv2.circle(good.copy(), pit, 3, (0, 0, 0), -1) for good in surfaces[8:] for pit in PITS]

    def flagged(scorer: Scorer, frames: list[np.ndarray]) -> int:
        return sum(
            inspect(lite0, scorer, ScaledImage.full(frame), want_heatmap=False).anomalous for frame in frames
        )

    assert [flagged(scorer, surfaces[8:]) for scorer in scorers.values()] == [0, 0]
    assert flagged(scorers["fine"], pitted) > flagged(scorers["patches"], pitted)
