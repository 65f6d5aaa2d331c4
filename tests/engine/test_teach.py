import cv2
import numpy as np
import pytest

from patchcore import teach as teach_module
from patchcore.bank import DEFAULT_THRESHOLD_SCALE, TeachOptions
from patchcore.errors import InvalidInput, TooLarge
from patchcore.geometry import Rect
from patchcore.images import PixelFormat, ScaledImage, decode_encoded, decode_raw
from patchcore.prepare import prepare_teach_set
from patchcore.teach import teach, teach_images


def test_bank_is_a_tenth_of_the_training_patches(brick_bank, tiny_extractor):
    stats = brick_bank.stats
    assert (stats.image_count, stats.patch_count, stats.bank_size) == (8, 8 * 64, 52)
    assert brick_bank.vectors.shape == (52, tiny_extractor.info.dim)
    assert brick_bank.model_fingerprint == tiny_extractor.info.fingerprint
    assert len(stats.leave_one_out_scores) == 8
    assert brick_bank.options.threshold == pytest.approx(
        DEFAULT_THRESHOLD_SCALE * max(stats.leave_one_out_scores)
    )
    assert set(stats.timings) == {"extract_seconds", "coreset_seconds", "threshold_seconds"}


def test_a_training_image_scores_near_zero(brick_bank, brick_crops, tiny_extractor, frame_scorer):
    score_frame = frame_scorer(tiny_extractor, brick_bank)
    for image in brick_crops[:8]:
        result = score_frame(image)
        assert not result.anomalous
        assert result.score < 0.5 * brick_bank.options.threshold


def test_a_planted_defect_is_flagged_and_located(
    brick_bank, brick_crops, tiny_extractor, frame_scorer, plant_blob
):
    centre, radius = (100, 150), 20
    result = frame_scorer(tiny_extractor, brick_bank)(plant_blob(brick_crops[9], centre, radius))
    assert result.anomalous and result.score > brick_bank.options.threshold
    peak = np.unravel_index(np.argmax(result.heatmap), result.heatmap.shape)
    assert np.hypot(peak[0] - centre[0], peak[1] - centre[1]) <= radius
    top = result.regions[0]
    assert top.x <= centre[1] < top.x + top.width and top.y <= centre[0] < top.y + top.height


def test_raw_and_encoded_frames_of_the_same_pixels_score_the_same(
    brick_bank, brick_crops, tiny_extractor, frame_scorer
):
    score_frame = frame_scorer(tiny_extractor, brick_bank)
    rgb = brick_crops[9]
    gray = np.ascontiguousarray(rgb[..., 0])  # the brick texture is grey: all channels are equal
    height, width = gray.shape
    _, png = cv2.imencode(".png", gray)
    frames = [
        decode_encoded(png.tobytes()),
        decode_raw(gray.tobytes(), width, height, PixelFormat.GRAY8),
        decode_raw(rgb.tobytes(), width, height, PixelFormat.RGB8),
        decode_raw(rgb[..., ::-1].tobytes(), width, height, PixelFormat.BGR8),
    ]
    scores = {score_frame(frame).score for frame in frames}
    assert len(scores) == 1


def test_teaching_is_deterministic(brick_bank, brick_crops, tiny_extractor):
    again = teach_images(tiny_extractor, brick_crops[:8], "brick", TeachOptions(line_views=0))
    np.testing.assert_array_equal(again.vectors, brick_bank.vectors)
    assert again.options == brick_bank.options


def test_augmentation_adds_the_rotated_and_mirrored_views(brick_crops, tiny_extractor):
    bank = teach_images(
        tiny_extractor, brick_crops[:2], "brick", TeachOptions(augment_rotations=True, line_views=0)
    )
    assert bank.stats.patch_count == 2 * 8 * 64
    assert bank.stats.bank_size == 13  # 10% of the 2 x 64 patches of the images themselves
    assert bank.teach_options.augment_rotations


def test_progress_reports_every_stage_up_to_its_total(brick_crops, tiny_extractor):
    calls = []
    teach_images(
        tiny_extractor,
        brick_crops[:3],
        "brick",
        TeachOptions(line_views=0),
        progress=lambda stage, done, total: calls.append((stage, done, total)),
    )
    # 3 images prepared, then extracted, one after the other; 20 bank vectors picked (10% of 3 x 64
    # patches); the 3 x 64 patches searched twice for the threshold: all at once, then image by image
    assert calls == [
        *(("prepare", done, 3) for done in (1, 2, 3)),
        *(("extract", done, 3) for done in (1, 2, 3)),
        ("coreset", 20, 20),
        *(("threshold", done, 384) for done in (192, 256, 320, 384)),
    ]


