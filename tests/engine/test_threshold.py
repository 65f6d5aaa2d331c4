import inspect

import numpy as np
import pytest

from patchcore.bank import DEFAULT_THRESHOLD_SCALE, TeachOptions
from patchcore.geometry import FrameView
from patchcore.model import ModelInfo
from patchcore.prepare import PreparedFrame
from patchcore.teach import teach
from patchcore.threshold import threshold_from_scores, threshold_scores


def test_rule_is_the_scaled_highest_score():
    scores = [0.11, 0.25, 0.19, 0.2]
    assert threshold_from_scores(scores, 1.0) == pytest.approx(0.25)
    assert threshold_from_scores(scores, 1.2) == pytest.approx(0.30)
    assert threshold_from_scores(scores, DEFAULT_THRESHOLD_SCALE) >= max(scores)


def test_teaching_takes_no_defect_images_or_labels():
    parameters = set(inspect.signature(teach).parameters)
    assert parameters == {"extractor", "frames", "product_id", "options", "version", "progress"}


def axis(index: int, dim: int = 8) -> np.ndarray:
    """The unit vector along one axis: two different axes are at cosine distance exactly 1."""
    vector = np.zeros(dim, dtype=np.float32)
    vector[index] = 1.0
    return vector


def teach_set(images: list[list[np.ndarray]], scored_per_image: int | None = None):
    """patches [N, D], owners [N], scored [N] from per-image lists of patch vectors; the first
    scored_per_image rows of each image are scored (all when None)."""
    patches = np.stack([row for image in images for row in image])
    owners = np.concatenate([np.full(len(image), index) for index, image in enumerate(images)])
    scored = np.concatenate([np.arange(len(image)) < (scored_per_image or len(image)) for image in images])
    return patches, owners, scored


def test_an_image_is_never_matched_to_its_own_bank_vectors():
    # images 0 and 1 hold the same patches; image 2 holds a patch no other image has
    images = [[axis(0), axis(1)], [axis(0), axis(1)], [axis(0), axis(2)]]
    patches, owners, scored = teach_set(images)
    every_patch = np.arange(len(patches))  # the bank holds every patch, image 2's own axis(2) included
    scores = threshold_scores(patches, owners, scored, every_patch, top_k=1)
    assert scores[0] == pytest.approx(0.0, abs=1e-6)
    assert scores[1] == pytest.approx(0.0, abs=1e-6)
    assert scores[2] == pytest.approx(1.0, abs=1e-6)  # would be 0 if axis(2) were matched to itself


def test_augmented_views_leave_with_their_image():
    # each image's second row is an augmented copy of its first (not scored) and is in the bank
    images = [[axis(0), axis(0)], [axis(1), axis(1)], [axis(2), axis(2)]]
    patches, owners, scored = teach_set(images, scored_per_image=1)
    scores = threshold_scores(patches, owners, scored, np.arange(len(patches)), top_k=1)
    assert scores == pytest.approx([1.0, 1.0, 1.0], abs=1e-6)


def test_only_scored_patches_count_and_every_one_of_them_does():
    # image 0: three scored patches (as from three tiles; the last one new to the other image), then an
    # unscored view patch that no other image has
    images = [[axis(0), axis(0), axis(3), axis(5)], [axis(0), axis(1)]]
    patches, owners, scored = teach_set(images, scored_per_image=3)
    bank = np.arange(len(patches))
    assert threshold_scores(patches, owners, scored, bank, top_k=1)[0] == pytest.approx(1.0, abs=1e-6)
    # top_k = 3: the mean of image 0's three scored patch scores, 0, 0 and 1
    assert threshold_scores(patches, owners, scored, bank, top_k=3)[0] == pytest.approx(1 / 3, abs=1e-6)


def test_a_vector_taken_out_is_replaced_by_the_nearest_patch_it_covered_of_another_image():
    near_axis_0 = np.array([1.0, 0.1, 0, 0, 0, 0, 0, 0], dtype=np.float32) / np.sqrt(1.01)
    # image 1's patch is close to image 0's and was left out of the bank because image 0's covers it
    images = [[axis(0)], [near_axis_0], [axis(2)]]
    patches, owners, scored = teach_set(images)
    bank = np.array([0, 2])
    scores = threshold_scores(patches, owners, scored, bank, top_k=1)
    cosine_distance = 1 - 1 / np.sqrt(1.01)
    # without the substitute, image 0's nearest bank vector would be axis(2), at distance 1
    assert scores == pytest.approx([cosine_distance, cosine_distance, 1.0], abs=1e-6)