def test_the_bank_stops_growing_past_16_images(brick, tiny_extractor):
    crops = [
        brick[top : top + 64, left : left + 64] for top in range(0, 448, 112) for left in range(0, 448, 90)
    ]
    bank = teach_images(tiny_extractor, crops, "brick", TeachOptions(line_views=0))
    assert (bank.stats.image_count, bank.stats.patch_count) == (20, 20 * 64)
    assert bank.stats.bank_size == 103  # 10% of 16 images' 64 patches
    assert len(bank.stats.leave_one_out_scores) == 20


@pytest.mark.parametrize(("count", "product_id"), [(0, "brick"), (1, "brick"), (2, "Bad/Id")])
def test_too_few_images_or_a_bad_id_is_invalid_input(brick_crops, tiny_extractor, count, product_id):
    with pytest.raises(InvalidInput):
        teach_images(tiny_extractor, brick_crops[:count], product_id, TeachOptions())


def test_an_image_that_is_not_rgb_uint8_is_invalid_input(brick_crops, tiny_extractor):
    images = [brick_crops[0], brick_crops[1][..., 0]]
    with pytest.raises(InvalidInput, match="teach image 2: the frame is not an RGB image"):
        teach_images(tiny_extractor, images, "brick", TeachOptions())


def test_a_teach_whose_patches_would_not_fit_the_memory_limit_is_refused_before_any_extraction(
    brick_crops, tiny_extractor, monkeypatch
):
    """4 images x (1 + 4 line views) = 20 model inputs; with the limit set below them nothing is extracted."""
    monkeypatch.setattr(teach_module, "MAX_TEACH_FEATURE_BYTES", 1000)
    monkeypatch.setattr(tiny_extractor, "extract", lambda batch: pytest.fail("extracted"))
    with pytest.raises(TooLarge, match=r"20 model inputs \(4 images, .*5 views.*line_views"):
        teach_images(tiny_extractor, brick_crops[:4], "brick", TeachOptions(line_views=4))


def test_augmentation_lets_rotated_good_frames_pass(brick_bank, brick_crops, tiny_extractor, frame_scorer):
    rotated = [np.ascontiguousarray(np.rot90(crop)) for crop in brick_crops[8:]]
    augmented_bank = teach_images(
        tiny_extractor, brick_crops[:8], "brick", TeachOptions(augment_rotations=True)
    )
    plain = [frame_scorer(tiny_extractor, brick_bank)(frame) for frame in rotated]
    augmented = [frame_scorer(tiny_extractor, augmented_bank)(frame) for frame in rotated]
    assert any(
        result.anomalous for result in plain
    )  # brick rows turned upright look new without augmentation
    assert not any(result.anomalous for result in augmented)


def test_frames_of_another_size_than_the_first_are_refused_where_the_product_is_in_frame_pixels(
    brick_crops, tiny_extractor
):
    """Frames prepared apart (a product's stored images, then images added to it) meet in teach()."""

    def full(image, _shrink_for):
        return ScaledImage.full(image)

    options = TeachOptions(tile_size=64)
    stored = prepare_teach_set(brick_crops[:2], full, options.view(tiny_extractor.info.input_size))
    added = prepare_teach_set(
        [brick_crops[2][:100, :120]], full, options.view(tiny_extractor.info.input_size)
    )
    with pytest.raises(InvalidInput, match=r"image 3 of the teach set is 120x100"):
        teach(tiny_extractor, [*stored, *added], "brick", options)


@pytest.mark.parametrize("options", [TeachOptions(tile_size=64), TeachOptions(roi=Rect(0, 0, 90, 90))])
def test_a_teach_image_of_another_size_than_the_first_is_refused_as_part_of_the_teach_set(
    brick_crops, tiny_extractor, options
):
    """Within one teach set the size comes from its first image: the message says so, not that the product
    was taught on frames of that size (it is being taught) or that it should be taught again."""
    images = [brick_crops[0], brick_crops[1], brick_crops[2][:100, :120]]
    height, width = brick_crops[0].shape[:2]
    with pytest.raises(InvalidInput) as refused:
        teach_images(tiny_extractor, images, "brick", options)
    message = str(refused.value)
    assert message.startswith(f"teach image 3: the frame is 120x100, the first teach image {width}x{height}")
    assert "was taught" not in message and "again" not in message