def test_an_image_that_holds_the_whole_bank_is_scored_against_substitutes():
    images = [[axis(0), axis(1)], [axis(0), axis(4)]]
    patches, owners, scored = teach_set(images)
    bank_of_image_0 = np.array([0, 1])
    scores = threshold_scores(patches, owners, scored, bank_of_image_0, top_k=1)
    assert scores[0] == pytest.approx(1.0, abs=1e-6)  # image 1 has nothing like axis(1)
    assert scores[1] == pytest.approx(1.0, abs=1e-6)  # the bank has nothing like axis(4)


def test_float16_patches_give_the_float32_scores():
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((60, 16)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    owners = np.repeat(np.arange(3), 20)
    scored = np.ones(60, dtype=bool)
    bank = np.arange(0, 60, 2)
    wide = threshold_scores(rows, owners, scored, bank, top_k=1)
    narrow = threshold_scores(rows.astype(np.float16), owners, scored, bank, top_k=1)
    assert narrow == pytest.approx(wide, abs=2e-3)


def test_progress_counts_the_scored_patches_through_both_searches():
    calls = []
    images = [[axis(index)] * 3 for index in range(4)]
    patches, owners, scored = teach_set(images, scored_per_image=2)
    threshold_scores(
        patches, owners, scored, np.arange(12), top_k=1, progress=lambda *call: calls.append(call)
    )
    assert calls[-1] == (2 * 8, 2 * 8)  # 8 scored patches, searched twice
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_an_image_without_scored_patches_is_refused():
    patches, owners, scored = teach_set([[axis(0)], [axis(1)], [axis(2)]])
    scored[1] = False
    with pytest.raises(ValueError, match="teach image 2 "):
        threshold_scores(patches, owners, scored, np.arange(3), top_k=1)


class PatchesByInput:
    """An extractor whose features are set by the test: a model input whose pixels all hold the value i gets
    features[i] ([h*w, D]), on an 8 x 8 patch grid at 64 pixels."""

    def __init__(self, features: np.ndarray) -> None:
        self.features = features
        self.info = ModelInfo("by-input", "by-input", 64, (8, 8), features.shape[-1], "0" * 64, "ab" * 32, {})

    def extract(self, images: np.ndarray) -> np.ndarray:
        return self.features[images[:, 0, 0, 0]]


def test_a_teach_image_seen_twice_where_its_tiles_overlap_counts_that_part_once_in_its_held_out_score():
    plan = FrameView(64, tile_size=256).plan((256, 384))  # tiles at x = 0 and x = 128: 32-pixel patches
    features = np.tile(axis(0), (4, 64, 1))  # inputs 0, 1: image 0's two tiles; 2, 3: image 1's
    half = np.array([0.5, np.sqrt(0.75), 0, 0, 0, 0, 0, 0], np.float32)  # at cosine distance 0.5 from axis 0
    fifth = np.array([0.8, 0.6, 0, 0, 0, 0, 0, 0], np.float32)  # at 0.2
    features[0, 3 * 8 + 5] = half  # frame x 160..192, y 96..128, as image 0's first tile sees it
    features[1, 3 * 8 + 1] = half  # the same frame pixels, as its second tile sees them
    features[0, 6 * 8 + 0] = fifth  # frame x 0..32, seen by the first tile only
    frames = [
        PreparedFrame(np.stack([np.full((64, 64, 3), code, np.uint8) for code in codes]), plan)
        for codes in ((0, 1), (2, 3))
    ]
    options = TeachOptions(tile_size=256, top_k=2, line_views=0)

    bank = teach(PatchesByInput(features), frames, "tiled", options)

    # image 0 against image 1's bank vectors, all of them axis 0: the part at 0.5 once, the one at 0.2
    assert bank.stats.leave_one_out_scores[0] == pytest.approx((0.5 + 0.2) / 2, abs=2e-3)
